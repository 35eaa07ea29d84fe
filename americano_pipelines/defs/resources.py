"""Resources, built from config.py so the CLI, tests and the UI share one configuration.

Each reads the settings when it is used, not when the definitions are imported: the CLI and the
tests may point AMERICANO_HOME or the database elsewhere after the import, and a run's step
processes read the environment they start in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource

from americano_pipelines.config import Settings, get_settings
from americano_pipelines.defs.transform.project import dbt_cli


class PostgresResource(ConfigurableResource):
    """The OLTP database: AMERICANO_DATABASE_URL, or the embedded server started on demand."""

    url: str | None = None

    def get_url(self) -> str:
        from americano_pipelines.db.connection import database_url  # psycopg: when used

        return self.url or database_url()


class SettingsResource(ConfigurableResource):
    """Paths and settings read from the environment when a run starts."""

    def get(self) -> Settings:
        return get_settings()


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse: `database`, or AMERICANO_DUCKDB_PATH when the resource is used.

    The analyses and the sensors only read it (`read_only=True`), so that they never take the
    single writer's lock that dbt's build needs; a connection waits for a lock with backoff
    (`retries` tries, 0.1 s doubling: 10 wait up to 100 s). Read-only, a warehouse not built yet
    is an empty in-memory database: it has no marts, as the warehouse before its first build."""

    database: str = ""

    @contextmanager
    def get_connection(
        self, *, read_only: bool = False, retries: int = 10
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        database = self.database or get_settings().duckdb_path
        if read_only and not database.startswith("md:") and not Path(database).exists():
            database = ":memory:"
        conn = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={
                "database": database,
                "read_only": read_only and database != ":memory:",
                "config": {"custom_user_agent": "dagster", **self.connection_config},
            },
            max_retries=retries,
        )
        try:
            yield conn
        finally:
            conn.close()


def build_resources() -> dict:
    return {
        "postgres": PostgresResource(),
        "settings": SettingsResource(),
        "warehouse": WarehouseResource(),
        "dbt": dbt_cli(),
    }
