"""Sync one connection's records over a date range, resumable.

For each of the provider's resources, in order, the range is walked in windows
(`records.date_windows`) and each window page by page to its last `next_token`. Every page is
stored together with the cursor that moves past it (`SyncStore.store_page`, one transaction),
so a sync killed at any point resumes, when asked for the same range again, at the first page
not stored: nothing is fetched into a gap, and what is fetched twice is upserted by provider id,
never duplicated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from americano_pipelines.errors import InputError
from americano_pipelines.wearables.records import DateWindow, WearableRecord, date_windows

__all__ = ["SyncCursor", "SyncResult", "SyncStore", "sync_connection"]


@dataclass(frozen=True)
class SyncCursor:
    """Where a sync of one resource over [range_start, range_end] stands."""

    resource: str
    range_start: dt.date
    range_end: dt.date
    window_start: dt.date | None = None
    """The first day of the window whose page `next_token` names; None: the range's start."""
    next_token: str | None = None
    done_through: dt.date | None = None
    completed: bool = False


@dataclass(frozen=True)
class SyncResult:
    fetched: int = 0
    """Provider documents received (a page fetched again after a resume counts again)."""
    inserted: int = 0
    updated: int = 0
    """Documents already stored whose content changed (a rescored WHOOP cycle, ...)."""

    def __add__(self, other: SyncResult) -> SyncResult:
        return SyncResult(
            self.fetched + other.fetched,
            self.inserted + other.inserted,
            self.updated + other.updated,
        )

    def to_json(self) -> dict[str, int]:
        return {"fetched": self.fetched, "inserted": self.inserted, "updated": self.updated}


class SyncStore(Protocol):
    """Where a sync keeps its records and cursors (db/wearables.py, in PostgreSQL)."""

    def cursor(self, resource: str) -> SyncCursor | None: ...

    def store_page(self, records: Sequence[WearableRecord], cursor: SyncCursor) -> tuple[int, int]:
        """Upsert `records` and save `cursor`, in one transaction; (inserted, updated)."""
        ...

    def cycle_day(self, cycle_id: str) -> dt.date | None:
        """The local day of a stored WHOOP cycle (dates its recovery)."""
        ...

    def finish(self, through: dt.date) -> None:
        """The whole range is stored: note when, and how far it reached."""
        ...


class ProviderApi(Protocol):
    resources: Sequence[str]

    def page(
        self, resource: str, window: DateWindow, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def record(self, resource: str, document: dict[str, Any], **kwargs: Any) -> WearableRecord: ...


def _starting_cursor(store: SyncStore, resource: str, start: dt.date, end: dt.date) -> SyncCursor:
    """The stored cursor when it is an unfinished sync of this very range; else a fresh one."""
    stored = store.cursor(resource)
    if (
        stored is not None
        and not stored.completed
        and (stored.range_start, stored.range_end) == (start, end)
    ):
        return stored
    return SyncCursor(resource, start, end)


def sync_connection(
    client: ProviderApi,
    store: SyncStore,
    start: dt.date,
    end: dt.date,
    *,
    log: Callable[[str], None] | None = None,
) -> SyncResult:
    """Sync every resource of `client` over [start, end] into `store`."""
    if end < start:
        raise InputError(f"end: {end.isoformat()} is before start {start.isoformat()}", field="end")
    total = SyncResult()
    cycle_days: dict[str, dt.date] = {}

    def cycle_day(cycle_id: str) -> dt.date | None:
        return cycle_days.get(cycle_id) or store.cycle_day(cycle_id)

    for resource in client.resources:
        cursor = _starting_cursor(store, resource, start, end)
        if cursor.completed:
            continue
        for window in date_windows(start, end):
            if cursor.window_start is not None and window.first < cursor.window_start:
                continue  # stored whole before the sync was interrupted
            token = cursor.next_token if cursor.window_start == window.first else None
            while True:
                documents, token = client.page(resource, window, token)
                records = [
                    client.record(resource, document, cycle_day=cycle_day) for document in documents
                ]
                if resource == "cycle":
                    cycle_days.update({r.source_record_id: r.day for r in records})
                if token is not None:
                    cursor = replace(cursor, window_start=window.first, next_token=token)
                else:
                    following = window.last + dt.timedelta(days=1)
                    cursor = replace(
                        cursor,
                        window_start=following,
                        next_token=None,
                        done_through=window.last,
                        completed=window.last >= end,
                    )
                inserted, updated = store.store_page(records, cursor)
                total = total + SyncResult(len(documents), inserted, updated)
                if token is None:
                    break
            if log is not None:
                log(f"{resource} {window.first}..{window.last}: {total.fetched} fetched so far")
    store.finish(end)
    return total
