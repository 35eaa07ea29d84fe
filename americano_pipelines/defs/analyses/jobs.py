"""The per-protocol analyses as one partitioned job (launch a protocol from the UI), run on the
executor AMERICANO_EXECUTOR names (`defs.executors`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    JobExecutionResult,
    define_asset_job,
    execute_job,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository

from americano_pipelines.config import REPO_ROOT
from americano_pipelines.defs.analyses.factory import GROUP
from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.executors import protocol_analyses_executor

__all__ = ["execute_protocol_analyses", "protocol_analyses_job"]

protocol_analyses_job = define_asset_job(
    "protocol_analyses",
    selection=AssetSelection.groups(GROUP),
    partitions_def=protocols,
    executor_def=protocol_analyses_executor,
    description="Every pre-registered analysis of one protocol (a `protocols` partition), on the "
    "executor AMERICANO_EXECUTOR names (in_process, multiprocess or celery).",
)

# Where the code location is loaded from (workspace.yaml): the processes that run the steps,
# multiprocess children or celery workers, load the job from here by name.
DEFINITIONS_MODULE = "americano_pipelines.definitions"


def execute_protocol_analyses(
    instance: DagsterInstance,
    protocol_id: str,
    *,
    run_config: Mapping[str, Any] | None = None,
    asset_selection: Sequence[AssetKey] | None = None,
    tags: Mapping[str, str] | None = None,
) -> JobExecutionResult:
    """Run `protocol_analyses` for one protocol from this process, its steps on the executor
    AMERICANO_EXECUTOR names; the result's events are in `instance`."""
    job = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=str(REPO_ROOT)
    ).get_reconstructable_job(protocol_analyses_job.name)
    return execute_job(
        job,
        instance=instance,
        run_config=dict(run_config or {}),
        tags={"dagster/partition": protocol_id, **(tags or {})},
        asset_selection=asset_selection,
    )
