-- Each event with the protocol phase in force on its day and the context reported with it.
select
    e.event_id,
    e.user_id,
    e.event_type,
    e.occurred_at,
    e.event_date,
    e.session_performance_score,
    e.experiment_phase,
    d.protocol_id,
    d.phase_label,
    d.phase_type,
    d.condition,
    c.mood,
    c.energy_level,
    c.location,
    c.sleep_hours,
    c.hrv_score,
    c.resting_heart_rate
from {{ ref('stg_app__behavioral_events') }} as e
left join {{ ref('int_user_day_phases') }} as d
    on d.user_id = e.user_id and d.protocol_date = e.event_date
left join {{ ref('stg_app__context_metadata') }} as c
    on c.context_metadata_id = e.context_metadata_id
