"""Extraction: streamed, atomic, idempotent, and content conserved: PostgreSQL = Parquet, row for
row, whatever changed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from americano_pipelines.db import extract, schema
from americano_pipelines.db.load import load_tables
from americano_pipelines.synth.demo_study import generate_demo_study

START = dt.date(2025, 3, 3)


@pytest.fixture(scope="module")
def seeded(migrated_database: str) -> tuple[str, dict]:
    study = generate_demo_study(users=2, days=60, seed=7, start_date=START)
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    return migrated_database, study.row_counts


def test_every_table_round_trips_with_conserved_counts(seeded, tmp_path: Path) -> None:
    url, counts = seeded
    with extract.extract_connection(url) as conn:
        snapshots = {t: extract.extract_snapshot(conn, t, tmp_path) for t in schema.SNAPSHOT_TABLES}
        days = extract.event_counts_by_day(conn)
        events = [extract.extract_events_day(conn, day, tmp_path) for day in days]
    for table, extracted in snapshots.items():
        assert extracted.rows == counts.get(table, 0) == pq.read_metadata(extracted.path).num_rows
    assert sum(f.rows for f in events) == counts["behavioral_events"]
    # enums and JSON arrive as text, timestamps keep their time zone
    arrow_schema = pq.read_schema(events[0].path)
    assert str(arrow_schema.field("event_type").type) == "string"
    assert str(arrow_schema.field("timestamp").type) == "timestamp[us, tz=UTC]"


def test_re_extracting_gives_identical_content(seeded, tmp_path: Path) -> None:
    url, _ = seeded
    with extract.extract_connection(url) as conn:
        day = START + dt.timedelta(days=10)
        first = extract.extract_events_day(conn, day, tmp_path)
        second = extract.extract_events_day(conn, day, tmp_path)
        users_first = extract.extract_snapshot(conn, "users", tmp_path)
        users_second = extract.extract_snapshot(conn, "users", tmp_path)
    assert first.rows > 0
    assert first.content_hash == second.content_hash
    assert users_first.content_hash == users_second.content_hash


def test_incremental_extraction_finds_only_changed_days(seeded, tmp_path: Path) -> None:
    url, _ = seeded
    with extract.extract_connection(url) as conn:
        all_days = extract.stale_event_days(conn, tmp_path)
        for day in all_days:
            extract.extract_events_day(conn, day, tmp_path)
        assert extract.stale_event_days(conn, tmp_path) == []
    late_day = START + dt.timedelta(days=20)
    with psycopg.connect(url) as pg:
        pg.execute(
            'INSERT INTO behavioral_events (user_id, event_type, "timestamp") '
            "VALUES ('user_001', 'CARD_REVIEWED', %s)",
            (dt.datetime.combine(late_day, dt.time(12), tzinfo=dt.UTC),),
        )
    try:
        with extract.extract_connection(url) as conn:
            assert extract.stale_event_days(conn, tmp_path) == [late_day]
    finally:
        with psycopg.connect(url) as pg:
            pg.execute(
                'DELETE FROM behavioral_events WHERE "timestamp" = %s',
                (dt.datetime.combine(late_day, dt.time(12), tzinfo=dt.UTC),),
            )


def test_a_killed_extraction_leaves_the_previous_file_intact(seeded, tmp_path: Path) -> None:
    """Kill a process in the middle of writing a table: the old file stays, whole and unchanged."""
    url, _ = seeded
    with extract.extract_connection(url) as conn:
        before = extract.extract_snapshot(conn, "wearable_records", tmp_path)
    # The child writes one row group at a time and stalls after the first, as a slow disk would.
    script = textwrap.dedent(
        f"""
        import time, pyarrow.parquet as pq
        from pathlib import Path
        from americano_pipelines.db import extract
        extract._ROWS_PER_ROW_GROUP = 10
        original = pq.ParquetWriter.write_table
        def slow_write(self, table, *args, **kwargs):
            original(self, table, *args, **kwargs)
            print("wrote", flush=True)
            time.sleep(60)
        pq.ParquetWriter.write_table = slow_write
        with extract.extract_connection({url!r}) as conn:
            extract.extract_snapshot(conn, "wearable_records", Path({str(tmp_path)!r}))
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "wrote"
        partial = list((tmp_path / "wearable_records").glob(".*.tmp"))
        assert partial, "the write in progress goes to a temporary file"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    time.sleep(0.1)
    assert extract.file_sha256(before.path) == before.content_hash
    assert pq.read_metadata(before.path).num_rows == before.rows
    # A later run removes the dead process's leftover and replaces the destination as usual.
    with extract.extract_connection(url) as conn:
        again = extract.extract_snapshot(conn, "wearable_records", tmp_path)
    assert again.content_hash == before.content_hash
    assert [p for p in partial if p.exists()] == [], "the killed run's temporary file is gone"
    assert sorted(p.name for p in (tmp_path / "wearable_records").iterdir()) == [
        "wearable_records.parquet"
    ]


def test_missing_table_is_a_clear_error(migrated_database: str, tmp_path: Path) -> None:
    with extract.extract_connection(migrated_database) as conn:
        with pytest.raises(LookupError, match="does not exist"):
            extract.extract_snapshot(conn, "no_such_table", tmp_path)


def _rows(path: Path) -> list[tuple]:
    table = pq.read_table(path, columns=["timestamp", "id"])
    return list(zip(table["timestamp"].to_pylist(), table["id"].to_pylist(), strict=True))


def test_a_range_read_in_one_query_gives_the_files_of_single_days(seeded, tmp_path: Path) -> None:
    """Several days in one query, the same days one at a time, and days too large to hold in
    memory (streamed in PostgreSQL's order, in row groups cut from driver batches) all give the
    same bytes; rows sharing a timestamp are ordered by id, compared bytewise."""
    url, _ = seeded
    day = START + dt.timedelta(days=12)
    first_day, last_day = START - dt.timedelta(days=1), START + dt.timedelta(days=14)
    # Ties, and ids whose bytewise order differs from a case-insensitive or locale order.
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    tied_ids = ["tie_b", "tie_B", "tie_a", "tie_A", "tie_-"]
    with psycopg.connect(url) as pg, pg.cursor() as cur:
        cur.executemany(
            'INSERT INTO behavioral_events (id, user_id, event_type, "timestamp") '
            "VALUES (%s, 'user_001', 'CARD_REVIEWED', %s)",
            [(tie, noon) for tie in tied_ids],
        )
    try:
        days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        with extract.extract_connection(url) as conn:
            together = extract.extract_events_days(conn, days, tmp_path / "together")
            one_by_one = [extract.extract_events_day(conn, d, tmp_path / "single") for d in days]
            # Small row groups, so days span several, and tiny pages, so that a page boundary
            # would show where the writer was handed a new chunk; then days too large to hold.
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(extract, "_ROWS_PER_ROW_GROUP", 7)
                patch.setitem(extract._PARQUET_OPTIONS, "data_page_size", 64)
                held = extract.extract_events_days(conn, days, tmp_path / "held")
                patch.setattr(extract, "_DAY_ROWS_SORTED_IN_MEMORY", 3)
                streamed = extract.extract_events_days(conn, days, tmp_path / "streamed")
    finally:
        with psycopg.connect(url) as pg:
            pg.execute("DELETE FROM behavioral_events WHERE id = ANY(%s)", (tied_ids,))

    assert [f.path.parent.name for f in together] == [f"day={d.isoformat()}" for d in days]
    assert [f.content_hash for f in together] == [f.content_hash for f in one_by_one]
    assert [f.content_hash for f in held] == [f.content_hash for f in streamed]
    assert pq.read_metadata(held[days.index(day)].path).num_row_groups > 1
    # the day before the study has no events: an empty file with the full schema
    assert together[0].rows == 0 and pq.read_schema(together[0].path).names[0] == "id"
    assert sum(f.rows for f in together) > 0

    rows = _rows(together[days.index(day)].path)
    assert rows == sorted(rows, key=lambda r: (r[0], r[1].encode()))
    assert [i for _, i in rows if i.startswith("tie_")] == sorted(tied_ids, key=str.encode)
    sorting = pq.read_metadata(together[days.index(day)].path).row_group(0).sorting_columns
    assert [column.column_index for column in sorting] == [4, 0]  # timestamp, id


def test_non_consecutive_days_come_back_in_day_order(seeded, tmp_path: Path) -> None:
    url, counts = seeded
    days = [START + dt.timedelta(days=d) for d in (30, 2, 3, 40, 2)]
    with extract.extract_connection(url) as conn:
        files = extract.extract_events_days(conn, days, tmp_path)
        expected = extract.event_counts_by_day(conn)
    assert [f.path.parent.name for f in files] == [
        f"day={d.isoformat()}" for d in sorted(set(days))
    ]
    assert [f.rows for f in files] == [expected.get(d, 0) for d in sorted(set(days))]


def test_read_ahead_hands_on_batches_and_errors_and_stops_its_thread() -> None:
    schema = pa.schema([("x", pa.int64())])

    def batches(count: int, error: Exception | None = None):
        for i in range(count):
            yield pa.record_batch([pa.array([i])], schema=schema)
        if error is not None:
            raise error

    reader = pa.RecordBatchReader.from_batches(schema, batches(5))
    assert [b.column(0)[0].as_py() for b in extract._read_ahead(reader)] == [0, 1, 2, 3, 4]

    reader = pa.RecordBatchReader.from_batches(schema, batches(1, OSError("connection lost")))
    with pytest.raises(OSError, match="connection lost"):
        list(extract._read_ahead(reader))

    # A consumer that stops early (an error while writing) stops the reading thread with it.
    reader = pa.RecordBatchReader.from_batches(schema, batches(1000))
    ahead = extract._read_ahead(reader)
    next(ahead)
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "extract-read-ahead"]


# --- content, not counts: every change to an old day is found and extracted --------------------


def _day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _update_three_scores(pg: psycopg.Connection, day: dt.date) -> None:
    pg.execute(
        "UPDATE behavioral_events SET session_performance_score = "
        "(coalesce(session_performance_score, 0) + 1) %% 101 WHERE id IN ("
        'SELECT id FROM behavioral_events WHERE "timestamp" >= %s AND "timestamp" < %s '
        "ORDER BY id LIMIT 3)",
        _day_range(day),
    )


def _delete_one(pg: psycopg.Connection, day: dt.date) -> None:
    pg.execute(
        "DELETE FROM behavioral_events WHERE id = (SELECT id FROM behavioral_events "
        'WHERE "timestamp" >= %s AND "timestamp" < %s ORDER BY id LIMIT 1)',
        _day_range(day),
    )


def _delete_one_insert_another(pg: psycopg.Connection, day: dt.date) -> None:
    """Same day, same count: one event goes, another arrives."""
    _delete_one(pg, day)
    pg.execute(
        'INSERT INTO behavioral_events (id, user_id, event_type, "timestamp") '
        "VALUES ('replacement', 'user_001', 'QUIZ_COMPLETED', %s)",
        (dt.datetime.combine(day, dt.time(15), tzinfo=dt.UTC),),
    )


@contextmanager
def _day_restored_afterwards(url: str, day: dt.date) -> Iterator[None]:
    """Keep a copy of the day's events and put them back afterwards: the module shares one
    seeded database."""
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(
            'CREATE TABLE saved_day AS SELECT * FROM behavioral_events WHERE "timestamp" >= %s '
            'AND "timestamp" < %s',
            _day_range(day),
        )
    try:
        yield
    finally:
        with psycopg.connect(url) as pg:
            pg.execute(
                'DELETE FROM behavioral_events WHERE "timestamp" >= %s AND "timestamp" < %s',
                _day_range(day),
            )
            pg.execute("INSERT INTO behavioral_events SELECT * FROM saved_day")
            pg.execute("DROP TABLE saved_day")


def _postgres_rows(url: str, table: str) -> list[dict]:
    """Every row of `table` as extraction reads it, by id."""
    with extract.extract_connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {extract.select_list(conn, table)} FROM {table}")
        return cur.fetch_arrow_table().sort_by("id").to_pylist()


def _parquet_rows(directory: Path) -> list[dict]:
    """Every row of the Parquet files under `directory`, by id."""
    tables = [
        pq.read_table(f).replace_schema_metadata() for f in sorted(directory.rglob("*.parquet"))
    ]
    return pa.concat_tables(tables).sort_by("id").to_pylist()


@pytest.mark.parametrize(
    ("change", "days_after_start"),
    [(_update_three_scores, 5), (_delete_one, 8), (_delete_one_insert_another, 11)],
    ids=["update_three_scores", "delete", "delete_and_insert_same_count"],
)
def test_a_change_to_an_old_day_is_found_and_extracted(
    seeded, tmp_path: Path, change, days_after_start: int
) -> None:
    url, _ = seeded
    day = START + dt.timedelta(days=days_after_start)
    with extract.extract_connection(url) as conn:
        extract.extract_events_days(conn, extract.stale_event_days(conn, tmp_path), tmp_path)
        assert extract.stale_event_days(conn, tmp_path) == []
    with _day_restored_afterwards(url, day):
        with psycopg.connect(url) as pg:
            before = pg.execute(
                'SELECT count(*) FROM behavioral_events WHERE "timestamp" >= %s '
                'AND "timestamp" < %s',
                _day_range(day),
            ).fetchone()[0]
            change(pg, day)
        with extract.extract_connection(url) as conn:
            stale = extract.stale_event_days(conn, tmp_path)
            assert stale == [day]
            extract.extract_events_days(conn, stale, tmp_path)
            assert extract.stale_event_days(conn, tmp_path) == []
        assert _parquet_rows(tmp_path / schema.EVENTS_TABLE) == _postgres_rows(
            url, schema.EVENTS_TABLE
        )
        if change is not _delete_one:
            assert pq.read_metadata(extract.events_partition_path(tmp_path, day)).num_rows == before


def _run_row_check(url: str, table: str):
    """The `rows_match_postgres` asset check of `table`, run as Dagster would run it."""
    from americano_pipelines.defs.extract.checks import row_conservation_checks
    from americano_pipelines.defs.resources import PostgresResource, SettingsResource

    (check,) = [
        c for c in row_conservation_checks if next(iter(c.check_keys)).asset_key.path[-1] == table
    ]
    return check(postgres=PostgresResource(url=url), settings=SettingsResource())


def test_the_row_check_compares_content_and_passes_again_after_extraction(
    seeded, platform_env: Path
) -> None:
    url, _ = seeded
    from americano_pipelines.config import get_settings

    raw_dir = get_settings().raw_dir
    day = START + dt.timedelta(days=14)
    with extract.extract_connection(url) as conn:
        extract.extract_events_days(conn, extract.stale_event_days(conn, raw_dir), raw_dir)
        extract.extract_snapshot(conn, "wearable_records", raw_dir)
    assert _run_row_check(url, schema.EVENTS_TABLE).passed
    assert _run_row_check(url, "wearable_records").passed

    with _day_restored_afterwards(url, day):
        with psycopg.connect(url) as pg:
            _update_three_scores(pg, day)
            wearable_id, value = pg.execute(
                "SELECT id, value FROM wearable_records WHERE value IS NOT NULL ORDER BY id LIMIT 1"
            ).fetchone()
            pg.execute(
                "UPDATE wearable_records SET value = value + 1 WHERE id = %s", (wearable_id,)
            )
        try:
            events = _run_row_check(url, schema.EVENTS_TABLE)
            wearables = _run_row_check(url, "wearable_records")
            assert not events.passed, "same counts, other scores: the Parquet is stale"
            assert events.metadata["stale"].value == [day.isoformat()]
            assert not wearables.passed
            with extract.extract_connection(url) as conn:
                extract.extract_events_days(conn, extract.stale_event_days(conn, raw_dir), raw_dir)
                extract.extract_snapshot(conn, "wearable_records", raw_dir)
            assert _run_row_check(url, schema.EVENTS_TABLE).passed
            assert _run_row_check(url, "wearable_records").passed
            assert _parquet_rows(raw_dir / "wearable_records") == _postgres_rows(
                url, "wearable_records"
            )
        finally:
            with psycopg.connect(url) as pg:
                pg.execute(
                    "UPDATE wearable_records SET value = %s WHERE id = %s", (value, wearable_id)
                )


def test_only_the_temporary_files_of_dead_processes_are_removed(seeded, tmp_path: Path) -> None:
    """Another live process's temporary file is its work in progress and stays. A dead process's
    goes, and so does one that carries our own pid without being ours (the pid was reused after
    the kill, as in a container where every run has the same pid)."""
    url, _ = seeded
    directory = tmp_path / "users"
    directory.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    try:
        of_live, of_dead, of_reused_pid = (
            directory / f".users.parquet.{pid}.tmp" for pid in (live.pid, dead.pid, os.getpid())
        )
        for path in (of_live, of_dead, of_reused_pid):
            path.write_bytes(b"half a file")
        with extract.extract_connection(url) as conn:
            extract.extract_snapshot(conn, "users", tmp_path)
        assert of_live.exists()
        assert not of_dead.exists()
        assert not of_reused_pid.exists()
    finally:
        live.kill()
        live.wait(timeout=30)
