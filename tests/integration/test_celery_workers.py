"""The protocol analyses on dagster-celery workers (AMERICANO_EXECUTOR=celery), for real.

Two workers are started as their own processes (`americano workers start`) on the RabbitMQ at
127.0.0.1:5672, each on a queue of this test's own, so that no other worker on the broker takes
its steps. The analyses of the three demo protocols run through them; the Dagster instance they share keeps its runs and events in the
test's PostgreSQL (AMERICANO_DAGSTER_STORAGE=postgres), as on several hosts. The event log must
show every step executed in a worker, both workers used, and the steps' processes children of
the workers. Then the workers are stopped with SIGTERM (a warm shutdown) and must exit 0.

The three protocols' runs are launched as `americano demo` launches them (`launch_all`: several
runs at once, each in a process of its own), their steps side by side on the two workers; each
analysis writes its own Parquet file, so no two steps contend for one writer.

A Redis broker is tested the same way with one worker and one protocol.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from conftest import build_demo_study
from dagster import AssetKey, DagsterEventType, EventRecordsFilter, RunRequest

from americano_pipelines.cli.materialize import launch_all, prepare_dagster_home
from americano_pipelines.config import get_settings
from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
from americano_pipelines.defs.executors import celery_config

pytestmark = pytest.mark.once

# The Bayesian ITS has its own e2e test (tests/e2e/test_its_asset.py): its first compile in each
# worker would double this test's time and show nothing more about the workers.
ANALYSES = ("change_points", "sced_randomization_test", "sequential_monitoring")
SELECTION = [AssetKey(["analyses", name]) for name in ANALYSES]
JOB = "protocol_analyses"
AMERICANO = str(Path(sys.executable).with_name("americano"))
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def _celery_app(settings) -> Iterator:
    """The workers' Celery app, as a client; its broker connections are closed on leaving.
    Open ones would be inherited by the next fork of this process and closed there by kombu's
    after-fork hook, which blocks on a Redis read (seen: a sampler's fork hung for good)."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    app = make_app(CeleryExecutor.for_cli(**celery_config(settings)).app_args())
    try:
        yield app
    finally:
        app.close()


def _serving(settings) -> set[str]:
    """Names of the workers that answer and serve the queue of `settings`."""
    with _celery_app(settings) as app:
        replies = app.control.inspect(timeout=1).active_queues() or {}
    queue = settings.celery_queue
    return {node for node, queues in replies.items() if any(q["name"] == queue for q in queues)}


@contextmanager
def running_workers(names: list[str], logs: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """`americano workers start` once per name, in this test's environment; yields them by
    node name once every one serves the queue, and stops them (SIGTERM) afterwards."""
    settings = get_settings()
    logs.mkdir(parents=True, exist_ok=True)
    host = os.uname().nodename
    workers: dict[str, subprocess.Popen] = {}
    try:
        for name in names:
            with open(logs / f"{name}.log", "w") as log:
                workers[f"{name}@{host}"] = subprocess.Popen(
                    [AMERICANO, "workers", "start", "--name", name, "--loglevel", "INFO"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=os.environ.copy(),
                )
        deadline = time.monotonic() + 300
        while _serving(settings) != set(workers):
            exited = {node: w.returncode for node, w in workers.items() if w.poll() is not None}
            assert not exited, f"workers exited: {exited}; see {logs}"
            assert time.monotonic() < deadline, f"workers not ready; see {logs}"
            time.sleep(1)
        yield workers
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers.values():
            try:
                worker.wait(timeout=120)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _parent_pid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _events(instance, run_id: str, event_type: DagsterEventType) -> list:
    return [
        record.event_log_entry
        for record in instance.get_records_for_run(run_id, of_type=event_type).records
    ]


@pytest.fixture(scope="module")
def study(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo study's three protocols, built up to the marts and registered as partitions."""
    root = tmp_path_factory.mktemp("celery")
    patch = pytest.MonkeyPatch()
    _, settings = build_demo_study(
        patch, root, migrated_database, users=3, days=63, seed=11, start_date=dt.date(2025, 9, 1)
    )
    instance = prepare_dagster_home(settings)
    protocol_ids = register_protocol_partitions(instance, settings.duckdb_path)
    assert len(protocol_ids) == 3
    yield {"root": root, "protocol_ids": protocol_ids}
    patch.undo()


@pytest.fixture
def celery_env(study: dict, monkeypatch: pytest.MonkeyPatch):
    """AMERICANO_EXECUTOR=celery on a queue of this test's own (the workers inherit it)."""
    monkeypatch.setenv("AMERICANO_EXECUTOR", "celery")
    monkeypatch.setenv("AMERICANO_CELERY_QUEUE", f"americano-test-{uuid.uuid4().hex[:8]}")
    return monkeypatch


def test_three_protocols_run_on_two_celery_workers(study: dict, celery_env) -> None:
    celery_env.setenv("AMERICANO_CELERY_BROKER", RABBITMQ)
    celery_env.setenv("AMERICANO_DAGSTER_STORAGE", "postgres")
    settings = get_settings()
    instance = prepare_dagster_home(settings)
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    # a new instance: the protocols become its partitions, as `new_protocols` does
    assert register_protocol_partitions(instance, settings.duckdb_path) == study["protocol_ids"]
    tag = uuid.uuid4().hex[:6]
    with running_workers([f"w1-{tag}", f"w2-{tag}"], study["root"] / "logs") as workers:
        status = subprocess.run(
            [AMERICANO, "workers", "status"], capture_output=True, text=True, check=True
        )
        assert {w["name"] for w in json.loads(status.stdout)} == set(workers)
        requests = [
            RunRequest(partition_key=protocol_id, asset_selection=SELECTION)
            for protocol_id in study["protocol_ids"]
        ]
        results = dict(
            zip(study["protocol_ids"], launch_all(JOB, requests), strict=True)
        )  # each raises RunFailed unless it succeeded
        # read while the workers (and their pool processes) are alive
        children = {}
        for protocol_id, result in results.items():
            for entry in _events(instance, result.run_id, DagsterEventType.STEP_START):
                children[(protocol_id, entry.step_key)] = _parent_pid(entry.dagster_event.pid)
    worker_pids = {node: worker.pid for node, worker in workers.items()}
    assert {node: w.returncode for node, w in workers.items()} == dict.fromkeys(workers, 0)

    used = set()
    for protocol_id, result in results.items():
        assert result.asset_keys == tuple(f"analyses/{name}" for name in sorted(ANALYSES))
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["dagster/partition"] == protocol_id
        # the engine event each worker writes for the step it takes: its node name
        delegated = {
            entry.step_key: entry.dagster_event.engine_event_data.metadata["Celery worker"].value
            for entry in _events(instance, result.run_id, DagsterEventType.ENGINE_EVENT)
            if entry.step_key and "in celery worker" in entry.message
        }
        assert {f"analyses__{name}" for name in ANALYSES} <= set(delegated)
        assert set(delegated.values()) <= set(workers)
        used |= set(delegated.values())
    assert used == set(workers), "each worker ran some of the steps"
    # every step ran in a pool process of one of the workers, none in this process
    assert children and set(children.values()) <= set(worker_pids.values()), children

    with duckdb.connect(get_settings().duckdb_path, read_only=True) as wh:
        (analysed,) = wh.execute(
            "SELECT count(DISTINCT protocol_id) FROM analyses.sced_randomization_test"
        ).fetchone()
    assert analysed == 3
    # the history is in PostgreSQL, where a webserver or daemon on another host would read it
    reopened = prepare_dagster_home(get_settings())
    assert {r.run_id for r in reopened.get_runs()} >= {r.run_id for r in results.values()}
    assert _serving(get_settings()) == set()


def test_a_redis_broker_serves_the_same_runs(study: dict, celery_env) -> None:
    celery_env.setenv("AMERICANO_CELERY_BROKER", REDIS)
    celery_env.setenv("AMERICANO_DAGSTER_STORAGE", "sqlite")
    instance = prepare_dagster_home(get_settings())
    protocol_id = study["protocol_ids"][0]
    tag = uuid.uuid4().hex[:6]
    with running_workers([f"redis-{tag}"], study["root"] / "logs") as workers:
        # in a process of its own, as the demo launches it: the celery executor's broker
        # connections stay out of this one (see _celery_app)
        (result,) = launch_all(
            JOB, [RunRequest(partition_key=protocol_id, asset_selection=SELECTION)]
        )
    (node,) = workers
    delegated = {
        entry.dagster_event.engine_event_data.metadata["Celery worker"].value
        for entry in _events(instance, result.run_id, DagsterEventType.ENGINE_EVENT)
        if entry.step_key and "in celery worker" in entry.message
    }
    assert delegated == {node}
    records = instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION), limit=100
    )
    assert {r.asset_key for r in records if r.run_id == result.run_id} == set(SELECTION)
    assert workers[node].returncode == 0
