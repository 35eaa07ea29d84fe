"""The one Definitions object: assembled from defs/, nothing defined here."""

from dagster import Definitions, JobDefinition

from americano_pipelines.defs.analyses.assets import protocol_analysis_assets
from americano_pipelines.defs.analyses.causal import causal_assets
from americano_pipelines.defs.analyses.checks import analyses_checks
from americano_pipelines.defs.analyses.its import its_assets
from americano_pipelines.defs.analyses.jobs import ANALYSES, protocol_analyses_job
from americano_pipelines.defs.analyses.sensors import protocol_phase_end_sensor
from americano_pipelines.defs.analyses.series_of_n1 import series_assets
from americano_pipelines.defs.drift.assets import drift_assets
from americano_pipelines.defs.drift.schedules import weekly_drift_job, weekly_drift_schedule
from americano_pipelines.defs.extract.assets import extract_assets
from americano_pipelines.defs.extract.checks import (
    quarantine_share_checks,
    row_conservation_checks,
)
from americano_pipelines.defs.freshness import freshness_checks, freshness_sensor
from americano_pipelines.defs.refresh.jobs import refresh_warehouse_job
from americano_pipelines.defs.refresh.schedules import nightly_refresh_schedule
from americano_pipelines.defs.refresh.sensors import new_protocols_sensor
from americano_pipelines.defs.reports.assets import report_assets
from americano_pipelines.defs.resources import build_resources
from americano_pipelines.defs.transform.assets import dbt_assets_defs, warehouse_models
from americano_pipelines.defs.wearables.assets import wearable_sync_assets
from americano_pipelines.defs.wearables.schedules import (
    wearables_daily_sync_schedule,
    wearables_sync_job,
)

# The marts and the analyses: what users read, and what must be no older than the nightly allows.
fresh = freshness_checks(
    [
        *sorted(key for key in warehouse_models.keys if key.path[0] == "marts"),
        *(spec.key for spec in ANALYSES),
    ]
)

defs = Definitions(
    # its_assets carry their own check (its_converged) as a check spec.
    assets=[
        *extract_assets,
        *dbt_assets_defs,
        *protocol_analysis_assets,
        *its_assets,
        *causal_assets,
        *drift_assets,
        *series_assets,
        *report_assets,
        *wearable_sync_assets,
    ],
    asset_checks=[*row_conservation_checks, *quarantine_share_checks, *analyses_checks, *fresh],
    jobs=[refresh_warehouse_job, protocol_analyses_job, weekly_drift_job, wearables_sync_job],
    schedules=[
        nightly_refresh_schedule(),
        weekly_drift_schedule(),
        wearables_daily_sync_schedule(),
    ],
    sensors=[new_protocols_sensor, protocol_phase_end_sensor, freshness_sensor(fresh)],
    resources=build_resources(),
)


def job_named(name: str) -> JobDefinition:
    """A job of `defs`, for `build_reconstructable_job`: how the CLI launches the jobs the
    schedule and the sensors launch, with step processes that load the same definitions."""
    return defs.resolve_job_def(name)
