"""Extraction: streamed, atomic, idempotent, and row counts conserved PostgreSQL = Parquet."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from americano_pipelines.db import extract
from americano_pipelines.db.load import load_tables
from americano_pipelines.synth.demo_study import generate_demo_study

pytestmark = pytest.mark.integration

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
        snapshots = {t: extract.extract_snapshot(conn, t, tmp_path) for t in extract.SNAPSHOT_TABLES}
        days = extract.event_counts_by_day(conn)
        events = [extract.extract_events_day(conn, day, tmp_path) for day in days]
    for table, extracted in snapshots.items():
        assert extracted.rows == counts.get(table, 0) == pq.read_metadata(extracted.path).num_rows
    assert sum(f.rows for f in events) == counts["behavioral_events"]
    # enums and JSON arrive as text, timestamps keep their time zone
    schema = pq.read_schema(events[0].path)
    assert str(schema.field("event_type").type) == "string"
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"


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
            "INSERT INTO behavioral_events (user_id, event_type, \"timestamp\") "
            "VALUES ('user_001', 'CARD_REVIEWED', %s)",
            (dt.datetime.combine(late_day, dt.time(12), tzinfo=dt.UTC),),
        )
    try:
        with extract.extract_connection(url) as conn:
            assert extract.stale_event_days(conn, tmp_path) == [late_day]
    finally:
        with psycopg.connect(url) as pg:
            pg.execute("DELETE FROM behavioral_events WHERE \"timestamp\" = %s",
                       (dt.datetime.combine(late_day, dt.time(12), tzinfo=dt.UTC),))


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
    # A later run replaces the leftover-free destination as usual.
    with extract.extract_connection(url) as conn:
        again = extract.extract_snapshot(conn, "wearable_records", tmp_path)
    assert again.content_hash == before.content_hash


def test_missing_table_is_a_clear_error(migrated_database: str, tmp_path: Path) -> None:
    with extract.extract_connection(migrated_database) as conn:
        with pytest.raises(LookupError, match="does not exist"):
            extract.extract_snapshot(conn, "no_such_table", tmp_path)
