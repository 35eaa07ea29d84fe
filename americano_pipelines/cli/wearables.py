"""`americano wearables …` (CONTRACTS.md §4): connect a provider, sync it, see the connections,
import an Apple Health export.

- `connect {oura,whoop} [--port P] [--user-id U]`: prints the authorize URL, waits on the
  loopback redirect `http://127.0.0.1:P/callback` (register it with the provider's app), checks
  the state, exchanges the code and stores the tokens encrypted. Prints
  `{"provider", "userId", "scopes", "expiresAt", "hasRefreshToken"}`; never a token.
- `sync {oura,whoop} [--start D] [--end D] [--user-id U]`: prints `{"fetched", "inserted",
  "updated"}`. Without `--end`: today (AMERICANO_TIMEZONE); without `--start`: the day after the
  last completed sync, or 30 days before the end. Asking again for a range whose sync was killed
  resumes it. The sync writes through the user's session, so row-level security admits only
  that user's connection, cursors and records.
- `status`: each connection, its token expiry and last sync; never a token.
- `import apple-health PATH [--user-id U]`: imports an `export.zip` or `export.xml`
  (db/apple_health.py) and prints `{"records", "inserted", "duplicates", "skipped", …}`;
  importing it again inserts nothing.

The user: the one of AMERICANO_USER_TOKEN when set, else `--user-id`, else the database's
single user (db/users.resolve_user; created by `connect` and `import` when there is none).
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer

from americano_pipelines.cli.output import answered, group, holding_home_lock, print_json
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

__all__ = ["wearables_app"]

wearables_app = group("Wearables: Oura and WHOOP over OAuth, Apple Health exports.")
import_app = group("Import a wearable's export file.")
wearables_app.add_typer(import_app, name="import")
Provider = Literal["oura", "whoop"]
DEFAULT_LOOKBACK_DAYS = 30
USER_OPTION = typer.Option(
    "--user-id", metavar="U", help="Whose data (default: the single local user)."
)


def _user_id(conn, user_id: str | None, *, create: bool) -> str:
    from americano_pipelines.db.users import resolve_user

    token = get_settings().user_token
    if token is not None:
        from americano_pipelines.db.connection import session_user_id, token_session

        with token_session(token) as session:
            return session_user_id(session)
    return resolve_user(conn, user_id, create=create)


@contextmanager
def _acting_as(user_id: str):
    """The session that acts for `user_id`: AMERICANO_USER_TOKEN's when set, else one minted
    for it on the owner's connection (db/connection.user_session)."""
    from americano_pipelines.db.connection import token_session, user_session

    token = get_settings().user_token
    with token_session(token) if token is not None else user_session(user_id) as session:
        yield session


def _day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date YYYY-MM-DD", field=option) from None


@wearables_app.command("connect")
@answered
def connect_command(
    provider: Annotated[Provider, typer.Argument(help="oura or whoop")],
    port: Annotated[int, typer.Option(help="Loopback port of the redirect URI.")] = 8765,
    user_id: Annotated[str | None, USER_OPTION] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the redirect.")] = 300.0,
) -> None:
    """Authorize this app with PROVIDER in a browser; store the tokens encrypted."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.wearables import save_connection
    from americano_pipelines.wearables.oauth import (
        LoopbackRedirect,
        authorization_url,
        exchange_code,
        new_state,
        oauth_app,
    )
    from americano_pipelines.wearables.token_cipher import token_cipher

    settings = get_settings()
    app = oauth_app(provider, settings)
    cipher = token_cipher(settings)
    with connect() as conn:
        migrate(conn)
        user = _user_id(conn, user_id, create=True)
    state = new_state()
    with LoopbackRedirect(state, port=port) as redirect:
        typer.echo("Open this URL to authorize, then come back:", err=True)
        typer.echo(authorization_url(app, redirect.redirect_uri, state), err=True)
        code = redirect.wait(timeout)
    tokens = exchange_code(app, code, redirect.redirect_uri)
    with _acting_as(user) as session:
        save_connection(session, cipher, user, provider, tokens)
    print_json({"provider": provider, "userId": user, **tokens.to_json()})


@wearables_app.command("sync")
@answered
@holding_home_lock("wearables sync")
def sync_command(
    provider: Annotated[Provider, typer.Argument(help="oura or whoop")],
    start: Annotated[str | None, typer.Option("--start", metavar="D")] = None,
    end: Annotated[str | None, typer.Option("--end", metavar="D")] = None,
    user_id: Annotated[str | None, USER_OPTION] = None,
) -> None:
    """Sync PROVIDER's records of [--start, --end]; print {"fetched", "inserted", "updated"}."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.wearables import sync_user, synced_through

    settings = get_settings()
    last = _day(end, "end") or dt.datetime.now(settings.tzinfo).date()
    first = _day(start, "start")
    with connect() as conn:
        migrate(conn)
        user = _user_id(conn, user_id, create=False)
    with _acting_as(user) as session:
        if first is None:
            through = synced_through(session, user, provider)
            first = (
                min(last, through + dt.timedelta(days=1))
                if through is not None
                else last - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS)
            )
        result = sync_user(session, settings, provider, user, first, last)
    print_json(result.to_json())


@wearables_app.command("status")
@answered
def status_command() -> None:
    """The connections: provider, user, scopes, token expiry and last sync (never a token)."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.wearables import connection_status

    with connect() as conn:
        migrate(conn)
        print_json(connection_status(conn))


@import_app.command("apple-health")
@answered
@holding_home_lock("wearables import apple-health")
def import_apple_health_command(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="export.zip or export.xml")],
    user_id: Annotated[str | None, USER_OPTION] = None,
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
