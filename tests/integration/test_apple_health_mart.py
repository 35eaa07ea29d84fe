"""Apple Health's normalized days on the real graph: imported beside a demo user's Oura-style
records, extracted, gated and built by dbt, they reach marts.wearable_daily with SDNN in a column
of its own, apart from the RMSSD of another provider on the same day."""

from __future__ import annotations

from pathlib import Path

import duckdb
import psycopg
import pytest

from americano_pipelines.cli.materialize import materialize_all
from americano_pipelines.config import get_settings
from americano_pipelines.db.apple_health import import_apple_health
from americano_pipelines.db.load import load_tables
from americano_pipelines.synth.demo_study import generate_demo_study
from tests.conftest import BASE_GROUPS

# Extract, gate and dbt over the whole graph: the same on either PostgreSQL (as
# test_quarantine_graph.py), so CI runs it once.
pytestmark = pytest.mark.once

FIXTURE = Path(__file__).parents[1] / "fixtures" / "apple_health" / "export.xml"


@pytest.fixture(scope="module")
def warehouse(migrated_database: str, module_platform: Path):
    study = generate_demo_study(users=1, days=49, seed=5)
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
        user = conn.execute("SELECT id FROM users").fetchone()[0]
        result = import_apple_health(conn, FIXTURE, user_id=user)
        conn.execute(
            "INSERT INTO wearable_records (user_id, provider, record_type, source_record_id, day, "
            "value, unit) VALUES (%s, 'OURA', 'hrv_rmssd', 'oura-1', '2024-01-02', 70, 'ms')",
            (user,),
        )
        conn.commit()
    settings = get_settings()
    summary = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert summary.failed_checks == []
    return settings, user, result


def test_normalized_days_reach_wearable_daily(warehouse) -> None:
    settings, user, result = warehouse
    assert result.normalized == 9
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT wearable_date::varchar, sleep_hours, hrv_sdnn_ms, hrv_rmssd_ms, "
            "resting_heart_rate_bpm, steps, active_energy_kcal, providers "
            "FROM marts.wearable_daily WHERE user_id = ? AND wearable_date < DATE '2025-01-01' "
            "ORDER BY wearable_date",
            [user],
        ).fetchall()
    assert rows == [
        ("2024-01-02", 7.25, 45.0, 70.0, 58.0, 1600.0, 200.0, "APPLE_HEALTH,OURA"),
        ("2024-01-03", None, None, None, 61.0, None, None, "APPLE_HEALTH"),
        ("2024-07-02", 7.0, None, None, None, None, None, "APPLE_HEALTH"),
    ]
