"""The wearable clients' pure parts: windows, local dates, Retry-After, parsing, the token key."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from americano_pipelines.config import get_settings
from americano_pipelines.synth.wearable_documents import (
    oura_documents,
    wearable_records_frame,
    whoop_documents,
)
from americano_pipelines.wearables.http import RetryPolicy, retry_after_seconds
from americano_pipelines.wearables.oauth import TokenSet
from americano_pipelines.wearables.oura import oura_record
from americano_pipelines.wearables.records import date_windows, local_date, parse_time
from americano_pipelines.wearables.token_cipher import token_cipher
from americano_pipelines.wearables.whoop import whoop_record


def test_windows_cover_the_range_once_and_span_at_most_30_days_padded() -> None:
    start, end = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
    windows = list(date_windows(start, end))
    days = [
        w.first + dt.timedelta(days=i) for w in windows for i in range((w.last - w.first).days + 1)
    ]
    assert days == [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    for window in windows:
        assert window.query_first == window.first - dt.timedelta(days=1)
        assert window.query_last == window.last + dt.timedelta(days=1)
        assert (window.query_last - window.query_first).days + 1 <= 30
    assert list(date_windows(start, start))[0].first == start


def test_local_dates_follow_the_providers_offset() -> None:
    moment = parse_time("2024-03-01T04:00:00.000Z")
    assert local_date(moment, "-05:00") == dt.date(2024, 2, 29)
    assert local_date(moment, "+05:30") == dt.date(2024, 3, 1)
    assert local_date(parse_time("2024-03-01T23:30:00+02:00"), None) == dt.date(2024, 3, 1)


def test_retry_after_in_seconds_an_http_date_or_the_rate_limit_reset() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert (
        retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480)
        == 10.0
    )
    assert retry_after_seconds({"x-ratelimit-reset": "42"}) == 42.0
    assert retry_after_seconds({}) is None


def test_backoff_is_jittered_and_bounded() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=lambda: 1.0)
    assert [policy.backoff(k) for k in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(jitter=lambda: 0.25, base_delay=2.0).backoff(1) == 0.5


def test_two_whoop_cycles_on_one_local_date_share_it_and_recoveries_follow_their_cycle() -> None:
    day = dt.date(2024, 3, 1)
    docs = whoop_documents("u", [day], [7.25], [55.5], [52.0], [12.0], split_cycle_days=(0,))
    cycles = [whoop_record("cycle", c) for c in docs["cycle"]]
    assert [c.day for c in cycles] == [day, day]
    days = {c.source_record_id: c.day for c in cycles}
    recoveries = [whoop_record("recovery", r, cycle_day=days.get) for r in docs["recovery"]]
    assert {r.source_record_id for r in recoveries} == set(days)
    sleep = whoop_record("sleep", docs["sleep"][0])
    assert sleep.day == day and sleep.value == pytest.approx(7.25)


def test_oura_documents_parse_back_to_the_series() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    docs = oura_documents("u", days, [7.0, 6.25, 8.5], [50, 61, 70], [55, 52, 58])
    sleeps = [oura_record("sleep", d) for d in docs["sleep"]]
    assert [s.value for s in sleeps] == [7.0, 6.25, 8.5]
    assert [s.day for s in sleeps] == days
    frame = wearable_records_frame("u", "OURA", docs)
    assert frame.height == 4 * 3 and frame["source_record_id"].n_unique() == 12


def test_tokens_stay_out_of_repr_and_json() -> None:
    tokens = TokenSet("secret-access", "secret-refresh", None, ("daily",))
    assert "secret" not in repr(tokens) and "secret" not in str(tokens.to_json())


def test_the_generated_token_key_is_private_and_reused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AMERICANO_TOKEN_KEY", raising=False)
    settings = get_settings()
    sealed = token_cipher(settings).encrypt("a token")
    assert stat.S_IMODE(os.stat(settings.token_key_path).st_mode) == 0o600
    assert token_cipher(get_settings()).decrypt(sealed) == "a token"
    assert b"a token" not in sealed
