"""`americano runs …`: the provenance of analyses (CONTRACTS.md §4).

`americano runs list [--protocol ID]` prints one JSON array of analysis runs, newest first
(by start time), each with the guide's AnalysisRun field names: `id`, `protocolId`, `runName`,
`analysisType`, `codeCommitHash`, `dataVersionHash`, `inputParams`, `mlflowRunId`,
`artifactPaths`, `resultsSummary`, `startedAt`, `completedAt` (timestamps ISO 8601 in UTC).
A protocol without runs, or an unknown one, gives `[]`: the list is a query, and an empty
answer is an answer (exit 0). The runs of every user are read with the read-only extraction
role (row-level security would show the application role one user's runs only).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from americano_pipelines.analyze_cli import OneLineUsageGroup

__all__ = ["list_runs", "runs_app"]

runs_app = typer.Typer(
    cls=OneLineUsageGroup,
    no_args_is_help=True,
    add_completion=False,
)


@runs_app.callback()
def runs() -> None:
    """Analysis runs: provenance of every analysis (code commit, data version, MLflow run)."""
    # A callback keeps `runs` a group of commands even while `list` is its only one.


@runs_app.command("list")
def list_runs(
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", metavar="ID", help="Only this protocol's runs."),
    ] = None,
) -> None:
    """Print the analysis runs as a JSON array, newest first."""
    import psycopg

    from americano_pipelines.db.connection import connect
    from americano_pipelines.provenance import list_analysis_runs

    try:
        with connect() as conn:
            runs = list_analysis_runs(conn, protocol)
    except psycopg.Error as error:
        typer.echo(f"error: cannot read analysis_runs: {' '.join(str(error).split())}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps([run.to_json() for run in runs], allow_nan=False))
