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

`americano runs reproduce RUN_ID` computes a per-protocol analysis run again from what it
recorded: its data version checked out of DVC into a temporary folder, a warehouse built there
by dbt, the analysis run on it with the recorded parameters and seed
(`provenance/reproduce.py`). It prints each headline value recorded against recomputed and
exits 1 when one differs (2 for a run it cannot reproduce, with the reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from americano_pipelines.cli.output import answered, fail, group, print_json

if TYPE_CHECKING:
    from americano_pipelines.config import Settings
    from americano_pipelines.provenance.reproduce import HeadlineComparison
    from americano_pipelines.provenance.runs import AnalysisRunRecord

__all__ = ["list_runs", "reproduce_run", "runs_app"]

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


@runs_app.command("reproduce")
@answered
def reproduce_run(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="An analysis run's id.")],
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            metavar="DIR",
            help="Build in DIR (a new folder) and keep it, instead of a temporary folder.",
        ),
    ] = None,
) -> None:
    """Re-run a recorded analysis from its data version and parameters; print each headline
    value recorded against recomputed; exit 1 on a mismatch."""
    import tempfile

    import psycopg

    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import database_url
    from americano_pipelines.provenance.data_version import code_version
    from americano_pipelines.provenance.runs import list_analysis_runs, plain_json

    settings = get_settings()
    try:
        runs = [run for run in list_analysis_runs(database_url(settings)) if run.id == run_id]
    except psycopg.Error as error:
        fail(f"cannot read analysis_runs: {error}", 1)
    if not runs:
        fail(f"RUN_ID: no analysis run {run_id!r}")
    (run,) = runs
    if not run.integrity.verified:
        fail(f"RUN_ID: run {run_id} does not verify: {'; '.join(run.integrity.problems)}")
    if keep is not None:
        comparisons = _reproduce(run, settings, Path(keep))
    else:
        with tempfile.TemporaryDirectory(prefix="americano-reproduce-") as folder:
            comparisons = _reproduce(run, settings, Path(folder) / "work")
    matched = all(item.match for item in comparisons)
    current = code_version()
    print_json(
        {
            "runId": run.id,
            "protocolId": run.protocol_id,
            "analysisType": run.analysis_type,
            "dataVersionHash": run.data_version_hash,
            "codeCommit": {
                "recorded": run.code_commit_hash,
                "current": current,
                "same": current == run.code_commit_hash,
            },
            "inputParams": plain_json(run.input_params),
            "matched": matched,
            "mismatches": sum(not item.match for item in comparisons),
            "values": [item.to_json() for item in comparisons],
        }
    )
    if not matched:
        raise typer.Exit(1)


def _reproduce(run: AnalysisRunRecord, settings: Settings, work: Path) -> list[HeadlineComparison]:
    """The run's headline comparisons, computed in `work` (a new folder)."""
    import duckdb

    from americano_pipelines.defs.analyses.jobs import ANALYSES
    from americano_pipelines.protocol_analyses.run_types import analysis_of_run_type
    from americano_pipelines.provenance.reproduce import (
        build_warehouse,
        compare_headlines,
        restore_raw_tree,
        run_config_from_params,
    )

    name = analysis_of_run_type(run.analysis_type)
    (spec,) = [spec for spec in ANALYSES if spec.analysis == name]
    try:
        work.mkdir(parents=True)
    except FileExistsError:
        fail(f"--keep: {work} exists; give a new folder")
    raw = restore_raw_tree(settings, run.data_version_hash, work / "raw")
    warehouse = build_warehouse(settings, raw, work)
    with duckdb.connect(warehouse, read_only=True) as conn:
        row, data = spec.read(conn, run.protocol_id)
    fields = () if spec.config is None else tuple(spec.config.model_fields)
    result = spec.compute(row, data, run_config_from_params(fields, run.input_params))
    return compare_headlines(run.results_summary, result.headline())
