"""Migrations apply from an empty database, are recorded, are idempotent, and refuse edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from americano_pipelines.db.migrate import (
    MIGRATIONS_DIR,
    MigrationError,
    available_migrations,
    migrate,
)

GUIDE_TABLES = {
    "users",
    "behavioral_events",
    "experiment_protocols",
    "phase_assignments",
    "context_metadata",
    "analysis_runs",
    "wearable_records",
    "wearable_connections",
}


def test_from_empty_then_idempotent(empty_database: str) -> None:
    with psycopg.connect(empty_database) as conn:
        first = migrate(conn)
        second = migrate(conn)
        recorded = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert second == []
    assert recorded == [m.version for m in available_migrations()]
    assert GUIDE_TABLES <= tables


def test_behavioral_events_has_the_guides_fields_and_indexes(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        columns = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'behavioral_events'"
            )
        }
        indexes = [
            definition
            for (definition,) in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'behavioral_events'"
            )
        ]
    assert columns >= {
        "id",
        "user_id",
        "event_type",
        "event_data",
        "timestamp",
        "completion_quality",
        "content_type",
        "day_of_week",
        "difficulty_level",
        "engagement_level",
        "session_performance_score",
        "time_of_day",
        "experiment_phase",
        "randomization_seed",
        "context_metadata_id",
    }
    for indexed in (
        '(user_id, event_type, "timestamp")',
        "(user_id, day_of_week)",
        "(user_id, time_of_day)",
        "(experiment_phase)",
    ):
        assert any(indexed in definition for definition in indexes), indexed


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO context_metadata (user_id, mood, location, energy_level) "
        "VALUES ('u', 'LOW', 'HOME', 11)",
        "INSERT INTO context_metadata (user_id, mood, location, sleep_quality) "
        "VALUES ('u', 'LOW', 'HOME', 0)",
        "INSERT INTO context_metadata (user_id, mood, location) VALUES ('u', 'ECSTATIC', 'HOME')",
        "INSERT INTO behavioral_events (user_id, event_type, day_of_week) "
        "VALUES ('u', 'CARD_REVIEWED', 7)",
        "INSERT INTO behavioral_events (user_id, event_type) VALUES ('u', 'PAGE_VIEW')",
    ],
    ids=[
        "energy_above_10",
        "sleep_quality_below_1",
        "unknown_mood",
        "day_of_week_7",
        "unknown_event_type",
    ],
)
def test_database_enforces_enums_and_ranges(migrated_database: str, statement: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES ('u', 'u@example.org')")
        with pytest.raises(
            (psycopg.errors.CheckViolation, psycopg.errors.InvalidTextRepresentation)
        ):
            conn.execute(statement)
        conn.rollback()


def test_an_edited_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    with psycopg.connect(empty_database) as conn:
        migrate(conn, copy)
        first = sorted(copy.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            migrate(conn, copy)


def test_a_failing_migration_leaves_nothing_behind(empty_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT 1/0;\n")
    with psycopg.connect(empty_database) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrate(conn, copy)
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        assert (
            conn.execute("SELECT count(*) FROM schema_migrations WHERE version = 9999").fetchone()[
                0
            ]
            == 0
        )
