"""`americano wearables …`: wearable data (CONTRACTS.md §4).

`americano wearables import apple-health PATH [--user-id U]` imports an Apple Health
`export.zip` or `export.xml` (americano_pipelines/db/apple_health.py) and prints
`{"records", "inserted", "duplicates", "skipped", …}`; importing it again inserts nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, group, holding_home_lock, print_json

__all__ = ["wearables_app"]

wearables_app = group("Wearables: Oura, WHOOP, Apple Health.")
import_app = group("Import a wearable's export file.")
wearables_app.add_typer(import_app, name="import")


@import_app.command("apple-health")
@answered
@holding_home_lock("wearables import apple-health")
def import_apple_health_command(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="export.zip or export.xml")],
    user_id: Annotated[
        str | None,
        typer.Option(
            "--user-id", metavar="U", help="Whose export (default: the single local user)."
        ),
    ] = None,
) -> None:
    """Import an Apple Health export; print what was read, inserted, already there, skipped."""
    from americano_pipelines.db.apple_health import import_apple_health
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate

    with connect() as conn:
        migrate(conn)
        conn.autocommit = False
        result = import_apple_health(conn, path, user_id=user_id)
    print_json(result.to_json())
