-- Grain: protocol. Registration, schedule and progress of each N-of-1 experiment.
with schedule as (
    select
        p.protocol_id,
        count(*) as n_phases,
        min(p.start_date) as schedule_start_date,
        max({{ phase_end_date('p') }}) as schedule_end_date,
        -- the first change from baseline to intervention: the intervention date of an ITS
        min(p.start_date) filter (where c.is_intervention) as first_intervention_date
    from {{ ref('stg_app__phase_assignments') }} as p
    left join {{ ref('phase_conditions') }} as c using (phase_type)
    group by p.protocol_id
),

observed as (
    select protocol_id, count(*) as observed_days, max(observation_date) as last_observation_date
    from {{ ref('phase_observations') }}
    group by protocol_id
)

select
    p.protocol_id,
    p.user_id,
    p.protocol_name,
    p.hypothesis,
    p.design_type,
    p.primary_outcome,
    p.analysis_plan,
    p.analyses,
    p.randomization,
    p.max_consecutive,
    p.sample_size_target,
    p.min_phase_length,
    p.min_b_phase_length,
    p.sample_size_justification,
    p.planned_length,
    p.interim_looks,
    p.alpha,
    p.randomization_seed,
    p.registered_at,
    p.start_date,
    p.end_date,
    s.n_phases,
    s.schedule_start_date,
    s.schedule_end_date,
    s.first_intervention_date,
    coalesce(o.observed_days, 0) as observed_days,
    o.last_observation_date,
    json_array_length(p.deviations) as n_deviations,
    p.screened,
    p.eligible,
    p.enrolled,
    p.completed,
    case
        when s.schedule_end_date is null then 'unscheduled'
        when o.last_observation_date is null then 'planned'
        when o.last_observation_date >= s.schedule_end_date then 'completed'
        else 'running'
    end as status
from {{ ref('stg_app__experiment_protocols') }} as p
left join schedule as s using (protocol_id)
left join observed as o using (protocol_id)
