"""What the clients turn provider documents into, and the date windows they ask for.

One `WearableRecord` per provider document (an Oura daily_sleep, a WHOOP cycle, ...): its
provider id, its local date, its times, one headline value and the document itself as
`payload`. The rows of `wearable_records` (migration 0001) are these; dbt reads the payload for
the other measures (dbt_project/models/intermediate/int_wearable_measures.sql).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DateWindow", "WearableRecord", "date_windows", "local_date", "parse_time"]

# A request spans at most 30 days with its padding: 28 asked-for days and one more on each side,
# so a day near a window's edge in the provider's timezone is never cut off. Overlap between
# neighbouring windows is harmless: records are upserted by provider id.
MAX_WINDOW_DAYS = 30
PAD_DAYS = 1


@dataclass(frozen=True)
class DateWindow:
    """Days `first`..`last` of a sync range; `query_first`..`query_last` what is requested."""

    first: dt.date
    last: dt.date

    @property
    def query_first(self) -> dt.date:
        return self.first - dt.timedelta(days=PAD_DAYS)

    @property
    def query_last(self) -> dt.date:
        return self.last + dt.timedelta(days=PAD_DAYS)


def date_windows(start: dt.date, end: dt.date) -> Iterator[DateWindow]:
    """[start, end] in consecutive windows whose padded span is at most 30 days."""
    step = MAX_WINDOW_DAYS - 2 * PAD_DAYS
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(days=step - 1))
        yield DateWindow(first, last)
        first = last + dt.timedelta(days=1)


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO 8601 timestamp with its offset ("2024-03-01T23:10:00-05:00", "...Z")."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def local_date(moment: dt.datetime, offset: str | None) -> dt.date:
    """The calendar date of `moment` at a provider's timezone offset ("-05:00", "+0530");
    without one, at the offset `moment` carries."""
    if offset:
        sign = -1 if offset.startswith("-") else 1
        digits = offset.lstrip("+-").replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        return moment.astimezone(zone).date()
    return moment.date()


@dataclass(frozen=True)
class WearableRecord:
    record_type: str
    """The provider's resource: `daily_sleep`, `sleep`, `daily_readiness`, `daily_activity`
    (Oura); `cycle`, `sleep`, `recovery` (WHOOP)."""
    source_record_id: str
    day: dt.date
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    value: float | None
    unit: str | None
    payload: dict[str, Any]

    def payload_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True, separators=(",", ":"))

    def to_json(self) -> dict[str, Any]:
        return {
            "recordType": self.record_type,
            "sourceRecordId": self.source_record_id,
            "day": self.day.isoformat(),
            "startedAt": None if self.started_at is None else self.started_at.isoformat(),
            "endedAt": None if self.ended_at is None else self.ended_at.isoformat(),
            "value": self.value,
            "unit": self.unit,
            "payload": self.payload,
        }


def number(value: Any) -> float | None:
    """A JSON number as a float; None for null or anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
