"""`americano drift --user U --week YYYY-Www`: one user's weekly drift, from the warehouse.

The same computation as the asset `drift/weekly_drift` (reports.drift.week_drift over
`tables.drift_days` and the user's baseline phases), for one user and week, printed as the
report's JSON (without Evidently's snapshot); `--save` also writes the HTML and JSON reports
where the asset writes them. Reads the warehouse, never writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, print_json
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError


@answered
def drift_command(
    user: Annotated[str, typer.Option("--user", help="The user's id.")],
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W05.")],
    save: Annotated[
        bool, typer.Option("--save", help="Write the HTML and JSON reports too.")
    ] = False,
) -> None:
    """One user's drift in one ISO week against their reference window, as JSON."""
    import duckdb

    from americano_pipelines.reports.drift import (
        BaselinePeriod,
        iso_week_bounds,
        report_paths,
        save_drift_report,
        week_drift,
    )
    from americano_pipelines.warehouse import tables

    iso_week_bounds(week)  # a bad week before the warehouse is opened
    settings = get_settings()
    if not settings.duckdb_path.startswith("md:") and not Path(settings.duckdb_path).exists():
        raise InputError(
            f"AMERICANO_DUCKDB_PATH: no warehouse at {settings.duckdb_path}; run americano demo",
            field="AMERICANO_DUCKDB_PATH",
        )
    with duckdb.connect(settings.duckdb_path, read_only=True) as conn:
        if user not in tables.drift_day_range(conn):
            raise InputError(f"user: {user!r} has no days in marts.daily_metrics", field="user")
        days = tables.drift_days(conn, user)
        baselines = [
            BaselinePeriod(protocol, start, end)
            for owner, protocol, start, end in tables.baseline_periods(conn)
            if owner == user
        ]
    report = week_drift(days, user_id=user, week=week, baselines=baselines)
    out = report.result.to_json()
    if save:
        html, json_path = report_paths(settings.reports_dir, user, week)
        out["files"] = {k: str(v) for k, v in save_drift_report(report, html, json_path).items()}
    print_json(out)
