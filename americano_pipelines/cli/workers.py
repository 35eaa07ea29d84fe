"""`americano workers …`: dagster-celery workers for AMERICANO_EXECUTOR=celery.

`americano workers start [--name N] [--concurrency C]` prepares the Dagster instance the runs use
(DAGSTER_HOME under AMERICANO_HOME, its storage from AMERICANO_DAGSTER_STORAGE) and the dbt
manifest the definitions read, then becomes a Celery worker (`americano_pipelines.defs.workers`)
on the broker AMERICANO_CELERY_BROKER and the queue AMERICANO_CELERY_QUEUE. It runs until
stopped: SIGTERM (or Ctrl-C once) finishes the steps in hand and exits 0.

`americano workers status` prints the workers serving that queue, as JSON.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, group, print_json
from americano_pipelines.config import get_settings

__all__ = ["workers_app"]

workers_app = group()
WORKERS_MODULE = "americano_pipelines.defs.workers"


@workers_app.callback()
def workers() -> None:
    """dagster-celery workers: where the protocol analyses run when AMERICANO_EXECUTOR=celery."""


@workers_app.command("start")
@answered
def start(
    name: Annotated[
        str, typer.Option(help="The worker's name; the node is NAME@hostname.")
    ] = "americano",
    concurrency: Annotated[
        int, typer.Option(min=1, help="Steps this worker runs at once (one process each).")
    ] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery's log level.")] = "INFO",
) -> None:
    """Start a worker in the foreground, serving AMERICANO_CELERY_QUEUE."""
    from americano_pipelines.cli.materialize import prepare_dagster_home
    from americano_pipelines.config import REPO_ROOT
    from americano_pipelines.defs.executors import celery_config
    from americano_pipelines.defs.transform.project import prepare_manifest

    settings = get_settings()
    celery_config(settings)  # a bad broker URL is said here, not in a worker's traceback
    prepare_dagster_home(settings)  # sets DAGSTER_HOME, which the worker inherits
    prepare_manifest()
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    os.chdir(REPO_ROOT)
    argv = [celery, "-A", WORKERS_MODULE, "worker", "--queues", settings.celery_queue]
    argv += ["--hostname", f"{name}@%h", "--concurrency", str(concurrency)]
    argv += ["--prefetch-multiplier", "1", "--loglevel", loglevel]
    os.execv(celery, argv)


@workers_app.command("status")
@answered
def status(
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for replies.")] = 2.0,
) -> None:
    """Print the workers serving AMERICANO_CELERY_QUEUE: `[{"name", "active"}]`."""
    from americano_pipelines.defs.workers import app

    queue = get_settings().celery_queue
    inspect = app.control.inspect(timeout=timeout)
    queues = inspect.active_queues() or {}
    active = inspect.active() or {}
    print_json(
        [
            {"name": node, "active": len(active.get(node, []))}
            for node, served in sorted(queues.items())
            if any(q.get("name") == queue for q in served)
        ]
    )
