"""The gate at the raw boundary: each extracted Parquet file of a gated table through its rules,
its quarantined rows written to `quarantine/<table>/<file>.parquet`, the dbt source
`quarantine.<table>` that the staging models leave out. The raw file itself keeps every row
PostgreSQL held, so its fingerprint stays PostgreSQL's and the data version is unchanged."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from americano_pipelines.db.extract import snapshot_path
from americano_pipelines.db.schema import EVENTS_TABLE, GATED_TABLES, row_key
from americano_pipelines.quality.gate import (
    NO_ROWS,
    GateCounts,
    quarantine_records,
    row_ids,
    split,
)
from americano_pipelines.quality.rules import RAW_TABLE_RULES

QUARANTINE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("rules", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
        ("row", pa.string()),
    ]
)
# Every gated table has this file, without rows, so its dbt source reads before any gate ran.
EMPTY_FILE = "empty.parquet"


def quarantine_path(quarantine_dir: Path, table: str, raw_file: Path) -> Path:
    """Where the rows refused from `raw_file` go: named after the file (events: its day)."""
    name = raw_file.parent.name if table == EVENTS_TABLE else raw_file.stem
    return quarantine_dir / table / f"{name}.parquet"


def gate_raw_files(
    table: str,
    raw_files: Iterable[Path],
    quarantine_dir: Path,
    *,
    now: dt.datetime,
    raw_dir: Path | None = None,
) -> GateCounts:
    """Run `table`'s rules over each of its extracted files and write what each refuses (a file
    without rows when it refuses none, replacing what an earlier run refused). Rules that
    reference other raw tables (a phase, its protocol) read their good rows under `raw_dir`."""
    rules = RAW_TABLE_RULES[table]
    references = {}
    for name in rules.references:
        if raw_dir is None:
            raise ValueError(f"the rules of {table} read {name}: give raw_dir")
        references[name] = good_rows(raw_dir, quarantine_dir, name)
    schema = rules.schema(now, references)
    counts = NO_ROWS
    for raw_file in raw_files:
        gated = split(pq.read_table(raw_file).to_pandas(), schema, now=now)
        records = quarantine_records(gated.quarantined, key=row_key(table))
        _write(
            pa.Table.from_pandas(records, schema=QUARANTINE_SCHEMA, preserve_index=False),
            quarantine_path(quarantine_dir, table, raw_file),
        )
        counts += gated.counts
    return counts


def ensure_quarantine_tables(quarantine_dir: Path) -> None:
    """An empty file per gated table, so `quarantine.<table>` reads before its first gate."""
    for table in GATED_TABLES:
        path = quarantine_dir / table / EMPTY_FILE
        if not path.exists():
            _write(QUARANTINE_SCHEMA.empty_table(), path)


def good_rows(raw_dir: Path, quarantine_dir: Path, table: str) -> pd.DataFrame:
    """A snapshot table's rows that its gate did not refuse: what its dbt source reads."""
    rows = pq.read_table(snapshot_path(raw_dir, table)).to_pandas()
    refused = {
        identifier
        for path in (quarantine_dir / table).glob("*.parquet")
        for identifier in pq.read_table(path, columns=["id"]).column("id").to_pylist()
    }
    return rows[~row_ids(rows, row_key(table)).isin(refused)].reset_index(drop=True)


def quarantined_rows(quarantine_dir: Path, table: str) -> int:
    """How many of `table`'s rows are in quarantine now (from the files' metadata)."""
    return sum(pq.read_metadata(p).num_rows for p in (quarantine_dir / table).glob("*.parquet"))


def raw_rows(raw_dir: Path, table: str) -> int:
    """How many rows `table`'s extracted files hold (from their metadata)."""
    pattern = "day=*/*.parquet" if table == EVENTS_TABLE else "*.parquet"
    return sum(pq.read_metadata(p).num_rows for p in (raw_dir / table).glob(pattern))


@dataclass(frozen=True)
class QuarantineShare:
    """A gated table's rows in quarantine against the rows extracted, and the share allowed."""

    rows: int
    quarantined: int
    limit: float

    @property
    def share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.share <= self.limit

    def to_metadata(self) -> dict:
        return {
            "rows": self.rows,
            "quarantined_rows": self.quarantined,
            "quarantined_share": round(self.share, 6),
            "max_share": self.limit,
        }


def quarantine_share(
    table: str, *, raw_dir: Path, quarantine_dir: Path, limit: float
) -> QuarantineShare:
    return QuarantineShare(raw_rows(raw_dir, table), quarantined_rows(quarantine_dir, table), limit)


def _write(rows: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(rows, temporary, compression="zstd")
    os.replace(temporary, path)
