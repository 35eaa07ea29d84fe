"""`americano …`: the platform from the command line.

Every command exits 0 on success and 2 on bad input with one line on stderr naming the problem.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from americano_pipelines.cli.analyze import analyze_app
from americano_pipelines.cli.drift import drift_command
from americano_pipelines.cli.home import home_app
from americano_pipelines.cli.output import (
    answered,
    group,
    holding_home_lock,
    interrupted,
    print_json,
    say_interrupted,
    stderr_to_run_log,
)
from americano_pipelines.cli.protocol import protocol_app
from americano_pipelines.cli.report import report_command
from americano_pipelines.cli.runs import runs_app
from americano_pipelines.cli.users import users_app
from americano_pipelines.cli.wearables import wearables_app
from americano_pipelines.cli.workers import workers_app
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

app = group(__doc__)
db_app = group("The OLTP database.")
app.add_typer(db_app, name="db")
app.add_typer(analyze_app, name="analyze")
app.add_typer(protocol_app, name="protocol")
app.add_typer(runs_app, name="runs")
app.add_typer(users_app, name="users")
app.add_typer(home_app, name="home")
app.add_typer(workers_app, name="workers")
app.add_typer(wearables_app, name="wearables")


@db_app.command("migrate")
@answered
@holding_home_lock("db migrate")
def db_migrate() -> None:
    """Apply pending migrations; print what was applied."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate

    with connect() as conn:
        applied = migrate(conn)
    if applied:
        for migration in applied:
            typer.echo(f"applied {migration.version:04d}_{migration.name}")
    else:
        typer.echo("database is up to date")


@app.command("seed-demo")
@answered
@holding_home_lock("seed-demo")
def seed_demo(
    users: Annotated[int, typer.Option(min=1, help="Number of study-app users.")] = 3,
    days: Annotated[int, typer.Option(min=49, help="Days of study history.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same study.")] = 0,
) -> None:
    """Load the demo study into an empty database; print its ground truth as JSON."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.synth.load import seed_demo_study

    with connect() as conn:
        migrate(conn)
        truth = seed_demo_study(conn, users=users, days=days, seed=seed)
    if truth is None:
        raise InputError("the database already has users; seed-demo loads only an empty database")
    print_json(truth)


app.command("drift")(drift_command)
app.command("report")(report_command)


@app.command("extract")
@answered
@holding_home_lock("extract")
def extract_command() -> None:
    """Extract PostgreSQL to the versioned Parquet tree (the `extract` stage of dvc.yaml)."""
    from americano_pipelines.cli.materialize import materialize_extract

    with stderr_to_run_log() as terminal:
        summary = materialize_extract(
            get_settings(), log=lambda line: typer.echo(line, file=terminal)
        )
    print_json(
        {"eventDaysExtracted": len(summary.event_days_extracted), "assets": summary.asset_keys}
    )


@app.command("demo")
@answered
@holding_home_lock("demo")
def demo(
    users: Annotated[int, typer.Option(min=1)] = 3,
    days: Annotated[int, typer.Option(min=49)] = 120,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Migrate, seed the demo study when the database is empty, materialize every asset, and
    print a summary. Running it again extracts only what is new."""
    from americano_pipelines.cli.demo import run_demo

    with stderr_to_run_log():
        run_demo(get_settings(), users=users, days=days, seed=seed)


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option()] = 3000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """Open the Dagster UI over the same state as the CLI."""
    from americano_pipelines.cli.materialize import prepare_dagster_home
    from americano_pipelines.config import REPO_ROOT
    from americano_pipelines.defs.transform.project import prepare_manifest

    prepare_dagster_home(get_settings())
    prepare_manifest()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    os.chdir(REPO_ROOT)
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", "-h", host, "-p", str(port)])


def main() -> None:
    try:
        app()
    except InputError as error:  # from a command without its own wrapper (AMERICANO_HOME, ...)
        typer.echo(f"error: {' '.join(str(error).split())}", err=True)
        sys.exit(2)
    except Exception:
        # A home that cannot hold state fails commands deep inside libraries (PyTensor's
        # compile cache, MLflow's store): say that, not their traceback.
        from americano_pipelines.db.home import home_problem

        problem = home_problem(get_settings().home)
        if problem is None:
            raise
        typer.echo(f"error: AMERICANO_HOME: {problem}", err=True)
        sys.exit(2)
    except BaseException as error:
        if not interrupted(error):
            raise
        say_interrupted()
        sys.exit(130)


if __name__ == "__main__":
    main()
