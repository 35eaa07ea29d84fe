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

Each file records, in its key-value metadata, the fingerprint of the rows it holds (`Fingerprint`):
their count and the XOR of one 64-bit hash per row, computed by PostgreSQL
(`hash_record_extended`) over the row exactly as it is extracted and carried beside it in the same
query, so it describes the very rows written. PostgreSQL computes the same aggregate for what it
holds now, per day or per table, so any update, delete or insert shows, counts unchanged or not
(`stale_event_days`, `compare_with_postgres`). The fingerprint is a function of the rows, so the
bytes stay deterministic.

A row with a timestamp, date or float that is not finite (rows older than migration 0005, which
refuses new ones) is quarantined: never written, counted and listed in the file's `Quarantine`,
so PostgreSQL rows = Parquet rows + quarantined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import queue
import re
import threading
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from americano_pipelines.db.connection import EXTRACT_ROLE
from americano_pipelines.db.schema import (
    EVENTS_TABLE,
    PROVENANCE_TABLES,
    ROW_ID_SEPARATOR,
    row_key,
)

if TYPE_CHECKING:
    # The driver (and the pandas it loads) is imported when a connection is opened.
    import adbc_driver_postgresql.dbapi as adbc

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
# The Parquet key-value metadata entry that holds a file's fingerprint.
FINGERPRINT_KEY = "americano.fingerprint"
# Columns the extraction query adds beside the table's own; never written. Prefixed so that no
# table column (a `row_hash`, say) can clash.
_ROW_HASH = "__americano_row_hash"
_QUARANTINED = "__americano_quarantined"
# hash_record_extended hashes each value with its type's own hash function (binary timestamps
# and floats; enums and JSON as the text that is extracted), so it needs no session settings and
# costs about a third of md5 over the row's text. Values their type holds equal hash alike
# (0.0 and -0.0). The hashes depend on the server's byte order: a database moved to another
# architecture finds every day stale once, never one missed. Seed 0: any constant works.
# `extracted.*`, the whole row: a bare `extracted` would mean a column of that name if one existed.
_ROW_HASH_SQL = "hash_record_extended(extracted.*, 0)"
_UINT64 = (1 << 64) - 1
_TEMPORAL_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
_FLOAT_TYPES = ("double precision", "real")
# A file's metadata lists this many quarantined ids at most; the count is always exact.
_QUARANTINED_IDS_LISTED = 100
# Temporary files are `.<name>.<pid>.tmp` beside their destination `<name>` (a .parquet file).
TEMPORARY_FILE_GLOB = ".*.parquet.*.tmp"
_TEMPORARY_NAME = re.compile(r"\..+\.parquet\.(?P<pid>[0-9]+)\.tmp")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fingerprint:
    """The content of a set of rows, whatever their order: how many, and the XOR of one 64-bit
    hash per row (`_ROW_HASH_SQL`). Any insert, delete or changed value changes it (barring a
    2^-64 chance; a value its type holds equal, -0.0 for 0.0, is no change). The same value in
    PostgreSQL and in a file's metadata means the same rows."""

    rows: int
    digest: int
    """The XOR of the rows' hashes, as an unsigned 64-bit integer (0 for no rows)."""

    def __str__(self) -> str:
        return f"{self.rows}:{self.digest:016x}"

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        rows, digest = text.split(":")
        return cls(int(rows), int(digest, 16))


NO_ROWS = Fingerprint(0, 0)


@dataclass(frozen=True)
class Quarantine:
    """Rows PostgreSQL holds that extraction refuses: a timestamp, date or float that is not
    finite. They are never written to Parquet; they are counted, and the first ids listed."""

    rows: int = 0
    ids: tuple[str, ...] = ()
    """The first `_QUARANTINED_IDS_LISTED` ids, in the order they were read."""

    def to_metadata(self) -> dict:
        return {"quarantined_rows": self.rows, "quarantined_ids": list(self.ids)}


@dataclass(frozen=True)
class ExtractedFile:
    table: str
    path: Path
    rows: int
    content_hash: str
    """sha256 of the Parquet file."""
    bytes: int
    fingerprint: Fingerprint
    """Of the rows written; also in the file's key-value metadata (`FINGERPRINT_KEY`)."""
    quarantine: Quarantine

    def to_metadata(self) -> dict:
        return {
            "rows": self.rows,
            "content_hash": self.content_hash,
            "fingerprint": str(self.fingerprint),
            "bytes": self.bytes,
            "path": str(self.path),
            **self.quarantine.to_metadata(),
        }


@dataclass(frozen=True)
class EventsExtracted:
    """Days of events extracted, and the events that belong to no day."""

    files: tuple[ExtractedFile, ...]
    undated: Quarantine
    """Events whose timestamp is ±infinity: in no day, so never in a file."""

    @property
    def content_hash(self) -> str:
        return combined_hash(list(self.files))

    def to_metadata(self) -> dict:
        quarantined = [i for f in self.files for i in f.quarantine.ids] + list(self.undated.ids)
        return {
            "rows": sum(f.rows for f in self.files),
            "days": len(self.files),
            "content_hash": self.content_hash,
            "bytes": sum(f.bytes for f in self.files),
            "quarantined_rows": sum(f.quarantine.rows for f in self.files),
            "undated_quarantined_rows": self.undated.rows,
            "quarantined_ids": quarantined[:_QUARANTINED_IDS_LISTED],
        }


@dataclass(frozen=True)
class ContentComparison:
    """A table's Parquet files against what PostgreSQL holds now."""

    table: str
    postgres_rows: int
    """Every row, quarantined ones included."""
    parquet_rows: int
    quarantined_rows: int
    """Rows PostgreSQL holds that extraction refuses (see `Quarantine`)."""
    stale: tuple[str, ...]
    """What does not hold PostgreSQL's rows now (fingerprints differ, or no file): the days
    (YYYY-MM-DD) of an events table, else the table's name."""

    @property
    def passed(self) -> bool:
        return not self.stale and self.postgres_rows == self.parquet_rows + self.quarantined_rows

    def to_metadata(self) -> dict:
        return {
            "postgres_rows": self.postgres_rows,
            "parquet_rows": self.parquet_rows,
            "quarantined_rows": self.quarantined_rows,
            "stale_count": len(self.stale),
            "stale": list(self.stale[:20]),
        }


@contextmanager
def extract_connection(url: str) -> Iterator[adbc.Connection]:
    """An ADBC connection acting as the read-everything extraction role, in UTC."""
    import adbc_driver_postgresql.dbapi as adbc

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


def _quarantined_sql(columns: list[tuple[str, str]]) -> str:
    """True for a row of `extracted` with a timestamp, date or float that is not finite (the
    CHECKs of migration 0005, for rows that predate them). PostgreSQL's NaN equals itself."""
    tests = []
    for name, data_type in columns:
        if data_type in _TEMPORAL_TYPES:
            tests.append(f'NOT isfinite(extracted."{name}")')
        elif data_type in _FLOAT_TYPES:
            tests.append(f"extracted.\"{name}\" IN ('NaN', 'Infinity', '-Infinity')")
    return f"coalesce({' OR '.join(tests)}, false)" if tests else "false"


def _extraction_query(
    table: str, columns: list[tuple[str, str]], *, where: str = "", order_by: str
) -> str:
    """The rows as extracted, each followed by its hash and whether it is quarantined. OFFSET 0
    keeps the inner query whole, so its values are computed once and hashed as they are sent."""
    inner = (
        f"SELECT {_select_list(columns)} FROM {_identifier(table)}{where} "
        f"ORDER BY {order_by} OFFSET 0"
    )
    return (
        f'SELECT extracted.*, {_ROW_HASH_SQL} AS "{_ROW_HASH}", '
        f'{_quarantined_sql(columns)} AS "{_QUARANTINED}" FROM ({inner}) AS extracted'
    )


def _content_query(table: str, columns: list[tuple[str, str]], *, part: str | None) -> str:
    """PostgreSQL's content now, in the terms of `_Digest`: (rows written, XOR of their hashes,
    rows quarantined), per `part` (an expression over `extracted`) when given."""
    inner = f"SELECT {_select_list(columns)} FROM {_identifier(table)}"
    key = f"{part} AS part, " if part else ""
    return (
        f"SELECT {'part, ' if part else ''}count(*) FILTER (WHERE NOT quarantined), "
        "coalesce(bit_xor(row_hash) FILTER (WHERE NOT quarantined), 0), "
        "count(*) FILTER (WHERE quarantined) "
        f"FROM (SELECT {key}{_ROW_HASH_SQL} AS row_hash, "
        f"{_quarantined_sql(columns)} AS quarantined FROM ({inner}) AS extracted) AS hashed"
        + (" GROUP BY part" if part else "")
    )


def _events_range(first: dt.date, last: dt.date) -> str:
    start = dt.datetime.combine(first, dt.time(0), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    return f" WHERE \"timestamp\" >= '{start.isoformat()}' AND \"timestamp\" < '{end.isoformat()}'"


def _query_to_parquet(
    conn: adbc.Connection,
    query: str,
    path: Path,
    *,
    table: str,
    plain_columns: Collection[str] = (),
    sorted_by: Collection[str] = (),
    key: tuple[str, ...] = ("id",),
) -> ExtractedFile:
    """Stream `query` (an `_extraction_query`) into `path` atomically; `key` names its rows."""
    temporary = _temporary_path(path)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            reader = cur.fetch_record_batch()
            schema = _file_schema(_portable_schema(reader.schema))
            options = _writer_options(schema, plain_columns, sorted_by)
            with _RowGroupWriter(temporary, schema, options, key) as out:
                with closing(_read_ahead(reader)) as batches:
                    for batch in batches:
                        out.write(batch)
        return _publish(temporary, path, table, out)
    finally:
        _release(temporary)


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


# This process's temporary files still being written or published: never stale, even though
# their pid is ours (see remove_stale_temporaries).
_OWN_TEMPORARIES: set[Path] = set()
_OWN_TEMPORARIES_LOCK = threading.Lock()


def _temporary_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _OWN_TEMPORARIES_LOCK:
        _OWN_TEMPORARIES.add(temporary)
    return temporary


def _release(temporary: Path) -> None:
    """Remove `temporary` if it is still there (not published), and forget it."""
    temporary.unlink(missing_ok=True)
    with _OWN_TEMPORARIES_LOCK:
        _OWN_TEMPORARIES.discard(temporary)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files that killed extractions left under `directory`; return them.

    A file is stale when the process named by its pid is gone, or when the pid is ours but the
    file is not (a pid reused after the kill, as in a container where every run is pid 1).
    Another live process's files are its work in progress and are left alone."""
    removed = []
    for path in sorted(directory.rglob(TEMPORARY_FILE_GLOB)):
        match = _TEMPORARY_NAME.fullmatch(path.name)
        if match is None:
            continue
        pid = int(match["pid"])
        with _OWN_TEMPORARIES_LOCK:
            ours = path in _OWN_TEMPORARIES
        if ours or (pid != os.getpid() and _process_alive(pid)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        log.warning("removed %d temporary file(s) left by killed extractions", len(removed))
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _publish(temporary: Path, path: Path, table: str, out: _RowGroupWriter) -> ExtractedFile:
    """Make the finished `temporary` durable, hash it and rename it to `path` (atomic)."""
    try:
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        content_hash = file_sha256(temporary)
        os.replace(temporary, path)
    finally:
        _release(temporary)
    return ExtractedFile(
        table,
        path,
        out.fingerprint.rows,
        content_hash,
        path.stat().st_size,
        out.fingerprint,
        out.quarantine,
    )


class _Digest:
    """Takes rows as an `_extraction_query` returns them: keeps the quarantined ones out (counted,
    the first ids listed), folds the others' hashes into their fingerprint, and hands those back
    with the file's columns only."""

    def __init__(self, names: list[str], key: tuple[str, ...] = ("id",)) -> None:
        self.names, self.key = names, key
        self.rows, self.digest = 0, 0
        self.quarantined_rows, self.quarantined_ids = 0, []

    def take(self, data: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
        flags = data.column(_QUARANTINED)
        if pc.any(flags).as_py():
            refused = data.filter(flags)
            self.quarantined_rows += refused.num_rows
            room = max(0, _QUARANTINED_IDS_LISTED - len(self.quarantined_ids))
            self.quarantined_ids += _row_ids(refused.slice(0, room), self.key).to_pylist()
            data = data.filter(pc.invert(flags))
        hashes = data.column(_ROW_HASH)
        for chunk in hashes.chunks if isinstance(hashes, pa.ChunkedArray) else [hashes]:
            self.digest ^= int(np.bitwise_xor.reduce(chunk.to_numpy()))
        self.rows += data.num_rows
        return data.select(self.names)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.rows, self.digest & _UINT64)

    @property
    def quarantine(self) -> Quarantine:
        return Quarantine(self.quarantined_rows, tuple(self.quarantined_ids))


def _row_ids(data: pa.RecordBatch | pa.Table, key: tuple[str, ...]) -> pa.Array:
    """Each row's id: its key's values joined by ROW_ID_SEPARATOR (schema.row_key)."""
    if len(key) == 1:
        return data.column(key[0])
    parts = [pc.cast(data.column(name), pa.string()) for name in key]
    return pc.binary_join_element_wise(*parts, ROW_ID_SEPARATOR)


class _RowGroupWriter:
    """A ParquetWriter that cuts row groups of exactly `_ROWS_PER_ROW_GROUP` rows (the last one
    shorter; a table with no rows gets one empty group), each written from one contiguous chunk,
    so the bytes depend only on the rows and their order, not on how they were batched.

    It is handed rows as the extraction query returns them (`_Digest`) and records their
    fingerprint in the file's key-value metadata."""

    def __init__(
        self, path: Path, schema: pa.Schema, options: dict, key: tuple[str, ...] = ("id",)
    ) -> None:
        self.path, self.schema, self.options = path, schema, options
        self.rows = 0
        self._digest = _Digest(schema.names, key)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    @property
    def fingerprint(self) -> Fingerprint:
        return self._digest.fingerprint

    @property
    def quarantine(self) -> Quarantine:
        return self._digest.quarantine

    def __enter__(self) -> _RowGroupWriter:
        self._writer = pq.ParquetWriter(self.path, self.schema, **self.options)
        return self

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        data = self._digest.take(data)
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
                self._writer.add_key_value_metadata({FINGERPRINT_KEY: str(self.fingerprint)})
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


def snapshot_path(root_dir: Path, table: str) -> Path:
    return root_dir / table / f"{table}.parquet"


def extract_snapshot(conn: adbc.Connection, table: str, root_dir: Path) -> ExtractedFile:
    """The whole table, ordered by primary key, to `root_dir/<table>/<table>.parquet`. The
    primary key's index gives the order, so a table of millions of rows is streamed, not
    sorted; the file holds at most one row group (`_ROWS_PER_ROW_GROUP`) beyond a batch."""
    columns = _columns(conn, table)
    remove_stale_temporaries(root_dir / table)
    key = row_key(table)
    query = _extraction_query(table, columns, order_by=", ".join(f'"{c}"' for c in key))
    return _query_to_parquet(
        conn,
        query,
        snapshot_path(root_dir, table),
        table=table,
        # the key's last column is unique (user ids repeat, so they stay dictionary-encoded)
        plain_columns=_json_columns(columns) | {key[-1]},
        key=key,
    )


def events_partition_path(raw_dir: Path, day: dt.date) -> Path:
    return raw_dir / EVENTS_TABLE / f"day={day.isoformat()}" / f"{EVENTS_TABLE}.parquet"


def extract_events_day(conn: adbc.Connection, day: dt.date, raw_dir: Path) -> ExtractedFile:
    return extract_events_days(conn, [day], raw_dir)[0]


def extract_events(
    conn: adbc.Connection, days: Iterable[dt.date], raw_dir: Path
) -> EventsExtracted:
    """`extract_events_days`, with the events that belong to no day counted beside them."""
    files = extract_events_days(conn, days, raw_dir)
    return EventsExtracted(tuple(files), undated_events(conn))


def undated_events(conn: adbc.Connection) -> Quarantine:
    """Events whose timestamp is ±infinity (the only values of a timestamp that are not finite;
    the index finds them)."""
    with conn.cursor() as cur:
        cur.execute(
            f'SELECT count(*), (array_agg(id ORDER BY id COLLATE "C"))[1:{_QUARANTINED_IDS_LISTED}] '
            f"FROM {EVENTS_TABLE} WHERE \"timestamp\" IN ('infinity', '-infinity')"
        )
        count, ids = cur.fetchone()
    return Quarantine(int(count), tuple(ids or ()))


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
    remove_stale_temporaries(raw_dir / EVENTS_TABLE)
    plain = _json_columns(columns)
    too_large: list[dt.date] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-publish") as publisher:
        published: list[Future[ExtractedFile]] = []
        for first, last in consecutive_runs(wanted):
            run = _EventRun(first, last, raw_dir, plain, publisher, published, too_large)
            run.extract(conn, columns)
        files = [future.result() for future in published]
    for day in too_large:
        files.append(
            _query_to_parquet(
                conn,
                _extraction_query(
                    EVENTS_TABLE, columns, where=_events_range(day, day), order_by=_EVENTS_ORDER_BY
                ),
                events_partition_path(raw_dir, day),
                table=EVENTS_TABLE,
                plain_columns=plain,
                sorted_by=[name for name, _ in _EVENTS_SORT_KEYS],
            )
        )
    return sorted(files, key=lambda f: f.path.parent.name)


def consecutive_runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[d1, d2, d3, d7] → [(d1, d3), (d7, d7)]: one (first, last) per unbroken stretch of days."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
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

    def extract(self, conn: adbc.Connection, columns: list[tuple[str, str]]) -> None:
        query = _extraction_query(
            EVENTS_TABLE,
            columns,
            where=_events_range(self.first, self.last),
            order_by='"timestamp"',
        )
        with conn.cursor() as cur:
            cur.execute(query)
            reader = cur.fetch_record_batch()
            self.schema = _portable_schema(reader.schema)
            self.file_schema = _file_schema(self.schema)
            self.options = _writer_options(
                self.file_schema, self.plain_columns, [name for name, _ in _EVENTS_SORT_KEYS]
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
                with _RowGroupWriter(temporary, self.file_schema, self.options) as out:
                    out.write(rows)
            except BaseException:
                _release(temporary)
                raise
            self.published.append(
                self.publisher.submit(_publish, temporary, path, EVENTS_TABLE, out)
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
    """Events per UTC day in PostgreSQL (events with a timestamp of ±infinity are in no day)."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT (\"timestamp\" AT TIME ZONE 'UTC')::date AS day, count(*) "
            f'FROM {EVENTS_TABLE} WHERE isfinite("timestamp") GROUP BY 1 ORDER BY 1'
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


def _file_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of the query's rows without extraction's own columns: what a file holds."""
    return pa.schema([f for f in schema if f.name not in (_ROW_HASH, _QUARANTINED)])


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return name


@dataclass(frozen=True)
class _Held:
    """What PostgreSQL holds now for one file's worth of rows."""

    fingerprint: Fingerprint
    quarantined: int


def _recorded(path: Path) -> tuple[Fingerprint | None, int]:
    """The fingerprint a file records (None: none, or not of its rows), and its row count."""
    metadata = pq.read_metadata(path)
    recorded = (metadata.metadata or {}).get(FINGERPRINT_KEY.encode())
    fingerprint = Fingerprint.parse(recorded.decode()) if recorded else None
    if fingerprint is not None and fingerprint.rows != metadata.num_rows:
        fingerprint = None
    return fingerprint, metadata.num_rows


def _events_held(conn: adbc.Connection) -> tuple[dict[dt.date, _Held], int]:
    """Per UTC day, what PostgreSQL holds now; and how many events belong to no day."""
    columns = _columns(conn, EVENTS_TABLE)
    day = (
        'CASE WHEN isfinite(extracted."timestamp") '
        "THEN (extracted.\"timestamp\" AT TIME ZONE 'UTC')::date END"
    )
    with conn.cursor() as cur:
        # The planner takes the day for as many groups as there are timestamps and would sort
        # every row; a hash aggregate holds one entry per day.
        cur.execute("SET enable_sort = off")
        try:
            cur.execute(_content_query(EVENTS_TABLE, columns, part=day))
            rows = cur.fetchall()
        finally:
            cur.execute("RESET enable_sort")
    held = {
        day: _Held(Fingerprint(int(kept), int(digest) & _UINT64), int(quarantined))
        for day, kept, digest, quarantined in rows
        if day is not None
    }
    undated = sum(int(quarantined) for day, _, _, quarantined in rows if day is None)
    return held, undated


def _events_recorded(directory: Path) -> dict[dt.date, tuple[Fingerprint | None, int]]:
    return {
        dt.date.fromisoformat(path.parent.name.removeprefix("day=")): _recorded(path)
        for path in directory.glob("day=*/*.parquet")
    }


def _stale_days(
    held: dict[dt.date, _Held], recorded: dict[dt.date, tuple[Fingerprint | None, int]]
) -> list[dt.date]:
    no_rows = _Held(NO_ROWS, 0)
    return sorted(
        day
        for day in set(held) | set(recorded)
        if held.get(day, no_rows).fingerprint != recorded.get(day, (None, 0))[0]
    )


def stale_event_days(conn: adbc.Connection, raw_dir: Path) -> list[dt.date]:
    """Days whose Parquet file is missing or does not hold what PostgreSQL holds now (new events,
    late arrivals, updates, deletions, whatever the counts): what an incremental run extracts."""
    held, _ = _events_held(conn)
    return _stale_days(held, _events_recorded(raw_dir / EVENTS_TABLE))


def compare_with_postgres(
    conn: adbc.Connection, table: str, *, raw_dir: Path, provenance_dir: Path
) -> ContentComparison:
    """The Parquet files of `table` against PostgreSQL now: fingerprints per file, and rows
    conserved (PostgreSQL = Parquet + quarantined)."""
    directory = table_dir(table, raw_dir=raw_dir, provenance_dir=provenance_dir)
    if table == EVENTS_TABLE:
        held, undated = _events_held(conn)
        recorded = _events_recorded(directory)
        stale = tuple(day.isoformat() for day in _stale_days(held, recorded))
        parquet_rows = sum(rows for _, rows in recorded.values())
        quarantined = undated + sum(h.quarantined for h in held.values())
        postgres_rows = quarantined + sum(h.fingerprint.rows for h in held.values())
    else:
        with conn.cursor() as cur:
            cur.execute(_content_query(table, _columns(conn, table), part=None))
            kept, digest, quarantined = (int(value) for value in cur.fetchone())
        path = snapshot_path(directory.parent, table)
        fingerprint, parquet_rows = _recorded(path) if path.exists() else (None, 0)
        stale = () if fingerprint == Fingerprint(kept, digest & _UINT64) else (table,)
        postgres_rows = kept + quarantined
    return ContentComparison(table, postgres_rows, parquet_rows, quarantined, stale)


def combined_hash(files: list[ExtractedFile]) -> str:
    """One hash for several files (a range of day partitions), independent of their order."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: str(f.path)):
        digest.update(f"{item.path.name}:{item.path.parent.name}:{item.content_hash}\n".encode())
    return digest.hexdigest()
