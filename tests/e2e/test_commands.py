"""The state-changing commands as a user runs them: `americano db migrate`, `seed-demo`, `extract`
and `demo`, each a real process on one database (the embedded server, or the one at
AMERICANO_DATABASE_URL), in the order a new user meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from americano_pipelines.cli.demo import MARTS
from americano_pipelines.db import extract, schema
from americano_pipelines.db.migrate import MIGRATIONS_DIR
from americano_pipelines.warehouse.tables import RANDOMIZATION_TESTS

AMERICANO = Path(sys.executable).parent / "americano"
SMALL_DEMO = ("--users", "1", "--days", "49", "--seed", "5")


@pytest.fixture(scope="module")
def command_env(empty_database: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("commands")
    env = {k: v for k, v in os.environ.items() if k != "AMERICANO_DUCKDB_PATH"}
    env.update(
        AMERICANO_DATABASE_URL=empty_database,
        AMERICANO_HOME=str(root / "home"),
        AMERICANO_DATA_DIR=str(root / "data"),
    )
    return env


def americano(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AMERICANO), *args], env=env, capture_output=True, text=True, timeout=1800, check=False
    )


def test_db_migrate_applies_every_migration_once(command_env: dict[str, str]) -> None:
    first = americano("db", "migrate", env=command_env)
    assert first.returncode == 0, first.stderr
    expected = [f"applied {path.stem}" for path in sorted(MIGRATIONS_DIR.glob("*.sql"))]
    assert first.stdout.splitlines() == expected

    again = americano("db", "migrate", env=command_env)
    assert (again.returncode, again.stdout.strip()) == (0, "database is up to date")


def test_seed_demo_loads_an_empty_database_only(command_env: dict[str, str]) -> None:
    seeded = americano("seed-demo", *SMALL_DEMO, env=command_env)
    assert seeded.returncode == 0, seeded.stderr
    truth = json.loads(seeded.stdout)
    with psycopg.connect(command_env["AMERICANO_DATABASE_URL"]) as conn:
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        protocols = conn.execute("SELECT count(*) FROM experiment_protocols").fetchone()[0]
    assert users == 1
    assert protocols == len(truth["protocols"]) > 0

    refused = americano("seed-demo", *SMALL_DEMO, env=command_env)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "already has users" in refused.stderr


def test_extract_writes_what_postgres_holds_then_nothing_new(command_env: dict[str, str]) -> None:
    first = americano("extract", env=command_env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["eventDaysExtracted"] > 0

    home = Path(command_env["AMERICANO_HOME"])
    data = Path(command_env["AMERICANO_DATA_DIR"])
    with extract.extract_connection(command_env["AMERICANO_DATABASE_URL"]) as conn:
        for table in schema.EXTRACTED_TABLES:
            comparison = extract.compare_with_postgres(
                conn, table, raw_dir=data / "raw", provenance_dir=data / "provenance"
            )
            assert comparison.passed, (table, comparison)
    assert home.exists()

    again = americano("extract", env=command_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["eventDaysExtracted"] == 0


def test_demo_builds_every_mart_and_analysis_and_reports_it(command_env: dict[str, str]) -> None:
    demo = americano("demo", *SMALL_DEMO, env=command_env)
    assert demo.returncode == 0, demo.stderr
    assert "database already has data: not seeding" in demo.stdout
    assert "failed checks" not in demo.stdout
    for mart in MARTS:
        assert mart in demo.stdout

    warehouse = Path(command_env["AMERICANO_HOME"]) / "warehouse.duckdb"  # the default
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for mart in ("daily_metrics", "phase_observations", "protocols"):
            assert conn.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0
        analysed = conn.execute(
            f"SELECT count(DISTINCT protocol_id) FROM {RANDOMIZATION_TESTS.qualified_name}"
        ).fetchone()[0]
    with psycopg.connect(command_env["AMERICANO_DATABASE_URL"]) as conn:
        protocols = conn.execute("SELECT count(*) FROM experiment_protocols").fetchone()[0]
    assert analysed == protocols


def test_a_second_demo_with_nothing_new_materializes_nothing_and_says_so(
    command_env: dict[str, str],
) -> None:
    again = americano("demo", *SMALL_DEMO, env=command_env)
    assert again.returncode == 0, again.stderr
    assert "refresh: nothing changed in PostgreSQL, the code or the marts" in again.stdout
    assert "nothing changed since the last run: no asset materialized" in again.stdout
    assert "Pre-registered randomization tests" in again.stdout  # the results are still shown
