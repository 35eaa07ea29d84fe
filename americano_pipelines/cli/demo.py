"""`make demo`: from an empty machine to a built warehouse, with a summary of what is where."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from americano_pipelines.cli.materialize import materialize_all
from americano_pipelines.config import Settings
from americano_pipelines.db import extract, schema
from americano_pipelines.db.connection import connect, database_url
from americano_pipelines.db.migrate import migrate
from americano_pipelines.synth.load import seed_demo_study
from americano_pipelines.warehouse import tables

MARTS = ("daily_metrics", "phase_observations", "protocols", "wearable_daily")
_TEST_COLUMNS = (
    "protocol_id",
    "design",
    "statistic",
    "p_value",
    "n_assignments",
    "effect_size",
    "nap",
    "rating",
)


def run_demo(settings: Settings, *, users: int, days: int, seed: int) -> None:
    console = Console()
    with connect() as conn:
        applied = migrate(conn)
        console.print(
            f"migrations: applied {', '.join(m.name for m in applied)}"
            if applied
            else "migrations: up to date"
        )
        truth = seed_demo_study(conn, users=users, days=days, seed=seed)
        if truth:
            console.print(
                f"seeded the demo study: {truth['users']} users, {truth['days']} days, "
                f"{truth['rowCounts']['behavioral_events']:,} events, true effect "
                f"+{truth['effect']} on engagement_score"
            )
        else:
            console.print("database already has data: not seeding")

    # With the weekly drift reports of the demo's latest weeks: what the UI's drift group and
    # check show, and what the CENT reports show of each protocol's outcome.
    summary = materialize_all(settings, log=console.print, drift=True)
    # The same comparison as the rows_match_postgres checks: one rule for "the rows match".
    with extract.extract_connection(database_url()) as conn:
        comparisons = [
            extract.compare_with_postgres(
                conn, name, raw_dir=settings.raw_dir, provenance_dir=settings.provenance_dir
            )
            for name in schema.EXTRACTED_TABLES
        ]

    table = Table(title="PostgreSQL → Parquet")
    table.add_column("table")
    table.add_column("PostgreSQL rows", justify="right")
    table.add_column("Parquet rows", justify="right")
    table.add_column("quarantined", justify="right")
    for comparison in comparisons:
        table.add_row(
            comparison.table,
            f"{comparison.postgres_rows:,}",
            f"{comparison.parquet_rows:,}",
            f"{comparison.quarantined_rows:,}",
        )
    console.print(table)

    with duckdb.connect(settings.duckdb_path, read_only=True) as warehouse:
        marts = Table(title="Warehouse marts")
        marts.add_column("mart")
        marts.add_column("rows", justify="right")
        for mart in MARTS:
            rows = warehouse.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0]
            marts.add_row(f"marts.{mart}", f"{rows:,}")
    console.print(marts)
    analyses = [
        [row[name] for name in _TEST_COLUMNS]
        for row in tables.read_results(settings.results_dir, tables.RANDOMIZATION_TESTS)
    ]
    if analyses:
        results = Table(
            title="Pre-registered randomization tests (analyses.sced_randomization_test)"
        )
        for column in (
            "protocol",
            "design",
            "statistic",
            "p",
            "assignments",
            "Cohen's d",
            "NAP",
            "WWC rating",
        ):
            results.add_column(column)
        for protocol_id, design, statistic, p, n, d, nap, rating in analyses:
            results.add_row(
                protocol_id,
                design,
                statistic or "",
                _fmt(p, ".4f"),
                f"{n or 0:,}",
                _fmt(d, ".2f"),
                _fmt(nap, ".3f"),
                rating or "",
            )
        console.print(results)

    console.print(
        f"materialized {len(summary.asset_keys)} assets in {len(summary.runs)} run(s)"
        if summary.runs
        else "nothing changed since the last run: no asset materialized"
    )
    if summary.drift_weeks:
        console.print(
            f"weekly drift: {len(summary.drift_weeks)} week(s) computed"
            + (
                f"; drift_share warns in {', '.join(summary.drift_warnings)}"
                if summary.drift_warnings
                else ""
            )
        )
    if summary.failed_checks:
        console.print(f"[red]failed checks: {', '.join(summary.failed_checks)}[/red]")
    console.print(
        f"Reports:        {settings.reports_dir} (drift: {settings.reports_dir / 'drift'})"
    )
    for line in _cent_reports(settings):
        console.print(line)
    console.print(f"Run logs:       {settings.run_log_path} (dbt, DVC)")
    console.print(f"Parquet tree:   {settings.raw_dir}")
    console.print(f"Warehouse:      {settings.duckdb_path}")
    console.print("Dagster UI:     make ui  →  http://127.0.0.1:3000")
    if summary.failed_checks:
        raise SystemExit(1)


def _cent_reports(settings: Settings) -> list[str]:
    """Where each protocol's CENT report is (the asset reports/cent_report writes them)."""
    from americano_pipelines.reports.cent import report_paths

    with duckdb.connect(settings.duckdb_path, read_only=True) as warehouse:
        protocol_ids = tables.protocol_ids(warehouse)
    lines = []
    for protocol_id in protocol_ids:
        html, pdf = report_paths(settings.reports_dir, protocol_id)
        if html.exists():
            pdf_note = str(pdf) if pdf.exists() else "no PDF (no Chromium or WeasyPrint here)"
            lines.append(f"  CENT report {protocol_id}: {html} · {pdf_note}")
    return lines


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)
