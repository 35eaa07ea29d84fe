"""Context entries (`context_metadata`): a user's self-report of mood, energy and location, written
on that user's session (row-level security: a session writes and reads only its own rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from americano_pipelines.db.connection import session_user_id

__all__ = ["ContextEntry", "MOODS", "LOCATIONS", "record_context"]

MOODS = ("LOW", "MEDIUM", "HIGH")
"""The `mood_level` enum of migration 0001."""
LOCATIONS = ("HOME", "LIBRARY", "CAFE", "CAMPUS", "OTHER")
"""The `location_type` enum of migration 0001."""


@dataclass(frozen=True)
class ContextEntry:
    id: str
    user_id: str
    timestamp: dt.datetime
    mood: str
    energy: int
    location: str
    notes: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "timestamp": self.timestamp.astimezone(dt.UTC).isoformat(),
            "mood": self.mood,
            "energy": self.energy,
            "location": self.location,
            "notes": self.notes,
        }


def record_context(
    session: psycopg.Connection,
    *,
    mood: str,
    energy: int,
    location: str,
    notes: str | None = None,
    timestamp: dt.datetime | None = None,
) -> ContextEntry:
    """Write one context entry for the session's user and commit; return it as stored."""
    user_id = session_user_id(session)
    row = session.execute(
        """INSERT INTO context_metadata (user_id, "timestamp", mood, energy_level, location, notes)
           VALUES (%s, coalesce(%s, now()), %s, %s, %s, %s)
           RETURNING id, user_id, "timestamp", mood::text, energy_level, location::text, notes""",
        (user_id, timestamp, mood, energy, location, notes),
    ).fetchone()
    if not session.autocommit:
        session.commit()
    return ContextEntry(*row)
