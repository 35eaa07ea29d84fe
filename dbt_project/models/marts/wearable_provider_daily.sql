-- Grain: user × local date × provider. Each provider's documents (wearable_records, one row per
-- document with the document as payload) read on their own scales (docs/wearables.md):
--   sleep_hours            hours asleep in the day's sleeps that are not naps (Oura periods of
--                          type long_sleep or sleep; WHOOP sleeps with nap false: light + slow
--                          wave + REM)
--   sleep_quality          the provider's 0-100 sleep score (Oura daily_sleep.score, WHOOP
--                          sleep_performance_percentage of the day's longest sleep)
--   hrv_rmssd_ms           RMSSD in ms: Oura (average_hrv of the longest sleep), WHOOP
--                          (recovery hrv_rmssd_milli)
--   hrv_sdnn_ms            SDNN in ms: Apple Health; not comparable with RMSSD, so its own column
--   resting_heart_rate_bpm Oura: lowest_heart_rate of the longest sleep; WHOOP: the recovery's
--   strain                 WHOOP's 0-21 day strain
--   recovery_score         WHOOP's 0-100 % recovery; readiness_score Oura's 0-100 readiness
--   activity_score, steps  Oura's daily_activity; steps also Apple Health's
--   active_energy_kcal     Apple Health's active energy
-- WHOOP dates a cycle by the local day it starts: when two cycles start on one date, the day's
-- strain and recovery are those of the longer cycle, never their sum or mean.
-- Rows already normalized, one per measure and day (record_type sleep_duration, sleep_quality,
-- hrv_rmssd, hrv_sdnn, resting_heart_rate, strain, recovery_score, activity_score, steps,
-- active_energy: what the Apple Health import writes, db/apple_health.py) are averaged; a
-- provider's documents and normalized rows of one day make one row.
with records as (
    select * from {{ ref('stg_app__wearable_records') }}
),

oura_sleep as (
    select
        user_id,
        record_date,
        sum(value) as sleep_hours,
        arg_max(cast(payload ->> 'average_hrv' as double), value) as hrv_ms,
        arg_max(cast(payload ->> 'lowest_heart_rate' as double), value) as resting_heart_rate_bpm
    from records
    where provider = 'OURA' and record_type = 'sleep'
        and payload ->> 'type' in ('long_sleep', 'sleep')
    group by user_id, record_date
),

oura_daily as (
    select
        user_id,
        record_date,
        max(value) filter (where record_type = 'daily_sleep') as sleep_quality,
        max(value) filter (where record_type = 'daily_readiness') as readiness_score,
        max(value) filter (where record_type = 'daily_activity') as activity_score,
        max(cast(payload ->> 'steps' as double)) filter (where record_type = 'daily_activity')
            as steps
    from records
    where provider = 'OURA' and record_type in ('daily_sleep', 'daily_readiness', 'daily_activity')
    group by user_id, record_date
),

oura as (
    select
        user_id,
        record_date,
        'OURA' as provider,
        s.sleep_hours,
        d.sleep_quality,
        s.hrv_ms as hrv_rmssd_ms,
        cast(null as double) as hrv_sdnn_ms,
        s.resting_heart_rate_bpm,
        cast(null as double) as strain,
        cast(null as double) as recovery_score,
        d.readiness_score,
        d.activity_score,
        d.steps,
        cast(null as double) as active_energy_kcal
    from oura_sleep as s
    full outer join oura_daily as d using (user_id, record_date)
),

whoop_cycles as (
    select
        user_id,
        record_date,
        source_record_id as cycle_id,
        value as strain,
        row_number() over (
            partition by user_id, record_date
            order by
                coalesce(epoch(ended_at), epoch(started_at) + 86400) - epoch(started_at) desc,
                source_record_id
        ) as longest
    from records
    where provider = 'WHOOP' and record_type = 'cycle'
),

whoop_recoveries as (
    select
        user_id,
        source_record_id as cycle_id,
        value as recovery_score,
        cast(payload ->> '$.score.hrv_rmssd_milli' as double) as hrv_ms,
        cast(payload ->> '$.score.resting_heart_rate' as double) as resting_heart_rate_bpm
    from records
    where provider = 'WHOOP' and record_type = 'recovery'
),

whoop_days as (
    select
        c.user_id,
        c.record_date,
        c.strain,
        r.recovery_score,
        r.hrv_ms,
        r.resting_heart_rate_bpm
    from whoop_cycles as c
    left join whoop_recoveries as r using (user_id, cycle_id)
    where c.longest = 1
),

whoop_sleep as (
    select
        user_id,
        record_date,
        sum(value) as sleep_hours,
        arg_max(cast(payload ->> '$.score.sleep_performance_percentage' as double), value)
            as sleep_quality
    from records
    where provider = 'WHOOP' and record_type = 'sleep'
        and not coalesce(cast(payload ->> 'nap' as boolean), false)
    group by user_id, record_date
),

whoop as (
    select
        user_id,
        record_date,
        'WHOOP' as provider,
        s.sleep_hours,
        s.sleep_quality,
        d.hrv_ms as hrv_rmssd_ms,
        cast(null as double) as hrv_sdnn_ms,
        d.resting_heart_rate_bpm,
        d.strain,
        d.recovery_score,
        cast(null as double) as readiness_score,
        cast(null as double) as activity_score,
        cast(null as double) as steps,
        cast(null as double) as active_energy_kcal
    from whoop_days as d
    full outer join whoop_sleep as s using (user_id, record_date)
),

normalized as (
    select
        user_id,
        record_date,
        cast(provider as varchar) as provider,
        avg(value) filter (where record_type = 'sleep_duration') as sleep_hours,
        avg(value) filter (where record_type = 'sleep_quality') as sleep_quality,
        avg(value) filter (where record_type = 'hrv_rmssd') as hrv_rmssd_ms,
        avg(value) filter (where record_type = 'hrv_sdnn') as hrv_sdnn_ms,
        avg(value) filter (where record_type = 'resting_heart_rate') as resting_heart_rate_bpm,
        avg(value) filter (where record_type = 'strain') as strain,
        avg(value) filter (where record_type = 'recovery_score') as recovery_score,
        cast(null as double) as readiness_score,
        avg(value) filter (where record_type = 'activity_score') as activity_score,
        avg(value) filter (where record_type = 'steps') as steps,
        avg(value) filter (where record_type = 'active_energy') as active_energy_kcal
    from records
    where record_type in (
        'sleep_duration', 'sleep_quality', 'hrv_rmssd', 'hrv_sdnn', 'resting_heart_rate',
        'strain', 'recovery_score', 'activity_score', 'steps', 'active_energy'
    )
    group by user_id, record_date, provider
),

counts as (
    select user_id, record_date, provider, count(*) as n_records
    from records
    group by user_id, record_date, provider
),

measures as (
    select * from oura
    union all
    select * from whoop
    union all
    select * from normalized
)

select
    m.user_id,
    m.record_date as wearable_date,
    m.provider,
    avg(m.sleep_hours) as sleep_hours,
    avg(m.sleep_quality) as sleep_quality,
    avg(m.hrv_rmssd_ms) as hrv_rmssd_ms,
    avg(m.hrv_sdnn_ms) as hrv_sdnn_ms,
    avg(m.resting_heart_rate_bpm) as resting_heart_rate_bpm,
    avg(m.strain) as strain,
    avg(m.recovery_score) as recovery_score,
    avg(m.readiness_score) as readiness_score,
    avg(m.activity_score) as activity_score,
    avg(m.steps) as steps,
    avg(m.active_energy_kcal) as active_energy_kcal,
    any_value(c.n_records) as n_records
from measures as m
inner join counts as c using (user_id, record_date, provider)
group by m.user_id, m.record_date, m.provider
