"""The Dagster instance's settings: the repo's dagster.yaml, and its storage from the settings.

AMERICANO_DAGSTER_STORAGE=sqlite (the default) leaves dagster.yaml as it is: runs, events and
schedules in SQLite files under the instance's folder, for one machine. `postgres` adds a
dagster-postgres `storage:` over the OLTP database (AMERICANO_DATABASE_URL, or the embedded
server), in a schema of its own (`dagster`), so that a daemon, a webserver and workers on
several hosts share one history and Dagster's tables never mix with the application's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import yaml

from americano_pipelines.config import REPO_ROOT, Settings

__all__ = ["DAGSTER_SCHEMA", "instance_config", "storage_url", "write_instance_yaml"]

DAGSTER_SCHEMA = "dagster"


def storage_url(conninfo: str, schema: str = DAGSTER_SCHEMA) -> str:
    """A libpq connection string or URL as the SQLAlchemy URL dagster-postgres takes, with
    `schema` first on its search path."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items()}
    host = params.pop("host", None)
    query = {"options": f"-csearch_path={schema}"}
    if host and host.startswith("/"):  # a Unix socket folder (the embedded server)
        query["host"] = host
        host = None
    port = params.pop("port", None)
    url = URL.create(
        # dagster-postgres speaks psycopg2 (SQLAlchemy 2.1's plain postgresql:// means psycopg 3,
        # with which its NOTIFY statements fail)
        "postgresql+psycopg2",
        username=params.pop("user", None),
        password=params.pop("password", None) or None,
        host=host,
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        query={**params, **query},
    )
    return url.render_as_string(hide_password=False)


def _create_schema(conninfo: str) -> None:
    import psycopg

    # UniqueViolation: another process (a worker starting beside this one) made it just now
    with (
        psycopg.connect(conninfo, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.UniqueViolation),
    ):
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{DAGSTER_SCHEMA}"')


def instance_config(settings: Settings) -> dict[str, Any]:
    """dagster.yaml as the settings make it (with postgres storage: the schema is created)."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()) or {}
    if settings.dagster_storage_backend == "postgres":
        from americano_pipelines.db.connection import database_url

        url = database_url(settings)
        _create_schema(url)
        config["storage"] = {"postgres": {"postgres_url": storage_url(url)}}
    return config


def write_instance_yaml(settings: Settings, path: Path) -> None:
    """Write the instance's dagster.yaml; readable by its owner only (it may hold a password)."""
    text = (
        "# Written by americano from the repo's dagster.yaml and AMERICANO_DAGSTER_STORAGE;\n"
        "# edit those, not this copy.\n"
        + yaml.safe_dump(instance_config(settings), sort_keys=False)
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.chmod(0o600)
    temporary.replace(path)  # workers starting beside us never read half a file
