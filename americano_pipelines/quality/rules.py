"""The rules, one named pandera check each; the names are what a quarantined row records.

A check passes a missing value (pandera's `ignore_na`): a column the table allows to be empty is
not a broken rule. Rules that need a moment or a protocol's dates take them as arguments, so the
same rows and arguments always give the same verdict.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from americano_pipelines.db.schema import (
    EVENTS_TABLE,
    GATE_REFERENCES,
    LOCATION_TYPES,
    MOOD_LEVELS,
)
from americano_pipelines.registration.vocabulary import DESIGN_TYPES, PHASE_TYPES

# Physiologically plausible wearable values, by record_type (wearable_records) and by column of
# marts.wearable_daily.
RESTING_HEART_RATE_BPM = (25.0, 220.0)
SLEEP_HOURS = (0.0, 24.0)
# behavioral_events' scores and clock fields, as PostgreSQL constrains them (0001_core_schema).
SESSION_PERFORMANCE_SCORE = (0, 100)
DAY_OF_WEEK = (0, 6)
TIME_OF_DAY = (0, 23)
# context_metadata's self-reports, as the study app asks for them (0001_core_schema).
ENERGY_LEVEL = (1, 10)
SLEEP_QUALITY = (1, 10)
# WHOOP's day strain scale.
ACTIVITY_STRAIN = (0.0, 21.0)
# The first day an Apple Health record can plausibly be of: HealthKit came with iOS 8 (2014), but
# apps write older history into it (a scale's or a clinic's), so a generous floor; the last is
# the gate's own day plus one (a local date runs up to 14 hours ahead of UTC).
APPLE_HEALTH_FIRST_DAY = dt.date(1990, 1, 1)


def _within(low: float, high: float, name: str) -> pa.Check:
    return pa.Check(lambda values: values.between(low, high), name=name)


def _unique(name: str) -> pa.Check:
    # Every row of a repeated id is quarantined: which one is the event is not known, and the
    # staging models leave out quarantined rows by id.
    return pa.Check(lambda values: ~values.duplicated(keep=False), name=name)


def _not_after(moment: pd.Timestamp, name: str) -> pa.Check:
    return pa.Check(lambda values: values <= moment, name=name)


def _one_of(values: tuple[str, ...], name: str) -> pa.Check:
    return pa.Check(lambda column: column.isin(values), name=name)


def _days(values: pd.Series) -> pd.Series:
    """Dates (Parquet's date32 arrives as objects) as timestamps; missing stays missing."""
    return pd.to_datetime(values)


def _dates_ordered(name: str) -> pa.Check:
    """start_date <= end_date; an open end (missing) is in order."""

    def ordered(frame: pd.DataFrame) -> pd.Series:
        end = _days(frame["end_date"])
        return end.isna() | (_days(frame["start_date"]) <= end)

    return pa.Check(ordered, name=name)


def _record_rule(record_type: str, passes, name: str) -> pa.Check:
    """A rule on `value` for the rows of one `record_type` (wearable_records is long)."""
    return pa.Check(
        lambda frame: (frame["record_type"] != record_type) | passes(frame["value"]), name=name
    )


# Where a measure sits in a row of wearable_records: in `value` for a row written normalized (an
# Apple Health import: record_type names the measure), in the provider's document (`payload`)
# for a synced one, at the path marts.wearable_provider_daily reads (docs/wearables.md).
# (provider, record_type, payload path); provider None: any provider, the measure in `value`.
MeasureSource = tuple[str | None, str, tuple[str, ...] | None]
HRV_RMSSD_SOURCES: tuple[MeasureSource, ...] = (
    (None, "hrv_rmssd", None),
    ("OURA", "sleep", ("average_hrv",)),
    ("WHOOP", "recovery", ("score", "hrv_rmssd_milli")),
)
RESTING_HEART_RATE_SOURCES: tuple[MeasureSource, ...] = (
    (None, "resting_heart_rate", None),
    ("OURA", "sleep", ("lowest_heart_rate",)),
    ("WHOOP", "recovery", ("score", "resting_heart_rate")),
)


def _number_at(payload: object, path: tuple[str, ...]) -> float:
    """The number at `path` of a JSON document (text as extracted, or parsed); NaN when the
    document, the path or a number is missing (a missing measure is not a broken rule)."""
    node = json.loads(payload) if isinstance(payload, str | bytes) else payload
    for key in path:
        if not isinstance(node, dict):
            return np.nan
        node = node.get(key)
    if isinstance(node, bool) or not isinstance(node, int | float):
        return np.nan
    return float(node)


def _measure(
    frame: pd.DataFrame, sources: tuple[MeasureSource, ...]
) -> tuple[pd.Series, pd.Series]:
    """Which rows carry the measure, and its value there (NaN elsewhere)."""
    carries = pd.Series(False, index=frame.index)
    values = pd.Series(np.nan, index=frame.index, dtype="float64")
    for provider, record_type, path in sources:
        rows = frame["record_type"] == record_type
        if provider is not None:
            if "provider" not in frame or "payload" not in frame:
                continue
            rows &= frame["provider"] == provider
        if not rows.any():
            continue
        carries |= rows
        if path is None:
            values[rows] = pd.to_numeric(frame.loc[rows, "value"], errors="coerce")
        else:
            values[rows] = [_number_at(doc, path) for doc in frame.loc[rows, "payload"]]
    return carries, values


def _measure_rule(
    sources: tuple[MeasureSource, ...], passes: Callable[[pd.Series], pd.Series], name: str
) -> pa.Check:
    """A rule on one measure wherever a row of wearable_records carries it."""

    def check(frame: pd.DataFrame) -> pd.Series:
        carries, values = _measure(frame, sources)
        return ~carries | passes(values) | values.isna()

    return pa.Check(check, name=name)


def behavioral_events(now: dt.datetime) -> pa.DataFrameSchema:
    """Raw behavioral_events as read from Parquet; `now` is when the gate runs (UTC aware)."""
    moment = pd.Timestamp(now)
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("event_id_unique")]),
            "timestamp": pa.Column(checks=[_not_after(moment, "event_not_in_future")]),
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
    """Raw wearable_records as read from Parquet: a normalized measure per day (Apple Health), or
    a provider's document (Oura, WHOOP), whose HRV and resting heart rate the same rules see."""
    low, high = RESTING_HEART_RATE_BPM
    sleep_low, sleep_high = SLEEP_HOURS
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("wearable_record_id_unique")]),
            "record_type": pa.Column(),
            "value": pa.Column(nullable=True),
        },
        checks=[
            _measure_rule(
                RESTING_HEART_RATE_SOURCES,
                lambda v: v.between(low, high),
                "resting_heart_rate_25_to_220_bpm",
            ),
            _measure_rule(HRV_RMSSD_SOURCES, lambda v: v > 0, "hrv_positive"),
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


def _timestamps_ordered(start: str, end: str, name: str) -> pa.Check:
    """`start` <= `end` (timestamps); an open end (missing) is in order."""

    def ordered(frame: pd.DataFrame) -> pd.Series:
        return frame[end].isna() | (frame[start] <= frame[end])

    return pa.Check(ordered, name=name)


def _offset_minutes(offsets: pd.Series) -> pd.Series:
    """'-0800' → -480; anything else (missing, malformed) → NaN."""
    parts = offsets.astype("string").str.extract(r"^([+-])(\d{2})(\d{2})$")
    minutes = pd.to_numeric(parts[1]) * 60 + pd.to_numeric(parts[2])
    return minutes.where(parts[0] != "-", -minutes)


def _local_day_of_start(frame: pd.DataFrame) -> pd.Series:
    """`day` is start_date's local date in the offset the export wrote (migration 0011)."""
    minutes = _offset_minutes(frame["utc_offset"])
    start = pd.to_datetime(frame["start_date"], utc=True).dt.tz_localize(None)
    local = (start + pd.to_timedelta(minutes, unit="min")).dt.normalize()
    return minutes.notna() & (local == _days(frame["day"]))


def apple_health_records(now: dt.datetime) -> pa.DataFrameSchema:
    """Raw apple_health_records (every Record of an export, db/apple_health.py) as read from
    Parquet; `now` is when the gate runs (UTC aware)."""
    first = pd.Timestamp(APPLE_HEALTH_FIRST_DAY)
    last = pd.Timestamp(now.astimezone(dt.UTC).date() + dt.timedelta(days=1))
    return pa.DataFrameSchema(
        {
            "user_id": pa.Column(),
            # unique per user (the primary key): every row of a repeated key is refused
            "source_record_id": pa.Column(),
            "day": pa.Column(
                checks=[
                    pa.Check(
                        lambda v: _days(v).between(first, last),
                        name="apple_health_day_plausible",
                    )
                ]
            ),
            "start_date": pa.Column(),
            "end_date": pa.Column(nullable=True),
            "utc_offset": pa.Column(),
            "numeric_value": pa.Column(
                nullable=True,
                checks=[pa.Check(np.isfinite, name="apple_health_numeric_value_finite")],
            ),
        },
        checks=[
            pa.Check(
                lambda frame: ~frame.duplicated(["user_id", "source_record_id"], keep=False),
                name="apple_health_record_key_unique",
            ),
            _timestamps_ordered("start_date", "end_date", "apple_health_dates_ordered"),
            pa.Check(_local_day_of_start, name="apple_health_day_is_local_start_date"),
        ],
        name="apple_health_records",
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


def users() -> pa.DataFrameSchema:
    """Raw users as read from Parquet."""
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("user_id_unique")]),
            "email": pa.Column(
                checks=[
                    _unique("user_email_unique"),
                    # as PostgreSQL's CHECK: something before the @
                    pa.Check(lambda values: values.str.find("@") > 0, name="user_email_has_at"),
                ]
            ),
        },
        name="users",
    )


def context_metadata(now: dt.datetime) -> pa.DataFrameSchema:
    """Raw context_metadata (the self-reports and that morning's physiology) as read from
    Parquet; `now` is when the gate runs (UTC aware)."""
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("context_metadata_id_unique")]),
            "timestamp": pa.Column(checks=[_not_after(pd.Timestamp(now), "context_not_in_future")]),
            "mood": pa.Column(checks=[_one_of(MOOD_LEVELS, "mood_valid")]),
            "location": pa.Column(checks=[_one_of(LOCATION_TYPES, "location_valid")]),
            "energy_level": pa.Column(checks=[_within(*ENERGY_LEVEL, "energy_level_1_to_10")]),
            "sleep_hours": pa.Column(
                nullable=True, checks=[_within(*SLEEP_HOURS, "sleep_0_to_24_hours")]
            ),
            "sleep_quality": pa.Column(
                nullable=True, checks=[_within(*SLEEP_QUALITY, "sleep_quality_1_to_10")]
            ),
            "hrv_score": pa.Column(
                nullable=True, checks=[pa.Check(lambda v: v > 0, name="hrv_positive")]
            ),
            "resting_heart_rate": pa.Column(
                nullable=True,
                checks=[_within(*RESTING_HEART_RATE_BPM, "resting_heart_rate_25_to_220_bpm")],
            ),
            "activity_strain": pa.Column(
                nullable=True, checks=[_within(*ACTIVITY_STRAIN, "activity_strain_0_to_21")]
            ),
        },
        name="context_metadata",
    )


def experiment_protocols() -> pa.DataFrameSchema:
    """Raw experiment_protocols (the pre-registrations) as read from Parquet."""
    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("protocol_id_unique")]),
            "design_type": pa.Column(checks=[_one_of(DESIGN_TYPES, "design_type_valid")]),
            "start_date": pa.Column(),
            "end_date": pa.Column(nullable=True),
            "alpha": pa.Column(
                checks=[pa.Check(lambda v: (v > 0) & (v < 1), name="alpha_between_0_and_1")]
            ),
        },
        checks=[_dates_ordered("protocol_dates_ordered")],
        name="experiment_protocols",
    )


def _phase_case(params: object) -> str:
    """The case a phase belongs to (intervention_params.case of a multiple-baseline design,
    whose cases run side by side); every other design's phases are one series."""
    try:
        case = json.loads(params).get("case") if isinstance(params, str) else None
    except (ValueError, AttributeError):
        case = None
    return "all" if case is None else str(case)


def _apart(frame: pd.DataFrame) -> pd.Series:
    """False for a phase whose dates meet another phase's of the same protocol and case (both
    fail: which one is wrong is not known). An open end runs on for ever."""
    start = _days(frame["start_date"])
    end = _days(frame["end_date"]).fillna(pd.Timestamp.max)
    phases = pd.DataFrame(
        {
            "series": frame["protocol_id"].astype(str)
            + "\x1f"
            + frame["intervention_params"].map(_phase_case),
            "start": start,
            "end": end,
        },
        index=frame.index,
    ).sort_values(["series", "start", "end"])
    by_series = phases.groupby("series", sort=False)
    # In start order, a phase meets an earlier one when it starts by the latest end before it,
    # and a later one when it ends on or after the next start.
    latest_end_before = by_series["end"].transform(lambda e: e.cummax().shift())
    next_start = by_series["start"].shift(-1)
    meets = (phases["start"] <= latest_end_before) | (phases["end"] >= next_start)
    return ~meets.reindex(frame.index).fillna(False).astype(bool)


def phase_assignments(protocols: pd.DataFrame) -> pa.DataFrameSchema:
    """Raw phase_assignments (the registered schedules) as read from Parquet, against the good
    rows of raw experiment_protocols: a phase of a protocol the gate refused (or that is not
    there) is refused too, and a phase lies inside its protocol's dates."""
    start_of = pd.Series(_days(protocols["start_date"]).to_numpy(), index=protocols["id"])
    end_of = pd.Series(_days(protocols["end_date"]).to_numpy(), index=protocols["id"])

    def known(values: pd.Series) -> pd.Series:
        return values.isin(start_of.index)

    def inside(frame: pd.DataFrame) -> pd.Series:
        first = frame["protocol_id"].map(start_of)
        last = frame["protocol_id"].map(end_of).fillna(pd.Timestamp.max)
        start = _days(frame["start_date"])
        end = _days(frame["end_date"]).fillna(start)
        # a phase of an unknown protocol breaks phase_protocol_known, not this rule
        return first.isna() | ((start >= first) & (end <= last))

    return pa.DataFrameSchema(
        {
            "id": pa.Column(checks=[_unique("phase_assignment_id_unique")]),
            "protocol_id": pa.Column(checks=[pa.Check(known, name="phase_protocol_known")]),
            "phase_type": pa.Column(checks=[_one_of(PHASE_TYPES, "phase_type_valid")]),
            "start_date": pa.Column(),
            "end_date": pa.Column(nullable=True),
            "intervention_params": pa.Column(nullable=True),
        },
        checks=[
            _dates_ordered("phase_dates_ordered"),
            pa.Check(inside, name="phase_within_protocol_dates"),
            pa.Check(_apart, name="phases_not_overlapping"),
        ],
        name="phase_assignments",
    )


@dataclass(frozen=True)
class RawTableRules:
    """How to build a raw table's schema: from the moment the gate runs and the good rows
    (not quarantined) of the raw tables it `references`, by name."""

    build: Callable[[dt.datetime, Mapping[str, pd.DataFrame]], pa.DataFrameSchema]
    references: tuple[str, ...] = ()

    def schema(
        self, now: dt.datetime, references: Mapping[str, pd.DataFrame] | None = None
    ) -> pa.DataFrameSchema:
        given = dict(references or {})
        missing = [name for name in self.references if name not in given]
        if missing:
            raise ValueError(f"the rules need the rows of {', '.join(missing)}")
        return self.build(now, given)


RAW_TABLE_RULES: dict[str, RawTableRules] = {
    EVENTS_TABLE: RawTableRules(lambda now, _: behavioral_events(now)),
    "users": RawTableRules(lambda now, _: users()),
    "context_metadata": RawTableRules(lambda now, _: context_metadata(now)),
    "experiment_protocols": RawTableRules(lambda now, _: experiment_protocols()),
    "phase_assignments": RawTableRules(
        lambda now, tables: phase_assignments(tables["experiment_protocols"]),
        references=GATE_REFERENCES["phase_assignments"],
    ),
    "wearable_records": RawTableRules(lambda now, _: wearable_records()),
    "apple_health_records": RawTableRules(lambda now, _: apple_health_records(now)),
}
"""The raw tables with a gate between extraction and dbt (every raw table)."""
