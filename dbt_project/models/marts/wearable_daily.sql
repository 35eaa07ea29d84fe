-- Grain: user × day. Physiology from all connected wearables; where two providers report the
-- same measure on one day, their mean.
select
    user_id,
    record_date as wearable_date,
    avg(value) filter (where record_type = 'sleep_duration') as sleep_hours,
    avg(value) filter (where record_type = 'hrv_rmssd') as hrv_rmssd_ms,
    -- Apple Health measures SDNN, which is not comparable with RMSSD: a column of its own
    avg(value) filter (where record_type = 'hrv_sdnn') as hrv_sdnn_ms,
    avg(value) filter (where record_type = 'resting_heart_rate') as resting_heart_rate_bpm,
    avg(value) filter (where record_type = 'strain') as strain,
    avg(value) filter (where record_type = 'recovery_score') as recovery_score,
    avg(value) filter (where record_type = 'steps') as steps,
    avg(value) filter (where record_type = 'active_energy') as active_energy_kcal,
    string_agg(distinct provider, ',' order by provider) as providers,
    count(*) as n_records
from {{ ref('stg_app__wearable_records') }}
group by user_id, record_date
