"""Row-level security: the application role, acting for one user, can neither read, insert,
update nor delete another user's rows, on every table; the extraction role reads everything.
A user's session logs in as the application role and cannot become anyone else (migration 0004,
docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from americano_pipelines.db.connection import (
    app_database_url,
    extract_session,
    token_session,
    user_session,
)
from americano_pipelines.db.tokens import issue_token, revoke_token
from americano_pipelines.errors import InputError


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
        "design_type, primary_outcome, sample_size_target, analysis_plan, registered_at) VALUES "
        "(%s, %s, 'p', 'h', '2025-01-01', 'ABAB', 'engagement_score', 40, 'plan', "
        "'2024-12-31T20:00Z')",
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
    conn.execute(
        "INSERT INTO wearable_sync_cursors (user_id, provider, resource, range_start, range_end) "
        "VALUES (%s, 'OURA', 'sleep', '2025-01-01', '2025-01-31')",
        (user,),
    )
    conn.execute(
        "INSERT INTO apple_health_records (user_id, source_record_id, element, record_type, "
        "day, start_date, utc_offset) VALUES (%s, 'a1', 'Record', "
        "'HKQuantityTypeIdentifierStepCount', '2025-01-01', '2025-01-01 08:00:00 -0800', '-0800')",
        (user,),
    )


@dataclass(frozen=True)
class TableCase:
    table: str
    key: str  # WHERE clause selecting a user's row, with {user}
    harmless_update: str | None  # SET clause a user may apply to their own row (None: none)
    insert_for: str  # INSERT of a new row owned by {user}
    own_insert_allowed: bool = True  # the same insert for the session's own user works


CASES = [
    TableCase(
        "users",
        "id = '{user}'",
        "display_name = 'x'",
        "INSERT INTO users (id, email) VALUES ('{user}_2', '{user}_2@example.org')",
        own_insert_allowed=False,  # users are created by the owner, not by a session
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
        "enrolled = 1",
        "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, start_date, "
        "design_type, primary_outcome, sample_size_target, analysis_plan) VALUES "
        "('{user}', 'p2', 'h', current_date + 1, 'ABAB', 'engagement_score', 10, 'plan')",
    ),
    TableCase(
        "phase_assignments",
        "protocol_id = 'prot_{user}'",
        None,  # the schedule is frozen at registration
        "INSERT INTO phase_assignments (protocol_id, phase_label, phase_type, start_date, "
        "planned_duration, randomization_seed) VALUES "
        "('prot_{user}', 'intervention_1', 'INTERVENTION_A', '2025-01-08', 7, 1)",
        own_insert_allowed=False,  # only in the transaction that registers the protocol
    ),
    TableCase(
        "analysis_runs",
        "protocol_id = 'prot_{user}'",
        None,  # append-only
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
    TableCase(
        "wearable_sync_cursors",
        "user_id = '{user}'",
        "next_token = 'x'",
        "INSERT INTO wearable_sync_cursors (user_id, provider, resource, range_start, range_end) "
        "VALUES ('{user}', 'OURA', 'daily_readiness', '2025-01-01', '2025-01-31')",
    ),
    TableCase(
        "apple_health_records",
        "user_id = '{user}'",
        "unit = 'count'",
        "INSERT INTO apple_health_records (user_id, source_record_id, element, record_type, "
        "day, start_date, utc_offset) VALUES ('{user}', 'a2', 'Record', "
        "'HKQuantityTypeIdentifierStepCount', '2025-01-02', '2025-01-02 08:00:00 -0800', '-0800')",
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
    with user_session("alice", owner_url=two_users) as conn:
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
    with user_session("alice", owner_url=two_users) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(case.insert_for.format(user="bob"))
        conn.rollback()
        # ...while the same insert for herself works, so the policy is not simply closed.
        if case.own_insert_allowed:
            conn.execute(case.insert_for.format(user="alice"))
        conn.rollback()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.table)
def test_app_role_cannot_update_or_delete_another_users_rows(
    two_users: str, case: TableCase
) -> None:
    bob = case.key.format(user="bob")
    with user_session("alice", owner_url=two_users) as conn:
        if case.harmless_update is not None:
            updated = conn.execute(f"UPDATE {case.table} SET {case.harmless_update} WHERE {bob}")
            assert updated.rowcount == 0
        if case.table != "analysis_runs":  # no DELETE grant at all: see below
            deleted = conn.execute(f"DELETE FROM {case.table} WHERE {bob}")
            assert deleted.rowcount == 0
        if case.harmless_update is not None:
            own_update = conn.execute(
                f"UPDATE {case.table} SET {case.harmless_update} "
                f"WHERE {case.key.format(user='alice')}"
            )
            assert own_update.rowcount >= 1
        conn.rollback()
    with psycopg.connect(two_users) as conn:
        still_there = conn.execute(f"SELECT count(*) FROM {case.table} WHERE {bob}").fetchone()[0]
    assert still_there >= 1


def test_session_without_user_sees_nothing(two_users: str) -> None:
    with psycopg.connect(app_database_url(two_users), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "americano_app"
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


# ----------------------------------------------------------------------------- bound sessions


def test_the_application_role_logs_in_as_itself_with_no_powers(two_users: str) -> None:
    with psycopg.connect(two_users) as conn:
        role = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = 'americano_app'"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = 'americano_app'::regrole"
        ).fetchone()[0]
        member_of = conn.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = 'americano_app'::regrole"
        ).fetchone()[0]
    assert role == (True, False, False, False, False)
    assert owned == 0
    assert member_of == 0


def _events_seen(conn: psycopg.Connection) -> set[str]:
    return {user for (user,) in conn.execute("SELECT DISTINCT user_id FROM behavioral_events")}


def test_reset_role_and_set_role_give_nothing_back(two_users: str) -> None:
    with user_session("alice", owner_url=two_users) as conn:
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT current_user").fetchone()[0] == "americano_app"
        assert _events_seen(conn) == {"alice"}
        for role in ("postgres", "americano_extract"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SET ROLE {role}")
            conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET SESSION AUTHORIZATION postgres")
        conn.rollback()
        assert _events_seen(conn) == {"alice"}


def test_setting_another_user_id_or_a_forged_token_reads_nothing_of_theirs(
    two_users: str,
) -> None:
    with user_session("alice", owner_url=two_users) as conn:
        conn.execute("SELECT set_config('americano.user_id', 'bob', false)")
        assert _events_seen(conn) == {"alice"}
        hypotheses = conn.execute("SELECT user_id FROM experiment_protocols").fetchall()
        assert hypotheses == [("alice",)]
        conn.execute("SELECT set_config('americano.session_token', 'amr_guessed', false)")
        assert _events_seen(conn) == set()
        assert conn.execute("SELECT americano_current_user_id()").fetchone()[0] is None


def test_a_session_cannot_read_or_mint_tokens(two_users: str) -> None:
    with user_session("alice", owner_url=two_users) as conn:
        for statement in (
            "SELECT * FROM americano_auth.user_tokens",
            "INSERT INTO americano_auth.user_tokens (user_id, token_hash, kind) "
            "VALUES ('bob', sha256('x'::bytea), 'api')",
            "CREATE FUNCTION public.users() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_an_api_token_binds_its_session_until_revoked(two_users: str) -> None:
    with psycopg.connect(two_users) as owner:
        issued = issue_token(owner, "bob", kind="api", name="test")
    with token_session(issued.token, owner_url=two_users) as conn:
        assert _events_seen(conn) == {"bob"}
        with psycopg.connect(two_users) as owner:
            revoke_token(owner, issued.token_id)
        assert _events_seen(conn) == set()  # from the next statement on
    with pytest.raises(InputError, match="^token: unknown, expired or revoked"):
        with token_session(issued.token, owner_url=two_users):
            pass


def test_an_event_cannot_point_at_another_users_context(two_users: str) -> None:
    """The composite key: bob's context row and a row that does not exist give the same error,
    so the foreign key is no existence test."""
    messages = []
    with user_session("alice", owner_url=two_users) as conn:
        for context in ("ctx_bob", "ctx_nobody"):
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as raised:
                conn.execute(
                    "INSERT INTO behavioral_events (user_id, event_type, context_metadata_id) "
                    "VALUES ('alice', 'CARD_REVIEWED', %s)",
                    (context,),
                )
            conn.rollback()
            messages.append(str(raised.value).replace(context, "?"))
        conn.execute(
            "INSERT INTO behavioral_events (user_id, event_type, context_metadata_id) "
            "VALUES ('alice', 'CARD_REVIEWED', 'ctx_alice')"
        )
        conn.rollback()
    assert messages[0] == messages[1]


def _acting_for(conn: psycopg.Connection) -> tuple:
    """(pid, the user the session acts for, its token setting, its role)."""
    return conn.execute(
        "SELECT pg_backend_pid(), americano_current_user_id(), "
        "current_setting('americano.session_token', true), current_user"
    ).fetchone()


def test_a_pooled_connection_never_carries_the_previous_requests_user(two_users: str) -> None:
    """The API's pool (one connection, so every checkout reuses it): the token is bound at each
    checkout and reset at each return, whatever the request left behind (an open transaction, a
    failed one, a session setting of its own); a bad token leaves nobody bound either."""
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import APP_ROLE, TokenSessionPool

    with psycopg.connect(two_users) as owner:
        tokens = {user: issue_token(owner, user, kind="api").token for user in ("alice", "bob")}
    pool = TokenSessionPool(get_settings(), max_size=1, owner_url=two_users)
    pool.open()
    try:
        with pool.session(tokens["alice"]) as conn:
            pid, user, _, role = _acting_for(conn)
            assert (user, role) == ("alice", APP_ROLE) and _events_seen(conn) == {"alice"}
            conn.execute("SET statement_timeout = '1s'")  # a session setting of the request's
            conn.commit()
            conn.execute("SELECT 1")  # returned inside a transaction
        with pool.unbound() as conn:
            assert _acting_for(conn) == (pid, None, "", APP_ROLE)
            assert _events_seen(conn) == set()
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
        with pool.session(tokens["bob"]) as conn:
            assert _acting_for(conn)[:2] == (pid, "bob") and _events_seen(conn) == {"bob"}
            with pytest.raises(psycopg.errors.UndefinedTable):
                conn.execute("SELECT * FROM no_such_table")  # returned in a failed transaction
        with pytest.raises(InputError, match="^token: unknown, expired or revoked"):
            with pool.session("amr_not_a_token"):
                pass
        for user in ("alice", "bob", "alice"):
            with pool.unbound() as conn:
                assert _acting_for(conn) == (pid, None, "", APP_ROLE)
            with pool.session(tokens[user]) as conn:
                assert _acting_for(conn)[:2] == (pid, user) and _events_seen(conn) == {user}
    finally:
        pool.close()
