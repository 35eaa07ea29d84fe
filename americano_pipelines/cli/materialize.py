"""Launch, in this process, what the schedule and the sensors launch: `americano demo`,
`americano extract` and the tests run the graph this way.

1. The `nightly_refresh` plan (`defs.refresh.plan`): the new or changed event days and tables,
   the assets of new code, and what depends on them, as one `refresh_warehouse` run.
2. The `new_protocols` plan (`defs.analyses.plan`): one `protocol_analyses` run per protocol
   whose inputs changed, several at once, each on its job's executor.
3. The refresh plan again: the analyses recorded their runs in PostgreSQL, and their snapshot
   (provenance/analysis_runs) catches up, as the next night's refresh would do.
4. For `make demo` only (`materialize_drift`): the `weekly_drift` runs of the demo's ISO weeks
   not yet computed from this raw data (`defs.drift.plan`), as the Monday schedule launches
   them one week at a time.

Nothing runs when nothing changed. The runs go to the Dagster instance under AMERICANO_HOME,
which `make ui` shows, with the same job names and tags as the daemon's.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dagster import DagsterInstance, RunRequest, build_reconstructable_job, execute_job

from americano_pipelines.config import Settings, dagster_home

if TYPE_CHECKING:
    import datetime as dt


def prepare_dagster_home(settings: Settings) -> DagsterInstance:
    """Point DAGSTER_HOME at AMERICANO_HOME/dagster (with the repo's dagster.yaml and the
    storage AMERICANO_DAGSTER_STORAGE names) and open it."""
    from americano_pipelines.db.home import ensure_home, registry_path
    from americano_pipelines.defs.instance import write_instance_yaml

    ensure_home(settings.home, registry_path(settings))  # never a vanished home's mount point
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    write_instance_yaml(settings, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


# Runs log to the instance (the UI shows everything); the terminal gets warnings only.
_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@functools.cache
def _run_log(path: Path) -> TextIO:
    # Kept open for the life of the process: loggers (DVC's) hold on to the stream they were
    # first given, and must not be left writing to a closed file.
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", buffering=1)  # noqa: SIM115


@contextlib.contextmanager
def _output_to_run_log(settings: Settings) -> Iterator[None]:
    """What the runs print (dbt, DVC, samplers; in this process and in the step processes, which
    inherit file descriptor 1) goes to the run log: the terminal keeps our summary, and a
    command whose stdout is JSON stays JSON."""
    log = _run_log(settings.run_log_path)
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(log.fileno(), 1)
    try:
        with contextlib.redirect_stdout(log):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class MaterializationSummary:
    event_days_extracted: list[dt.date] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    asset_keys: list[str] = field(default_factory=list)
    protocols_analysed: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    evaluated_checks: list[str] = field(default_factory=list)
    drift_weeks: list[str] = field(default_factory=list)
    """The weekly_drift partitions materialized."""
    drift_warnings: list[str] = field(default_factory=list)
    """Weeks whose `drift_share` check (a warning) fired: reported, never a failure."""

    def add(self, run: LaunchedRun) -> None:
        self.runs.append(run.run_id)
        self.asset_keys = sorted(set(self.asset_keys) | set(run.asset_keys))
        # one entry per check, however many protocols it ran for
        self.evaluated_checks += sorted(set(run.evaluated_checks) - set(self.evaluated_checks))
        self.failed_checks += sorted(set(run.failed_checks) - set(self.failed_checks))


@dataclass(frozen=True)
class LaunchedRun:
    run_id: str
    asset_keys: tuple[str, ...]
    evaluated_checks: tuple[str, ...]
    failed_checks: tuple[str, ...]


class RunFailed(RuntimeError):
    """A launched run did not succeed; the message names it and its failed steps."""


@contextlib.contextmanager
def _interrupt_kept() -> Iterator[None]:
    """A Ctrl-C during a run raises KeyboardInterrupt when the run returns. Dagster's handler,
    in place while a run executes, only notes the signal and forgets it when the run ends; the
    step it stopped (dbt's process takes the signal too) fails like any other. The wakeup fd
    sees every signal, whichever Python handler takes it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        try:
            received = os.read(read, 1024)
        except BlockingIOError:
            received = b""
        os.close(read)
        os.close(write)
        if signal.SIGINT in received:
            raise KeyboardInterrupt


def launch(job_name: str, request: RunRequest) -> LaunchedRun:
    """Execute one run request of the job `job_name`, as the daemon would launch it, and wait."""
    job = build_reconstructable_job(
        "americano_pipelines.definitions", "job_named", reconstructable_args=(job_name,)
    )
    tags = dict(request.tags)
    if request.partition_key is not None:
        tags["dagster/partition"] = request.partition_key
    with (
        _interrupt_kept(),
        execute_job(
            job,
            instance=DagsterInstance.get(),
            run_config=_QUIET_RUN_CONFIG,
            tags=tags,
            asset_selection=request.asset_selection,
        ) as result,
    ):
        if not result.success:
            failed = [_failure(event) for event in result.get_step_failure_events()]
            raise RunFailed(
                f"run {result.run_id} of {job_name} failed (steps: {'; '.join(failed)}); "
                "its logs are in the Dagster UI (make ui)"
            )
        evaluations = result.get_asset_check_evaluations()
        return LaunchedRun(
            run_id=result.run_id,
            asset_keys=tuple(
                sorted(
                    {
                        e.asset_key.to_user_string()
                        for e in result.get_asset_materialization_events()
                    }
                )
            ),
            evaluated_checks=tuple(_check_name(e) for e in evaluations),
            failed_checks=tuple(_check_name(e) for e in evaluations if not e.passed),
        )


def _failure(event) -> str:
    """`step: the first line of the error's root cause`: what failed, without the traceback
    (Dagster wraps the user's error in its own)."""
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    message = error.message.strip().splitlines()[0] if error and error.message else "?"
    return f"{event.step_key}: {message}"


def launch_all(job_name: str, requests: Sequence[RunRequest]) -> list[LaunchedRun]:
    """The runs of `requests` at once, one process each, as the daemon launches them; each run's
    steps run on its job's executor.

    The run processes are forks of one forkserver that imported what the steps import
    (STEP_PRELOAD), and so are the multiprocess executor's steps of every run
    (`defs.executors.fork_steps_from_parent_forkserver`): the imports are paid once, not once per
    run process and again per run's own server. That server belongs to a fresh process (spawned,
    with the environment of this moment) that lives as long as the runs, so a process that calls
    this twice with other settings never forks steps from a stale server.

    Not threads of this process: each run's set-up calls `logging.config.dictConfig` (Dagster's
    instance logging), which deadlocks against another run's thread logging an event (seen with 3
    runs, py-spy: one thread holds logging's module lock and waits for a handler's, the other the
    reverse)."""
    if not requests:
        return []
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as host:
        return host.submit(_launch_forked, job_name, list(requests)).result()


def _launch_forked(job_name: str, requests: list[RunRequest]) -> list[LaunchedRun]:
    """`launch_all` in its host process: every run at once in a fork of this process's server."""
    from americano_pipelines.defs.executors import STEP_PRELOAD, fork_steps_from_parent_forkserver

    server = multiprocessing.get_context("forkserver")
    # as the multiprocess executor lists them, then what a run process needs besides
    server.set_forkserver_preload(["dagster._core.executor.multiprocess", *STEP_PRELOAD, __name__])
    with ProcessPoolExecutor(
        # a run process mostly waits on its steps: more runs than cores keep the cores busy
        # while one run is down to its last step
        max_workers=min(len(requests), 2 * (os.cpu_count() or 1)),
        mp_context=server,
        initializer=fork_steps_from_parent_forkserver,
    ) as pool:
        return list(pool.map(launch, itertools.repeat(job_name), requests))


def _check_name(evaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


def materialize_extract(
    settings: Settings, *, log: Callable[[str], None] = print
) -> MaterializationSummary:
    """Only the extract group: new event days, changed tables and the DVC data version."""
    return materialize_all(settings, log=log, groups=("extract",))


def materialize_all(
    settings: Settings,
    *,
    log: Callable[[str], None] = print,
    groups: Sequence[str] | None = None,
    drift: bool = False,
) -> MaterializationSummary:
    """Refresh what changed, then analyse the protocols whose inputs changed (only the asset
    `groups` named, when given). With `drift`, the weekly drift reports that are not current
    (`materialize_drift`) come between the two: each protocol's CENT report shows its outcome's
    drift, so the reports are written once, after it."""
    from americano_pipelines.defs.transform.project import prepare_manifest

    prepare_manifest()  # the definitions read the dbt manifest when they are imported
    from americano_pipelines.defs.analyses.factory import GROUP as ANALYSES_GROUP

    prepare_dagster_home(settings)
    summary = MaterializationSummary()
    _refresh(settings, summary, log=log, groups=groups)
    if drift:
        materialize_drift(settings, summary, log=log)
    if (groups is None or ANALYSES_GROUP in groups) and _analyse(settings, summary, log=log):
        # The analyses recorded their runs: their snapshot catches up with PostgreSQL.
        _refresh(settings, summary, log=lambda _: None, groups=groups)
    if not summary.runs:
        log("everything is current: no run launched, nothing materialized")
    return summary


def _refresh(
    settings: Settings,
    summary: MaterializationSummary,
    *,
    log: Callable[[str], None],
    groups: Sequence[str] | None,
) -> RunRequest | None:
    from americano_pipelines.definitions import defs
    from americano_pipelines.defs.refresh.jobs import refresh_warehouse_job
    from americano_pipelines.defs.refresh.plan import plan_refresh
    from americano_pipelines.defs.refresh.schedules import record_what_is_current

    graph = defs.resolve_asset_graph()
    instance = DagsterInstance.get()
    plan = plan_refresh(
        instance, graph, refresh_warehouse_job.selection.resolve(graph), settings, groups=groups
    )
    if groups is None and not summary.runs:
        record_what_is_current(instance, graph, plan)  # as the nightly tick does
    if not summary.runs:
        summary.event_days_extracted = list(plan.stale_days)
    if plan.stale_days:
        log(f"extracting {len(plan.stale_days)} new or changed day(s) of behavioral_events")
    request = plan.run_request()
    if request is None:
        log("refresh: nothing changed in PostgreSQL, the code or the marts")
        return None
    log(f"refresh_warehouse: {plan.reason} → {len(plan.selection)} asset(s)")
    with _output_to_run_log(settings):
        summary.add(launch(refresh_warehouse_job.name, request))
    return request


def _analyse(
    settings: Settings, summary: MaterializationSummary, *, log: Callable[[str], None]
) -> list[str]:
    from americano_pipelines.definitions import defs
    from americano_pipelines.defs.analyses.jobs import ANALYSES, protocol_analyses_job
    from americano_pipelines.defs.analyses.partitions import protocols
    from americano_pipelines.defs.analyses.plan import InputFingerprints
    from americano_pipelines.defs.reports.plan import protocol_plans, protocol_run_requests
    from americano_pipelines.defs.resources import WarehouseResource

    instance = DagsterInstance.get()
    with WarehouseResource(database=settings.duckdb_path).get_connection(read_only=True) as conn:
        fingerprints = InputFingerprints.read(conn, ANALYSES)
    known = set(instance.get_dynamic_partitions(protocols.name))
    new = [protocol_id for protocol_id in fingerprints.protocol_ids if protocol_id not in known]
    if new:
        instance.add_dynamic_partitions(protocols.name, new)
    plans = protocol_plans(instance, fingerprints)
    if not plans:
        log(f"analyses and reports: all {len(fingerprints.protocol_ids)} protocol(s) current")
        return []
    log(f"analysing {len(plans)} protocol(s) whose inputs changed (then their CENT reports)")
    requests = protocol_run_requests(plans, defs.resolve_asset_graph())
    with _output_to_run_log(settings):
        runs = launch_all(protocol_analyses_job.name, requests)
    for run in runs:
        summary.add(run)
    summary.protocols_analysed = [plan.protocol_id for plan in plans]
    return summary.protocols_analysed


def materialize_drift(
    settings: Settings, summary: MaterializationSummary, *, log: Callable[[str], None] = print
) -> list[str]:
    """The `weekly_drift` runs of the warehouse's ISO weeks (the latest
    AMERICANO_DEMO_DRIFT_WEEKS) that are not current; return the weeks run."""
    from americano_pipelines.defs.drift.assets import CHECK, KEY
    from americano_pipelines.defs.drift.plan import plan_drift
    from americano_pipelines.defs.drift.schedules import weekly_drift_job
    from americano_pipelines.defs.resources import WarehouseResource
    from americano_pipelines.warehouse import tables

    latest = settings.demo_drift_week_count
    with WarehouseResource(database=settings.duckdb_path).get_connection(read_only=True) as conn:
        day_ranges = tables.drift_day_range(conn)
    plan = plan_drift(DagsterInstance.get(), day_ranges, latest=latest)
    if not plan.stale:
        log(f"weekly_drift: all {len(plan.weeks)} week(s) current")
        return []
    log(f"weekly_drift: {len(plan.stale)} of {len(plan.weeks)} week(s) to compute")
    with _output_to_run_log(settings):
        runs = launch_all(weekly_drift_job.name, plan.run_requests())
    warning = f"{KEY.to_user_string()}:{CHECK}"
    for week, run in zip(plan.stale, runs, strict=True):
        # the drift check is a warning: a week over it is news, not a failed demo
        summary.add(
            LaunchedRun(
                run.run_id,
                run.asset_keys,
                run.evaluated_checks,
                tuple(c for c in run.failed_checks if c != warning),
            )
        )
        if warning in run.failed_checks:
            summary.drift_warnings.append(week)
    summary.drift_weeks = list(plan.stale)
    return summary.drift_weeks
