"""The rules, one named pandera check each; the names are what a quarantined row records.

A check passes a missing value (pandera's `ignore_na`): a column the table allows to be empty is
not a broken rule. Rules that need a moment or a protocol's dates take them as arguments, so the
same rows and arguments always give the same verdict.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.pandas as pa

from americano_pipelines.db.schema import EVENTS_TABLE

# Physiologically plausible wearable values, by record_type (wearable_records) and by column of
# marts.wearable_daily.
RESTING_HEART_RATE_BPM = (25.0, 220.0)
SLEEP_HOURS = (0.0, 24.0)
# behavioral_events' scores and clock fields, as PostgreSQL constrains them (0001_core_schema).
SESSION_PERFORMANCE_SCORE = (0, 100)
DAY_OF_WEEK = (0, 6)
TIME_OF_DAY = (0, 23)


def _within(low: float, high: float, name: str) -> pa.Check:
    return pa.Check(lambda values: values.between(low, high), name=name)


def _unique(name: str) -> pa.Check:
    # Every row of a repeated id is quarantined: which one is the event is not known, and the
    # staging models leave out quarantined rows by id.
    return pa.Check(lambda values: ~values.duplicated(keep=False), name=name)


def _record_rule(record_type: str, passes, name: str) -> pa.Check:
    """A rule on `value` for the rows of one `record_type` (wearable_records is long)."""
    return pa.Check(
        lambda frame: (frame["record_type"] != record_type) | passes(frame["value"]), name=name
    )


def behavioral_events(now: dt.datetime) -> pa.DataFrameSchema:
    """Raw behavioral_events as read from Parquet; `now` is when the gate runs (UTC aware)."""
    moment = pd.Timestamp(now)
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("event_id_unique")]),
            "timestamp": pa.Column(
                checks=[pa.Check(lambda values: values <= moment, name="event_not_in_future")]
            ),
            "session_performance_score": pa.Column(
                nullable=True,
                checks=[_within(*SESSION_PERFORMANCE_SCORE, "session_performance_score_0_to_100")],
            ),
            "day_of_week": pa.Column(
                nullable=True, checks=[_within(*DAY_OF_WEEK, "day_of_week_0_to_6")]
            ),
            "time_of_day": pa.Column(
                nullable=True, checks=[_within(*TIME_OF_DAY, "time_of_day_0_to_23")]
            ),
        },
        name="behavioral_events",
    )


def wearable_records() -> pa.DataFrameSchema:
    """Raw wearable_records as read from Parquet: one row per measure per day."""
    low, high = RESTING_HEART_RATE_BPM
    sleep_low, sleep_high = SLEEP_HOURS
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("wearable_record_id_unique")]),
            "record_type": pa.Column(),
            "value": pa.Column(nullable=True),
        },
        checks=[
            _record_rule(
                "resting_heart_rate",
                lambda v: v.between(low, high) | v.isna(),
                "resting_heart_rate_25_to_220_bpm",
            ),
            _record_rule("hrv_rmssd", lambda v: (v > 0) | v.isna(), "hrv_positive"),
            _record_rule("hrv_sdnn", lambda v: (v > 0) | v.isna(), "hrv_sdnn_positive"),
            _record_rule(
                "sleep_duration",
                lambda v: v.between(sleep_low, sleep_high) | v.isna(),
                "sleep_0_to_24_hours",
            ),
            # An Oura sleep period or a WHOOP sleep: its value is hours asleep.
            _record_rule(
                "sleep",
                lambda v: v.between(sleep_low, sleep_high) | v.isna(),
                "sleep_period_0_to_24_hours",
            ),
        ],
        name="wearable_records",
    )


def phase_observations(start: dt.date, end: dt.date | None) -> pa.DataFrameSchema:
    """One protocol's rows of marts.phase_observations, as the analyses read them: every
    observation inside the protocol's dates (`end` None: still running)."""
    first = pd.Timestamp(start)
    last = pd.Timestamp(end) if end is not None else pd.Timestamp.max

    def inside(values: pd.Series) -> pd.Series:
        days = pd.to_datetime(values)
        return (days >= first) & (days <= last)

    return pa.DataFrameSchema(
        {
            "observation_date": pa.Column(
                checks=[pa.Check(inside, name="observation_within_protocol_dates")]
            ),
            "value": pa.Column(
                nullable=True,
                checks=[
                    pa.Check(
                        lambda values: values.notna(), name="observation_has_value", ignore_na=False
                    )
                ],
            ),
        },
        name="phase_observations",
    )


def wearable_daily() -> pa.DataFrameSchema:
    """marts.wearable_daily as the wearable analyses read it: one row per user and day."""
    return pa.DataFrameSchema(
        {
            "resting_heart_rate_bpm": pa.Column(
                nullable=True,
                checks=[_within(*RESTING_HEART_RATE_BPM, "resting_heart_rate_25_to_220_bpm")],
            ),
            "hrv_rmssd_ms": pa.Column(
                nullable=True, checks=[pa.Check(lambda v: v > 0, name="hrv_positive")]
            ),
            "sleep_hours": pa.Column(
                nullable=True, checks=[_within(*SLEEP_HOURS, "sleep_0_to_24_hours")]
            ),
        },
        name="wearable_daily",
    )


def _wearable_records(now: dt.datetime) -> pa.DataFrameSchema:
    return wearable_records()


RAW_TABLE_RULES = {EVENTS_TABLE: behavioral_events, "wearable_records": _wearable_records}
"""The raw tables with a gate between extraction and dbt, each its schema given the moment."""
