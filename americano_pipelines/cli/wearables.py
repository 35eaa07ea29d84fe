"""`americano wearables …` (CONTRACTS.md §4): connect a provider, sync it, see the connections.

- `connect {oura,whoop} [--port P] [--user-id U]`: prints the authorize URL, waits on the
  loopback redirect `http://127.0.0.1:P/callback` (register it with the provider's app), checks
  the state, exchanges the code and stores the tokens encrypted. Prints
  `{"provider", "userId", "scopes", "expiresAt", "hasRefreshToken"}`; never a token.
- `sync {oura,whoop} [--start D] [--end D] [--user-id U]`: prints `{"fetched", "inserted",
  "updated"}`. Without `--end`: today (AMERICANO_TIMEZONE); without `--start`: the day after the
  last completed sync, or 30 days before the end. Asking again for a range whose sync was killed
  resumes it.
- `status`: each connection, its token expiry and last sync; never a token.

The user: the one of AMERICANO_USER_TOKEN when set, else `--user-id`, else the database's
single user (created by `connect` when there is none).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import typer

from americano_pipelines.cli.output import answered, group, holding_home_lock, print_json
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

__all__ = ["wearables_app"]

wearables_app = group("Wearables: Oura and WHOOP over OAuth (and Apple Health imports).")
Provider = Literal["oura", "whoop"]
DEFAULT_LOOKBACK_DAYS = 30


def _user_id(conn, user_id: str | None, *, create: bool) -> str:
    from americano_pipelines.db.connection import token_session
    from americano_pipelines.db.wearables import local_user_id

    token = get_settings().user_token
    if token is not None:
        from americano_pipelines.db.connection import session_user_id

        with token_session(token) as session:
            return session_user_id(session)
    if user_id is not None:
        if conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is None:
            raise InputError(f"user-id: no user with id {user_id!r}", field="user-id")
        return user_id
    return local_user_id(conn, create=create)


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
    user_id: Annotated[str | None, typer.Option("--user-id", metavar="U")] = None,
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
        save_connection(conn, cipher, user, provider, tokens)
    print_json({"provider": provider, "userId": user, **tokens.to_json()})


@wearables_app.command("sync")
@answered
@holding_home_lock("wearables sync")
def sync_command(
    provider: Annotated[Provider, typer.Argument(help="oura or whoop")],
    start: Annotated[str | None, typer.Option("--start", metavar="D")] = None,
    end: Annotated[str | None, typer.Option("--end", metavar="D")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", metavar="U")] = None,
) -> None:
    """Sync PROVIDER's records of [--start, --end]; print {"fetched", "inserted", "updated"}."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.wearables import sync_user, synced_through

    settings = get_settings()
    last = _day(end, "end") or dt.datetime.now(settings.tzinfo).date()
    with connect() as conn:
        migrate(conn)
        user = _user_id(conn, user_id, create=False)
        first = _day(start, "start")
        if first is None:
            through = synced_through(conn, user, provider)
            first = (
                min(last, through + dt.timedelta(days=1))
                if through is not None
                else last - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS)
            )
        result = sync_user(conn, settings, provider, user, first, last)
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
