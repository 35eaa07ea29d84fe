"""A scratch PostgreSQL for a benchmark: the server given, else an embedded one under a
temporary AMERICANO_HOME that the benchmark stops afterwards. Not a benchmark itself (`make
bench` runs `bench/[!_]*.py`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


def server_url(given: str | None, work: Path) -> tuple[str, Path | None]:
    """The server's admin URL, and the embedded server's data directory if we started one."""
    configured = given or os.environ.get("AMERICANO_DATABASE_URL")
    if configured:
        return configured, None
    os.environ["AMERICANO_HOME"] = str(work / "home")
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import database_url

    settings = get_settings()
    return database_url(settings), settings.embedded_pg_dir


def create_database(server: str, name: str) -> str:
    """A new, migrated database `name` on `server`; its URL."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from americano_pipelines.db.migrate import migrate

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server, dbname=name)
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url


def drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop_embedded(pgdata: Path) -> None:
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


@contextlib.contextmanager
def scratch(given: str | None, prefix: str) -> Iterator[tuple[str, str, Path]]:
    """A temporary folder and the name of a database to create on a server: `(server, name,
    work)`; afterwards the database is dropped, an embedded server stopped, the folder removed."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    server, embedded_pgdata = server_url(given, work)
    name = f"americano_bench_{uuid.uuid4().hex[:8]}"
    try:
        yield server, name, work
    finally:
        drop_database(server, name)
        if embedded_pgdata is not None:
            stop_embedded(embedded_pgdata)
        shutil.rmtree(work, ignore_errors=True)
