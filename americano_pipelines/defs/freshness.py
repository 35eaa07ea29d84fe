"""Freshness: the marts and the analyses must be no older than the nightly schedule allows.

Dagster's last-update freshness checks, one per mart and per analysis, evaluated by the sensor
`freshness_checks`: each fails (a warning in the UI) when the asset was neither updated nor
verified current within the longest gap between two `nightly_refresh` ticks plus a grace
period. An asset the nightly plan proves current (its inputs did not change, so it is not
rebuilt) is recorded as verified by an observation carrying `dagster/last_updated_timestamp`,
so that "nothing changed" is fresh and "the nightly did not run" is not.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)
from dagster._utils.schedules import cron_string_iterator

from americano_pipelines.config import get_settings

GRACE = dt.timedelta(hours=2)
"""How long after a tick the refresh may take before its assets count as late."""
LAST_UPDATED = "dagster/last_updated_timestamp"


def allowed_age(cron: str, timezone: str) -> dt.timedelta:
    """The longest gap between two ticks of `cron` over the coming four weeks, plus GRACE."""
    start = dt.datetime.now(dt.UTC).timestamp()
    ticks = list(itertools.islice(cron_string_iterator(start, cron, timezone), 0, 400))
    horizon = ticks[0] + dt.timedelta(weeks=4)
    ticks = [tick for tick in ticks if tick <= horizon] or ticks[:2]
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    return max(gaps, default=dt.timedelta(days=1)) + GRACE


def freshness_checks(keys: Iterable[AssetKey]):
    settings = get_settings()
    return build_last_update_freshness_checks(
        assets=list(keys),
        lower_bound_delta=allowed_age(settings.nightly_cron, str(settings.tzinfo)),
        severity=AssetCheckSeverity.WARN,
    )


def freshness_sensor(checks):
    return build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks",
        minimum_interval_seconds=600,
        default_status=DefaultSensorStatus.RUNNING,
    )


def record_verified_current(
    instance: DagsterInstance, keys: Iterable[AssetKey], *, by: str, partition: str | None = None
) -> None:
    """Observations saying the assets `keys` were found current now (their inputs unchanged)."""
    now = dt.datetime.now(dt.UTC)
    for key in keys:
        instance.report_runless_asset_event(
            AssetObservation(
                key,
                partition=partition,
                # a timestamp value: the freshness check refuses a plain float
                metadata={
                    LAST_UPDATED: MetadataValue.timestamp(now),
                    "verified_current_by": by,
                },
            )
        )
