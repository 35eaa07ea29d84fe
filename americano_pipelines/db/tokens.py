"""Bearer tokens that bind a database session to one user (migration 0004).

A token is random text shown once; PostgreSQL stores only its sha256 in
`americano_auth.user_tokens`, which the application role cannot read. A session presents its
token in the setting `americano.session_token`, and `americano_current_user_id()` looks the user
up from it, so a session can act for another user only by knowing that user's token.

Two kinds: `api` tokens (`americano users token create`, for the HTTP API and the CLI's
`AMERICANO_USER_TOKEN`) last until revoked; `session` tokens are minted by the platform for one
command or one analysis and deleted when it ends. Issuing and revoking need the owner's
connection: they are administration, not something a user session can do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from americano_pipelines.errors import InputError

__all__ = ["IssuedToken", "issue_token", "revoke_token", "token_hash"]

TOKEN_PREFIX = "amr_"
# A session token outlives no command: it is deleted when the session ends, and this bounds the
# life of one whose process was killed first.
SESSION_TOKEN_TTL = dt.timedelta(hours=12)
TokenKind = Literal["session", "api"]


def token_hash(token: str) -> bytes:
    """What the database stores and compares: sha256 of the token's UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: `token` is the secret, shown once and never stored."""

    token_id: str
    token: str
    user_id: str
    kind: TokenKind
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tokenId": self.token_id,
            "token": self.token,
            "userId": self.user_id,
            "kind": self.kind,
            "name": self.name,
            "createdAt": self.created_at.astimezone(dt.UTC).isoformat(),
            "expiresAt": None
            if self.expires_at is None
            else self.expires_at.astimezone(dt.UTC).isoformat(),
        }


def issue_token(
    owner: psycopg.Connection,
    user_id: str,
    *,
    kind: TokenKind,
    name: str | None = None,
    ttl: dt.timedelta | None = None,
) -> IssuedToken:
    """Issue a token for `user_id` on the owner's connection and commit."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with owner.transaction():
        if owner.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is None:
            raise InputError(f"userId: no user with id {user_id!r}", field="userId")
        if kind == "session":  # sessions of killed processes: expired, so only clutter
            owner.execute(
                "DELETE FROM americano_auth.user_tokens "
                "WHERE kind = 'session' AND expires_at < now()"
            )
        token_id, created_at, expires_at = owner.execute(
            """INSERT INTO americano_auth.user_tokens (user_id, token_hash, kind, name, expires_at)
               VALUES (%s, %s, %s, %s, now() + %s)
               RETURNING id, created_at, expires_at""",
            (user_id, token_hash(token), kind, name, ttl),
        ).fetchone()
    if not owner.autocommit:
        owner.commit()
    return IssuedToken(token_id, token, user_id, kind, name, created_at, expires_at)


def revoke_token(owner: psycopg.Connection, token_id: str) -> dt.datetime:
    """Revoke an API token (sessions holding it see nothing from their next statement on);
    return when. An unknown or already revoked token is an InputError."""
    row = owner.execute(
        """UPDATE americano_auth.user_tokens SET revoked_at = now()
            WHERE id = %s AND revoked_at IS NULL RETURNING revoked_at""",
        (token_id,),
    ).fetchone()
    if not owner.autocommit:
        owner.commit()
    if row is None:
        raise InputError(f"tokenId: no active token with id {token_id!r}", field="tokenId")
    return row[0]


def delete_token(owner: psycopg.Connection, token_id: str) -> None:
    """Remove a session token when its session ends."""
    owner.execute("DELETE FROM americano_auth.user_tokens WHERE id = %s", (token_id,))
    if not owner.autocommit:
        owner.commit()
