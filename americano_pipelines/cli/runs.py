"""`americano runs …`: the provenance of analyses (CONTRACTS.md §4).

`americano runs list [--protocol ID]` prints one JSON array of analysis runs, newest first
(by start time), each with the guide's AnalysisRun field names: `id`, `protocolId`, `runName`,
`analysisType`, `codeCommitHash`, `dataVersionHash`, `inputParams`, `mlflowRunId`,
`artifactPaths`, `resultsSummary`, `startedAt`, `completedAt` (timestamps ISO 8601 in UTC),
then `exploratory` (true for an analysis run by hand for a protocol that did not register it,
`americano analyze protocol`; false for the registered ones), then `integrity`: the run's
place in its protocol's hash chain (`chainIndex`, `previousHash`, `rowHash`), `verified`, and
the `problems` found (a row edited or deleted behind the database's append-only rule); each
run that does not verify is also named on stderr.
A protocol without runs, or an unknown one, gives `[]`: the list is a query, and an empty
answer is an answer (exit 0). The runs of every user are read with the read-only extraction
role (row-level security would show the application role one user's runs only).
"""

from __future__ import annotations

from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, fail, group, print_json

__all__ = ["list_runs", "runs_app"]

runs_app = group()


@runs_app.callback()
def runs() -> None:
    """Analysis runs: provenance of every analysis (code commit, data version, MLflow run)."""
    # A callback keeps `runs` a group of commands even while `list` is its only one.


@runs_app.command("list")
@answered
def list_runs(
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", metavar="ID", help="Only this protocol's runs."),
    ] = None,
    verify_mlflow: Annotated[
        bool,
        typer.Option(
            "--verify-mlflow",
            help="Also compare each row's hash with the copy its MLflow run holds (catches a "
            "superuser who rewrote rows and their chain; slower).",
        ),
    ] = False,
) -> None:
    """Print the analysis runs as a JSON array, newest first; warn on stderr about any run
    whose integrity does not verify."""
    import psycopg

    from americano_pipelines.db.connection import database_url
    from americano_pipelines.provenance.runs import (
        list_analysis_runs,
        runs_missing_from_database,
        verify_with_mlflow,
    )

    try:
        runs = list_analysis_runs(database_url(), protocol)
    except psycopg.Error as error:
        fail(f"cannot read analysis_runs: {error}", 1)
    missing = []
    if verify_mlflow:
        runs = verify_with_mlflow(runs)
        protocols = [protocol] if protocol else sorted({run.protocol_id for run in runs})
        missing = runs_missing_from_database(runs, protocols)
    for run in runs:
        if not run.integrity.verified:
            typer.echo(
                f"warning: analysis run {run.id} does not verify: "
                f"{'; '.join(run.integrity.problems)}",
                err=True,
            )
    for protocol_id, run_id, mlflow_run_id in missing:
        typer.echo(
            f"warning: MLflow run {mlflow_run_id} records analysis run {run_id} of protocol "
            f"{protocol_id}, which analysis_runs no longer holds",
            err=True,
        )
    print_json([run.to_json() for run in runs])
