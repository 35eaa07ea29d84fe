"""`americano protocol …`: pre-registered experiment protocols (CONTRACTS.md §4).

`americano protocol register FILE.yaml` validates the protocol file (docs/protocol-yaml.md),
draws the randomized phase schedule its design calls for, writes the protocol and its
`phase_assignments` in one transaction as the protocol's user, and prints one JSON object:
`{"protocolId", "seed", "phases": [{"label", "phaseType", "startDate", "endDate", ...}], ...}`.
Bad input (a YAML syntax error, a missing, unknown or invalid field, an unknown user) exits 2
with one line on stderr naming the field; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer

from americano_pipelines.analyze_cli import OneLineUsageGroup
from americano_pipelines.errors import InputError

__all__ = ["protocol_app", "register"]

protocol_app = typer.Typer(
    cls=OneLineUsageGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Pre-registered experiment protocols.",
)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@protocol_app.command("register")
def register(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.yaml",
            help="The protocol: CENT/SPIRIT fields and design (see docs/protocol-yaml.md).",
        ),
    ],
) -> None:
    """Pre-register a protocol and its randomized phase schedule; print the schedule as JSON.

    Same seed, same schedule; without `seed:` a fresh one is drawn, recorded and printed.
    """
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.protocols import register_protocol
    from americano_pipelines.protocols import draw_schedule, load_protocol_file

    try:
        registration = load_protocol_file(file)
        schedule = draw_schedule(registration)
        with connect() as conn:
            migrate(conn)
            stored = register_protocol(conn, registration, schedule)
    except InputError as error:
        _fail(str(error), 2)
    except psycopg.OperationalError as error:
        _fail(f"cannot reach the database: {error}", 1)
    typer.echo(json.dumps(stored.to_json(), allow_nan=False))
