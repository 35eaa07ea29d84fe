-- Grain: user × day. Physiology from all connected wearables (marts.wearable_provider_daily);
-- where two providers report the same measure on one day, their mean. HRV is kept by method:
-- RMSSD (Oura, WHOOP) and SDNN (Apple Health) are not the same quantity.
select
    user_id,
    wearable_date,
    avg(sleep_hours) as sleep_hours,
    avg(hrv_rmssd_ms) as hrv_rmssd_ms,
    avg(hrv_sdnn_ms) as hrv_sdnn_ms,
    avg(resting_heart_rate_bpm) as resting_heart_rate_bpm,
    avg(strain) as strain,
    avg(recovery_score) as recovery_score,
    avg(sleep_quality) as sleep_quality,
    avg(readiness_score) as readiness_score,
    avg(activity_score) as activity_score,
    avg(steps) as steps,
    avg(active_energy_kcal) as active_energy_kcal,
    string_agg(distinct provider, ',' order by provider) as providers,
    sum(n_records) as n_records
from {{ ref('wearable_provider_daily') }}
group by user_id, wearable_date
