"""`americano home …`: the state directory, AMERICANO_HOME (americano_pipelines/db/home.py).

`americano home forget [PATH]` drops what remembers that PATH (default: AMERICANO_HOME) held an
embedded PostgreSQL cluster, its marker and its registry entry, so that the next command may
create a fresh, empty cluster there. It deletes no data; `make clean` runs it before removing
`.americano`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, group
from americano_pipelines.config import get_settings

__all__ = ["home_app"]

home_app = group()


@home_app.callback()
def home() -> None:
    """AMERICANO_HOME: where all local state lives."""
    # A callback keeps `home` a group of commands even while `forget` is its only one.


@home_app.command("forget")
@answered
def forget(
    path: Annotated[
        Path | None, typer.Argument(help="The home to forget (default: AMERICANO_HOME).")
    ] = None,
) -> None:
    """Forget that a home held a cluster, so the next command may start a fresh one there."""
    from americano_pipelines.db.home import forget as forget_home
    from americano_pipelines.db.home import home_key, registry_path

    settings = get_settings()
    target = home_key(path) if path is not None else settings.home
    forgotten = forget_home(target, registry_path(settings))
    if not forgotten:
        typer.echo(f"nothing recorded for {target}")
    for record in forgotten:
        typer.echo(
            f"forgot {target}: cluster {record.system_identifier} (recorded in {record.source})"
        )
