"""WHOOP developer API v2: `/v2/cycle`, `/v2/recovery` and `/v2/activity/sleep`, as documented:
`start`/`end` (date-times, end exclusive), `limit` (at most 25) and `nextToken` in the query,
`{"records": [...], "next_token": ...}` in the answer.

Local dates come from each document's `timezone_offset`: a cycle is the day it starts, a sleep
the day it ends (the morning it is slept into, as Oura's `day`), and a recovery, which has no
times of its own, the day of its cycle. Scales: strain 0-21 (Borg-like, logarithmic), recovery
and sleep performance 0-100 %, `hrv_rmssd_milli` RMSSD in ms, `resting_heart_rate` bpm, stage
durations in milliseconds (docs/wearables.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from americano_pipelines.wearables.http import ProviderClient, ProviderError
from americano_pipelines.wearables.records import (
    DateWindow,
    WearableRecord,
    local_date,
    number,
    parse_time,
)

__all__ = ["PATHS", "RESOURCES", "WhoopClient", "whoop_record"]

# Cycles first: a recovery is dated by its cycle.
RESOURCES = ("cycle", "sleep", "recovery")
PATHS = {"cycle": "/v2/cycle", "sleep": "/v2/activity/sleep", "recovery": "/v2/recovery"}
PAGE_LIMIT = 25
SLEEP_STAGES_MILLI = (
    "total_light_sleep_time_milli",
    "total_slow_wave_sleep_time_milli",
    "total_rem_sleep_time_milli",
)
CycleDay = Callable[[str], dt.date | None]


def _midnight(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), dt.UTC).isoformat().replace("+00:00", "Z")


class WhoopClient(ProviderClient):
    provider = "whoop"
    resources = RESOURCES

    def page(
        self, resource: str, window: DateWindow, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {
            "start": _midnight(window.query_first),
            "end": _midnight(window.query_last + dt.timedelta(days=1)),
            "limit": PAGE_LIMIT,
        }
        if next_token:
            params["nextToken"] = next_token
        body = self.get_json(PATHS[resource], params)
        if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
            raise ProviderError(f"whoop: {resource} answered without a records list")
        return list(body["records"]), body.get("next_token") or None

    def record(
        self, resource: str, document: dict[str, Any], *, cycle_day: CycleDay | None = None
    ) -> WearableRecord:
        return whoop_record(resource, document, cycle_day=cycle_day)


def whoop_record(
    resource: str, document: Mapping[str, Any], *, cycle_day: CycleDay | None = None
) -> WearableRecord:
    """The record of one WHOOP document; `cycle_day(cycle_id)` dates a recovery."""
    score = document.get("score") if isinstance(document.get("score"), Mapping) else {}
    try:
        if resource == "cycle":
            started = parse_time(document["start"])
            return WearableRecord(
                record_type="cycle",
                source_record_id=str(document["id"]),
                day=local_date(started, document.get("timezone_offset")),
                started_at=started,
                ended_at=parse_time(document.get("end")),
                value=number(score.get("strain")),
                unit="strain",
                payload=dict(document),
            )
        if resource == "sleep":
            started = parse_time(document["start"])
            ended = parse_time(document.get("end")) or started
            stages = score.get("stage_summary") or {}
            parts = [number(stages.get(name)) for name in SLEEP_STAGES_MILLI]
            asleep = None if any(p is None for p in parts) else sum(parts) / 3_600_000
            return WearableRecord(
                record_type="sleep",
                source_record_id=str(document["id"]),
                day=local_date(ended, document.get("timezone_offset")),
                started_at=started,
                ended_at=parse_time(document.get("end")),
                value=asleep,
                unit="h",
                payload=dict(document),
            )
        if resource == "recovery":
            cycle_id = str(document["cycle_id"])
            day = cycle_day(cycle_id) if cycle_day is not None else None
            if day is None:
                raise ProviderError(f"whoop: recovery of cycle {cycle_id} arrived before its cycle")
            return WearableRecord(
                record_type="recovery",
                source_record_id=cycle_id,
                day=day,
                started_at=None,
                ended_at=None,
                value=number(score.get("recovery_score")),
                unit="%",
                payload=dict(document),
            )
    except (KeyError, TypeError, ValueError) as error:
        raise ProviderError(f"whoop: a {resource} document without {error}") from None
    raise ValueError(f"whoop: unknown resource {resource!r}")
