"""Wearable connections, records and sync cursors in PostgreSQL (migrations 0001, 0010).

Tokens are stored encrypted (wearables/token_cipher.py). A refresh happens with the
connection's row locked (`SELECT ... FOR UPDATE`), and the new pair is committed before the new
access token is handed out: refresh tokens work once, so a pair that was received but not
stored would lock the user out. A second process that finds the tokens already rotated under
the lock uses the stored pair instead of spending the old refresh token again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from americano_pipelines.config import Settings
from americano_pipelines.errors import InputError
from americano_pipelines.wearables.http import AccessTokens, RetryPolicy, TokenRejected
from americano_pipelines.wearables.oauth import PROVIDERS, TokenSet, oauth_app, refresh_tokens
from americano_pipelines.wearables.oura import OuraClient
from americano_pipelines.wearables.records import WearableRecord
from americano_pipelines.wearables.sync import SyncCursor, SyncResult, sync_connection
from americano_pipelines.wearables.token_cipher import TokenCipher, token_cipher
from americano_pipelines.wearables.whoop import WhoopClient

__all__ = [
    "PostgresSyncStore",
    "StoredTokens",
    "connected_users",
    "connection_status",
    "provider_client",
    "save_connection",
    "sync_user",
    "synced_through",
]

# A token this close to its expiry is refreshed before it is used.
EXPIRY_MARGIN = dt.timedelta(seconds=60)


def provider_enum(provider: str) -> str:
    return provider.upper()


def save_connection(
    conn: psycopg.Connection,
    cipher: TokenCipher,
    user_id: str,
    provider: str,
    tokens: TokenSet,
) -> None:
    """Store (or replace) a user's connection with freshly issued tokens; commit."""
    with conn.transaction():
        conn.execute(
            """INSERT INTO wearable_connections
                   (user_id, provider, access_token_enc, refresh_token_enc, expires_at, scopes)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (user_id, provider) DO UPDATE SET
                   access_token_enc = EXCLUDED.access_token_enc,
                   refresh_token_enc = EXCLUDED.refresh_token_enc,
                   expires_at = EXCLUDED.expires_at,
                   scopes = EXCLUDED.scopes,
                   connected_at = now()""",
            (
                user_id,
                provider_enum(provider),
                cipher.encrypt(tokens.access_token),
                None if tokens.refresh_token is None else cipher.encrypt(tokens.refresh_token),
                tokens.expires_at,
                list(tokens.scopes),
            ),
        )


def connected_users(conn: psycopg.Connection, provider: str) -> list[str]:
    rows = conn.execute(
        "SELECT user_id FROM wearable_connections WHERE provider = %s ORDER BY user_id",
        (provider_enum(provider),),
    ).fetchall()
    return [row[0] for row in rows]


def connection_status(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Each connection: user, provider, scopes, token expiry, last sync; never a token."""
    rows = conn.execute(
        """SELECT c.user_id, lower(c.provider::text), c.scopes, c.expires_at,
                  c.refresh_token_enc IS NOT NULL, c.connected_at, c.last_synced_at,
                  c.tokens_rotated_at, min(s.synced_through)
             FROM wearable_connections c
             LEFT JOIN wearable_sync_cursors s
               ON s.user_id = c.user_id AND s.provider = c.provider
            GROUP BY c.user_id, c.provider
            ORDER BY c.user_id, c.provider"""
    ).fetchall()
    return [
        {
            "userId": user_id,
            "provider": provider,
            "scopes": list(scopes),
            "tokenExpiresAt": _iso(expires_at),
            "hasRefreshToken": has_refresh,
            "connectedAt": _iso(connected_at),
            "lastSyncedAt": _iso(last_synced),
            "tokensRotatedAt": _iso(rotated),
            "syncedThrough": None if synced_through is None else synced_through.isoformat(),
        }
        for (
            user_id,
            provider,
            scopes,
            expires_at,
            has_refresh,
            connected_at,
            last_synced,
            rotated,
            synced_through,
        ) in rows
    ]


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


class StoredTokens:
    """A connection's tokens as the clients use them (`wearables.http.AccessTokens`)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        cipher: TokenCipher,
        user_id: str,
        provider: str,
        refresh: Callable[[str, tuple[str, ...]], TokenSet],
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._conn, self._cipher = conn, cipher
        self.user_id, self.provider = user_id, provider
        self._refresh, self._now = refresh, now

    def __repr__(self) -> str:
        return f"StoredTokens({self.user_id!r}, {self.provider!r})"

    def _row(self, *, lock: bool) -> tuple[str, str | None, dt.datetime | None, tuple[str, ...]]:
        row = self._conn.execute(
            "SELECT access_token_enc, refresh_token_enc, expires_at, scopes "
            "FROM wearable_connections WHERE user_id = %s AND provider = %s"
            + (" FOR UPDATE" if lock else ""),
            (self.user_id, provider_enum(self.provider)),
        ).fetchone()
        if row is None:
            raise InputError(
                f"{self.provider}: user {self.user_id} is not connected; run "
                f"`americano wearables connect {self.provider}`",
                field="provider",
            )
        access, refresh, expires_at, scopes = row
        return (
            self._cipher.decrypt(access),
            None if refresh is None else self._cipher.decrypt(refresh),
            expires_at,
            tuple(scopes),
        )

    def current(self) -> str:
        with self._conn.transaction():
            access, _, expires_at, _ = self._row(lock=False)
        if expires_at is not None and expires_at - EXPIRY_MARGIN <= self._now():
            return self.refreshed(access)
        return access

    def refreshed(self, rejected: str) -> str:
        with self._conn.transaction():
            access, refresh, _, scopes = self._row(lock=True)
            if access != rejected:  # rotated by another process while we waited for the lock
                return access
            if refresh is None:
                raise TokenRejected(
                    f"{self.provider}: the access token expired and there is no refresh token; "
                    f"connect again with `americano wearables connect {self.provider}`"
                )
            tokens = self._refresh(refresh, scopes)
            self._conn.execute(
                """UPDATE wearable_connections
                      SET access_token_enc = %s, refresh_token_enc = %s, expires_at = %s,
                          scopes = %s, tokens_rotated_at = now()
                    WHERE user_id = %s AND provider = %s""",
                (
                    self._cipher.encrypt(tokens.access_token),
                    None
                    if tokens.refresh_token is None
                    else self._cipher.encrypt(tokens.refresh_token),
                    tokens.expires_at,
                    list(tokens.scopes),
                    self.user_id,
                    provider_enum(self.provider),
                ),
            )
        # Committed: only now is the new access token used.
        return tokens.access_token


_UPSERT = """
INSERT INTO wearable_records AS r
    (user_id, provider, record_type, source_record_id, day, started_at, ended_at, value, unit,
     payload)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, provider, record_type, source_record_id) DO UPDATE SET
    day = EXCLUDED.day, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
    value = EXCLUDED.value, unit = EXCLUDED.unit, payload = EXCLUDED.payload,
    fetched_at = now()
WHERE r.payload IS DISTINCT FROM EXCLUDED.payload OR r.day IS DISTINCT FROM EXCLUDED.day
RETURNING (xmax = 0)
"""


def upsert_records(
    conn: psycopg.Connection, user_id: str, provider: str, records: Sequence[WearableRecord]
) -> tuple[int, int]:
    """Upsert by provider id inside the caller's transaction; (inserted, updated). A record
    stored with the same content is neither."""
    inserted = updated = 0
    for record in records:
        row = conn.execute(
            _UPSERT,
            (
                user_id,
                provider_enum(provider),
                record.record_type,
                record.source_record_id,
                record.day,
                record.started_at,
                record.ended_at,
                record.value,
                record.unit,
                Jsonb(record.payload),
            ),
        ).fetchone()
        if row is not None:
            inserted += row[0]
            updated += not row[0]
    return inserted, updated


class PostgresSyncStore:
    """`wearables.sync.SyncStore` for one connection."""

    def __init__(self, conn: psycopg.Connection, user_id: str, provider: str) -> None:
        self._conn, self.user_id, self.provider = conn, user_id, provider

    def cursor(self, resource: str) -> SyncCursor | None:
        row = self._conn.execute(
            """SELECT range_start, range_end, window_start, next_token, done_through,
                      completed_at IS NOT NULL
                 FROM wearable_sync_cursors
                WHERE user_id = %s AND provider = %s AND resource = %s""",
            (self.user_id, provider_enum(self.provider), resource),
        ).fetchone()
        self._conn.commit()
        if row is None:
            return None
        return SyncCursor(resource, *row)

    def store_page(self, records: Sequence[WearableRecord], cursor: SyncCursor) -> tuple[int, int]:
        with self._conn.transaction():
            counts = upsert_records(self._conn, self.user_id, self.provider, records)
            self._conn.execute(
                """INSERT INTO wearable_sync_cursors AS c
                       (user_id, provider, resource, range_start, range_end, window_start,
                        next_token, done_through, completed_at, synced_through)
                   VALUES (%(user)s, %(provider)s, %(resource)s, %(start)s, %(end)s,
                           %(window)s, %(token)s, %(done)s,
                           CASE WHEN %(completed)s THEN now() END,
                           CASE WHEN %(completed)s THEN %(end)s END)
                   ON CONFLICT (user_id, provider, resource) DO UPDATE SET
                       range_start = EXCLUDED.range_start, range_end = EXCLUDED.range_end,
                       window_start = EXCLUDED.window_start, next_token = EXCLUDED.next_token,
                       done_through = EXCLUDED.done_through,
                       completed_at = EXCLUDED.completed_at,
                       synced_through = GREATEST(c.synced_through, EXCLUDED.synced_through),
                       updated_at = now()""",
                {
                    "user": self.user_id,
                    "provider": provider_enum(self.provider),
                    "resource": cursor.resource,
                    "start": cursor.range_start,
                    "end": cursor.range_end,
                    "window": cursor.window_start,
                    "token": cursor.next_token,
                    "done": cursor.done_through,
                    "completed": cursor.completed,
                },
            )
        return counts

    def cycle_day(self, cycle_id: str) -> dt.date | None:
        row = self._conn.execute(
            """SELECT day FROM wearable_records
                WHERE user_id = %s AND provider = 'WHOOP' AND record_type = 'cycle'
                  AND source_record_id = %s""",
            (self.user_id, cycle_id),
        ).fetchone()
        self._conn.commit()
        return None if row is None else row[0]

    def finish(self, through: dt.date) -> None:
        with self._conn.transaction():
            self._conn.execute(
                "UPDATE wearable_connections SET last_synced_at = now() "
                "WHERE user_id = %s AND provider = %s",
                (self.user_id, provider_enum(self.provider)),
            )


def provider_client(
    provider: str,
    settings: Settings,
    tokens: AccessTokens,
    *,
    policy: RetryPolicy | None = None,
) -> OuraClient | WhoopClient:
    """The API client of `provider` at its configured base URL."""
    if provider == "oura":
        return OuraClient(settings.oura_api_base_url, tokens, policy=policy)
    if provider == "whoop":
        return WhoopClient(settings.whoop_api_base_url, tokens, policy=policy)
    raise InputError(
        f"provider: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}",
        field="provider",
    )


def sync_user(
    conn: psycopg.Connection,
    settings: Settings,
    provider: str,
    user_id: str,
    start: dt.date,
    end: dt.date,
    *,
    policy: RetryPolicy | None = None,
    log: Callable[[str], None] | None = None,
) -> SyncResult:
    """Sync one user's connection to `provider` over [start, end] (what the CLI and the Dagster
    assets run). `conn` is switched to autocommit: each page commits with its cursor."""
    conn.autocommit = True
    app = oauth_app(provider, settings)

    def refresh(refresh_token: str, scopes: tuple[str, ...]) -> TokenSet:
        return refresh_tokens(app, refresh_token, scopes=scopes, policy=policy)

    tokens = StoredTokens(conn, token_cipher(settings), user_id, provider, refresh)
    with provider_client(provider, settings, tokens, policy=policy) as client:
        return sync_connection(
            client, PostgresSyncStore(conn, user_id, provider), start, end, log=log
        )


def synced_through(conn: psycopg.Connection, user_id: str, provider: str) -> dt.date | None:
    """The last day every resource of the connection has a completed sync through."""
    row = conn.execute(
        "SELECT min(synced_through) FROM wearable_sync_cursors "
        "WHERE user_id = %s AND provider = %s",
        (user_id, provider_enum(provider)),
    ).fetchone()
    return row[0]
