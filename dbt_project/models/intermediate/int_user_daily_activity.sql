-- Study behaviour per user and UTC day, from the raw events.
-- try_cast: the JSON keys mean different things per event type, and DuckDB casts before filtering.
-- engagement_score: mean session performance score of the sessions ended that day.
select
    user_id,
    event_date as activity_date,
    count(*) filter (where event_type = 'SESSION_STARTED') as sessions,
    count(*) filter (where event_type = 'CARD_REVIEWED') as cards_reviewed,
    count(*) filter (where event_type = 'QUIZ_COMPLETED') as quizzes_completed,
    avg(session_performance_score) filter (where event_type = 'SESSION_ENDED') as engagement_score,
    sum(try_cast(event_data ->> 'duration_minutes' as double))
        filter (where event_type = 'SESSION_ENDED') as study_minutes,
    avg(try_cast(event_data ->> 'correct' as double) / nullif(try_cast(event_data ->> 'questions' as double), 0))
        filter (where event_type = 'QUIZ_COMPLETED') as quiz_accuracy,
    avg(cast(try_cast(event_data ->> 'correct' as boolean) as double))
        filter (where event_type = 'CARD_REVIEWED') as card_accuracy
from {{ ref('stg_app__behavioral_events') }}
group by user_id, event_date
