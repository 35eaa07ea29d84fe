"""Our ITS against CausalPy itself, in the same test run, on CausalPy's own example.

CausalPy's legacy `its.csv` (../shared/refdata/README.md gives its source), `y ~ 1 + t +
C(month)`, intervention 2017-01-01. Both fit the counterfactual to the pre period alone and
define the effect as the mean over the post period of observed minus the counterfactual
expectation (CausalPy 0.7's `calculate_impact`): the means agree within 0.1 and the SDs within
10% (issue 9). CausalPy's own priors (Normal(0, 50) coefficients and HalfNormal(1) noise, on
the raw scale) differ from ours (on the pre-period's scale), which is what the tolerance is for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import americano_pipelines  # noqa: F401  (routes the PyTensor cache before pymc is imported)
from americano_pipelines.stats.its import bayesian_its

pytestmark = pytest.mark.slow


def _causalpy_effect(frame) -> np.ndarray:
    import causalpy as cp

    model = cp.pymc_models.LinearRegression(
        sample_kwargs={"random_seed": 42, "progressbar": False, "chains": 2, "draws": 1000}
    )
    result = cp.InterruptedTimeSeries(
        frame,
        treatment_time=frame.index[frame.index >= "2017-01-01"][0],
        formula="y ~ 1 + t + C(month)",
        model=model,
    )
    return np.asarray(result.post_impact.mean("obs_ind")).ravel()


def test_the_effect_matches_causalpy_run_here(refdata: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(refdata / "causalpy_its.csv", parse_dates=["date"]).set_index("date")
    frame = frame.rename(columns={"value": "y"}).assign(
        t=np.arange(len(frame)), month=lambda f: f.index.month
    )
    theirs = _causalpy_effect(frame)
    ours = bayesian_its(
        [d.date().isoformat() for d in frame.index],
        frame["y"].to_numpy(),
        intervention_date="2017-01-01",
        seasonality="month",
        seed=3,
    )
    assert ours.causal_effect.mean == pytest.approx(theirs.mean(), abs=0.1)
    assert ours.causal_effect.sd == pytest.approx(theirs.std(ddof=1), rel=0.10)
