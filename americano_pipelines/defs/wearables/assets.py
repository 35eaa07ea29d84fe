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
    Failure,
    MaterializeResult,
    MetadataValue,
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
        failed: dict[str, str] = {}
        for user_id in users:
            # One user's failure (a revoked grant, a provider down for them) must not keep the
            # others' days from arriving: each user is synced, and the step fails at the end.
            try:
                # Each user's sync writes through that user's session: row-level security.
                with user_session(user_id, owner_url=owner_url) as session:
                    result = sync_user(
                        session,
                        settings.get(),
                        provider,
                        user_id,
                        first,
                        last,
                        log=context.log.info,
                    )
            except Exception as error:  # noqa: BLE001 - reported below, the step then fails
                failed[user_id] = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
                context.log.error(f"{provider} sync of {user_id} failed: {failed[user_id]}")
                continue
            for key, value in result.to_json().items():
                totals[key] += value
        metadata = {"users": len(users), "users_failed": len(failed), **totals}
        if failed:
            raise Failure(
                description=(
                    f"{provider} sync failed for {len(failed)} of {len(users)} user(s): "
                    + ", ".join(sorted(failed))
                    + " (the others' records are stored; a rerun resumes from the cursors)"
                ),
                metadata={**metadata, "failures": MetadataValue.json(failed)},
            )
        return MaterializeResult(metadata=metadata)

    return _sync


wearable_sync_assets = [_sync_asset(provider) for provider in PROVIDERS]
