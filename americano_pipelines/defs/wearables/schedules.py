"""`wearables_daily_sync`: each morning, yesterday's and today's days of every connection.

Yesterday is synced again the next morning because providers finish a day late (a night's
sleep is scored after waking, a WHOOP cycle ends at the next wake); upserts make that free.
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
from americano_pipelines.defs.wearables.assets import SYNC_KEYS
from americano_pipelines.defs.wearables.partitions import wearable_days

wearables_sync_job = define_asset_job(
    "wearables_daily_sync",
    selection=SYNC_KEYS,
    partitions_def=wearable_days,
    description="Sync every wearable connection for one local day (defs/wearables/assets.py).",
)

DAILY_CRON = "0 9 * * *"


def days_to_sync(moment: dt.datetime) -> list[str]:
    """The partition keys a run at `moment` syncs: yesterday and today."""
    today = moment.date()
    return [(today - dt.timedelta(days=1)).isoformat(), today.isoformat()]


def wearables_daily_sync_schedule() -> ScheduleDefinition:
    def new_days(context: ScheduleEvaluationContext):
        moment = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        for key in days_to_sync(moment):
            yield RunRequest(
                run_key=f"wearables_daily_sync:{key}:{moment.date()}", partition_key=key
            )

    return ScheduleDefinition(
        name="wearables_daily_sync",
        job=wearables_sync_job,
        cron_schedule=DAILY_CRON,
        execution_timezone=get_settings().timezone,
        execution_fn=new_days,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Each morning, yesterday's and today's records of every wearable connection.",
    )
