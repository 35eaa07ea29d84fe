-- One row per protocol, case and calendar day of its schedule, with the phase in force.
-- Conditions follow single-case notation (seed phase_conditions: baseline and washout are A,
-- interventions B and C). A multiple-baseline protocol runs one staggered series per case
-- (intervention_params.case); every other design has the single case 'all'.
with phases as (
    select
        p.protocol_id,
        pr.user_id,
        pr.primary_outcome,
        p.phase_label,
        p.phase_type,
        coalesce(json_extract_string(p.intervention_params, '$.case'), 'all') as case_name,
        p.start_date,
        {{ phase_end_date('p') }} as end_date
    from {{ ref('stg_app__phase_assignments') }} as p
    inner join {{ ref('stg_app__experiment_protocols') }} as pr using (protocol_id)
),

indexed as (
    select
        *,
        row_number() over (partition by protocol_id, case_name order by start_date) as phase_index
    from phases
)

select
    i.protocol_id,
    i.user_id,
    i.primary_outcome,
    i.case_name,
    i.phase_label,
    i.phase_type,
    i.phase_index,
    c.condition,
    cast(t.day as date) as protocol_date
from indexed as i
left join {{ ref('phase_conditions') }} as c using (phase_type)
cross join unnest(
    generate_series(cast(i.start_date as timestamp), cast(i.end_date as timestamp), interval 1 day)
) as t(day)
