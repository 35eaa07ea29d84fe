"""One partition per protocol: the analyses run protocol by protocol, as protocols appear."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, DynamicPartitionsDefinition

from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.warehouse.tables import protocol_ids

protocols = DynamicPartitionsDefinition(name="protocols")


def new_protocol_ids(instance: DagsterInstance, current: list[str]) -> list[str]:
    """The ids in `current` that are not yet partitions of `protocols`, in order."""
    known = set(instance.get_dynamic_partitions(protocols.name))
    return [protocol_id for protocol_id in current if protocol_id not in known]


def register_protocol_partitions(instance: DagsterInstance, warehouse_path: str) -> list[str]:
    """Add a `protocols` partition for every protocol in `marts.protocols` not yet known, and
    return every protocol id in the warehouse (sorted): the partitions to materialize.

    Empty when the warehouse or its marts do not exist yet.
    """
    if not warehouse_path.startswith("md:") and not Path(warehouse_path).exists():
        return []
    with WarehouseResource(database=warehouse_path).get_connection(read_only=True) as conn:
        current = protocol_ids(conn)
    new = new_protocol_ids(instance, current)
    if new:
        instance.add_dynamic_partitions(protocols.name, new)
    return current
