"""PostgreSQL → Parquet, streamed through Arrow.

ADBC's PostgreSQL driver reads with binary COPY and hands back Arrow record batches; they are
read ahead on a second thread and go straight into a ParquetWriter, so memory stays flat however
large the table is. Each file is written next to its destination and renamed into place only when
complete (after fsync), so a crash leaves the previous version intact.

The same rows give the same bytes: rows come in a fixed order, and row groups hold a fixed number
of rows, each written from one contiguous chunk (Parquet page boundaries follow the chunks handed
to the writer, so this takes the driver's batching out of the file). Snapshot tables are ordered
by primary key. Events are ordered by (timestamp, id), id compared bytewise (`COLLATE "C"`).

Events are one file per UTC day, and a run of consecutive days is read in one query ordered by
timestamp (the timestamp index gives that order without a sort): each day's rows arrive together,
are held until the next day starts, sorted in Arrow only if two share a timestamp, and written.
One query instead of one per day, and no sort in PostgreSQL. A day over
`_DAY_ROWS_SORTED_IN_MEMORY` rows is not held: it is read again on its own, ordered by PostgreSQL,
and streamed, so memory stays bounded whatever the day sizes.

Dictionary encoding pays for repeated values only; primary keys, timestamps and JSON documents
are (nearly) unique, so they are written plain: less CPU and smaller files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import queue
import threading
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from americano_pipelines.db.connection import EXTRACT_ROLE

EVENTS_TABLE = "behavioral_events"
# Small tables are extracted whole on every run; OAuth tokens never leave PostgreSQL.
SNAPSHOT_TABLES = (
    "users",
    "context_metadata",
    "experiment_protocols",
    "phase_assignments",
    "wearable_records",
)
# The study's data: the versioned raw tree whose DVC hash is the data version.
RAW_TABLES = (EVENTS_TABLE, *SNAPSHOT_TABLES)
# What analyses record about themselves. Snapshotted beside the raw tree, not in it: recording
# a run must not change the data version the next run reads.
PROVENANCE_TABLES = ("analysis_runs",)
EXTRACTED_TABLES = (*RAW_TABLES, *PROVENANCE_TABLES)
_PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True}
_ROWS_PER_ROW_GROUP = 256 * 1024
# The order of rows in an events file, in Arrow and in PostgreSQL (both compare text bytewise).
_EVENTS_SORT_KEYS = (("timestamp", "ascending"), ("id", "ascending"))
_EVENTS_ORDER_BY = '"timestamp", id COLLATE "C"'
# A day with more events than this is ordered by PostgreSQL and streamed, not held in memory.
_DAY_ROWS_SORTED_IN_MEMORY = 256 * 1024
# More runs of rows sharing a timestamp than this in a day: sort the whole day instead.
_MAX_TIE_RUNS_SORTED_APART = 64
_MICROSECONDS_PER_DAY = 86_400_000_000
_UNIX_EPOCH = dt.date(1970, 1, 1)
# Record batches (about 16 MB each from the driver) read ahead while the last ones are written.
_BATCHES_READ_AHEAD = 2


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
    return _select_list(_columns(conn, table))


def _columns(conn: adbc.Connection, table: str) -> list[tuple[str, str]]:
    """(name, information_schema data_type) of each column, in order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'public' AND table_name = '{_identifier(table)}' "
            "ORDER BY ordinal_position"
        )
        columns = cur.fetchall()
    if not columns:
        raise LookupError(f"table {table!r} does not exist; run `americano db migrate`")
    return columns


def _select_list(columns: list[tuple[str, str]]) -> str:
    parts = []
    for name, data_type in columns:
        quoted = f'"{name}"'
        if data_type in ("USER-DEFINED", "jsonb", "json"):
            parts.append(f"{quoted}::text AS {quoted}")
        else:
            parts.append(quoted)
    return ", ".join(parts)


def _json_columns(columns: list[tuple[str, str]]) -> set[str]:
    return {name for name, data_type in columns if data_type in ("jsonb", "json")}


def table_query(conn: adbc.Connection, table: str) -> str:
    return f"SELECT {select_list(conn, table)} FROM {_identifier(table)} ORDER BY id"


def events_day_query(conn: adbc.Connection, day: dt.date) -> str:
    """One day's events in the order of its file: (timestamp, id), id compared bytewise."""
    return _events_range_query(select_list(conn, EVENTS_TABLE), day, day, _EVENTS_ORDER_BY)


def _events_range_query(select: str, first: dt.date, last: dt.date, order_by: str) -> str:
    start = dt.datetime.combine(first, dt.time(0), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    return (
        f"SELECT {select} FROM {EVENTS_TABLE} "
        f"WHERE \"timestamp\" >= '{start.isoformat()}' AND \"timestamp\" < '{end.isoformat()}' "
        f"ORDER BY {order_by}"
    )


def query_to_parquet(conn: adbc.Connection, query: str, path: Path, *, table: str) -> ExtractedFile:
    """Stream `query` into `path` atomically; return its row count and content hash."""
    return _query_to_parquet(conn, query, path, table=table)


def _query_to_parquet(
    conn: adbc.Connection,
    query: str,
    path: Path,
    *,
    table: str,
    plain_columns: Collection[str] = (),
    sorted_by: Collection[str] = (),
) -> ExtractedFile:
    temporary = _temporary_path(path)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            reader = cur.fetch_record_batch()
            schema = _portable_schema(reader.schema)
            options = _writer_options(schema, plain_columns, sorted_by)
            with _RowGroupWriter(temporary, schema, options) as out:
                with closing(_read_ahead(reader)) as batches:
                    for batch in batches:
                        out.write(batch)
        return _publish(temporary, path, table, out.rows)
    finally:
        temporary.unlink(missing_ok=True)


def _writer_options(
    schema: pa.Schema, plain_columns: Collection[str], sorted_by: Collection[str]
) -> dict:
    """Parquet options: dictionary encoding except for the primary key, timestamps and
    `plain_columns` (nearly unique values); `sorted_by` is recorded in the file's metadata."""
    dictionary = [
        field.name
        for field in schema
        if field.name != "id"
        and field.name not in plain_columns
        and not pa.types.is_timestamp(field.type)
    ]
    sorting = [pq.SortingColumn(schema.get_field_index(name)) for name in sorted_by]
    return {**_PARQUET_OPTIONS, "use_dictionary": dictionary, "sorting_columns": sorting or None}


def _temporary_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _publish(temporary: Path, path: Path, table: str, rows: int) -> ExtractedFile:
    """Make the finished `temporary` durable, hash it and rename it to `path` (atomic)."""
    try:
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        content_hash = file_sha256(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return ExtractedFile(table, path, rows, content_hash, path.stat().st_size)


class _RowGroupWriter:
    """A ParquetWriter that cuts row groups of exactly `_ROWS_PER_ROW_GROUP` rows (the last one
    shorter; a table with no rows gets one empty group), each written from one contiguous chunk,
    so the bytes depend only on the rows and their order, not on how they were batched."""

    def __init__(self, path: Path, schema: pa.Schema, options: dict) -> None:
        self.path, self.schema, self.options = path, schema, options
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def __enter__(self) -> _RowGroupWriter:
        self._writer = pq.ParquetWriter(self.path, self.schema, **self.options)
        return self

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        if data.num_rows == 0:
            return
        if data.schema != self.schema:
            data = data.cast(self.schema)
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        self._pending.append(data)
        self._pending_rows += data.num_rows
        if self._pending_rows >= _ROWS_PER_ROW_GROUP:
            self._write_row_groups(final=False)

    def _write_row_groups(self, *, final: bool) -> None:
        size = _ROWS_PER_ROW_GROUP
        pending = pa.concat_tables(self._pending).combine_chunks()
        offset = 0
        while pending.num_rows - offset >= size or (final and offset < pending.num_rows):
            group = pending.slice(offset, size)
            self._writer.write_table(group)
            offset += group.num_rows
        self.rows += offset
        rest = pending.slice(offset)
        self._pending, self._pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                if self._pending_rows:
                    self._write_row_groups(final=True)
                if self.rows == 0:
                    self._writer.write_table(self.schema.empty_table())
        finally:
            self._writer.close()


def _read_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, read on a second thread up to `_BATCHES_READ_AHEAD` ahead, so
    PostgreSQL and the driver's decoding run while this thread sorts and compresses (both sides
    release the GIL). Close the generator (`contextlib.closing`) before the cursor: closing it
    stops the thread and waits for it."""
    batches: queue.Queue = queue.Queue(maxsize=_BATCHES_READ_AHEAD)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in reader:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)

    thread = threading.Thread(target=produce, name="extract-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def table_dir(table: str, *, raw_dir: Path, provenance_dir: Path) -> Path:
    """The folder of a table's Parquet files: the raw tree, or beside it for provenance."""
    return (provenance_dir if table in PROVENANCE_TABLES else raw_dir) / table


def extract_snapshot(conn: adbc.Connection, table: str, root_dir: Path) -> ExtractedFile:
    """The whole table, ordered by primary key, to `root_dir/<table>/<table>.parquet`."""
    columns = _columns(conn, table)
    query = f"SELECT {_select_list(columns)} FROM {_identifier(table)} ORDER BY id"
    path = root_dir / table / f"{table}.parquet"
    return _query_to_parquet(conn, query, path, table=table, plain_columns=_json_columns(columns))


def events_partition_path(raw_dir: Path, day: dt.date) -> Path:
    return raw_dir / EVENTS_TABLE / f"day={day.isoformat()}" / f"{EVENTS_TABLE}.parquet"


def extract_events_day(conn: adbc.Connection, day: dt.date, raw_dir: Path) -> ExtractedFile:
    return extract_events_days(conn, [day], raw_dir)[0]


def extract_events_days(
    conn: adbc.Connection, days: Iterable[dt.date], raw_dir: Path
) -> list[ExtractedFile]:
    """Extract each of `days` (UTC) to its own file, one query per run of consecutive days;
    return the files in day order. Each file is the one `extract_events_day` writes: a day with
    no events gets an empty file, and the bytes do not depend on which days were read together.

    Finished files are made durable, hashed and renamed into place on a second thread (fsync
    waits on the disk) while the next day is read and written."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    columns = _columns(conn, EVENTS_TABLE)
    select, plain = _select_list(columns), _json_columns(columns)
    too_large: list[dt.date] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-publish") as publisher:
        published: list[Future[ExtractedFile]] = []
        for first, last in _consecutive_runs(wanted):
            run = _EventRun(first, last, raw_dir, plain, publisher, published, too_large)
            run.extract(conn, select)
        files = [future.result() for future in published]
    for day in too_large:
        files.append(
            _query_to_parquet(
                conn,
                _events_range_query(select, day, day, _EVENTS_ORDER_BY),
                events_partition_path(raw_dir, day),
                table=EVENTS_TABLE,
                plain_columns=plain,
                sorted_by=[name for name, _ in _EVENTS_SORT_KEYS],
            )
        )
    return sorted(files, key=lambda f: f.path.parent.name)


def _consecutive_runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and day == runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class _EventRun:
    """The days first..last read in one query ordered by timestamp, one day held at a time.
    Each finished file goes to `publisher`, its future appended to `published`; days over
    `_DAY_ROWS_SORTED_IN_MEMORY` rows go to `too_large`, unwritten."""

    def __init__(
        self,
        first: dt.date,
        last: dt.date,
        raw_dir: Path,
        plain_columns: Collection[str],
        publisher: ThreadPoolExecutor,
        published: list[Future[ExtractedFile]],
        too_large: list[dt.date],
    ) -> None:
        self.first, self.last, self.raw_dir = first, last, raw_dir
        self.plain_columns = plain_columns
        self.publisher, self.published, self.too_large = publisher, published, too_large
        self.day_number = (first - _UNIX_EPOCH).days
        self.day_batches: list[pa.RecordBatch] = []
        self.day_rows = 0

    def extract(self, conn: adbc.Connection, select: str) -> None:
        with conn.cursor() as cur:
            cur.execute(_events_range_query(select, self.first, self.last, '"timestamp"'))
            reader = cur.fetch_record_batch()
            self.schema = _portable_schema(reader.schema)
            self.options = _writer_options(
                self.schema, self.plain_columns, [name for name, _ in _EVENTS_SORT_KEYS]
            )
            with closing(_read_ahead(reader)) as batches:
                for batch in batches:
                    self._add(batch)
        while self.day_number <= (self.last - _UNIX_EPOCH).days:
            self._finish_day()

    def _add(self, batch: pa.RecordBatch) -> None:
        if batch.schema != self.schema:
            batch = batch.cast(self.schema)
        micros = batch.column("timestamp").cast(pa.int64()).to_numpy()
        batch_days = micros // _MICROSECONDS_PER_DAY  # floor: right before 1970 too
        if batch_days.size == 0:
            return
        if batch_days[0] < self.day_number or np.any(np.diff(batch_days) < 0):
            raise RuntimeError("events did not arrive in timestamp order")
        starts = [0, *(np.flatnonzero(np.diff(batch_days)) + 1).tolist()]
        ends = [*starts[1:], batch_days.size]
        for start, end in zip(starts, ends, strict=True):
            while self.day_number < batch_days[start]:
                self._finish_day()
            self.day_rows += end - start
            if self.day_rows <= _DAY_ROWS_SORTED_IN_MEMORY:
                self.day_batches.append(batch.slice(start, end - start))
            else:
                self.day_batches = []  # read again on its own, ordered by PostgreSQL

    def _finish_day(self) -> None:
        day = _UNIX_EPOCH + dt.timedelta(days=self.day_number)
        if self.day_rows > _DAY_ROWS_SORTED_IN_MEMORY:
            self.too_large.append(day)
        else:
            rows = _in_events_order(pa.Table.from_batches(self.day_batches, self.schema))
            path = events_partition_path(self.raw_dir, day)
            temporary = _temporary_path(path)
            try:
                with _RowGroupWriter(temporary, self.schema, self.options) as out:
                    out.write(rows)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            self.published.append(
                self.publisher.submit(_publish, temporary, path, EVENTS_TABLE, out.rows)
            )
        self.day_number += 1
        self.day_batches, self.day_rows = [], 0


def _in_events_order(rows: pa.Table) -> pa.Table:
    """`rows`, which arrive ordered by timestamp, ordered by (timestamp, id): only the runs of
    rows sharing a timestamp are sorted by id (a few per day); the rest is left as it came."""
    micros = rows.column("timestamp").cast(pa.int64()).to_numpy()
    steps = np.diff(micros)
    if steps.size == 0 or steps.min() > 0:
        return rows
    edges = np.diff(np.concatenate([[0], (steps == 0).astype(np.int8), [0]]))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) + 1
    if steps.min() < 0 or run_starts.size > _MAX_TIE_RUNS_SORTED_APART:
        return rows.take(pc.sort_indices(rows, sort_keys=list(_EVENTS_SORT_KEYS)))
    pieces, previous = [], 0
    for start, end in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        tied = rows.slice(start, end - start)
        pieces += [rows.slice(previous, start - previous), tied.take(pc.sort_indices(tied["id"]))]
        previous = end
    pieces.append(rows.slice(previous))
    return pa.concat_tables(pieces)


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
