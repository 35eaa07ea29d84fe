-- The protocol phase in force on each user's day: one row per user and day. When protocols or
-- multiple-baseline cases overlap, the earliest-registered protocol's first case (by name) wins;
-- phase_observations keeps every case.
select
    user_id,
    protocol_date,
    arg_min(protocol_id, (registered_at, protocol_id, case_name)) as protocol_id,
    arg_min(case_name, (registered_at, protocol_id, case_name)) as case_name,
    arg_min(phase_label, (registered_at, protocol_id, case_name)) as phase_label,
    arg_min(phase_type, (registered_at, protocol_id, case_name)) as phase_type,
    arg_min(condition, (registered_at, protocol_id, case_name)) as condition
from {{ ref('int_protocol_days') }}
inner join {{ ref('stg_app__experiment_protocols') }} using (protocol_id, user_id)
group by user_id, protocol_date
