"""The weekly drift asset on a small warehouse: one ISO week's partition materialized, its
reports, its rows in analyses.drift_columns and its warning check (defs/drift/assets.py)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from americano_pipelines.defs.drift.assets import CHECK, weekly_drift
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.reports.drift import report_paths
from americano_pipelines.warehouse import tables

START = dt.date(2026, 1, 5)  # Monday of 2026-W02
N_DAYS = 42  # through 2026-W07


def _warehouse(path):
    """Two users: `shifted` moves by 3 SD in every measure in 2026-W07, `steady` does not;
    `shifted` has a protocol whose baseline is its first two weeks."""
    rng = np.random.default_rng(7)
    conn = duckdb.connect(str(path))
    for schema in ("marts", "staging", "intermediate"):
        conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(
        "CREATE TABLE marts.daily_metrics (user_id VARCHAR, metric VARCHAR, metric_date DATE, "
        "value DOUBLE)"
    )
    conn.execute(
        "CREATE TABLE marts.wearable_daily (user_id VARCHAR, wearable_date DATE, "
        "sleep_hours DOUBLE, hrv_rmssd_ms DOUBLE, resting_heart_rate_bpm DOUBLE)"
    )
    conn.execute(
        "CREATE TABLE staging.stg_app__context_metadata (user_id VARCHAR, recorded_date DATE, "
        "mood VARCHAR, energy_level INTEGER, sleep_hours DOUBLE, sleep_quality INTEGER, "
        "hrv_score INTEGER, resting_heart_rate INTEGER)"
    )
    conn.execute(
        "CREATE TABLE intermediate.int_protocol_days (protocol_id VARCHAR, user_id VARCHAR, "
        "phase_label VARCHAR, phase_type VARCHAR, protocol_date DATE)"
    )
    for user, shift in (("shifted", 3.0), ("steady", 0.0)):
        for i in range(N_DAYS):
            day = START + dt.timedelta(days=i)
            s = shift if i >= 35 else 0.0
            conn.execute(
                "INSERT INTO marts.daily_metrics VALUES (?, 'focus_minutes', ?, ?)",
                [user, day, rng.normal(60 + 10 * s, 10)],
            )
            conn.execute(
                "INSERT INTO marts.wearable_daily VALUES (?, ?, ?, ?, ?)",
                [
                    user,
                    day,
                    rng.normal(7 + 0.7 * s, 0.7),
                    rng.normal(55 + 8 * s, 8),
                    rng.normal(60 - 4 * s, 4),
                ],
            )
            conn.execute(
                "INSERT INTO staging.stg_app__context_metadata VALUES (?, ?, ?, ?, NULL, NULL, "
                "NULL, NULL)",
                [
                    user,
                    day,
                    "HIGH" if s else ["LOW", "MEDIUM", "HIGH"][i % 3],
                    int(np.clip(round(rng.normal(5 + 1.5 * s, 1.5)), 1, 10)),
                ],
            )
    for i in range(14):
        conn.execute(
            "INSERT INTO intermediate.int_protocol_days VALUES ('p1', 'shifted', 'A1', "
            "'BASELINE', ?)",
            [START + dt.timedelta(days=i)],
        )
    conn.close()


@pytest.fixture
def drift_home(tmp_path, monkeypatch):
    _warehouse(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AMERICANO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AMERICANO_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("AMERICANO_DRIFT_WARN_SHARE", raising=False)
    return tmp_path


def test_drift_days_reads_outcomes_context_and_wearables(drift_home):
    with duckdb.connect(str(drift_home / "warehouse.duckdb"), read_only=True) as conn:
        days = tables.drift_days(conn, "shifted")
        assert tables.baseline_periods(conn) == [
            ("shifted", "p1", START, START + dt.timedelta(days=13))
        ]
    assert list(days.columns) == [
        "date",
        "outcome_focus_minutes",
        "mood",
        "energy_level",
        "sleep_hours",
        "hrv_rmssd_ms",
        "resting_heart_rate_bpm",
    ]
    assert len(days) == N_DAYS and days["date"].iloc[0] == START
    assert days["mood"].iloc[:3].tolist() == [1.0, 2.0, 3.0]


def test_one_week_materialized(drift_home):
    week_monday = (START + dt.timedelta(weeks=5)).isoformat()  # 2026-W07
    result = materialize(
        [weekly_drift],
        partition_key=week_monday,
        resources={"warehouse": WarehouseResource(), "settings": SettingsResource()},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("drift__weekly_drift")
    metadata = materialization.metadata
    assert metadata["week"].value == "2026-W07" and metadata["users"].value == 2
    reports = drift_home / "home" / "reports"
    html, json_path = report_paths(reports, "shifted", "2026-W07")
    assert metadata["shifted_html"].value == str(html) and html.exists()
    body = json.loads(json_path.read_text())
    assert body["reference"] == {
        "kind": "baseline",
        "protocolId": "p1",
        "startDate": "2026-01-05",
        "endDate": "2026-01-18",
        "nDays": 14,
    }
    assert body["datasetDrift"] is True
    steady = json.loads(report_paths(reports, "steady", "2026-W07")[1].read_text())
    assert steady["reference"]["kind"] == "previous_weeks" and steady["shareDrifted"] < 0.5

    rows = tables.read_results(drift_home / "data" / "analyses", tables.DRIFT_COLUMNS, "2026-W07")
    assert metadata["rows_written"].value == len(rows) == 12
    assert {r["user_id"] for r in rows} == {"shifted", "steady"}
    assert all(
        r["drifted"] for r in rows if r["user_id"] == "shifted" and r["column_name"] != "mood"
    )

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == CHECK and not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    assert set(check.metadata["users_over"].value) == {"shifted"}


def test_quiet_week_passes_the_check(drift_home):
    week_monday = (START + dt.timedelta(weeks=4)).isoformat()  # 2026-W06, before the shift
    result = materialize(
        [weekly_drift],
        partition_key=week_monday,
        resources={"warehouse": WarehouseResource(), "settings": SettingsResource()},
        instance=DagsterInstance.ephemeral(),
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_the_cli_prints_one_users_week(drift_home):
    from typer.testing import CliRunner

    from americano_pipelines.cli.app import app

    runner = CliRunner()
    shown = runner.invoke(app, ["drift", "--user", "shifted", "--week", "2026-W07", "--save"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["reference"]["kind"] == "baseline" and body["datasetDrift"] is True
    html, json_path = report_paths(drift_home / "home" / "reports", "shifted", "2026-W07")
    assert body["files"] == {"json": str(json_path), "html": str(html)} and html.exists()
    # the asset's JSON for the week holds the same result
    assert {k: v for k, v in json.loads(json_path.read_text()).items() if k != "evidently"} == {
        k: v for k, v in body.items() if k != "files"
    }
    for args, field in (
        (["--user", "shifted", "--week", "2026-7"], "week"),
        (["--user", "nobody", "--week", "2026-W07"], "user"),
    ):
        refused = runner.invoke(app, ["drift", *args])
        assert refused.exit_code == 2
        assert refused.stderr.startswith(f"error: {field}: ")


def test_the_monday_schedule_asks_for_the_week_that_ended():
    from dagster import build_schedule_context

    from americano_pipelines.definitions import defs
    from americano_pipelines.defs.drift.schedules import week_before

    monday = dt.datetime(2026, 2, 2, 3, tzinfo=dt.UTC)  # 2026-W06 begins
    assert week_before(monday) == "2026-01-26"  # 2026-W05
    assert week_before(monday + dt.timedelta(days=6)) == "2026-01-26"
    schedule = defs.get_schedule_def("weekly_drift")
    context = build_schedule_context(
        scheduled_execution_time=monday, repository_def=defs.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-01-26"
