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
        # A raw record its gate refuses: it ends before it starts.
        conn.execute(
            "INSERT INTO apple_health_records (user_id, source_record_id, element, record_type, "
            "day, start_date, utc_offset, end_date, numeric_value) VALUES (%s, 'reversed', "
            "'Record', 'HKQuantityTypeIdentifierHeartRate', '2024-01-02', "
            "'2024-01-02 08:00+00', '+0000', '2024-01-02 07:00+00', 60)",
            (user,),
        )
        conn.commit()
    settings = get_settings()
    summary = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    # The one refused record is more of this small table than the share allowed (1 %).
    assert summary.failed_checks == ["raw/apple_health_records:quarantine_within_share"]
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


def test_raw_records_reach_parquet_and_staging_with_counts_conserved(
    warehouse, migrated_database: str
) -> None:
    import pyarrow.parquet as pq

    from americano_pipelines.db.extract import snapshot_path

    settings, user, result = warehouse
    with psycopg.connect(migrated_database) as conn:
        held = conn.execute("SELECT count(*) FROM apple_health_records").fetchone()[0]
    assert held == result.inserted + 1 > 1  # the import's records and the reversed one
    parquet = pq.read_table(snapshot_path(settings.raw_dir, "apple_health_records"))
    assert parquet.num_rows == held
    assert set(parquet.column("user_id").to_pylist()) == {user}
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        staged = conn.execute(
            "SELECT count(*), count(DISTINCT source_record_id) "
            "FROM staging.stg_app__apple_health_records"
        ).fetchone()
        quarantined = conn.execute(
            "SELECT count(*) FROM quarantine.apple_health_records"
        ).fetchone()[0]
        refused = conn.execute("SELECT id, rules FROM quarantine.apple_health_records").fetchall()
    assert refused == [(f"{user}/reversed", "apple_health_dates_ordered")]
    assert staged[0] == staged[1]
    assert held == staged[0] + quarantined
