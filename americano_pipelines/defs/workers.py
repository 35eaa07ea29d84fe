"""The Celery app the dagster-celery workers run (`americano workers start`, or
`celery -A americano_pipelines.defs.workers worker -Q <AMERICANO_CELERY_QUEUE>`).

It is dagster-celery's own app and task (`dagster_celery.app`), configured from the same
settings as the runs' executor (`defs.executors.celery_config`): the same broker, result
backend and queue. A task carries the run's id and instance: the worker reloads the job from
the code location's module and writes the step's events to that instance, so every worker must
reach the same Dagster instance (DAGSTER_HOME, or one PostgreSQL with
AMERICANO_DAGSTER_STORAGE=postgres) and the same warehouse and data.
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from americano_pipelines.config import get_settings
from americano_pipelines.defs.executors import celery_config

__all__ = ["app", "execute_plan"]

app = make_app(CeleryExecutor.for_cli(**celery_config(get_settings())).app_args())

execute_plan = create_task(app)
