"""Timestamps, dates and floats are finite: the database refuses the others (migration 0005), and
extraction quarantines those already stored (counted, listed, never written, never a crash)."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg.conninfo import make_conninfo

from americano_pipelines.db import extract, schema
from americano_pipelines.db.migrate import MIGRATIONS_DIR, migrate

DAY = dt.date(2025, 1, 1)
WEARABLE = (
    "INSERT INTO wearable_records (id, user_id, provider, record_type, source_record_id, day, value)"
    " VALUES (%s, 'user_001', 'OURA', 'sleep_score', %s, %s, %s)"
)
EVENT = (
    'INSERT INTO behavioral_events (id, user_id, event_type, "timestamp") '
    "VALUES (%s, 'user_001', 'CARD_REVIEWED', %s)"
)


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (EVENT, ("e_future", "infinity")),
        (EVENT, ("e_past", "-infinity")),
        (WEARABLE, ("w_nan", "s1", DAY, math.nan)),
        (WEARABLE, ("w_inf", "s2", DAY, math.inf)),
        (WEARABLE, ("w_minus_inf", "s3", DAY, -math.inf)),
        (WEARABLE, ("w_day", "s4", "infinity", 1.0)),
        ("UPDATE wearable_records SET value = 'NaN' WHERE id = 'w_ok'", ()),
        ("UPDATE users SET created_at = 'infinity' WHERE id = 'user_001'", ()),
    ],
    ids=[
        "event_timestamp_infinity",
        "event_timestamp_minus_infinity",
        "wearable_value_nan",
        "wearable_value_infinity",
        "wearable_value_minus_infinity",
        "wearable_day_infinity",
        "update_to_nan",
        "user_created_at_infinity",
    ],
)
def test_the_database_refuses_values_that_are_not_finite(
    migrated_database: str, statement: str, params: tuple
) -> None:
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES ('user_001', 'u1@example.org') "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute(WEARABLE + " ON CONFLICT DO NOTHING", ("w_ok", "s0", DAY, 7.5))
        conn.commit()
        with pytest.raises(psycopg.errors.CheckViolation, match="_finite"):
            conn.execute(statement, params)
        conn.rollback()


def test_every_timestamp_date_and_float_column_has_a_validated_check(
    migrated_database: str,
) -> None:
    with psycopg.connect(migrated_database) as conn:
        columns = conn.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations' "
            "AND a.attnum > 0 AND NOT a.attisdropped "
            "AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype, "
            "'float8'::regtype, 'float4'::regtype)"
        ).fetchall()
        checks = dict(
            conn.execute(
                "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'c' "
                "AND conname LIKE '%\\_finite'"
            ).fetchall()
        )
    assert ("behavioral_events", "timestamp") in columns
    assert ("wearable_records", "value") in columns
    for table, column in columns:
        assert checks.get(f"{table}_{column}_finite") is True, (table, column)


@pytest.fixture(scope="module")
def old_bad_rows(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A database that took non-finite values before migration 0005, then was migrated."""
    name = f"americano_test_{uuid.uuid4().hex[:10]}"
    before_0005 = tmp_path_factory.mktemp("migrations")
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name.split("_")[0]) <= 3:
            shutil.copy(path, before_0005)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server_url, dbname=name)
    notices: list[str] = []
    try:
        with psycopg.connect(url) as conn:
            migrate(conn, before_0005)
            conn.execute("INSERT INTO users (id, email) VALUES ('user_001', 'u1@example.org')")
            for i, hour in enumerate((8, 12, 20)):
                conn.execute(EVENT, (f"e{i}", dt.datetime.combine(DAY, dt.time(hour), dt.UTC)))
            conn.execute(EVENT, ("e_next", dt.datetime(2025, 1, 2, 9, tzinfo=dt.UTC)))
            conn.execute(EVENT, ("e_future", "infinity"))
            conn.execute(EVENT, ("e_past", "-infinity"))
            conn.execute(WEARABLE, ("w_ok", "s0", DAY, 7.5))
            conn.execute(WEARABLE, ("w_nan", "s1", DAY, math.nan))
            conn.execute(WEARABLE, ("w_minus_inf", "s2", DAY, -math.inf))
            conn.execute(WEARABLE, ("w_day", "s3", "infinity", 1.0))
            conn.add_notice_handler(lambda notice: notices.append(notice.message_primary))
            applied = migrate(conn)
        yield {"url": url, "applied": applied, "notices": notices}
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_keeps_old_rows_and_leaves_their_checks_not_valid(old_bad_rows) -> None:
    url = old_bad_rows["url"]
    assert 5 in [m.version for m in old_bad_rows["applied"]]
    with psycopg.connect(url) as conn:
        validated = dict(
            conn.execute(
                "SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE '%\\_finite'"
            ).fetchall()
        )
        assert conn.execute("SELECT count(*) FROM behavioral_events").fetchone()[0] == 6
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(EVENT, ("e_new", "infinity"))
    not_valid = {
        "behavioral_events_timestamp_finite",
        "wearable_records_value_finite",
        "wearable_records_day_finite",
    }
    assert {name for name, valid in validated.items() if not valid} == not_valid
    assert validated["users_created_at_finite"] is True
    for name in not_valid:
        assert any(name in notice for notice in old_bad_rows["notices"]), name


def test_extraction_quarantines_old_non_finite_rows_with_a_count(
    old_bad_rows, tmp_path: Path
) -> None:
    url = old_bad_rows["url"]
    with extract.extract_connection(url) as conn:
        days = extract.stale_event_days(conn, tmp_path)
        events = extract.extract_events(conn, days, tmp_path)
        wearables = extract.extract_snapshot(conn, "wearable_records", tmp_path)
        comparisons = [
            extract.compare_with_postgres(conn, table, raw_dir=tmp_path, provenance_dir=tmp_path)
            for table in (schema.EVENTS_TABLE, "wearable_records")
        ]

    assert days == [DAY, DAY + dt.timedelta(days=1)]
    written = pq.read_table(wearables.path)
    assert written["id"].to_pylist() == ["w_ok"]
    assert all(math.isfinite(v) for v in written["value"].to_pylist())
    assert [f.rows for f in events.files] == [3, 1]
    assert (events.undated.rows, sorted(events.undated.ids)) == (2, ["e_future", "e_past"])
    assert events.to_metadata()["undated_quarantined_rows"] == 2
    assert wearables.quarantine.rows == 3
    assert sorted(wearables.quarantine.ids) == ["w_day", "w_minus_inf", "w_nan"]
    assert wearables.to_metadata()["quarantined_rows"] == 3
    # PostgreSQL rows = Parquet rows + quarantined, and the row check honours it.
    events_check, wearables_check = comparisons
    assert (events_check.postgres_rows, events_check.parquet_rows) == (6, 4)
    assert events_check.quarantined_rows == 2 and events_check.passed
    assert (wearables_check.postgres_rows, wearables_check.parquet_rows) == (4, 1)
    assert wearables_check.quarantined_rows == 3 and wearables_check.passed
