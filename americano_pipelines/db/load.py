"""Bulk loading into PostgreSQL with COPY: the demo study, benchmarks and tests use it."""

from __future__ import annotations

import io
from collections.abc import Mapping

import polars as pl
import psycopg

# Parents before children, so foreign keys hold at every COPY.
LOAD_ORDER = (
    "users",
    "context_metadata",
    "behavioral_events",
    "experiment_protocols",
    "phase_assignments",
    "analysis_runs",
    "wearable_records",
)
_COPY_CHUNK_ROWS = 200_000


def copy_frame(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> int:
    """COPY a frame into `table` (its columns by name, in chunks of CSV); return rows written."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for offset in range(0, frame.height, _COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            frame.slice(offset, _COPY_CHUNK_ROWS).write_csv(
                buffer,
                include_header=False,
                datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z",
                date_format="%Y-%m-%d",
            )
            copy.write(buffer.getvalue())
    return frame.height


def load_tables(conn: psycopg.Connection, tables: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    """Load frames keyed by table name in one transaction; return rows written per table."""
    unknown = set(tables) - set(LOAD_ORDER)
    if unknown:
        raise ValueError(f"no such tables to load: {sorted(unknown)}")
    written = {}
    with conn.transaction():
        for table in LOAD_ORDER:
            if table in tables:
                written[table] = copy_frame(conn, table, tables[table])
    return written
