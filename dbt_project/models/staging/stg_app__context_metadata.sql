select
    id as context_metadata_id,
    user_id,
    "timestamp" as recorded_at,
    cast(timezone('UTC', "timestamp") as date) as recorded_date,
    mood,
    energy_level,
    location,
    notes,
    sleep_hours,
    sleep_quality,
    hrv_score,
    resting_heart_rate,
    activity_strain
from {{ source('raw', 'context_metadata') }}
