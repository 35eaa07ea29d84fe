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


def _quarantine_share_check(table: str):
    @asset_check(
        asset=extracted_key(table),
        name="quarantine_within_share",
        description=(
            f"The quality gate of {table} quarantines at most AMERICANO_QUARANTINE_MAX_SHARE of "
            "its rows (americano_pipelines/quality/rules.py; the rows in quarantine."
            f"{table} against the rows extracted)."
        ),
    )
    def _check(settings: SettingsResource) -> AssetCheckResult:
        current = settings.get()
        from americano_pipelines.quality import boundary  # pyarrow: when the check runs

        share = boundary.quarantine_share(
            table,
            raw_dir=current.raw_dir,
            quarantine_dir=current.quarantine_dir,
            limit=current.quarantine_share_limit,
        )
        return AssetCheckResult(
            passed=share.passed, severity=AssetCheckSeverity.ERROR, metadata=share.to_metadata()
        )

    return _check


quarantine_share_checks = [_quarantine_share_check(t) for t in schema.GATED_TABLES]
