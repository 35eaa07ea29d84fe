"""The per-protocol analyses as one partitioned job (launch a protocol from the UI).

Its steps run on the executor AMERICANO_EXECUTOR names (`defs.executors`): in their own processes
by default (multiprocess), so one protocol's analyses run side by side, or on dagster-celery
workers; and the runs of several protocols at once, since each writes its own result files.
"""

from dagster import AssetSelection, define_asset_job

from americano_pipelines.defs.analyses.assets import (
    CHANGE_POINTS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
)
from americano_pipelines.defs.analyses.causal import SYNTHETIC_CONTROL, WEARABLE_LINKS
from americano_pipelines.defs.analyses.factory import GROUP, REPORTS_GROUP
from americano_pipelines.defs.analyses.its import ITS
from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.analyses.series_of_n1 import SERIES_OF_N1
from americano_pipelines.defs.executors import protocol_analyses_executor

# Every per-protocol analysis, in the order the UI lists them.
ANALYSES = (
    CHANGE_POINTS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
    ITS,
    SYNTHETIC_CONTROL,
    WEARABLE_LINKS,
    SERIES_OF_N1,
)

protocol_analyses_job = define_asset_job(
    "protocol_analyses",
    # the analyses, then each protocol's report (defs/reports/)
    selection=AssetSelection.groups(GROUP, REPORTS_GROUP),
    partitions_def=protocols,
    executor_def=protocol_analyses_executor,
    description="Every pre-registered analysis of one protocol (a `protocols` partition), then "
    "its CENT report, on the executor AMERICANO_EXECUTOR names (in_process, multiprocess or celery).",
)
