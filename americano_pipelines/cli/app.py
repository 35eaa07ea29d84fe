"""`americano …`: the platform from the command line.

Every command exits 0 on success and 2 on bad input with one line on stderr naming the problem.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TextIO

import typer

from americano_pipelines.cli.analyze import OneLineUsageGroup, analyze_app
from americano_pipelines.cli.home import home_app
from americano_pipelines.cli.protocol import protocol_app
from americano_pipelines.cli.runs import runs_app
from americano_pipelines.cli.users import users_app
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

app = typer.Typer(cls=OneLineUsageGroup, no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(cls=OneLineUsageGroup, no_args_is_help=True, help="The OLTP database.")
app.add_typer(db_app, name="db")
app.add_typer(analyze_app, name="analyze")
app.add_typer(protocol_app, name="protocol")
app.add_typer(runs_app, name="runs")
app.add_typer(users_app, name="users")
app.add_typer(home_app, name="home")


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input → one line on stderr and exit 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _interrupted(error: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or what Dagster raises for it inside a run (a BaseException
    too, which neither Typer nor Click turn into exit 130)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    dagster = sys.modules.get("dagster")  # never imported: not Dagster's
    return dagster is not None and isinstance(error, dagster.DagsterExecutionInterruptedError)


def _say_interrupted(command: str | None = None) -> None:
    again = f": run `americano {command}` again to finish" if command else ""
    typer.echo(f"interrupted{again}", err=True)


def changes_state(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a command that changes state holding the home's lock (americano_pipelines/db/home.py):
    a second one exits 1 naming the holder and does nothing; Ctrl-C exits 130 with one line."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from americano_pipelines.db.home import HomeInUse, home_lock

            try:
                with home_lock(get_settings(), name):
                    return command(*args, **kwargs)
            except HomeInUse as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(1) from None
            except BaseException as error:
                if not _interrupted(error):
                    raise
                _say_interrupted(name)
                raise typer.Exit(130) from None

        return wrapper

    return decorate


@contextlib.contextmanager
def _stderr_to_run_log() -> Iterator[TextIO]:
    """While the asset graph runs, what the process and its subprocesses write to stderr goes
    to the run log, beside dbt's and DVC's output; yields the terminal for our own lines.

    At the file descriptor, so that subprocesses follow: on Ctrl-C, Dagster logs the run's
    failure with its stack and the helpers that tail its step logs print tracebacks of their
    own, all for the run log, not the terminal."""
    from americano_pipelines.cli.materialize import run_log_path

    path = run_log_path(get_settings())
    path.parent.mkdir(exist_ok=True)
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    try:
        with open(path, "a") as log:
            os.dup2(log.fileno(), 2)
        with os.fdopen(os.dup(terminal_fd), "w", buffering=1) as terminal:
            yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        os.close(terminal_fd)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, allow_nan=False, default=str))


@db_app.command("migrate")
@user_errors
@changes_state("db migrate")
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
@user_errors
@changes_state("seed-demo")
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


@app.command("extract")
@user_errors
@changes_state("extract")
def extract_command() -> None:
    """Extract PostgreSQL to the versioned Parquet tree (the `extract` stage of dvc.yaml)."""
    from americano_pipelines.cli.materialize import materialize_extract

    with _stderr_to_run_log() as terminal:
        summary = materialize_extract(
            get_settings(), log=lambda line: typer.echo(line, file=terminal)
        )
    print_json(
        {"eventDaysExtracted": len(summary.event_days_extracted), "assets": summary.asset_keys}
    )


@app.command("demo")
@user_errors
@changes_state("demo")
def demo(
    users: Annotated[int, typer.Option(min=1)] = 3,
    days: Annotated[int, typer.Option(min=49)] = 120,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Migrate, seed the demo study when the database is empty, materialize every asset, and
    print a summary. Running it again extracts only what is new."""
    from americano_pipelines.cli.demo import run_demo

    with _stderr_to_run_log():
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
        if not _interrupted(error):
            raise
        _say_interrupted()
        sys.exit(130)


if __name__ == "__main__":
    main()
