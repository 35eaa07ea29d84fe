"""Which weeks of `drift/weekly_drift` `make demo` runs: the ISO weeks the users' days cover
(the latest `latest` of them), less those already computed from the same raw data by the same
code. A week is current while its last materialization's data version is the raw data version
(`raw/data_version`'s DVC hash) and its code version the asset's: a second `make demo`
launches nothing, new data recomputes every week (a new day can change a later week's
reference window).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import DagsterInstance, RunRequest

from americano_pipelines.defs.analyses.factory import current_raw_data_version
from americano_pipelines.defs.drift.assets import CODE_VERSION, KEY
from americano_pipelines.defs.versions import last_materialization_by_partition


def week_keys(first: dt.date, last: dt.date) -> list[str]:
    """The partition keys (Mondays) of the ISO weeks from the one holding `first` to the one
    holding `last`."""
    monday = first - dt.timedelta(days=first.weekday())
    keys = []
    while monday <= last:
        keys.append(monday.isoformat())
        monday += dt.timedelta(weeks=1)
    return keys


@dataclass(frozen=True)
class DriftPlan:
    weeks: tuple[str, ...]
    """The weeks considered (partition keys), oldest first."""
    stale: tuple[str, ...]
    """Those to compute: never materialized, or from other data or code."""
    data_version: str | None

    def run_requests(self) -> list[RunRequest]:
        return [
            RunRequest(
                run_key=f"weekly_drift:{week}:{self.data_version}",
                partition_key=week,
                tags={"americano/reason": "make demo: the demo's weeks"},
            )
            for week in self.stale
        ]


def plan_drift(
    instance: DagsterInstance,
    day_ranges: dict[str, tuple[dt.date, dt.date]],
    *,
    latest: int | None,
) -> DriftPlan:
    """The plan over the users' day ranges (`tables.drift_day_range`); the `latest` weeks only
    when given."""
    if not day_ranges:
        return DriftPlan((), (), None)
    first = min(start for start, _ in day_ranges.values())
    last = max(end for _, end in day_ranges.values())
    every = week_keys(first, last)
    weeks = tuple(every if latest is None else every[max(0, len(every) - latest) :])
    version = current_raw_data_version(instance)
    recorded = last_materialization_by_partition(instance, KEY, weeks)
    stale = tuple(
        week
        for week in weeks
        if week not in recorded
        or recorded[week].code_version != CODE_VERSION
        or recorded[week].data_version != version
    )
    return DriftPlan(weeks, stale, version)
