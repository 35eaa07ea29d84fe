"""Wearable sync assets: one per provider, one partition per local day, every connected user.

A partition syncs its day (padded a day each side by the clients) for each user connected to
the provider; a backfill of a date range runs as one run that syncs the range in windows. The
sync keeps cursors in PostgreSQL (wearables/sync.py), so a run killed midway resumes, when the
same partitions run again, without gaps or duplicates. The records land in wearable_records,
which raw/wearable_records extracts (defs/extract/assets.py) for marts/wearable_daily.
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.resources import PostgresResource, SettingsResource
from americano_pipelines.defs.wearables.partitions import wearable_days

GROUP = "wearables"
CODE_VERSION = "1"
PROVIDERS = ("oura", "whoop")


def sync_key(provider: str) -> AssetKey:
    return AssetKey(["wearables", f"{provider}_records"])


SYNC_KEYS = [sync_key(provider) for provider in PROVIDERS]


def _sync_asset(provider: str):
    @asset(
        key=sync_key(provider),
        group_name=GROUP,
        partitions_def=wearable_days,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"python", "postgres"},
        code_version=CODE_VERSION,
        owners=[OWNER],
        description=(
            f"{provider.capitalize()} records of each connected user for the partition's days, "
            "synced from the provider's API into wearable_records (upserted by provider id; "
            "resumable cursors)."
        ),
    )
    def _sync(
        context: AssetExecutionContext, postgres: PostgresResource, settings: SettingsResource
    ) -> MaterializeResult:
        import psycopg  # when the asset runs

        from americano_pipelines.db.connection import user_session
        from americano_pipelines.db.wearables import connected_users, sync_user

        window = context.partition_time_window
        first = window.start.date()
        last = window.end.date() - dt.timedelta(days=1)
        totals = {"fetched": 0, "inserted": 0, "updated": 0}
        owner_url = postgres.get_url()
        with psycopg.connect(owner_url, autocommit=True) as conn:
            users = connected_users(conn, provider)
        for user_id in users:
            # Each user's sync writes through that user's session: row-level security.
            with user_session(user_id, owner_url=owner_url) as session:
                result = sync_user(
                    session, settings.get(), provider, user_id, first, last, log=context.log.info
                )
            for key, value in result.to_json().items():
                totals[key] += value
        return MaterializeResult(metadata={"users": len(users), **totals})

    return _sync


wearable_sync_assets = [_sync_asset(provider) for provider in PROVIDERS]
