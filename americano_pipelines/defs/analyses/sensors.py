"""A partition for every new protocol, a run of its analyses when its data change, and a run
once per phase end."""

import datetime as dt

import duckdb
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
from americano_pipelines.defs.resources import SettingsResource
from americano_pipelines.registration.phase_ends import (
    PhaseEnd,
    due_phase_ends,
    read_fired,
    write_fired,
)
from americano_pipelines.warehouse.tables import phase_end_dates, protocol_ids


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


def now() -> dt.datetime:
    """The sensor's clock (tests set it)."""
    return dt.datetime.now(dt.UTC)


@sensor(
    name="protocol_phase_end",
    job=protocol_analyses_job,
    minimum_interval_seconds=300,
    # Stopped until the analyses write one file per partition (issue 8): today every run
    # writes the one DuckDB warehouse, which admits a single writer.
    default_status=DefaultSensorStatus.STOPPED,
    description="Runs a protocol's pre-registered analyses once per phase end: when a phase's "
    "end date has passed in AMERICANO_TIMEZONE. The cursor remembers the phases answered, so a "
    "phase that ended while the daemon was down fires once when it is back; several phases "
    "ended since the last look fire as one run.",
)
def protocol_phase_end_sensor(
    context: SensorEvaluationContext, warehouse: DuckDBResource, settings: SettingsResource
) -> SensorResult | SkipReason:
    try:
        with warehouse.get_connection() as conn:
            phases = [PhaseEnd(*row) for row in phase_end_dates(conn)]
    except duckdb.IOException as error:  # a run holds the warehouse: look again next tick
        return SkipReason(f"warehouse busy: {error}")
    today = now().astimezone(settings.get().tzinfo).date()
    fired = read_fired(context.cursor)
    due = due_phase_ends(phases, today, fired)
    if not due:
        return SkipReason(f"no phase ended before {today.isoformat()} that was not answered")
    new = new_protocol_ids(context.instance, [ends.protocol_id for ends in due])
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=ends.run_key,
                partition_key=ends.protocol_id,
                tags={"americano/phase_end": ",".join(p.phase_label for p in ends.phases)},
            )
            for ends in due
        ],
        dynamic_partitions_requests=[protocols.build_add_request(new)] if new else [],
        cursor=write_fired(fired, due),
    )
