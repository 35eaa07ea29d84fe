"""Where the OLTP database is, and sessions that act for one user.

`AMERICANO_DATABASE_URL` (the owner's login) wins when set. Otherwise an embedded PostgreSQL
(pgserver) is started under `AMERICANO_HOME` on first use and left running, so the next command
reuses it. A user's session is a separate login as the application role, bound to the user by
a bearer token (db/tokens.py, docs/security.md).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from americano_pipelines.config import Settings, get_settings
from americano_pipelines.errors import InputError

APP_ROLE = "americano_app"
EXTRACT_ROLE = "americano_extract"


@cache
def _embedded_server_uri(pgdata: Path) -> str:
    from americano_pipelines.db.home import (
        check_cluster,
        ensure_home,
        record_cluster,
        registry_path,
    )

    # pgserver runs initdb wherever pgdata is empty: first make sure no cluster was here before
    # (a disk that is not mounted, a pgdata deleted by mistake), then remember the one started.
    registry = registry_path(get_settings())
    ensure_home(pgdata.parent, registry)
    check_cluster(pgdata, registry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR
        import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: keep the server running after this process exits, so commands reuse it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    record_cluster(pgdata, registry)
    return server.get_uri()


def database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return _embedded_server_uri(settings.embedded_pg_dir)


def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(url or database_url(), autocommit=autocommit)


def app_database_url(owner_url: str | None = None, settings: Settings | None = None) -> str:
    """How the application role logs in: `AMERICANO_APP_DATABASE_URL`, else the owner's URL
    with the role as its user and no password (a local server's trust or peer auth)."""
    settings = settings or get_settings()
    if settings.app_database_url:
        return settings.app_database_url
    params = conninfo_to_dict(owner_url or database_url(settings))
    params.pop("password", None)
    params["user"] = APP_ROLE
    return make_conninfo(**params)


@contextmanager
def token_session(
    token: str, *, owner_url: str | None = None, settings: Settings | None = None
) -> Iterator[psycopg.Connection]:
    """A connection logged in as the application role and acting for the user of `token`
    (migration 0004): row-level security limits every statement to that user's rows, and no
    statement run on it can make it act for anyone else. An unknown, expired or revoked
    token is an InputError."""
    conn = psycopg.connect(app_database_url(owner_url, settings))
    try:
        _bind_token(conn, token)
        yield conn
    finally:
        conn.close()


def _bind_token(conn: psycopg.Connection, token: str) -> None:
    """Make `conn` act for `token`'s user. Session-wide (not transaction-local), and committed,
    so a rollback keeps it. InputError when the token is unknown, expired or revoked."""
    conn.execute("SELECT set_config('americano.session_token', %s, false)", (token,))
    user_id = conn.execute("SELECT americano_current_user_id()").fetchone()[0]
    conn.commit()
    if user_id is None:
        raise InputError("token: unknown, expired or revoked", field="token")


def _forget_token(conn: psycopg.Connection) -> None:
    """A returned connection's reset (the pool has rolled back any open transaction): every
    session setting back to its default, the token's first, then a check that it acts for
    nobody; raising here makes the pool close the connection instead of reusing it."""
    conn.execute("RESET ALL")
    conn.execute("RESET ROLE")  # RESET ALL leaves the role alone
    acting_for = conn.execute(
        "SELECT americano_current_user_id(), current_setting('americano.session_token', true)"
    ).fetchone()
    conn.commit()
    if acting_for[0] is not None or acting_for[1]:
        raise RuntimeError("a returned connection still acts for a user; it is discarded")


class TokenSessionPool:
    """Application-role connections kept open (psycopg_pool), each checked out by one request
    and bound to its token there, as `token_session` binds a new one: the token is set on every
    checkout and reset (`_forget_token`) on every return, so a connection never carries the
    previous request's user. Open with `open()`, close with `close()`."""

    def __init__(
        self, settings: Settings, *, max_size: int | None = None, owner_url: str | None = None
    ) -> None:
        from psycopg_pool import ConnectionPool

        size = max_size or settings.checked_api_db_pool_size
        self._pool = ConnectionPool(
            app_database_url(owner_url, settings),
            min_size=1,
            max_size=size,
            open=False,
            reset=_forget_token,
            check=ConnectionPool.check_connection,
            name="americano-api",
            timeout=10.0,  # waiting longer for a free connection: 503, not a hung request
        )

    def open(self) -> None:
        self._pool.open()

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def session(self, token: str) -> Iterator[psycopg.Connection]:
        """A pooled connection acting for `token`'s user (InputError for a bad token), returned
        to the pool, reset, when the block ends."""
        with self._pool.connection() as conn:
            _bind_token(conn, token)
            yield conn

    @contextmanager
    def unbound(self) -> Iterator[psycopg.Connection]:
        """A pooled connection as the pool hands it out, before any token (for tests and checks:
        it must act for nobody)."""
        with self._pool.connection() as conn:
            yield conn


@contextmanager
def user_session(user_id: str, *, owner_url: str | None = None) -> Iterator[psycopg.Connection]:
    """Act as `user_id` through a session token minted for this session with the owner's
    connection, and deleted when it ends."""
    from americano_pipelines.db.tokens import SESSION_TOKEN_TTL, delete_token, issue_token

    owner_url = owner_url or database_url()
    with psycopg.connect(owner_url) as owner:
        issued = issue_token(owner, user_id, kind="session", ttl=SESSION_TOKEN_TTL)
    try:
        with token_session(issued.token, owner_url=owner_url) as conn:
            yield conn
    finally:
        with psycopg.connect(owner_url) as owner:
            delete_token(owner, issued.token_id)


def session_user_id(session: psycopg.Connection) -> str:
    """The user a session acts for, as the database derives it from the session's token."""
    user_id = session.execute("SELECT americano_current_user_id()").fetchone()[0]
    if user_id is None:
        raise InputError("token: unknown, expired or revoked", field="token")
    return user_id


@contextmanager
def extract_session(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Act as the read-everything extraction role."""
    with conn.cursor() as cur:
        cur.execute(f"SET ROLE {EXTRACT_ROLE}")
    try:
        yield conn
    finally:
        if not conn.closed:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            with conn.cursor() as cur:
                cur.execute("RESET ROLE")
