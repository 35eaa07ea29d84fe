"""PostgreSQL → Parquet, streamed through Arrow.

ADBC's PostgreSQL driver reads with binary COPY and hands back Arrow record batches; each batch
goes straight into a ParquetWriter, so memory stays flat however large the table is. The file is
written next to its destination and renamed into place only when complete, so a crash leaves the
previous version intact. Rows are ordered by primary key, so the same rows give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.parquet as pq

from americano_pipelines.db.connection import EXTRACT_ROLE

EVENTS_TABLE = "behavioral_events"
# Small tables are extracted whole on every run; OAuth tokens never leave PostgreSQL.
SNAPSHOT_TABLES = (
    "users",
    "context_metadata",
    "experiment_protocols",
    "phase_assignments",
    "analysis_runs",
    "wearable_records",
)
EXTRACTED_TABLES = (EVENTS_TABLE, *SNAPSHOT_TABLES)
_PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True}
_ROWS_PER_ROW_GROUP = 256 * 1024


@dataclass(frozen=True)
class ExtractedFile:
    table: str
    path: Path
    rows: int
    content_hash: str
    """sha256 of the Parquet file."""
    bytes: int

    def to_metadata(self) -> dict:
        return {
            "rows": self.rows,
            "content_hash": self.content_hash,
            "bytes": self.bytes,
            "path": str(self.path),
        }


@contextmanager
def extract_connection(url: str) -> Iterator[adbc.Connection]:
    """An ADBC connection acting as the read-everything extraction role, in UTC."""
    conn = adbc.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET ROLE {EXTRACT_ROLE}")
            cur.execute("SET TIME ZONE 'UTC'")
        yield conn
    finally:
        conn.close()


def select_list(conn: adbc.Connection, table: str) -> str:
    """The table's columns in order, with enums and JSON read as text (portable in Parquet)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'public' AND table_name = '{_identifier(table)}' "
            "ORDER BY ordinal_position"
        )
        columns = cur.fetchall()
    if not columns:
        raise LookupError(f"table {table!r} does not exist; run `americano db migrate`")
    parts = []
    for name, data_type in columns:
        quoted = f'"{name}"'
        if data_type in ("USER-DEFINED", "jsonb", "json"):
            parts.append(f"{quoted}::text AS {quoted}")
        else:
            parts.append(quoted)
    return ", ".join(parts)


def table_query(conn: adbc.Connection, table: str) -> str:
    return f"SELECT {select_list(conn, table)} FROM {_identifier(table)} ORDER BY id"


def events_day_query(conn: adbc.Connection, day: dt.date) -> str:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    return (
        f"SELECT {select_list(conn, EVENTS_TABLE)} FROM {EVENTS_TABLE} "
        f"WHERE \"timestamp\" >= '{start.isoformat()}' AND \"timestamp\" < '{end.isoformat()}' "
        "ORDER BY id"
    )


def query_to_parquet(conn: adbc.Connection, query: str, path: Path, *, table: str) -> ExtractedFile:
    """Stream `query` into `path` atomically; return its row count and content hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            reader = cur.fetch_record_batch()
            schema = _portable_schema(reader.schema)
            with pq.ParquetWriter(temporary, schema, **_PARQUET_OPTIONS) as writer:
                pending: list[pa.RecordBatch] = []
                pending_rows = 0
                for batch in reader:
                    pending.append(batch.cast(schema) if batch.schema != schema else batch)
                    pending_rows += batch.num_rows
                    if pending_rows >= _ROWS_PER_ROW_GROUP:
                        writer.write_table(pa.Table.from_batches(pending, schema))
                        rows += pending_rows
                        pending, pending_rows = [], 0
                if pending_rows or rows == 0:
                    writer.write_table(pa.Table.from_batches(pending, schema))
                    rows += pending_rows
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        content_hash = file_sha256(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return ExtractedFile(table, path, rows, content_hash, path.stat().st_size)


def extract_snapshot(conn: adbc.Connection, table: str, raw_dir: Path) -> ExtractedFile:
    return query_to_parquet(
        conn, table_query(conn, table), raw_dir / table / f"{table}.parquet", table=table
    )


def events_partition_path(raw_dir: Path, day: dt.date) -> Path:
    return raw_dir / EVENTS_TABLE / f"day={day.isoformat()}" / f"{EVENTS_TABLE}.parquet"


def extract_events_day(conn: adbc.Connection, day: dt.date, raw_dir: Path) -> ExtractedFile:
    return query_to_parquet(
        conn, events_day_query(conn, day), events_partition_path(raw_dir, day), table=EVENTS_TABLE
    )


def event_counts_by_day(conn: adbc.Connection) -> dict[dt.date, int]:
    """Events per UTC day in PostgreSQL: what incremental extraction compares against."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT (\"timestamp\" AT TIME ZONE 'UTC')::date AS day, count(*) "
            f"FROM {EVENTS_TABLE} GROUP BY 1 ORDER BY 1"
        )
        return {day: int(count) for day, count in cur.fetchall()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _portable_schema(schema: pa.Schema) -> pa.Schema:
    """Drop driver-specific field metadata so the same rows always give the same file."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return name


def stale_event_days(conn: adbc.Connection, raw_dir: Path) -> list[dt.date]:
    """Days whose Parquet file is missing or holds a different number of rows than PostgreSQL
    (new events, late arrivals, deletions): what an incremental run must extract again."""
    counts = event_counts_by_day(conn)
    on_disk = {}
    for path in (raw_dir / EVENTS_TABLE).glob("day=*/*.parquet"):
        day = dt.date.fromisoformat(path.parent.name.removeprefix("day="))
        on_disk[day] = pq.read_metadata(path).num_rows
    return sorted(
        day for day in set(counts) | set(on_disk) if counts.get(day, 0) != on_disk.get(day)
    )


def combined_hash(files: list[ExtractedFile]) -> str:
    """One hash for several files (a range of day partitions), independent of their order."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: str(f.path)):
        digest.update(f"{item.path.name}:{item.path.parent.name}:{item.content_hash}\n".encode())
    return digest.hexdigest()
