"""How the protocol analyses run: the executor AMERICANO_EXECUTOR names, chosen when a run starts.

`in_process` runs every step in the run's process; `multiprocess` (the default) runs each step
in a process of its own (a fork of a server that imported what the steps use, STEP_PRELOAD), so
the analyses of a run go side by side; `celery` sends each step to
the dagster-celery workers (`americano workers start`) through the broker at
AMERICANO_CELERY_BROKER, on the queue AMERICANO_CELERY_QUEUE.

The choice is read from the settings when the run starts, not when the definitions are
imported, so a code location, a test or a CLI process that imported them earlier still runs
with the settings of the moment. The celery settings are built here once, for the runs and for
the workers' app (`defs.workers`), so both sides always name the same broker and queue.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import (
    Executor,
    InitExecutorContext,
    executor,
    in_process_executor,
    multiple_process_executor_requirements,
    multiprocess_executor,
)
from dagster._config import process_config

from americano_pipelines.config import Settings, get_settings

__all__ = [
    "STEP_PRELOAD",
    "celery_config",
    "chosen_executor",
    "fork_steps_from_parent_forkserver",
    "protocol_analyses_executor",
]


# What a step imports, imported once by the multiprocess executor's forkserver: each step's
# process is a fork of it instead of a fresh interpreter that imports them again (seen: 287 s
# for the demo graph of 2 protocols with spawned steps, 110 s with every step in one process).
# A fork of that server, never of the run's process (threads, broker connections).
STEP_PRELOAD = (
    "americano_pipelines.definitions",
    "americano_pipelines.protocol_analyses.causal_tools",
    "americano_pipelines.protocol_analyses.change_points",
    "americano_pipelines.protocol_analyses.its",
    "americano_pipelines.protocol_analyses.randomization_test",
    "americano_pipelines.protocol_analyses.sequential_monitoring",
    "americano_pipelines.protocol_analyses.series_of_n1",
    "americano_pipelines.protocol_analyses.synthetic_control",
    "americano_pipelines.protocol_analyses.wearable_links",
    "americano_pipelines.provenance.runs",
    "americano_pipelines.reports.causal_plots",
    "americano_pipelines.reports.its_plots",
    "americano_pipelines.reports.sced_plots",
    "americano_pipelines.stats.changepoints",
    "americano_pipelines.stats.its",
    "americano_pipelines.stats.sced",
    "americano_pipelines.stats.sequential",
    "americano_pipelines.stats.series_of_n1",
    "americano_pipelines.stats.synthetic_control",
    # what those import when they run
    "matplotlib",
    "mlflow",
    "nutpie",
    "pymc",
    "ruptures",
    "scipy.stats",
    # last: the instance's storage, MLflow's store, the default ITS model (see its docstring)
    "americano_pipelines.defs.step_preload",
)


def fork_steps_from_parent_forkserver() -> None:
    """In a process that a forkserver forked (multiprocessing's "forkserver" context): the
    multiprocess executor's steps are forked by that same server, which has imported STEP_PRELOAD,
    instead of by a new server of this process's own that would import it all again (24-30 s of
    CPU per run process on 2 cores). `cli.materialize.launch_all` forks its run processes so.

    Python 3.11's forkserver gives the child the server's address and its "alive" descriptor but
    not its pid, so `ensure_running` would start a new server; here it only checks the resource
    tracker, as it does before connecting. The server forks and reports every child's pid and exit
    code over the connection, so a client that is not its parent waits on its steps as usual."""
    from multiprocessing import forkserver, resource_tracker

    server = forkserver._forkserver
    if server._forkserver_address is None or server._forkserver_alive_fd is None:
        return  # not a forkserver's child: the executor starts its own server, as usual
    server.ensure_running = resource_tracker.ensure_running  # type: ignore[method-assign]


def celery_config(settings: Settings) -> dict[str, Any]:
    """The dagster-celery executor's config from the settings: broker, result backend, queue.

    Results go back through RabbitMQ itself (`rpc://`) or, with a Redis broker, through the same
    Redis (an RPC backend needs AMQP replies)."""
    broker = settings.checked_celery_broker
    backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    return {
        "broker": broker,
        "backend": backend,
        "config_source": {
            "task_default_queue": settings.celery_queue,
            # One step at a time per worker process: a long analysis never holds a queued one.
            "worker_prefetch_multiplier": 1,
        },
    }


def chosen_executor(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The executor definition AMERICANO_EXECUTOR names, and its config."""
    name = settings.analyses_executor
    if name == "celery":
        from dagster_celery import celery_executor  # celery and kombu: only when chosen

        return celery_executor, celery_config(settings)
    if name == "in_process":
        return in_process_executor, {}
    return multiprocess_executor, {
        "max_concurrent": os.cpu_count() or 1,
        "start_method": {"forkserver": {"preload_modules": list(STEP_PRELOAD)}},
    }


@executor(
    name="americano",
    config_schema={},
    # all three run reconstructable jobs against a persistent instance (the launched runs and
    # `americano demo` (cli/materialize.launch) both do)
    requirements=multiple_process_executor_requirements(),
)
def protocol_analyses_executor(init_context: InitExecutorContext) -> Executor:
    """The executor AMERICANO_EXECUTOR names: in_process, multiprocess (the default) or celery
    (dagster-celery workers at AMERICANO_CELERY_BROKER)."""
    definition, config = chosen_executor(get_settings())
    processed = process_config(definition.config_schema.config_type, config)
    if not processed.success:  # only a bug here: the config is built above
        raise ValueError(f"{definition.name} executor config: {processed.errors}")
    return definition.executor_creation_fn(
        InitExecutorContext(
            job=init_context.job,
            executor_def=definition,
            executor_config=processed.value,
            instance=init_context.instance,
        )
    )
