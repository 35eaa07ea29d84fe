"""`new_protocols`: the second half of the nightly chain. Once a refresh has run, every new
protocol gets a `protocols` partition, and every protocol whose inputs changed a run of its
analyses (`defs.analyses.plan`). It reads the warehouse read-only, so it runs beside the
analyses, and waits while a refresh is in progress."""

import duckdb
from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from americano_pipelines.defs.analyses.jobs import ANALYSES, protocol_analyses_job
from americano_pipelines.defs.analyses.partitions import new_protocol_ids, protocols
from americano_pipelines.defs.analyses.plan import InputFingerprints
from americano_pipelines.defs.refresh.jobs import refresh_warehouse_job
from americano_pipelines.defs.reports.plan import protocol_plans, protocol_run_requests
from americano_pipelines.defs.resources import WarehouseResource

_IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def _refresh_in_progress(instance) -> bool:
    filters = RunsFilter(job_name=refresh_warehouse_job.name, statuses=_IN_PROGRESS)
    return bool(instance.get_runs(filters=filters, limit=1))


@sensor(
    name="new_protocols",
    job=protocol_analyses_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a `protocols` partition for every protocol in marts.protocols not yet "
    "known, and runs the analyses of every protocol whose inputs changed (a new protocol's "
    "included): those whose last materialization has another data version than the "
    "protocol's inputs give now (defs/analyses/plan.py), then its CENT report (also alone, "
    "when only the report is out of date: defs/reports/plan.py). Waits while a refresh_warehouse run "
    "is in progress.",
)
def new_protocols_sensor(
    context: SensorEvaluationContext, warehouse: WarehouseResource
) -> SensorResult | SkipReason:
    if _refresh_in_progress(context.instance):
        return SkipReason("a refresh_warehouse run is in progress")
    try:
        with warehouse.get_connection(read_only=True, retries=2) as conn:
            fingerprints = InputFingerprints.read(conn, ANALYSES)
    except duckdb.IOException as error:  # a run holds the warehouse: look again next tick
        return SkipReason(f"warehouse busy: {error}")
    new = new_protocol_ids(context.instance, fingerprints.protocol_ids)
    plans = protocol_plans(context.instance, fingerprints)
    if not plans and not new:
        count = len(fingerprints.protocol_ids)
        return SkipReason(f"the analyses and reports of all {count} protocol(s) are current")
    return SensorResult(
        run_requests=protocol_run_requests(plans, context.repository_def.asset_graph),
        dynamic_partitions_requests=[protocols.build_add_request(new)] if new else [],
    )
