"""Resources, built from config.py so the CLI, tests and the UI share one configuration."""

from __future__ import annotations

from dagster import ConfigurableResource
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


def build_resources(settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    return {
        "postgres": PostgresResource(url=settings.database_url),
        "settings": SettingsResource(),
        "warehouse": DuckDBResource(database=settings.duckdb_path),
        "dbt": dbt_cli(),
    }
