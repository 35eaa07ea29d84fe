"""The per-protocol analyses as one partitioned job (launch a protocol from the UI)."""

from dagster import AssetSelection, define_asset_job

from americano_pipelines.defs.analyses.factory import GROUP
from americano_pipelines.defs.analyses.partitions import protocols

protocol_analyses_job = define_asset_job(
    "protocol_analyses",
    selection=AssetSelection.groups(GROUP),
    partitions_def=protocols,
    description="Every pre-registered analysis of one protocol (a `protocols` partition).",
)
