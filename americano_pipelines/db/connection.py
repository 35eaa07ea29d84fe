"""Where the OLTP database is, and sessions that act for one user.

`AMERICANO_DATABASE_URL` wins when set. Otherwise an embedded PostgreSQL (pgserver) is started
under `AMERICANO_HOME` on first use and left running, so the next command reuses it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg

from americano_pipelines.config import Settings, get_settings

APP_ROLE = "americano_app"
EXTRACT_ROLE = "americano_extract"


@cache
def _embedded_server_uri(pgdata: Path) -> str:
    from americano_pipelines.home import check_cluster, ensure_home, record_cluster, registry_path

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


@contextmanager
def user_session(conn: psycopg.Connection, user_id: str) -> Iterator[psycopg.Connection]:
    """Act as the application role for `user_id`: row-level security limits every statement
    to that user's rows. The role and setting are reset afterwards."""
    with conn.cursor() as cur:
        cur.execute(f"SET ROLE {APP_ROLE}")
        cur.execute("SELECT set_config('americano.user_id', %s, false)", (user_id,))
    try:
        yield conn
    finally:
        if not conn.closed:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            with conn.cursor() as cur:
                cur.execute("RESET ROLE")
                cur.execute("RESET americano.user_id")


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
