-- Grain: user × metric × day. Each study metric of int_user_daily_activity as a row, with the
-- protocol phase in force that day (null outside any protocol).
with activity as (
    unpivot {{ ref('int_user_daily_activity') }}
    on sessions, cards_reviewed, quizzes_completed, engagement_score, study_minutes,
       quiz_accuracy, card_accuracy
    into name metric value metric_value
)

select
    a.user_id,
    a.metric,
    a.activity_date as metric_date,
    cast(a.metric_value as double) as value,
    d.protocol_id,
    d.phase_label,
    d.phase_type,
    d.condition
from activity as a
left join {{ ref('int_user_day_phases') }} as d
    on d.user_id = a.user_id and d.protocol_date = a.activity_date
