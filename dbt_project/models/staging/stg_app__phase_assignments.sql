select
    id as phase_assignment_id,
    protocol_id,
    phase_label,
    phase_type,
    start_date,
    end_date,
    planned_duration,
    randomization_seed,
    cast(intervention_params as json) as intervention_params
from {{ source('raw', 'phase_assignments') }}
