"""Importing an Apple Health export into PostgreSQL (`americano wearables import apple-health`).

Every record goes to `apple_health_records` (migration 0011), COPYed in batches into a temporary
table and inserted from there with `ON CONFLICT DO NOTHING` on (user, source id): the source id
is a hash of the record's identifying attributes, so a second import of the same export, or of a
later export that repeats it, inserts nothing it already has and counts it as a duplicate. Each
batch is committed, so an interrupted import resumes by running it again. The daily measures read
from the records (wearables/apple_health.DailyNormalizer) are upserted into `wearable_records`
as provider APPLE_HEALTH, keyed by measure and day, where the staging model and
`marts.wearable_daily` read them beside Oura's and WHOOP's.

Counts are conserved: records = inserted + duplicates + skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from americano_pipelines.db.users import resolve_user
from americano_pipelines.wearables.apple_health import (
    AppleRecord,
    DailyNormalizer,
    NormalizedDay,
    ReadSummary,
    read_export,
)

__all__ = ["AppleHealthImport", "import_apple_health"]

BATCH_ROWS = 20_000
PROVIDER = "APPLE_HEALTH"
_COLUMNS = (
    "user_id",
    "source_record_id",
    "element",
    "record_type",
    "day",
    "start_date",
    "utc_offset",
    "end_date",
    "creation_date",
    "value",
    "numeric_value",
    "unit",
    "source_name",
    "source_version",
    "device",
    "details",
)
_COLUMN_LIST = ", ".join(_COLUMNS)


@dataclass(frozen=True)
class AppleHealthImport:
    """What an import did. `duplicates`: records already stored (an earlier import) or repeated
    in the file (a Correlation's copy of a top-level record, an exact repeat); `skipped`:
    records refused (no type, a date that is not one), the first reasons in `skip_reasons`;
    `normalized`: the wearable_records rows (measure × day) inserted or changed."""

    user_id: str
    records: int
    inserted: int
    duplicates: int
    skipped: int
    normalized: int
    days: int
    skip_reasons: tuple[str, ...]
    other_elements: dict[str, int]

    def to_json(self) -> dict:
        return {
            "records": self.records,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "userId": self.user_id,
            "normalized": self.normalized,
            "days": self.days,
            "skipReasons": list(self.skip_reasons),
            "otherElements": self.other_elements,
        }


def _row(user_id: str, record: AppleRecord) -> tuple:
    return (
        user_id,
        record.source_record_id,
        record.element,
        record.record_type,
        record.day,
        record.start_date,
        record.start_date[20:],
        record.end_date,
        record.creation_date,
        record.value,
        record.numeric_value,
        record.unit,
        record.source_name,
        record.source_version,
        record.device,
        None if record.details is None else json.dumps(record.details, ensure_ascii=False),
    )


def _insert_batch(conn: psycopg.Connection, rows: list[tuple]) -> int:
    """COPY the rows into the staging table, insert the new ones; return how many were new."""
    with conn.cursor() as cur:
        with cur.copy(f"COPY apple_health_staging ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO apple_health_records ({_COLUMN_LIST}) "
            f"SELECT {_COLUMN_LIST} FROM apple_health_staging "
            "ON CONFLICT (user_id, source_record_id) DO NOTHING"
        )
        inserted = cur.rowcount
    conn.commit()  # the staging table empties itself (ON COMMIT DELETE ROWS)
    return inserted


def _upsert_days(conn: psycopg.Connection, user_id: str, days: list[NormalizedDay]) -> int:
    """Upsert the daily measures; return the rows inserted or changed."""
    changed = 0
    with conn.cursor() as cur:
        for day in days:
            cur.execute(
                """INSERT INTO wearable_records AS w
                       (user_id, provider, record_type, source_record_id, day, started_at,
                        ended_at, value, unit, payload)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (user_id, provider, record_type, source_record_id) DO UPDATE
                   SET value = EXCLUDED.value, unit = EXCLUDED.unit, payload = EXCLUDED.payload,
                       started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
                       fetched_at = now()
                   WHERE (w.value, w.unit, w.payload, w.started_at, w.ended_at)
                         IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.unit, EXCLUDED.payload,
                                           EXCLUDED.started_at, EXCLUDED.ended_at)""",
                (
                    user_id,
                    PROVIDER,
                    day.record_type,
                    day.source_record_id,
                    day.day,
                    day.payload.get("start"),
                    day.payload.get("end"),
                    day.value,
                    day.unit,
                    Jsonb(day.payload),
                ),
            )
            changed += cur.rowcount
    conn.commit()
    return changed


def import_apple_health(
    conn: psycopg.Connection,
    path: Path,
    *,
    user_id: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> AppleHealthImport:
    """Import the export at `path` (export.zip or export.xml) for `user_id` (see
    `db.users.resolve_user`); bad input (not an export, XML past repair) is an InputError."""
    user = resolve_user(conn, user_id)
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS apple_health_staging "
        "(LIKE apple_health_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    summary = ReadSummary()
    normalizer = DailyNormalizer()
    inserted, batch = 0, []
    for record in read_export(Path(path), summary):
        normalizer.add(record)
        batch.append(_row(user, record))
        if len(batch) >= batch_rows:
            inserted += _insert_batch(conn, batch)
            batch.clear()
    if batch:
        inserted += _insert_batch(conn, batch)
    days = normalizer.rows()
    normalized = _upsert_days(conn, user, days)
    return AppleHealthImport(
        user_id=user,
        records=summary.records,
        inserted=inserted,
        duplicates=summary.records - summary.skipped - inserted,
        skipped=summary.skipped,
        normalized=normalized,
        days=len({day.day for day in days}),
        skip_reasons=tuple(summary.skip_reasons),
        other_elements=dict(sorted(summary.other_elements.items())),
    )
