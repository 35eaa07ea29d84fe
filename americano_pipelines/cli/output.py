"""The CLI's one convention for answering (CONTRACTS.md): results on stdout, one line on stderr.

- bad input (`InputError`, a usage error such as an unknown option) → exit 2, one line naming
  the field;
- the database cannot be reached, or another command holds the home → exit 1, one line;
- Ctrl-C → exit 130, one line.

Every command group is made by `group()` and every command body is wrapped by `answered` (and,
when it changes state, `holding_home_lock`), so no command has a convention of its own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TextIO

import typer
from typer.core import TyperGroup

from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

try:  # Typer >= 0.20 vendors click as typer._click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older Typer on the click package
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef]

__all__ = [
    "CommandGroup",
    "answered",
    "fail",
    "group",
    "holding_home_lock",
    "print_json",
    "stderr_to_run_log",
]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit with `code` (2: bad input)."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Click's usage errors (unknown option, invalid choice, missing option) as one line.

    Click prints a multi-line "Usage: … Try --help" box by default; the contract asks for one
    line naming the problem. A bare group still shows its help (NoArgsIsHelpError).
    """
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except UsageError as error:
        where = error.ctx.command_path if error.ctx is not None else "americano"
        # Typer's coercion prefixes choice errors with "Value error, "; it adds nothing.
        message = error.format_message().replace("Value error, ", "")
        fail(f"{where}: {message} (see '{where} --help')")


class CommandGroup(TyperGroup):
    """A Typer group whose usage errors, and those of every command under it, are one line.

    Subcommands parse their options inside the group's `invoke`, so catching there covers them
    all; the group's own options are parsed in `parse_args`.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


def group(help: str | None = None) -> typer.Typer:
    """A command group that answers by this module's convention."""
    return typer.Typer(cls=CommandGroup, no_args_is_help=True, add_completion=False, help=help)


def answered(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input → exit 2, an unreachable database → exit 1; one line each, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            fail(str(error))
        except Exception as error:
            # A command that never loaded psycopg cannot have failed to connect; looking it up
            # instead of importing it keeps the analyses' start-up free of it.
            psycopg = sys.modules.get("psycopg")
            if psycopg is not None and isinstance(error, psycopg.OperationalError):
                fail(f"cannot reach the database: {error}", 1)
            raise

    return wrapper


def print_json(value: Any) -> None:
    """One JSON document on stdout; a NaN or infinity in a result is a bug, not bad input."""
    try:
        text = json.dumps(value, allow_nan=False, default=str)
    except ValueError as error:
        fail(f"internal error: the result is not valid JSON ({error})", 1)
    typer.echo(text)


def interrupted(error: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or what Dagster raises for it inside a run (a BaseException
    too, which neither Typer nor Click turn into exit 130)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    dagster = sys.modules.get("dagster")  # never imported: not Dagster's
    return dagster is not None and isinstance(error, dagster.DagsterExecutionInterruptedError)


def say_interrupted(command: str | None = None) -> None:
    again = f": run `americano {command}` again to finish" if command else ""
    typer.echo(f"interrupted{again}", err=True)


def holding_home_lock(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
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
                fail(str(error), 1)
            except BaseException as error:
                if not interrupted(error):
                    raise
                say_interrupted(name)
                raise typer.Exit(130) from None

        return wrapper

    return decorate


@contextlib.contextmanager
def stderr_to_run_log() -> Iterator[TextIO]:
    """While the asset graph runs, what the process and its subprocesses write to stderr goes
    to the run log, beside dbt's and DVC's output; yields the terminal for our own lines.

    At the file descriptor, so that subprocesses follow: on Ctrl-C, Dagster logs the run's
    failure with its stack and the helpers that tail its step logs print tracebacks of their
    own, all for the run log, not the terminal."""
    path = get_settings().run_log_path
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
