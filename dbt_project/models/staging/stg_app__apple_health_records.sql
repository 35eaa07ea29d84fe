-- Grain: one row per Record (or Correlation) of an imported Apple Health export, as the export
-- wrote it. Rename and cast only; the daily measures read from these are in
-- stg_app__wearable_records (provider APPLE_HEALTH).
select
    user_id,
    source_record_id,
    element,
    record_type,
    day as record_date,
    start_date as started_at,
    utc_offset,
    end_date as ended_at,
    creation_date as created_at,
    value,
    numeric_value,
    unit,
    source_name,
    source_version,
    device,
    cast(details as json) as details,
    imported_at
from {{ source('raw', 'apple_health_records') }}
