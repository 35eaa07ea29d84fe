"""Checks that counts are conserved across the spine: PostgreSQL = Parquet."""

from __future__ import annotations

import pyarrow.dataset as ds
from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from americano_pipelines.db import extract
from americano_pipelines.defs.extract.assets import extracted_key
from americano_pipelines.defs.resources import PostgresResource, SettingsResource


def _rows_conserved_check(table: str):
    @asset_check(
        asset=extracted_key(table),
        name="rows_match_postgres",
        description=f"Parquet rows of {table} equal the rows in PostgreSQL.",
    )
    def _check(postgres: PostgresResource, settings: SettingsResource) -> AssetCheckResult:
        current = settings.get()
        directory = extract.table_dir(
            table, raw_dir=current.raw_dir, provenance_dir=current.provenance_dir
        )
        parquet_rows = (
            ds.dataset(directory, format="parquet").count_rows() if directory.exists() else 0
        )
        with extract.extract_connection(postgres.get_url()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            postgres_rows = int(cur.fetchone()[0])
        return AssetCheckResult(
            passed=parquet_rows == postgres_rows,
            severity=AssetCheckSeverity.ERROR,
            metadata={"postgres_rows": postgres_rows, "parquet_rows": parquet_rows},
        )

    return _check


row_conservation_checks = [_rows_conserved_check(t) for t in extract.EXTRACTED_TABLES]
