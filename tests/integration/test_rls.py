"""Row-level security: the application role, acting for one user, can neither read, insert,
update nor delete another user's rows, on every table; the extraction role reads everything."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from americano_pipelines.db.connection import extract_session, user_session

pytestmark = pytest.mark.integration


def _seed_user(conn: psycopg.Connection, user: str) -> None:
    conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (user, f"{user}@example.org"))
    conn.execute(
        "INSERT INTO context_metadata (id, user_id, mood, location) VALUES (%s, %s, 'LOW', 'HOME')",
        (f"ctx_{user}", user),
    )
    conn.execute(
        "INSERT INTO behavioral_events (id, user_id, event_type, context_metadata_id) "
        "VALUES (%s, %s, 'SESSION_STARTED', %s)",
        (f"evt_{user}", user, f"ctx_{user}"),
    )
    conn.execute(
        "INSERT INTO experiment_protocols (id, user_id, protocol_name, hypothesis, start_date, "
        "design_type, primary_outcome, sample_size_target, analysis_plan) VALUES "
        "(%s, %s, 'p', 'h', '2025-01-01', 'ABAB', 'engagement_score', 40, 'plan')",
        (f"prot_{user}", user),
    )
    conn.execute(
        "INSERT INTO phase_assignments (id, protocol_id, phase_label, phase_type, start_date, "
        "planned_duration, randomization_seed) VALUES (%s, %s, 'baseline_1', 'BASELINE', "
        "'2025-01-01', 7, 1)",
        (f"phase_{user}", f"prot_{user}"),
    )
    conn.execute(
        "INSERT INTO analysis_runs (id, protocol_id, run_name, analysis_type, code_commit_hash, "
        "data_version_hash) VALUES (%s, %s, 'r', 'abab_randomization', 'c', 'd')",
        (f"run_{user}", f"prot_{user}"),
    )
    conn.execute(
        "INSERT INTO wearable_records (id, user_id, provider, record_type, source_record_id, day, "
        "value) VALUES (%s, %s, 'OURA', 'sleep_duration', 's1', '2025-01-01', 7.5)",
        (f"wr_{user}", user),
    )
    conn.execute(
        "INSERT INTO wearable_connections (user_id, provider, access_token_enc) "
        "VALUES (%s, 'OURA', '\\x00')",
        (user,),
    )


@dataclass(frozen=True)
class TableCase:
    table: str
    key: str  # WHERE clause selecting a user's row, with {user}
    harmless_update: str  # SET clause that changes nothing pre-registered
    insert_for: str  # INSERT of a new row owned by {user}


CASES = [
    TableCase(
        "users",
        "id = '{user}'",
        "display_name = 'x'",
        "INSERT INTO users (id, email) VALUES ('{user}_2', '{user}_2@example.org')",
    ),
    TableCase(
        "context_metadata",
        "user_id = '{user}'",
        "notes = 'x'",
        "INSERT INTO context_metadata (user_id, mood, location) VALUES ('{user}', 'HIGH', 'CAFE')",
    ),
    TableCase(
        "behavioral_events",
        "user_id = '{user}'",
        "content_type = 'x'",
        "INSERT INTO behavioral_events (user_id, event_type) VALUES ('{user}', 'CARD_REVIEWED')",
    ),
    TableCase(
        "experiment_protocols",
        "user_id = '{user}'",
        "end_date = '2025-03-01'",
        "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, start_date, "
        "design_type, primary_outcome, sample_size_target, analysis_plan) VALUES "
        "('{user}', 'p2', 'h', '2025-02-01', 'ABAB', 'engagement_score', 10, 'plan')",
    ),
    TableCase(
        "phase_assignments",
        "protocol_id = 'prot_{user}'",
        "end_date = '2025-01-07'",
        "INSERT INTO phase_assignments (protocol_id, phase_label, phase_type, start_date, "
        "planned_duration, randomization_seed) VALUES "
        "('prot_{user}', 'intervention_1', 'INTERVENTION_A', '2025-01-08', 7, 1)",
    ),
    TableCase(
        "analysis_runs",
        "protocol_id = 'prot_{user}'",
        "run_name = 'x'",
        "INSERT INTO analysis_runs (protocol_id, run_name, analysis_type, code_commit_hash, "
        "data_version_hash) VALUES ('prot_{user}', 'r2', 'its', 'c', 'd')",
    ),
    TableCase(
        "wearable_records",
        "user_id = '{user}'",
        "unit = 'h'",
        "INSERT INTO wearable_records (user_id, provider, record_type, source_record_id, "
        "day) VALUES ('{user}', 'WHOOP', 'strain', 's2', '2025-01-02')",
    ),
    TableCase(
        "wearable_connections",
        "user_id = '{user}'",
        "scopes = '{{daily}}'",
        "INSERT INTO wearable_connections (user_id, provider, access_token_enc) "
        "VALUES ('{user}', 'WHOOP', '\\x01')",
    ),
]


@pytest.fixture(scope="module")
def two_users(migrated_database: str) -> str:
    with psycopg.connect(migrated_database) as conn:
        _seed_user(conn, "alice")
        _seed_user(conn, "bob")
    return migrated_database


def test_every_table_is_covered(two_users: str) -> None:
    with psycopg.connect(two_users) as conn:
        forced = {
            name
            for (name,) in conn.execute(
                "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity "
                "AND relnamespace = 'public'::regnamespace"
            )
        }
    assert forced == {case.table for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.table)
def test_app_role_reads_only_own_rows(two_users: str, case: TableCase) -> None:
    with psycopg.connect(two_users, autocommit=True) as conn, user_session(conn, "alice"):
        own = conn.execute(
            f"SELECT count(*) FROM {case.table} WHERE {case.key.format(user='alice')}"
        ).fetchone()[0]
        others = conn.execute(
            f"SELECT count(*) FROM {case.table} WHERE {case.key.format(user='bob')}"
        ).fetchone()[0]
        total = conn.execute(f"SELECT count(*) FROM {case.table}").fetchone()[0]
    assert own >= 1
    assert others == 0
    assert total == own


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.table)
def test_app_role_cannot_insert_for_another_user(two_users: str, case: TableCase) -> None:
    with psycopg.connect(two_users) as conn, user_session(conn, "alice"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(case.insert_for.format(user="bob"))
        conn.rollback()
        # ...while the same insert for herself works, so the policy is not simply closed.
        if case.table != "users":
            conn.execute(case.insert_for.format(user="alice"))
        conn.rollback()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.table)
def test_app_role_cannot_update_or_delete_another_users_rows(
    two_users: str, case: TableCase
) -> None:
    bob = case.key.format(user="bob")
    with psycopg.connect(two_users) as conn:
        with user_session(conn, "alice"):
            updated = conn.execute(f"UPDATE {case.table} SET {case.harmless_update} WHERE {bob}")
            assert updated.rowcount == 0
            deleted = conn.execute(f"DELETE FROM {case.table} WHERE {bob}")
            assert deleted.rowcount == 0
            own_update = conn.execute(
                f"UPDATE {case.table} SET {case.harmless_update} "
                f"WHERE {case.key.format(user='alice')}"
            )
            assert own_update.rowcount >= 1
            conn.rollback()
        still_there = conn.execute(f"SELECT count(*) FROM {case.table} WHERE {bob}").fetchone()[0]
    assert still_there >= 1


def test_session_without_user_sees_nothing(two_users: str) -> None:
    with psycopg.connect(two_users, autocommit=True) as conn:
        conn.execute("SET ROLE americano_app")
        assert conn.execute("SELECT count(*) FROM behavioral_events").fetchone()[0] == 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.table)
def test_extraction_role_reads_everything(two_users: str, case: TableCase) -> None:
    with psycopg.connect(two_users, autocommit=True) as conn:
        expected = conn.execute(f"SELECT count(*) FROM {case.table}").fetchone()[0]
        with extract_session(conn):
            seen = conn.execute(f"SELECT count(*) FROM {case.table}").fetchone()[0]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"DELETE FROM {case.table}")
    assert seen == expected >= 2
