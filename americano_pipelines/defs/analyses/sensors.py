"""A run of a protocol's analyses once per phase end. The sensor reads the warehouse read-only,
so it runs beside the analyses. (The analyses of protocols whose inputs changed follow the
nightly refresh: defs/refresh/sensors.py.)"""

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

from americano_pipelines.defs.analyses.jobs import protocol_analyses_job
from americano_pipelines.defs.analyses.partitions import new_protocol_ids, protocols
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.registration.phase_ends import (
    PhaseEnd,
    due_phase_ends,
    read_fired,
    write_fired,
)
from americano_pipelines.warehouse.tables import phase_end_dates


def now() -> dt.datetime:
    """The sensor's clock (tests set it)."""
    return dt.datetime.now(dt.UTC)


@sensor(
    name="protocol_phase_end",
    job=protocol_analyses_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Runs a protocol's pre-registered analyses once per phase end: when a phase's "
    "end date has passed in AMERICANO_TIMEZONE. The cursor remembers the phases answered, so a "
    "phase that ended while the daemon was down fires once when it is back; several phases "
    "ended since the last look fire as one run.",
)
def protocol_phase_end_sensor(
    context: SensorEvaluationContext, warehouse: WarehouseResource, settings: SettingsResource
) -> SensorResult | SkipReason:
    try:
        with warehouse.get_connection(read_only=True, retries=2) as conn:
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
                tags={
                    "americano/phase_end": ",".join(p.phase_label for p in ends.phases),
                    "americano/reason": "phase end",
                },
            )
            for ends in due
        ],
        dynamic_partitions_requests=[protocols.build_add_request(new)] if new else [],
        cursor=write_fired(fired, due),
    )
