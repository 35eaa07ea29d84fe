"""Checks that the Parquet files hold what PostgreSQL holds: the same rows, by content."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from americano_pipelines.db import schema
from americano_pipelines.defs.extract.assets import extracted_key
from americano_pipelines.defs.resources import PostgresResource, SettingsResource


def _rows_conserved_check(table: str):
    @asset_check(
        asset=extracted_key(table),
        name="rows_match_postgres",
        description=(
            f"The Parquet files of {table} hold the rows PostgreSQL holds now: each file's "
            "recorded content fingerprint equals PostgreSQL's, and PostgreSQL rows = Parquet rows "
            "+ quarantined rows (non-finite timestamps, dates or floats)."
        ),
    )
    def _check(postgres: PostgresResource, settings: SettingsResource) -> AssetCheckResult:
        current = settings.get()
        from americano_pipelines.db import extract  # numpy and pyarrow: when the asset runs

        with extract.extract_connection(postgres.get_url()) as conn:
            comparison = extract.compare_with_postgres(
                conn, table, raw_dir=current.raw_dir, provenance_dir=current.provenance_dir
            )
        return AssetCheckResult(
            passed=comparison.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata=comparison.to_metadata(),
        )

    return _check


row_conservation_checks = [_rows_conserved_check(t) for t in schema.EXTRACTED_TABLES]
