"""The weekly drift asset on the demo study's real warehouse (PostgreSQL -> Parquet -> dbt): one
ISO week materialized, its rows in the view analyses.drift_columns and dbt's tests of them."""

from __future__ import annotations

import datetime as dt

import duckdb
import psycopg
import pytest
from dagster import AssetCheckKey, AssetSelection, materialize

from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.analyses.checks import analyses_checks
from americano_pipelines.defs.drift.assets import CHECK, KEY
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.synth.demo_study import generate_demo_study

BASE_GROUPS = ("extract", "seeds", "staging", "intermediate", "marts", "results")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
START = dt.date(2025, 9, 1)  # a Monday

# Analyses over a demo study: they read the warehouse, and PostgreSQL only through the
# extraction that tests/e2e/test_demo_graph.py runs against both servers, so CI runs them once.
pytestmark = pytest.mark.once


def test_one_week_of_the_demo_study(migrated_database, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AMERICANO_DATA_DIR", str(tmp_path / "project" / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    monkeypatch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = generate_demo_study(users=2, days=49, seed=3, start_date=START, protocol_users=1)
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    assert materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS).failed_checks == []

    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    result = materialize(
        [*(defs.assets or []), *analyses_checks],
        selection=AssetSelection.assets(KEY),
        partition_key=(START + dt.timedelta(weeks=5)).isoformat(),  # 2025-W41
        instance=instance,
        resources={
            **(defs.resources or {}),
            "warehouse": WarehouseResource(database=settings.duckdb_path),
        },
        run_config=QUIET,
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {CHECK, "dbt_source_tests"}
    assert checks["dbt_source_tests"].passed  # dbt's tests of analyses.drift_columns
    assert AssetCheckKey(KEY, CHECK) == checks[CHECK].asset_check_key

    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        rows = wh.execute(
            "SELECT user_id, status, reference_kind, column_name, score "
            "FROM analyses.drift_columns WHERE week = '2025-W41' ORDER BY ALL"
        ).fetchall()
    users = {row[0] for row in rows}
    assert len(users) == 2 and {row[1] for row in rows} == {"ok"}
    columns = {row[3] for row in rows}
    assert any(c.startswith("outcome_") for c in columns)
    assert {"mood", "energy_level"} <= columns
    assert all(row[4] is not None for row in rows)
