"""The per-protocol analyses as one partitioned job (launch a protocol from the UI).

Its steps run in their own processes (the multiprocess executor), so one protocol's analyses
run side by side, and the runs of several protocols at once; each writes its own result files.
"""

import os

from dagster import AssetSelection, define_asset_job, multiprocess_executor

from americano_pipelines.defs.analyses.assets import (
    CHANGE_POINTS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
)
from americano_pipelines.defs.analyses.causal import SYNTHETIC_CONTROL, WEARABLE_LINKS
from americano_pipelines.defs.analyses.factory import GROUP
from americano_pipelines.defs.analyses.its import ITS
from americano_pipelines.defs.analyses.partitions import protocols

# Every per-protocol analysis, in the order the UI lists them.
ANALYSES = (
    CHANGE_POINTS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
    ITS,
    SYNTHETIC_CONTROL,
    WEARABLE_LINKS,
)

protocol_analyses_job = define_asset_job(
    "protocol_analyses",
    selection=AssetSelection.groups(GROUP),
    partitions_def=protocols,
    executor_def=multiprocess_executor.configured({"max_concurrent": os.cpu_count() or 1}),
    description="Every pre-registered analysis of one protocol (a `protocols` partition).",
)
