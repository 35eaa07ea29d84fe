"""AMERICANO_DAGSTER_STORAGE=postgres: the Dagster instance keeps its runs, events and
partitions in the OLTP PostgreSQL (dagster-postgres), in its own schema, so that processes
that share nothing but the database share one history. A fresh database per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, asset, materialize
from psycopg.conninfo import make_conninfo

from americano_pipelines.cli.materialize import prepare_dagster_home
from americano_pipelines.config import dagster_home, get_settings
from americano_pipelines.defs.instance import DAGSTER_SCHEMA


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"americano_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_storage(fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AMERICANO_DATABASE_URL", fresh_database)
    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AMERICANO_DAGSTER_STORAGE", "postgres")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    return fresh_database


@asset
def reading() -> int:
    return 1


def _tables(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    out: dict[str, set[str]] = {}
    for schema, table in rows:
        out.setdefault(schema, set()).add(table)
    return out


def test_runs_and_events_live_in_the_dagster_schema(postgres_storage: str) -> None:
    settings = get_settings()
    instance = prepare_dagster_home(settings)
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    result = materialize([reading], instance=instance)
    assert result.success
    instance.add_dynamic_partitions("protocols", ["p-1"])

    tables = _tables(postgres_storage)
    assert {"runs", "event_logs", "dynamic_partitions"} <= tables[DAGSTER_SCHEMA]
    assert "public" not in tables  # nothing of Dagster's among the application's tables
    # no SQLite history beside the instance's dagster.yaml
    home = dagster_home(settings)
    assert not (home / "history").exists() and not (home / "schedules").exists()
    assert "postgres" in (home / "dagster.yaml").read_text()


def test_another_process_reads_the_same_history(postgres_storage: str) -> None:
    """A second process (another host, in production) with only the instance's dagster.yaml
    sees the run, its materialization and the partitions."""
    instance = prepare_dagster_home(get_settings())
    run_id = materialize([reading], instance=instance).run_id
    instance.add_dynamic_partitions("protocols", ["p-1", "p-2"])
    script = (
        "import json; from dagster import AssetKey, DagsterInstance\n"
        "i = DagsterInstance.get()\n"
        "e = i.get_latest_materialization_event(AssetKey('reading'))\n"
        "print(json.dumps({'runs': [r.run_id for r in i.get_runs()], 'run': e.run_id,\n"
        "  'partitions': sorted(i.get_dynamic_partitions('protocols'))}))\n"
    )
    env = {**os.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    seen = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert seen == {"runs": [run_id], "run": run_id, "partitions": ["p-1", "p-2"]}
    assert instance.get_latest_materialization_event(AssetKey("reading")).run_id == run_id


def test_the_schema_is_made_once_and_the_yaml_again_each_time(postgres_storage: str) -> None:
    first = prepare_dagster_home(get_settings())
    materialize([reading], instance=first)
    again = prepare_dagster_home(get_settings())  # a second `americano` command, a worker
    assert len(again.get_runs()) == 1
