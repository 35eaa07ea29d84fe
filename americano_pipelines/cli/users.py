"""`americano users …`: API tokens (CONTRACTS.md §4), administration on the owner's connection.

`americano users token create --user-id U [--name N]` prints the token once, as JSON
(`{"tokenId", "token", "userId", "kind", "name", "createdAt", "expiresAt"}`); only its sha256 is
stored. The HTTP API takes it as `Authorization: Bearer <token>`, and the CLI's user commands as
`AMERICANO_USER_TOKEN`. `americano users token revoke TOKEN_ID` ends it for every session that
holds it, from their next statement on.
"""

from __future__ import annotations

from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, group, print_json

__all__ = ["users_app"]

users_app = group("Users and tokens.")
token_app = group("API tokens: bearer tokens for one user.")
users_app.add_typer(token_app, name="token")


@token_app.command("create")
@answered
def create_token(
    user_id: Annotated[str, typer.Option("--user-id", metavar="U", help="The token's user.")],
    name: Annotated[
        str | None, typer.Option("--name", metavar="N", help="What the token is for.")
    ] = None,
) -> None:
    """Create an API token for a user; print it once."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.tokens import issue_token

    with connect() as conn:
        migrate(conn)
        issued = issue_token(conn, user_id, kind="api", name=name)
    print_json(issued.to_json())


@token_app.command("revoke")
@answered
def revoke(token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID")]) -> None:
    """Revoke an API token."""
    from americano_pipelines.db.connection import connect
    from americano_pipelines.db.tokens import revoke_token

    with connect() as conn:
        revoked_at = revoke_token(conn, token_id)
    print_json({"tokenId": token_id, "revokedAt": revoked_at.isoformat()})
