"""Who a request acts for: `Authorization: Bearer <token>` (`americano users token create`).

Each request checks out a pooled session as the application role and binds it to its token
(`db.connection.TokenSessionPool`, reset when returned, so it never carries an earlier
request's user): PostgreSQL derives the user from the token and row-level
security limits every statement to that user's rows, and the warehouse is read through a
`warehouse.scoped.UserWarehouse` of the same user. A missing, unknown, expired or revoked token
is 401; a body naming another user is 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from americano_pipelines.db.connection import TokenSessionPool, session_user_id
from americano_pipelines.errors import InputError

__all__ = ["Caller", "caller", "check_user"]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token: `americano users token create --user-id U`.",
)

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    """The request's user and their session (application role, row-level security)."""

    user_id: str
    session: psycopg.Connection


def caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Iterator[Caller]:
    """The request's `Caller`; its session closes when the response is sent."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "Authorization: a Bearer token is required", UNAUTHORIZED)
    sessions: TokenSessionPool = request.app.state.sessions
    with ExitStack() as stack:
        try:
            session = stack.enter_context(sessions.session(credentials.credentials))
        except InputError:
            raise HTTPException(
                401, "Authorization: the token is unknown, expired or revoked", UNAUTHORIZED
            ) from None
        user_id = session_user_id(session)
        session.commit()
        # Outside the try: an InputError of the endpoint is its own (422), not the token's.
        yield Caller(user_id, session)


def check_user(caller: Caller, user_id: str | None) -> None:
    """A body's `userId` must be the token's user (403 otherwise; absent: the token's user)."""
    if user_id is not None and user_id != caller.user_id:
        raise HTTPException(403, "userId: the token is not this user's")
