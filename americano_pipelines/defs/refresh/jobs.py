"""The refresh job: extraction, the DVC data version and the warehouse's dbt models, in one
process (its steps are short and most are I/O; dbt runs its own threads)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from americano_pipelines.defs.analyses.factory import GROUP as ANALYSES_GROUP
from americano_pipelines.defs.analyses.factory import REPORTS_GROUP
from americano_pipelines.defs.drift.assets import GROUP as DRIFT_GROUP
from americano_pipelines.defs.wearables.assets import GROUP as WEARABLES_GROUP

refresh_warehouse_job = define_asset_job(
    "refresh_warehouse",
    # the weekly drift reports are partitioned by ISO week: launched by week, not by the refresh;
    # the analyses and the reports by protocol; the wearable syncs by day (wearables_daily_sync)
    selection=AssetSelection.all()
    - AssetSelection.groups(ANALYSES_GROUP, REPORTS_GROUP, DRIFT_GROUP, WEARABLES_GROUP),
    executor_def=in_process_executor,
    description="New or changed event days and tables to Parquet, the DVC data version, and "
    "the dbt models downstream of what changed (defs/refresh/plan.py decides the selection).",
)
