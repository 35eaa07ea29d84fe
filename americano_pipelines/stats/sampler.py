"""MCMC sampler settings and convergence thresholds, checked in one place.

Every Bayesian analysis (`stats.its`, `stats.synthetic_control`) and every caller that takes
sampler settings from a user (the protocol's ITS options, the Dagster run config) checks them
with `check_sampler_settings`, so a bad value is answered the same way everywhere: an
`InputError` naming the field. Importing this module loads nothing heavy.
"""

from __future__ import annotations

import numbers
from typing import Any

from americano_pipelines.errors import InputError
from americano_pipelines.stats.limits import MAX_CHAINS, MAX_DRAWS, MAX_TUNE, check_at_most

__all__ = [
    "DEFAULT_CHAINS",
    "DEFAULT_DRAWS",
    "DEFAULT_TUNE",
    "ESS_WARNING",
    "MIN_DRAWS",
    "PYMC_CORES",
    "RHAT_WARNING",
    "SAMPLERS",
    "check_sampler_settings",
]

SAMPLERS: tuple[str, ...] = ("auto", "nutpie", "pymc")
DEFAULT_DRAWS = 1000
DEFAULT_TUNE = 1000
DEFAULT_CHAINS = 2
MIN_DRAWS = 10
"""Fewer draws per chain than this give no usable diagnostics."""
PYMC_CORES = 1
"""PyMC runs its chains one after another in the calling process. Its parallel chains fork that
process, and the fork of a process holding threads or broker connections (Dagster's run workers,
celery's pool processes) can hang: seen, kombu's after-fork hook blocked on a Redis read. The
draws are the same either way (a seed per chain); the platform runs protocols in parallel
instead (the multiprocess executor). nutpie's chains are threads and keep their cores."""
# Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021): trust a posterior when the worst
# rank-normalized r-hat is below 1.01 and bulk and tail ESS are at least 400.
RHAT_WARNING = 1.01
ESS_WARNING = 400


def check_sampler_settings(
    *,
    seed: Any = 0,
    draws: Any = DEFAULT_DRAWS,
    tune: Any = DEFAULT_TUNE,
    chains: Any = DEFAULT_CHAINS,
    sampler: Any = None,
) -> None:
    """Raise InputError naming the field unless seed >= 0, draws >= 10, tune >= 0 and
    chains >= 1 are whole numbers within their upper bounds (stats/limits.py) and `sampler`
    (when given) is one of SAMPLERS."""
    for name, value, minimum in (
        ("seed", seed, 0),
        ("draws", draws, MIN_DRAWS),
        ("tune", tune, 0),
        ("chains", chains, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise InputError(f"{name}: must be a whole number of at least {minimum}", field=name)
    check_at_most(int(draws), MAX_DRAWS, "draws", "per chain")
    check_at_most(int(tune), MAX_TUNE, "tune", "per chain")
    check_at_most(int(chains), MAX_CHAINS, "chains")
    if sampler is not None and sampler not in SAMPLERS:
        raise InputError(
            f"sampler: unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}",
            field="sampler",
        )
