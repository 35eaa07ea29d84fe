"""`nightly_refresh`: each night, what changed in PostgreSQL goes to Parquet and into the marts.

The analyses of the protocols whose inputs changed follow: the `new_protocols` sensor sees their
new fingerprints once the refresh has run (defs/refresh/sensors.py). `americano demo` evaluates
the same plan (`defs.refresh.plan`) and launches the same job.
"""

from __future__ import annotations

import duckdb
from dagster import (
    DagsterInstance,
    DagsterInvalidDefinitionError,
    DefaultScheduleStatus,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)

from americano_pipelines.config import get_settings
from americano_pipelines.defs.freshness import record_verified_current
from americano_pipelines.defs.refresh.jobs import refresh_warehouse_job
from americano_pipelines.defs.refresh.plan import RefreshPlan, plan_refresh
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.errors import InputError

MARTS_GROUP = "marts"


def record_what_is_current(instance: DagsterInstance, graph, plan: RefreshPlan) -> None:
    """For freshness (defs/freshness.py): the marts the plan leaves alone, and the analyses of
    the protocols whose inputs did not change, are verified current now."""
    from americano_pipelines.defs.analyses.jobs import ANALYSES
    from americano_pipelines.defs.analyses.plan import InputFingerprints, stale_protocols

    marts = {key for key in graph.get_all_asset_keys() if key.path[0] == MARTS_GROUP}
    record_verified_current(instance, sorted(marts - set(plan.selection)), by="nightly_refresh")
    if plan.selection:
        return  # the analyses are judged after the refresh, by the sensor new_protocols
    try:
        with WarehouseResource().get_connection(read_only=True, retries=2) as conn:
            fingerprints = InputFingerprints.read(conn, ANALYSES)
    except duckdb.IOException:
        return  # busy: the next tick verifies them
    stale = {plan.protocol_id for plan in stale_protocols(instance, ANALYSES, fingerprints)}
    for protocol_id in sorted(set(fingerprints.protocol_ids) - stale):
        record_verified_current(
            instance, [spec.key for spec in ANALYSES], by="nightly_refresh", partition=protocol_id
        )


def _nightly_refresh(context: ScheduleEvaluationContext):
    graph = context.repository_def.asset_graph
    plan = plan_refresh(
        context.instance, graph, refresh_warehouse_job.selection.resolve(graph), get_settings()
    )
    record_what_is_current(context.instance, graph, plan)
    request = plan.run_request()
    return request if request is not None else SkipReason(f"{plan.reason}: nothing to refresh")


def nightly_refresh_schedule() -> ScheduleDefinition:
    """The schedule at AMERICANO_NIGHTLY_CRON in AMERICANO_TIMEZONE (read when the definitions
    load)."""
    settings = get_settings()
    try:
        return ScheduleDefinition(
            name="nightly_refresh",
            cron_schedule=settings.nightly_cron,
            # tzinfo: an unknown zone is an InputError naming AMERICANO_TIMEZONE
            execution_timezone=str(settings.tzinfo),
            job=refresh_warehouse_job,
            execution_fn=_nightly_refresh,
            default_status=DefaultScheduleStatus.RUNNING,
            description="New or changed event days and tables → Parquet → DVC data version → "
            "the marts that depend on them; the analyses of the protocols whose inputs changed "
            "follow (sensor new_protocols). Nothing runs when nothing changed. "
            "AMERICANO_NIGHTLY_CRON, AMERICANO_TIMEZONE.",
        )
    except DagsterInvalidDefinitionError as error:
        raise InputError(
            f"AMERICANO_NIGHTLY_CRON: {settings.nightly_cron!r} is not a cron expression "
            f"Dagster accepts ({error})",
            field="AMERICANO_NIGHTLY_CRON",
        ) from None
