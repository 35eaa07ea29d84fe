select
    id as event_id,
    user_id,
    event_type,
    cast(event_data as json) as event_data,
    "timestamp" as occurred_at,
    cast(timezone('UTC', "timestamp") as date) as event_date,
    completion_quality,
    content_type,
    day_of_week,
    difficulty_level,
    engagement_level,
    session_performance_score,
    time_of_day,
    experiment_phase,
    randomization_seed,
    context_metadata_id
from {{ source('raw', 'behavioral_events') }}
