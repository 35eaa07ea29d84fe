"""Which user a local command acts for: the one named, else the single user of a local
install, created when the database has none (`americano wearables connect`, `sync`,
`import apple-health`)."""

from __future__ import annotations

import psycopg

from americano_pipelines.errors import InputError

__all__ = ["LOCAL_USER_EMAIL", "resolve_user"]

LOCAL_USER_EMAIL = "local@americano.localhost"


def resolve_user(conn: psycopg.Connection, user_id: str | None, *, create: bool = True) -> str:
    """`user_id` (which must exist), else the database's single user, created as
    LOCAL_USER_EMAIL when there is none and `create`; several users and no `user_id` is an
    InputError (then pass --user-id)."""
    if user_id is not None:
        found = conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise InputError(f"--user-id: no user {user_id!r}", field="user_id")
        return user_id
    ids = [row[0] for row in conn.execute("SELECT id FROM users ORDER BY id LIMIT 2")]
    if len(ids) > 1:
        raise InputError(
            "--user-id: the database has several users; say which one with --user-id",
            field="user_id",
        )
    if ids:
        return ids[0]
    if not create:
        raise InputError("--user-id: the database has no users yet", field="user_id")
    created = conn.execute(
        "INSERT INTO users (email, display_name) VALUES (%s, 'Local user') RETURNING id",
        (LOCAL_USER_EMAIL,),
    ).fetchone()[0]
    conn.commit()
    return created
