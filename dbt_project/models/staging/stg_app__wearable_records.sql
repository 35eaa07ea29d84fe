select
    id as wearable_record_id,
    user_id,
    provider,
    record_type,
    source_record_id,
    day as record_date,
    started_at,
    ended_at,
    value,
    unit,
    cast(payload as json) as payload,
    fetched_at
from {{ source('raw', 'wearable_records') }}
