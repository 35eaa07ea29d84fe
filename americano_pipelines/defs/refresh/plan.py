"""What the nightly refresh has to run: the new or changed event days, the tables whose rows
changed, the assets whose code changed or that were never built, those built before one of
their inputs was, and everything downstream of them among the job's own assets (the views over
the analyses' results only when their own code changed: they read the analyses' Parquet files).

PostgreSQL is compared with the Parquet files by content (`db.extract`), the code with the code
version of each asset's last materialization (`defs.versions`). An empty plan launches nothing:
a rerun with no new data materializes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance, RunRequest

from americano_pipelines.config import Settings
from americano_pipelines.db import schema
from americano_pipelines.defs.extract.assets import extracted_key, raw_key
from americano_pipelines.defs.versions import last_materialization

EVENTS_KEY = raw_key(schema.EVENTS_TABLE)
# The run's range of event days (one run extracts a range; BackfillPolicy.single_run).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class RefreshPlan:
    stale_days: tuple[dt.date, ...] = ()
    """Event days whose Parquet file is missing or differs from PostgreSQL."""
    changed_tables: tuple[str, ...] = ()
    """Snapshotted tables whose rows differ from their Parquet file."""
    code_changed: tuple[AssetKey, ...] = ()
    """Assets never materialized, or last materialized by another code version."""
    behind: tuple[AssetKey, ...] = ()
    """Assets last materialized before one of their inputs was."""
    selection: tuple[AssetKey, ...] = field(default=())
    """What the run materializes: the above and what depends on them in the refresh job."""

    def run_request(self) -> RunRequest | None:
        """The refresh run, or None when everything is current."""
        if not self.selection:
            return None
        tags = {"americano/reason": self.reason}
        if self.stale_days:
            tags |= {
                RANGE_START_TAG: min(self.stale_days).isoformat(),
                RANGE_END_TAG: max(self.stale_days).isoformat(),
            }
        return RunRequest(asset_selection=list(self.selection), tags=tags)

    @property
    def reason(self) -> str:
        parts = []
        if self.stale_days:
            parts.append(f"{len(self.stale_days)} event day(s)")
        if self.changed_tables:
            parts.append(f"changed tables: {', '.join(self.changed_tables)}")
        if self.code_changed:
            parts.append(f"{len(self.code_changed)} asset(s) new or of new code")
        if self.behind:
            parts.append(f"{len(self.behind)} asset(s) older than their inputs")
        return "; ".join(parts) or "nothing changed"


def _downstream_within(
    graph, roots: Collection[AssetKey], keys: Collection[AssetKey]
) -> set[AssetKey]:
    """`roots` and what depends on them through `keys` only: the views over the analyses'
    results read Parquet files the analyses rewrite in place, so new event days, which reach
    them through the (partitioned, separately run) analyses, leave them current."""
    selected = {key for key in roots if key in keys}
    frontier = list(selected)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child in keys and child not in selected:
                selected.add(child)
                frontier.append(child)
    return selected


def plan_refresh(
    instance: DagsterInstance,
    graph,
    job_keys: Collection[AssetKey],
    settings: Settings,
    *,
    groups: Sequence[str] | None = None,
) -> RefreshPlan:
    """The refresh plan for the assets `job_keys` of the asset graph `graph` (only those of
    `groups`, when given)."""
    from americano_pipelines.db import extract  # pyarrow and ADBC: when a plan is made
    from americano_pipelines.db.connection import database_url

    keys = {key for key in job_keys if groups is None or graph.get(key).group_name in set(groups)}
    tables = [t for t in schema.EXTRACTED_TABLES if t != schema.EVENTS_TABLE]
    with extract.extract_connection(database_url(settings)) as conn:
        stale_days = (
            tuple(extract.stale_event_days(conn, settings.raw_dir)) if EVENTS_KEY in keys else ()
        )
        changed = tuple(
            table
            for table in tables
            if extracted_key(table) in keys
            and extract.compare_with_postgres(
                conn, table, raw_dir=settings.raw_dir, provenance_dir=settings.provenance_dir
            ).stale
        )
    last = {key: last_materialization(instance, key) for key in keys}
    code_changed = tuple(
        sorted(
            key
            for key in keys - {EVENTS_KEY}  # its days are compared by content above
            if last[key] is None or last[key].code_version != graph.get(key).code_version
        )
    )
    # Built before an input was updated (`americano extract` updates the raw tables alone).
    behind = [
        key
        for key in keys
        if last[key] is not None
        and any(
            last.get(parent) is not None and last[parent].storage_id > last[key].storage_id
            for parent in graph.get(key).parent_keys
        )
    ]
    roots = [*code_changed, *behind, *(extracted_key(table) for table in changed)]
    if stale_days:
        roots.append(EVENTS_KEY)
    selection = _downstream_within(graph, roots, keys)
    if not stale_days:
        selection.discard(EVENTS_KEY)  # a partitioned asset runs for its stale days only
    return RefreshPlan(
        stale_days, changed, code_changed, tuple(sorted(behind)), tuple(sorted(selection))
    )
