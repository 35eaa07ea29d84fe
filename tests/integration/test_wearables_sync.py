"""Oura and WHOOP syncs against a local provider server (real sockets, real PostgreSQL):
multi-month histories through pagination, 429s, bursts of 5xx, dropped connections, expired
access tokens with refresh rotation, an interrupted sync resumed, and OAuth's loopback flow."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading

import httpx
import numpy as np
import psycopg
import pytest

from americano_pipelines.config import get_settings
from americano_pipelines.db.wearables import connection_status, save_connection, sync_user
from americano_pipelines.synth.wearable_documents import oura_documents, whoop_documents
from americano_pipelines.wearables.http import ProviderError, RetryPolicy, TokenRejected
from americano_pipelines.wearables.oauth import TokenSet
from americano_pipelines.wearables.token_cipher import token_cipher
from tests.integration.provider_server import ProviderServer

pytestmark = pytest.mark.integration

FIRST = dt.date(2024, 1, 1)
DAYS = 150  # five months of history on the server
START, END = dt.date(2024, 1, 10), dt.date(2024, 5, 20)  # what is synced: ~4.5 months


def _series(days: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    dates = [FIRST + dt.timedelta(days=i) for i in range(days)]
    sleep = np.round(rng.uniform(5.5, 9.0, days), 2)
    hrv = np.round(rng.uniform(30, 90, days), 1)
    rhr = np.round(rng.uniform(45, 65, days))
    strain = np.round(rng.uniform(4, 18, days), 1)
    return dates, sleep, hrv, rhr, strain


@pytest.fixture
def server(platform_env, monkeypatch):
    with ProviderServer(page_size=7) as provider:
        for name in (
            "OURA_API_BASE_URL",
            "OURA_AUTH_BASE_URL",
            "WHOOP_API_BASE_URL",
            "WHOOP_AUTH_BASE_URL",
        ):
            monkeypatch.setenv(name, provider.url)
        for prefix in ("OURA", "WHOOP"):
            monkeypatch.setenv(f"{prefix}_CLIENT_ID", "client")
            monkeypatch.setenv(f"{prefix}_CLIENT_SECRET", "secret")
        dates, sleep, hrv, rhr, strain = _series(DAYS)
        provider.oura = oura_documents("u", dates, sleep, hrv, rhr)
        provider.whoop = whoop_documents(
            "u", dates, sleep, hrv, rhr, strain, split_cycle_days=(20, 40)
        )
        yield provider


@pytest.fixture
def conn(migrated_database):
    with psycopg.connect(migrated_database, autocommit=True) as connection:
        yield connection


def _connect_user(conn, server, user_id: str, provider: str) -> None:
    conn.execute(
        "INSERT INTO users (id, email) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (user_id, f"{user_id}@x.dev"),
    )
    answer = server.issue()
    tokens = TokenSet(
        answer["access_token"],
        answer["refresh_token"],
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        ("offline",),
    )
    save_connection(conn, token_cipher(get_settings()), user_id, provider, tokens)


def _stored(conn, user_id: str) -> set[tuple]:
    rows = conn.execute(
        "SELECT provider::text, record_type, source_record_id, day, value, payload::text "
        "FROM wearable_records WHERE user_id = %s",
        (user_id,),
    ).fetchall()
    assert len(rows) == len(set(rows))
    return set(rows)


def _expected_oura(server, first, last) -> set[tuple[str, str]]:
    pad = dt.timedelta(days=1)
    return {
        (resource, doc["id"])
        for resource, docs in server.oura.items()
        for doc in docs
        if first - pad <= dt.date.fromisoformat(doc["day"]) <= last + pad
    }


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def _policy(waits: Waits) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=5, base_delay=0.001, max_delay=0.01, sleep=waits, jitter=lambda: 1.0
    )


@pytest.mark.parametrize("provider", ["oura", "whoop"])
def test_a_multi_month_history_arrives_once_through_every_fault(server, conn, provider) -> None:
    settings = get_settings()
    _connect_user(conn, server, f"clean_{provider}", provider)
    clean = sync_user(
        conn, settings, provider, f"clean_{provider}", START, END, policy=_policy(Waits())
    )
    # Neighbouring windows' padding overlaps: a document fetched twice is stored once.
    assert clean.inserted == len(_stored(conn, f"clean_{provider}")) > 300
    assert clean.fetched >= clean.inserted
    pages = [q for path, q in server.requests if ("next_token" in q or "nextToken" in q)]
    assert pages, "the history came in several pages"
    if provider == "oura":
        got = {(t, s) for _, t, s, *_ in _stored(conn, f"clean_{provider}")}
        assert got == _expected_oura(server, START, END)
        for _path, query in server.requests:
            if "start_date" in query:
                span = dt.date.fromisoformat(query["end_date"]) - dt.date.fromisoformat(
                    query["start_date"]
                )
                assert span.days + 1 <= 30

    # The same history again, through 429s, a burst of 5xx and dropped connections.
    _connect_user(conn, server, f"faulty_{provider}", provider)
    path = "/v2/usercollection/sleep" if provider == "oura" else "/v2/activity/sleep"
    server.faults[path].extend([429, 500, 502, 503, "ok", "drop", 500, "ok", 429])
    waits = Waits()
    faulty = sync_user(
        conn, settings, provider, f"faulty_{provider}", START, END, policy=_policy(waits)
    )
    assert not server.faults[path]
    assert 0.01 in waits.seconds  # Retry-After honoured
    assert (faulty.fetched, faulty.inserted) == (clean.fetched, clean.inserted)
    assert _content(conn, f"faulty_{provider}") == _content(conn, f"clean_{provider}")

    # An overlapping window again: nothing new, nothing changed, nothing duplicated.
    again = sync_user(
        conn,
        settings,
        provider,
        f"clean_{provider}",
        START + dt.timedelta(days=20),
        END,
        policy=_policy(Waits()),
    )
    assert (again.inserted, again.updated) == (0, 0) and again.fetched > 0


def _content(conn, user_id: str) -> set[tuple]:
    return {row[:5] + (row[5],) for row in _stored(conn, user_id)}


def test_an_expired_access_token_is_refreshed_once_and_the_old_refresh_token_is_spent(
    server, conn
) -> None:
    settings = get_settings()
    _connect_user(conn, server, "u1", "whoop")
    cipher = token_cipher(settings)
    old_refresh = cipher.decrypt(
        conn.execute(
            "SELECT refresh_token_enc FROM wearable_connections WHERE user_id = 'u1'"
        ).fetchone()[0]
    )
    server.expire_access_tokens()
    result = sync_user(
        conn, settings, "whoop", "u1", START, START + dt.timedelta(days=10), policy=_policy(Waits())
    )
    assert result.inserted > 0
    assert server.token_grants.count("refresh_token") == 1
    assert old_refresh in server.spent_refresh_tokens
    access_enc, refresh_enc, rotated = conn.execute(
        "SELECT access_token_enc, refresh_token_enc, tokens_rotated_at FROM wearable_connections WHERE user_id = 'u1'"
    ).fetchone()
    assert rotated is not None
    new_refresh = cipher.decrypt(refresh_enc)
    assert new_refresh in server.refresh_tokens and new_refresh != old_refresh
    assert new_refresh.encode() not in bytes(refresh_enc)
    # The spent refresh token is refused by the provider.
    refused = httpx.post(
        f"{server.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": old_refresh,
            "client_id": "client",
            "client_secret": "secret",
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    # A provider that refuses even the refreshed token: one refresh, then a clear error.
    original_issue = server.issue

    def issue_unusable():
        answer = original_issue()
        server.access_tokens.discard(answer["access_token"])
        return answer

    server.issue = issue_unusable
    server.expire_access_tokens()
    with pytest.raises(TokenRejected, match="connect again"):
        sync_user(
            conn,
            settings,
            "whoop",
            "u1",
            START,
            START + dt.timedelta(days=3),
            policy=_policy(Waits()),
        )
    # The first refresh, the refused reuse of the spent token above, and this one refresh.
    assert server.token_grants.count("refresh_token") == 3
    status = connection_status(conn)
    assert all(
        "token" not in key.lower() or key in ("tokenExpiresAt", "tokensRotatedAt")
        for row in status
        for key in row
        if key != "hasRefreshToken"
    )


def _uninterrupted(conn, server, provider: str):
    """The sync of [START, END] for user whole_<provider>, with no fault: what a resumed sync
    must equal."""
    _connect_user(conn, server, f"whole_{provider}", provider)
    return sync_user(
        conn, get_settings(), provider, f"whole_{provider}", START, END, policy=_policy(Waits())
    )


@pytest.mark.parametrize("provider", ["oura", "whoop"])
def test_a_sync_killed_midway_resumes_to_what_an_uninterrupted_one_stores(
    server, conn, provider
) -> None:
    settings = get_settings()
    whole = _uninterrupted(conn, server, provider)

    _connect_user(conn, server, f"killed_{provider}", provider)
    path = "/v2/usercollection/sleep" if provider == "oura" else "/v2/activity/sleep"
    # Let some pages through, then the connection drops on every try: the sync dies.
    server.faults[path].extend(["ok"] * 5 + ["drop"] * 5)
    with pytest.raises(ProviderError):
        sync_user(
            conn, settings, provider, f"killed_{provider}", START, END, policy=_policy(Waits())
        )
    partial = _content(conn, f"killed_{provider}")
    assert 0 < len(partial) < len(_content(conn, f"whole_{provider}"))
    cursor = conn.execute(
        "SELECT window_start, completed_at FROM wearable_sync_cursors WHERE user_id = 'killed_' || %s AND resource = 'sleep'",
        (provider,),
    ).fetchone()
    assert cursor[0] is not None and cursor[1] is None

    resumed = sync_user(
        conn, settings, provider, f"killed_{provider}", START, END, policy=_policy(Waits())
    )
    assert resumed.fetched < whole.fetched  # what was stored before the kill is not fetched again
    assert _content(conn, f"killed_{provider}") == _content(conn, f"whole_{provider}")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "americano_pipelines.cli", *args]


def _cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.mark.parametrize("provider", ["oura", "whoop"])
def test_a_sync_process_killed_with_sigkill_resumes_to_what_an_uninterrupted_one_stores(
    server, conn, provider
) -> None:
    whole = _uninterrupted(conn, server, provider)
    user = f"sigkilled_{provider}"
    _connect_user(conn, server, user, provider)
    # The 7th page of the sleep resource stays unanswered: the process is killed waiting for
    # it, with the earlier resources and six pages of this one stored.
    path = "/v2/usercollection/sleep" if provider == "oura" else "/v2/activity/sleep"
    server.faults[path].extend(["ok"] * 6 + ["hold"])
    window = ("--start", START.isoformat(), "--end", END.isoformat(), "--user-id", user)
    process = subprocess.Popen(
        _cli("wearables", "sync", provider, *window),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_cli_env(),
    )
    try:
        assert server.held.wait(120), process.stderr.read() if process.poll() else "no request"
        cursor = conn.execute(
            "SELECT next_token, completed_at FROM wearable_sync_cursors "
            "WHERE user_id = %s AND resource = 'sleep'",
            (user,),
        ).fetchone()
        assert cursor is not None and cursor[0] is not None and cursor[1] is None
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        server.release.set()
    partial = _content(conn, user)
    assert 0 < len(partial) < len(_content(conn, f"whole_{provider}"))

    resumed = subprocess.run(
        _cli("wearables", "sync", provider, *window),
        capture_output=True,
        text=True,
        env=_cli_env(),
    )
    assert resumed.returncode == 0, resumed.stderr
    counts = json.loads(resumed.stdout)
    # Only what the killed process had not stored is fetched again, and it is all there.
    assert 0 < counts["fetched"] < whole.fetched
    assert counts["inserted"] == len(_content(conn, user)) - len(partial)
    assert _content(conn, user) == _content(conn, f"whole_{provider}")
    completed = conn.execute(
        "SELECT count(*) FILTER (WHERE completed_at IS NOT NULL), count(*) "
        "FROM wearable_sync_cursors WHERE user_id = %s",
        (user,),
    ).fetchone()
    assert completed[0] == completed[1] > 0


@pytest.mark.parametrize(("provider", "scope"), [("oura", "daily"), ("whoop", "offline")])
def test_connect_runs_the_oauth_loopback_flow_and_never_prints_a_token(
    server, conn, platform_env, provider, scope
) -> None:
    env = _cli_env()
    solo = f"solo_{provider}"
    conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (solo, f"{solo}@x.dev"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "americano_pipelines.cli",
            "wearables",
            "connect",
            provider,
            "--port",
            "0",
            "--timeout",
            "60",
            "--user-id",
            solo,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []

    def browser() -> None:  # reads the printed URL and says yes, as the user would
        for line in process.stderr:
            lines.append(line)
            if line.startswith("http"):
                url = line.strip()
                assert "state=" in url and scope in url
                # A redirect with another state is refused and does not end the wait.
                redirect = httpx.URL(url).params["redirect_uri"]
                assert (
                    httpx.get(redirect, params={"code": "x", "state": "forged"}).status_code == 400
                )
                assert httpx.get(url, follow_redirects=True).status_code == 200

    reader = threading.Thread(target=browser)
    reader.start()
    process.wait(timeout=120)
    reader.join()
    stdout = process.stdout.read()
    assert process.returncode == 0, "".join(lines) + stdout
    answer = json.loads(stdout)
    assert answer["userId"] == solo and answer["hasRefreshToken"] and scope in answer["scopes"]
    output = stdout + "".join(lines)
    assert not any(token in output for token in server.access_tokens | server.refresh_tokens)
    assert server.token_grants == ["authorization_code"]

    status = subprocess.run(
        [sys.executable, "-m", "americano_pipelines.cli", "wearables", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = json.loads(status.stdout)
    assert [r["provider"] for r in rows if r["userId"] == solo] == [provider]
    assert not any(token in status.stdout for token in server.access_tokens | server.refresh_tokens)

    sync = subprocess.run(
        [
            sys.executable,
            "-m",
            "americano_pipelines.cli",
            "wearables",
            "sync",
            provider,
            "--start",
            "2024-02-01",
            "--end",
            "2024-02-20",
            "--user-id",
            solo,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert sync.returncode == 0, sync.stderr
    counts = json.loads(sync.stdout)
    assert set(counts) == {"fetched", "inserted", "updated"} and counts["inserted"] > 0
    # Written through the user's session (row-level security), as that user.
    stored = conn.execute(
        "SELECT count(*) FROM wearable_records WHERE user_id = %s AND provider = %s",
        (solo, provider.upper()),
    ).fetchone()[0]
    assert stored == counts["inserted"]


@pytest.mark.once  # builds the graph up to the marts
def test_the_oura_sync_asset_of_one_day_lands_in_raw_records_and_the_daily_mart(
    server, conn, platform_env
) -> None:
    import duckdb
    from dagster import AssetKey, AssetSelection, materialize

    from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
    from americano_pipelines.db.load import load_tables
    from americano_pipelines.defs.transform.project import prepare_manifest
    from americano_pipelines.defs.wearables.assets import sync_key
    from americano_pipelines.synth.demo_study import generate_demo_study
    from tests.conftest import BASE_GROUPS

    load_tables(conn, generate_demo_study(users=1, days=49, seed=3).tables)
    # The module's database keeps other tests' connections, their tokens under other keys.
    conn.execute("DELETE FROM wearable_connections")
    _connect_user(conn, server, "ring", "oura")
    prepare_manifest()
    from americano_pipelines.definitions import defs

    settings = get_settings()
    day = dt.date(2024, 2, 10)
    key = sync_key("oura")
    result = materialize(
        list(defs.assets or []),
        selection=AssetSelection.assets(key),
        partition_key=day.isoformat(),
        instance=prepare_dagster_home(settings),
        resources=dict(defs.resources or {}),
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("wearables__oura_records")
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    assert metadata["users"] == 1 and metadata["inserted"] > 0
    # The day, padded a day each side, of each Oura resource: nothing else.
    assert {(t, s) for _, t, s, *_ in _stored(conn, "ring")} == _expected_oura(server, day, day)

    graph = defs.resolve_asset_graph()
    raw = AssetKey(["raw", "wearable_records"])
    mart = AssetKey(["marts", "wearable_daily"])
    assert key in graph.get(raw).parent_keys
    assert mart in AssetSelection.assets(raw).downstream().resolve(graph)

    assert materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS).failed_checks == []
    sleep = next(
        d for d in server.oura["sleep"] if d["day"] == day.isoformat() and d["type"] == "long_sleep"
    )
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as warehouse:
        row = warehouse.execute(
            "SELECT sleep_hours, hrv_rmssd_ms, resting_heart_rate_bpm, providers "
            "FROM marts.wearable_daily WHERE user_id = 'ring' AND wearable_date = ?",
            [day],
        ).fetchone()
    assert row == (
        pytest.approx(sleep["total_sleep_duration"] / 3600),
        sleep["average_hrv"],
        sleep["lowest_heart_rate"],
        "OURA",
    )


def test_one_users_refused_grant_fails_the_sync_asset_after_the_others_are_synced(
    server, conn, platform_env
) -> None:
    from dagster import AssetSelection, materialize

    from americano_pipelines.cli.materialize import prepare_dagster_home
    from americano_pipelines.defs.transform.project import prepare_manifest
    from americano_pipelines.defs.wearables.assets import sync_key

    conn.execute("DELETE FROM wearable_connections")
    _connect_user(conn, server, "ring", "oura")
    # A grant the provider no longer honours: its access and refresh tokens are both refused.
    conn.execute(
        "INSERT INTO users (id, email) VALUES ('revoked', 'revoked@x.dev') ON CONFLICT DO NOTHING"
    )
    stale = TokenSet(
        "never-issued", "never-issued", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), ()
    )
    save_connection(conn, token_cipher(get_settings()), "revoked", "oura", stale)
    prepare_manifest()
    from americano_pipelines.definitions import defs

    day = dt.date(2024, 2, 10)
    result = materialize(
        list(defs.assets or []),
        selection=AssetSelection.assets(sync_key("oura")),
        partition_key=day.isoformat(),
        instance=prepare_dagster_home(get_settings()),
        resources=dict(defs.resources or {}),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "1 of 2 user(s): revoked" in message and "never-issued" not in message
    # The other user's day arrived all the same.
    assert {(t, s) for _, t, s, *_ in _stored(conn, "ring")} == _expected_oura(server, day, day)
    assert _stored(conn, "revoked") == set()
