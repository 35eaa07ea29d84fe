"""What every step process of the multiprocess executor would otherwise load for itself, loaded
once by the executor's forkserver (`defs.executors.STEP_PRELOAD` imports this module last): each
step is a fork of that server and starts with it in memory.

- The modules of the Dagster instance's storage (sqlite or dagster-postgres, as dagster.yaml
  under DAGSTER_HOME says) and what they import (SQLAlchemy, Alembic, Mako, Pygments): each step
  opens the instance, and their import cost 10-12 s of CPU per step on 2 cores (py-spy, 3
  protocols' runs at once).
- MLflow's SQLAlchemy tracking store, which `provenance.runs` opens for each analysis.
- The ITS model of the default settings (no seasonality, independent errors), compiled or loaded
  from PyTensor's disk cache into this process's model cache, and the numba functions ArviZ
  compiles for its R-hat and ESS on first use. A protocol registered with other ITS settings
  compiles its model in its step, as before.

Importing this module does all of the above (a failure is left to the step that meets it);
nothing else imports it.
"""

from __future__ import annotations

import importlib
import os

from dagster._core.instance.ref import InstanceRef
from dagster._serdes.config_class import ConfigurableClassData


def _import_instance_storage() -> None:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    ref = InstanceRef.from_dir(home)
    for value in ref._asdict().values():
        if isinstance(value, ConfigurableClassData):
            importlib.import_module(value.module_name)


def _warm_its() -> None:
    import arviz
    import numpy as np

    from americano_pipelines.defs.analyses.its import model_cache

    model_cache().warm()
    draws = np.random.default_rng(0).normal(size=(2, 50))
    arviz.rhat(draws)
    arviz.ess(draws, method="bulk")
    arviz.ess(draws, method="tail")


def _preload() -> None:
    for warm in (
        _import_instance_storage,
        lambda: importlib.import_module("mlflow.store.tracking.sqlalchemy_store"),
        _warm_its,
    ):
        try:
            warm()
        except Exception:
            # Only a head start: a step that needs what failed here loads it itself and
            # reports the error; a forkserver that died here would take every step with it.
            continue


_preload()
