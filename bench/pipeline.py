"""Benchmark: the orchestrated pipeline, incremental and parallel, in one run.

On a scratch database (the server at `--database-url`, else `AMERICANO_DATABASE_URL`, else an
embedded PostgreSQL under a temporary AMERICANO_HOME, stopped afterwards) seeded with the demo
study, under a temporary AMERICANO_HOME and data folder, each `americano demo` its own process
(start-up included, the install not):

- fresh: the first `americano demo` on the seeded database (the whole graph);
- no_change: `americano demo` again, nothing new (target: at most 0.15 x fresh);
- new_day: `americano demo` after one new event day is inserted (what depends on that day);
- dbt: the dbt step of a `refresh_warehouse` run that rebuilds every model (the step's own
  time, STEP_START to STEP_SUCCESS in the run's events) against plain `dbt build` of the same
  selector on the same data (target: at most 1.5 x);
- analyses: every analysis of the demo's 3 protocols, one run per protocol launched at once on
  the multiprocess executor, against the same runs one after another on the in-process executor
  (target: at least 1.6 x on 2 cores).

The ratios are baseline time / our time (CONTRACTS.md section 6): `ratio_vs_fresh` is
fresh / no_change, `ratio_vs_dbt` dbt alone / the dbt step in Dagster, `ratio_vs_one_process`
one process / parallel. Usage: `python bench/pipeline.py [--database-url URL] [--days D]`.
Prints human-readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _scratch import create_database, scratch

BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def summary_line(output: str) -> str:
    """The demo's line that says what it materialized."""
    lines = [line for line in output.splitlines() if "materialized" in line]
    return lines[-1].strip() if lines else "?"


def add_event_day(url: str) -> dt.date:
    """One new day of events for the first user: the day after the last one."""
    import psycopg

    with psycopg.connect(url) as conn:
        (last,) = conn.execute(
            "SELECT max(\"timestamp\" AT TIME ZONE 'UTC')::date FROM behavioral_events"
        ).fetchone()
        (user_id,) = conn.execute("SELECT min(user_id) FROM behavioral_events").fetchone()
        day = last + dt.timedelta(days=1)
        for hour in (8, 12, 19):
            conn.execute(
                'INSERT INTO behavioral_events (user_id, event_type, "timestamp") '
                "VALUES (%s, 'SESSION_STARTED', %s)",
                (user_id, dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)),
            )
    return day


# A child process: launch runs the way `americano demo` does, and report their timings.
_CHILD = r"""
import json, sys, time
from dagster import AssetKey, DagsterInstance, RunRequest
from americano_pipelines.cli.materialize import launch, launch_all, prepare_dagster_home
from americano_pipelines.config import get_settings

mode = sys.argv[1]
prepare_dagster_home(get_settings())
if mode == "dbt":
    from americano_pipelines.defs.transform.assets import warehouse_models
    run = launch("refresh_warehouse", RunRequest(asset_selection=sorted(warehouse_models.keys)))
    instance = DagsterInstance.get()
    times = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is not None and event.step_key == "warehouse_models":
            times.setdefault(event.event_type_value, entry.timestamp)
    print(json.dumps({"seconds": times["STEP_SUCCESS"] - times["STEP_START"]}))
else:
    from americano_pipelines.defs.analyses.jobs import ANALYSES
    protocols = sys.argv[2].split(",")
    keys = [spec.key for spec in ANALYSES]
    requests = [RunRequest(partition_key=p, asset_selection=keys) for p in protocols]
    started = time.perf_counter()
    if mode == "parallel":
        launch_all("protocol_analyses", requests)
    else:
        for request in requests:
            launch("protocol_analyses", request)
    print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def child(mode: str, env: dict[str, str], cwd: Path, *extra: str) -> float:
    _, output = timed([sys.executable, "-c", _CHILD, mode, *extra], env, cwd)
    return json.loads(output.strip().splitlines()[-1])["seconds"]


def run(args: argparse.Namespace, server: str, name: str, work: Path) -> dict:
    from americano_pipelines.config import dbt_environment, get_settings
    from americano_pipelines.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR

    url = create_database(server, name)
    project = work / "project"
    project.mkdir(parents=True)
    env = {
        **os.environ,
        "AMERICANO_DATABASE_URL": url,
        "AMERICANO_HOME": str(work / "state"),
        "AMERICANO_DATA_DIR": str(project / "data"),
    }
    env.pop("AMERICANO_DUCKDB_PATH", None)
    americano = str(BIN / "americano")
    timed([americano, "seed-demo", "--days", str(args.days)], env, project)

    fresh, output = timed([americano, "demo"], env, project)
    print(f"fresh demo graph:        {fresh:7.1f} s  ({summary_line(output)})", flush=True)
    no_change, output = timed([americano, "demo"], env, project)
    nothing = "no asset materialized" in output
    print(f"rerun, nothing new:      {no_change:7.1f} s  ({summary_line(output)})", flush=True)
    day = add_event_day(url)
    new_day, output = timed([americano, "demo"], env, project)
    print(f"rerun after {day}: {new_day:7.1f} s  ({summary_line(output)})", flush=True)

    os.environ.update({key: env[key] for key in ("AMERICANO_HOME", "AMERICANO_DATA_DIR")})
    dbt_env = {**env, **dbt_environment(get_settings())}
    dbt_alone, _ = timed(
        [DBT_EXECUTABLE, "build", "--selector", "warehouse", "--quiet"], dbt_env, DBT_PROJECT_DIR
    )
    dbt_in_dagster = child("dbt", env, project)
    print(f"dbt build alone:         {dbt_alone:7.1f} s", flush=True)
    print(f"dbt step in Dagster:     {dbt_in_dagster:7.1f} s", flush=True)

    import duckdb

    with duckdb.connect(get_settings().duckdb_path, read_only=True) as warehouse:
        protocols = [
            row[0]
            for row in warehouse.execute(
                "SELECT protocol_id FROM marts.protocols ORDER BY 1"
            ).fetchall()
        ]
    listed = ",".join(protocols)
    one_process = child("sequential", {**env, "AMERICANO_EXECUTOR": "in_process"}, project, listed)
    parallel = child("parallel", {**env, "AMERICANO_EXECUTOR": "multiprocess"}, project, listed)
    print(f"{len(protocols)} protocols, one process: {one_process:7.1f} s", flush=True)
    print(f"{len(protocols)} protocols, in parallel: {parallel:7.1f} s", flush=True)

    return {
        "bench": "pipeline",
        "cpus": os.cpu_count(),
        "fresh_s": round(fresh, 1),
        "no_change_s": round(no_change, 1),
        "no_change_materialized_nothing": nothing,
        "new_day_s": round(new_day, 1),
        "no_change_vs_fresh": round(no_change / fresh, 3),
        "dbt_alone_s": round(dbt_alone, 1),
        "dbt_in_dagster_s": round(dbt_in_dagster, 1),
        "dbt_overhead": round(dbt_in_dagster / dbt_alone, 3),
        "analyses_one_process_s": round(one_process, 1),
        "analyses_parallel_s": round(parallel, 1),
        "ratio_vs_fresh": round(fresh / no_change, 2),
        "ratio_vs_dbt": round(dbt_alone / dbt_in_dagster, 3),
        "ratio_vs_one_process": round(one_process / parallel, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    with scratch(args.database_url, "americano_bench_pipeline_") as (server, name, work):
        summary = run(args, server, name, work)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
