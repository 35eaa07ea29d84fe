"""`weekly_drift`: each Monday, the weekly drift reports of the ISO week that just ended.

Its own schedule rather than Dagster's schedule of a partitioned job: the partitions include the
current, partial week (end_offset=1), and a Monday's run is for the week before it.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
)

from americano_pipelines.config import get_settings
from americano_pipelines.defs.drift.assets import KEY
from americano_pipelines.defs.drift.partitions import iso_weeks

weekly_drift_job = define_asset_job(
    "weekly_drift",
    selection=[KEY],
    partitions_def=iso_weeks,
    description="One ISO week's drift reports, every user with days in it (defs/drift/assets.py).",
)

WEEKLY_CRON = "0 3 * * 1"


def week_before(moment: dt.datetime) -> str:
    """The partition key (its Monday) of the ISO week before the one holding `moment`."""
    day = moment.date()
    return (day - dt.timedelta(days=day.weekday() + 7)).isoformat()


def weekly_drift_schedule() -> ScheduleDefinition:
    """Mondays at 03:00 in AMERICANO_TIMEZONE (after the nightly refresh), last week's partition."""

    def last_week(context: ScheduleEvaluationContext) -> RunRequest:
        moment = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        key = week_before(moment)
        return RunRequest(run_key=f"weekly_drift:{key}", partition_key=key)

    return ScheduleDefinition(
        name="weekly_drift",
        job=weekly_drift_job,
        cron_schedule=WEEKLY_CRON,
        execution_timezone=get_settings().timezone,
        execution_fn=last_week,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Each Monday, the drift reports of the ISO week that just ended.",
    )
