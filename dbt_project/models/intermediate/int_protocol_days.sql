-- One row per protocol, case and calendar day of its schedule, with the phase in force.
-- Conditions follow single-case notation: baseline and washout are A, interventions B (and C).
-- A multiple-baseline protocol runs one staggered series per case (intervention_params.case);
-- every other design has the single case 'all'.
with phases as (
    select
        p.protocol_id,
        pr.user_id,
        pr.primary_outcome,
        p.phase_label,
        p.phase_type,
        coalesce(json_extract_string(p.intervention_params, '$.case'), 'all') as case_name,
        p.start_date,
        coalesce(p.end_date, p.start_date + p.planned_duration - 1) as end_date,
        row_number() over (
            partition by p.protocol_id, coalesce(json_extract_string(p.intervention_params, '$.case'), 'all')
            order by p.start_date
        ) as phase_index
    from {{ ref('stg_app__phase_assignments') }} as p
    inner join {{ ref('stg_app__experiment_protocols') }} as pr using (protocol_id)
)

select
    protocol_id,
    user_id,
    primary_outcome,
    case_name,
    phase_label,
    phase_type,
    phase_index,
    case phase_type
        when 'INTERVENTION_A' then 'B'
        when 'INTERVENTION_B' then 'C'
        else 'A'
    end as condition,
    cast(day as date) as protocol_date
from phases,
    unnest(generate_series(cast(start_date as timestamp), cast(end_date as timestamp), interval 1 day)) as t(day)
