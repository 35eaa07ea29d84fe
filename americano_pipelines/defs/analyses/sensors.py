"""A partition for every new protocol, and a run of its analyses when its data change."""

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster_duckdb import DuckDBResource

from americano_pipelines.defs.analyses.factory import PHASE_OBSERVATIONS
from americano_pipelines.defs.analyses.jobs import protocol_analyses_job
from americano_pipelines.defs.analyses.partitions import new_protocol_ids, protocols
from americano_pipelines.warehouse.tables import protocol_ids


@sensor(
    name="protocol_partitions",
    job=protocol_analyses_job,
    minimum_interval_seconds=120,
    # Off until switched on in the UI: `make demo` materializes the same partitions itself,
    # and two processes must not write the DuckDB warehouse at once.
    default_status=DefaultSensorStatus.STOPPED,
    description="Adds a `protocols` partition for every protocol in marts.protocols not yet "
    "known and runs its analyses; re-runs every protocol after marts/phase_observations is "
    "materialized again.",
)
def protocol_partitions_sensor(
    context: SensorEvaluationContext, warehouse: DuckDBResource
) -> SensorResult | SkipReason:
    with warehouse.get_connection() as conn:
        current = protocol_ids(conn)
    new = new_protocol_ids(context.instance, current)
    # The cursor is the storage id of the phase_observations materialization last analysed.
    latest = context.instance.fetch_materializations(PHASE_OBSERVATIONS, limit=1).records
    marker = str(latest[0].storage_id) if latest else ""
    refreshed = bool(marker) and marker != (context.cursor or "")
    targets = current if refreshed else new
    if not targets:
        return SkipReason("no new protocols and no new phase_observations")
    return SensorResult(
        run_requests=[
            RunRequest(run_key=f"{protocol_id}:{marker}", partition_key=protocol_id)
            for protocol_id in targets
        ],
        dynamic_partitions_requests=[protocols.build_add_request(new)] if new else [],
        cursor=marker or context.cursor,
    )
