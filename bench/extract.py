"""Benchmark: 2,000,000 behavioral events from PostgreSQL to Parquet, three ways, in one run.

The demo-study generator (`generate_demo_study`, 170 days, as many users as the row count needs)
makes the events; they are COPYed (`load_tables`) into a scratch database that is created,
migrated and dropped by this script, on the server at `--database-url`, else
`AMERICANO_DATABASE_URL`, else an embedded PostgreSQL started under a temporary AMERICANO_HOME
and stopped afterwards. Events are inserted in arrival (timestamp) order, as the study app writes
them (`--insert-order user` loads them grouped by user instead: the worst physical order for a
read by time). A quarter of the rows is loaded first and our path measured on it, then the rest,
so the load rate and how our memory grows with the table are both reported.

The three paths each read all rows of `behavioral_events` with the same select list (enums and
JSON cast to text, as the platform reads them) and write Parquet:

- ours: what the platform runs for a backfill, `extract.extract_events_days` over every day
  (one ordered query, one file per UTC day in (timestamp, id) order, zstd, written atomically
  with fsync and hashed);
- ours_per_day (extra figure): the same files, one `extract_events_day` query per day, as the
  Dagster asset's loop over its partition window runs it;
- pandas: `pandas.read_sql` through SQLAlchemy + psycopg, then `DataFrame.to_parquet` (what users
  write by hand; pandas' defaults: pyarrow, snappy);
- adbc_raw: one `SELECT`, `cursor.fetch_arrow_table()`, `pyarrow.parquet.write_table` (snappy,
  no order, no fsync, no hash, whole table in memory: the practical limit).

Each timed run is its own subprocess, so one path's memory does not pollute another's: the time
covers connecting, reading and writing (imports excluded), and peak RSS is the child's own high
water mark, `VmHWM` in /proc/self/status (not `ru_maxrss`: Linux carries the forking parent's
peak, here the data generator's, into the child's across exec). The rounds interleave the paths; a path's time is its best of
`--repeats` (the machine is shared and noisy), its peak RSS the largest seen. Ratios are
baseline time / our time, so bigger is better (CONTRACTS.md section 6).

Usage: `python bench/extract.py [--rows N] [--repeats N] [--database-url URL]
[--insert-order time|user]`. Prints human-readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _scratch import create_database, scratch

DEFAULT_ROWS = 2_000_000
DAYS = 170
START_DATE = dt.date(2024, 1, 1)
SEED = 20240101
EVENTS_PER_USER_DAY = 55.0  # measured on the generator's defaults; only sizes the first try
PATHS = ("ours", "ours_per_day", "adbc_raw", "pandas")


# --- children: one timed extraction each -------------------------------------------------------


def child_main(args: argparse.Namespace) -> None:
    """Run one path; print {"seconds", "rows", "bytes", "files", "peak_rss_mb"} as JSON."""
    import pyarrow.parquet as pq

    out = Path(args.out)
    if args.child == "ours":
        from americano_pipelines.db import extract

        first, last = dt.date.fromisoformat(args.first_day), dt.date.fromisoformat(args.last_day)
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        started = time.perf_counter()
        with extract.extract_connection(args.url) as conn:
            extract.extract_events_days(conn, days, out)
        seconds = time.perf_counter() - started
    elif args.child == "ours_per_day":
        from americano_pipelines.db import extract

        first, last = dt.date.fromisoformat(args.first_day), dt.date.fromisoformat(args.last_day)
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        started = time.perf_counter()
        with extract.extract_connection(args.url) as conn:
            for day in days:
                extract.extract_events_day(conn, day, out)
        seconds = time.perf_counter() - started
    elif args.child == "adbc_raw":
        import adbc_driver_postgresql.dbapi as adbc

        started = time.perf_counter()
        with adbc.connect(args.url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {args.select} FROM behavioral_events")
            table = cur.fetch_arrow_table()
            pq.write_table(table, out / "behavioral_events.parquet")
        seconds = time.perf_counter() - started
    elif args.child == "pandas":
        import pandas as pd
        import psycopg
        import sqlalchemy

        started = time.perf_counter()
        engine = sqlalchemy.create_engine(
            "postgresql+psycopg://",
            creator=lambda: psycopg.connect(args.url, options="-c timezone=UTC"),
        )
        frame = pd.read_sql(f"SELECT {args.select} FROM behavioral_events", engine)
        frame.to_parquet(out / "behavioral_events.parquet")
        engine.dispose()
        seconds = time.perf_counter() - started
    elif args.child == "idle":  # the floor: interpreter, libraries, one connection
        from americano_pipelines.db import extract

        started = time.perf_counter()
        with extract.extract_connection(args.url):
            pass
        seconds = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown path {args.child!r}")
    peak_rss_mb = peak_rss_of_this_process_mb()
    files = sorted(out.rglob("*.parquet"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": sum(pq.read_metadata(f).num_rows for f in files),
                "bytes": sum(f.stat().st_size for f in files),
                "files": len(files),
                "peak_rss_mb": peak_rss_mb,
            }
        )
    )


def peak_rss_of_this_process_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_child(path: str, url: str, work: Path, *, select: str, days: tuple[dt.date, dt.date]):
    """Run one path in a fresh interpreter; return (its report, its peak RSS in MB)."""
    out = Path(tempfile.mkdtemp(prefix=f"{path}_", dir=work))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        path,
        "--url",
        url,
        "--out",
        str(out),
        "--select",
        select,
        "--first-day",
        days[0].isoformat(),
        "--last-day",
        days[1].isoformat(),
    ]
    try:
        child = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        report = json.loads(child.stdout.strip().splitlines()[-1])
        return report, report["peak_rss_mb"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- the parent: data, rounds, report ----------------------------------------------------------


def generate_events(rows: int):
    """The first `rows` events of a demo study big enough to hold them, and the other tables."""
    from americano_pipelines.synth.demo_study import generate_demo_study

    users = max(1, math.ceil(rows / (EVENTS_PER_USER_DAY * DAYS) * 1.05))
    while True:
        study = generate_demo_study(users=users, days=DAYS, seed=SEED, start_date=START_DATE)
        if study.tables["behavioral_events"].height >= rows:
            break
        users = math.ceil(users * 1.1) + 1
    tables = dict(study.tables)
    events = tables.pop("behavioral_events").head(rows)  # whole users first (grouped by user)
    return users, tables, events


def load_events(url: str, events, insert_order: str) -> float:
    """COPY `events` in (arrival order unless told otherwise), then VACUUM ANALYZE as autovacuum
    would; return the COPY's seconds."""
    import psycopg

    from americano_pipelines.db.load import load_tables

    if insert_order == "time":
        events = events.sort("timestamp", maintain_order=True)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        load_tables(conn, {"behavioral_events": events})
        seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE behavioral_events")
    return seconds


def event_days(url: str) -> tuple[dt.date, dt.date]:
    from americano_pipelines.db import extract

    with extract.extract_connection(url) as conn:
        counts = extract.event_counts_by_day(conn)
    return min(counts), max(counts)


def measure(paths, url, work, *, select, days, repeats, expected_rows) -> dict[str, dict]:
    """Best time and largest peak RSS per path over `repeats` interleaved rounds."""
    results = {path: {"seconds": math.inf, "peak_rss_mb": 0.0} for path in paths}
    for round_number in range(repeats):
        shift = round_number % len(paths)
        for path in paths[shift:] + paths[:shift]:  # rotate, so no path always goes first
            report, rss = run_child(path, url, work, select=select, days=days)
            if report["rows"] != expected_rows:
                raise RuntimeError(f"{path} wrote {report['rows']} rows, not {expected_rows}")
            print(
                f"  {path:12s} round {round_number + 1}: {report['seconds']:6.2f} s  "
                f"{expected_rows / report['seconds']:>9,.0f} rows/s  peak RSS {rss:6.0f} MB  "
                f"{report['files']} file(s), {report['bytes'] / 1e6:.1f} MB",
                flush=True,
            )
            best = results[path]
            best["seconds"] = min(best["seconds"], report["seconds"])
            best["peak_rss_mb"] = max(best["peak_rss_mb"], rss)
            best["bytes"] = report["bytes"]
            best["files"] = report["files"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--insert-order", choices=("time", "user"), default="time")
    for hidden in ("--child", "--url", "--out", "--select", "--first-day", "--last-day"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.rows < 8 or args.repeats < 1:
        parser.error("--rows must be at least 8 and --repeats at least 1")

    with scratch(args.database_url, "americano_bench_extract_") as (server, name, work):
        summary = run(args, server, name, work)
    print(json.dumps(summary))


def run(args: argparse.Namespace, server: str, name: str, work: Path) -> dict:
    import psycopg

    from americano_pipelines.db import extract
    from americano_pipelines.db.load import load_tables
    from americano_pipelines.db.schema import EVENTS_TABLE

    url = create_database(server, name)

    started = time.perf_counter()
    users, tables, events = generate_events(args.rows)
    generate_seconds = time.perf_counter() - started
    print(
        f"generated {events.height:,} events ({users} users x {DAYS} days) "
        f"in {generate_seconds:.1f} s",
        flush=True,
    )
    with psycopg.connect(url) as conn:
        load_tables(conn, tables)  # users and context first: events reference them
    small_rows = args.rows // 4
    load_small = load_events(url, events.head(small_rows), args.insert_order)
    print(
        f"loaded {small_rows:,} events in {load_small:.1f} s "
        f"({small_rows / load_small:,.0f} rows/s, COPY with all indexes and foreign keys)",
        flush=True,
    )
    with extract.extract_connection(url) as conn:
        select = extract.select_list(conn, EVENTS_TABLE)

    options = {"select": select, "repeats": args.repeats}
    print(f"our path at {small_rows:,} rows:", flush=True)
    small = measure(
        ("ours",), url, work, days=event_days(url), expected_rows=small_rows, **options
    )["ours"]

    load_rest = load_events(url, events.slice(small_rows), args.insert_order)
    rest_rows = args.rows - small_rows
    load_seconds = load_small + load_rest
    print(
        f"loaded {rest_rows:,} more events in {load_rest:.1f} s ({rest_rows / load_rest:,.0f} "
        f"rows/s); all {args.rows:,}: {args.rows / load_seconds:,.0f} rows/s, "
        f"{load_seconds / args.rows * 1e6:.1f} s per million",
        flush=True,
    )
    del events, tables
    gc.collect()

    print(f"all three paths at {args.rows:,} rows:", flush=True)
    days = event_days(url)
    results = measure(PATHS, url, work, days=days, expected_rows=args.rows, **options)
    idle = measure(("idle",), url, work, days=days, expected_rows=0, select=select, repeats=1)
    ours, pandas, raw = results["ours"], results["pandas"], results["adbc_raw"]
    per_day = results["ours_per_day"]
    summary = {
        "bench": "extract",
        "rows": args.rows,
        "ours_rows_per_s": round(args.rows / ours["seconds"]),
        "pandas_rows_per_s": round(args.rows / pandas["seconds"]),
        "adbc_raw_rows_per_s": round(args.rows / raw["seconds"]),
        "ratio_vs_pandas": round(pandas["seconds"] / ours["seconds"], 3),
        "ratio_vs_adbc_raw": round(raw["seconds"] / ours["seconds"], 3),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "peak_rss_mb_pandas": round(pandas["peak_rss_mb"], 1),
        "peak_rss_mb_adbc_raw": round(raw["peak_rss_mb"], 1),
        "peak_rss_mb_idle": round(idle["idle"]["peak_rss_mb"], 1),
        "ours_per_day_rows_per_s": round(args.rows / per_day["seconds"]),
        "peak_rss_mb_ours_per_day": round(per_day["peak_rss_mb"], 1),
        "rows_small": small_rows,
        "peak_rss_mb_small": round(small["peak_rss_mb"], 1),
        "ours_rows_per_s_small": round(small_rows / small["seconds"]),
        "ours_seconds": round(ours["seconds"], 3),
        "pandas_seconds": round(pandas["seconds"], 3),
        "adbc_raw_seconds": round(raw["seconds"], 3),
        "ours_per_day_seconds": round(per_day["seconds"], 3),
        "ours_files": ours["files"],
        "ours_mb": round(ours["bytes"] / 1e6, 1),
        "pandas_mb": round(pandas["bytes"] / 1e6, 1),
        "adbc_raw_mb": round(raw["bytes"] / 1e6, 1),
        "generate_seconds": round(generate_seconds, 1),
        "load_rows_per_s": round(args.rows / load_seconds),
        "load_seconds_per_million": round(load_seconds / args.rows * 1e6, 1),
        "insert_order": args.insert_order,
        "repeats": args.repeats,
    }
    print(
        f"ours {summary['ours_rows_per_s']:,} rows/s, pandas {summary['pandas_rows_per_s']:,}, "
        f"adbc_raw {summary['adbc_raw_rows_per_s']:,}: x{summary['ratio_vs_pandas']} vs pandas, "
        f"x{summary['ratio_vs_adbc_raw']} vs raw ADBC; our peak RSS "
        f"{summary['peak_rss_mb_small']:.0f} MB at {small_rows:,} rows, "
        f"{summary['peak_rss_mb']:.0f} MB at {args.rows:,} (idle process: "
        f"{summary['peak_rss_mb_idle']:.0f} MB)"
    )
    return summary


if __name__ == "__main__":
    main()
