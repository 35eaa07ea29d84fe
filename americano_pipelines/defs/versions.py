"""What the instance recorded of an asset's last materialization: its code and data versions.

The planners (`defs.refresh.plan`, `defs.analyses.plan`) compare them with what the code and
the inputs are now, and run only what differs: Dagster's own rule for a stale asset, evaluated
before a run is launched rather than inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

# The tags Dagster writes on every materialization.
CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_TAG = "dagster/data_version"


@dataclass(frozen=True)
class Recorded:
    """An asset's (or a partition's) last materialization."""

    storage_id: int
    code_version: str | None
    data_version: str | None


def _recorded(record) -> Recorded:
    tags = record.asset_materialization.tags or {}
    return Recorded(record.storage_id, tags.get(CODE_VERSION_TAG), tags.get(DATA_VERSION_TAG))


def last_materialization(instance: DagsterInstance, key: AssetKey) -> Recorded | None:
    """The asset's last materialization (of any partition); None when it has none."""
    records = instance.fetch_materializations(key, limit=1).records
    return _recorded(records[0]) if records else None


def last_materialization_by_partition(
    instance: DagsterInstance, key: AssetKey, partitions: Iterable[str]
) -> dict[str, Recorded]:
    """The last materialization of each of the asset's `partitions` that has one."""
    wanted = list(partitions)
    if not wanted:
        return {}
    found: dict[str, Recorded] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=wanted),
            limit=1000,
            cursor=cursor,
        )
        for record in result.records:  # newest first: keep the first of each partition
            partition = record.asset_materialization.partition
            if partition is not None and partition not in found:
                found[partition] = _recorded(record)
        if not result.has_more or len(found) == len(wanted):
            return found
        cursor = result.cursor
