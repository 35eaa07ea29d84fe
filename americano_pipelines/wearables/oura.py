"""Oura API v2 (`/v2/usercollection/...`): daily_sleep, sleep (periods), daily_readiness and
daily_activity, as documented: `start_date`/`end_date` (dates) and `next_token` in the query,
`{"data": [...], "next_token": ...}` in the answer.

Oura dates each document itself (`day`: the local day a sleep ends, or of the summary), so that
is the record's day. Scales: scores are 0-100; a sleep period's durations are seconds,
`average_hrv` is RMSSD in ms, `lowest_heart_rate` and `average_heart_rate` bpm (docs/wearables.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from americano_pipelines.wearables.http import ProviderClient, ProviderError
from americano_pipelines.wearables.records import (
    DateWindow,
    WearableRecord,
    number,
    parse_time,
)

__all__ = ["RESOURCES", "OuraClient", "oura_record"]

RESOURCES = ("daily_sleep", "sleep", "daily_readiness", "daily_activity")


class OuraClient(ProviderClient):
    provider = "oura"
    resources = RESOURCES

    def page(
        self, resource: str, window: DateWindow, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `resource` over the window's padded days, and the token of the next."""
        params: dict[str, str] = {
            "start_date": window.query_first.isoformat(),
            "end_date": window.query_last.isoformat(),
        }
        if next_token:
            params["next_token"] = next_token
        body = self.get_json(f"/v2/usercollection/{resource}", params)
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
            raise ProviderError(f"oura: {resource} answered without a data list")
        return list(body["data"]), body.get("next_token") or None

    def record(self, resource: str, document: dict[str, Any], **_: Any) -> WearableRecord:
        return oura_record(resource, document)


def oura_record(resource: str, document: Mapping[str, Any]) -> WearableRecord:
    """The record of one Oura document of `resource`."""
    if resource not in RESOURCES:
        raise ValueError(f"oura: unknown resource {resource!r}")
    try:
        day = dt.date.fromisoformat(document["day"])
        source_id = str(document["id"])
    except (KeyError, TypeError, ValueError) as error:
        raise ProviderError(
            f"oura: a {resource} document without a valid id or day ({error})"
        ) from None
    if resource == "sleep":
        seconds = number(document.get("total_sleep_duration"))
        return WearableRecord(
            record_type=resource,
            source_record_id=source_id,
            day=day,
            started_at=parse_time(document.get("bedtime_start")),
            ended_at=parse_time(document.get("bedtime_end")),
            value=None if seconds is None else seconds / 3600,
            unit="h",
            payload=dict(document),
        )
    return WearableRecord(
        record_type=resource,
        source_record_id=source_id,
        day=day,
        started_at=None,
        ended_at=None,
        value=number(document.get("score")),
        unit="score",
        payload=dict(document),
    )
