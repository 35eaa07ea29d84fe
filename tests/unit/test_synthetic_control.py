"""Tests for americano_pipelines.stats.synthetic_control (Bayesian synthetic control).

Style after CausalPy's tests (github.com/pymc-labs/CausalPy): seeded generators with the true
weights and effect written next to the data, small sampler settings outside the slow tests.
References: CausalPy 0.7.0 itself (`SyntheticControl` with `WeightedSumFitter`, which must give
the same draws), CausalPy's shipped example data set `sc` with its true causal effect, and the
classical synthetic control weights (constrained least squares, Abadie, Diamond & Hainmueller
2010) computed independently with scipy.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import nnls

import americano_pipelines  # noqa: F401  (routes the PyTensor cache before pymc is imported)
from americano_pipelines.errors import InputError
from americano_pipelines.stats.synthetic_control import (
    SyntheticControlResult,
    synthetic_control,
)

SMALL = {"draws": 300, "tune": 300, "chains": 2}
TINY = {"draws": 30, "tune": 30, "chains": 1}

TRUE_WEIGHTS = {"a": 0.6, "b": 0.3, "c": 0.1, "d": 0.0}
EFFECT = 2.0
START = date(2025, 1, 6)


def daily_dates(n: int, start: date = START) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def convex_panel(
    effect: float, *, seed: int, n_pre: int = 50, n_post: int = 30, noise: float = 0.2
) -> tuple[pd.DataFrame, str, float]:
    """(frame, intervention date, realized effect).

    Donors a-d are random walks at different levels; `outcome` is `TRUE_WEIGHTS` . donors plus
    Normal(0, noise), plus `effect` from the intervention on. The realized effect is the mean over
    the post period of outcome minus the true counterfactual (`effect` plus the post-period mean
    of the noise): the quantity `causalEffect` estimates.
    """
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    levels = np.array([5.0, 8.0, 6.0, 7.0])
    donors = levels + np.cumsum(rng.normal(0.0, 0.5, (n, 4)), axis=0)
    counterfactual = donors @ np.array(list(TRUE_WEIGHTS.values()))
    outcome = counterfactual + rng.normal(0.0, noise, n) + effect * (np.arange(n) >= n_pre)
    dates = daily_dates(n)
    frame = pd.DataFrame({"date": dates, "outcome": outcome})
    for index, name in enumerate(TRUE_WEIGHTS):
        frame[name] = donors[:, index]
    realized = float(np.mean(outcome[n_pre:] - counterfactual[n_pre:]))
    return frame, dates[n_pre], realized


def classical_weights(frame: pd.DataFrame, n_pre: int) -> np.ndarray:
    """Outcome-only synthetic control weights: argmin ||y - Xw|| with w >= 0, sum(w) = 1
    (Abadie, Diamond & Hainmueller 2010), by NNLS with a heavily weighted sum-to-one row."""
    donors = frame[list(TRUE_WEIGHTS)].to_numpy()[:n_pre]
    outcome = frame["outcome"].to_numpy()[:n_pre]
    penalty = 1e4
    system = np.vstack([donors, penalty * np.ones(donors.shape[1])])
    weights, _ = nnls(system, np.append(outcome, penalty))
    return weights


@pytest.fixture(scope="module")
def effect_fit() -> tuple[SyntheticControlResult, float, pd.DataFrame]:
    """A +2 effect; rows shuffled and a text column added, which the defaults must handle."""
    frame, intervention, realized = convex_panel(EFFECT, seed=11)
    shuffled = frame.sample(frac=1.0, random_state=3).assign(note="ok")
    result = synthetic_control(shuffled, treated="outcome", intervention_date=intervention, **SMALL)
    return result, realized, frame


# ----------------------------------------------------------------------------- recovery


def test_recovers_a_known_effect(effect_fit) -> None:
    result, realized, _ = effect_fit
    effect = result.causal_effect
    lo, hi = effect.hdi95
    assert lo < realized < hi
    assert effect.mean == pytest.approx(realized, abs=0.15)
    assert effect.probability_positive > 0.99
    assert "excludes zero" in result.interpretation
    assert "poorly" not in result.interpretation


def test_recovers_the_true_weights(effect_fit) -> None:
    result, _, frame = effect_fit
    weights = result.to_json()["donorWeights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)  # a Dirichlet draw each
    assert weights["a"] == pytest.approx(TRUE_WEIGHTS["a"], abs=0.1)
    assert weights["b"] == pytest.approx(TRUE_WEIGHTS["b"], abs=0.1)
    # The classical (constrained least squares) weights on the same pre-period agree with the
    # posterior means: flat Dirichlet prior, informative data.
    classical = classical_weights(frame, result.n_pre)
    assert np.sum(classical) == pytest.approx(1.0, abs=1e-3)
    for name, expected in zip(TRUE_WEIGHTS, classical, strict=True):
        assert weights[name] == pytest.approx(expected, abs=0.03), name


def test_counterfactual_is_sorted_by_date_and_fits_the_pre_period(effect_fit) -> None:
    result, _, frame = effect_fit
    counterfactual = result.to_json()["counterfactual"]
    assert counterfactual["dates"] == frame["date"].tolist()  # the shuffled rows come back sorted
    assert counterfactual["observed"] == pytest.approx(frame["outcome"].tolist())
    assert counterfactual["period"] == ["pre"] * 50 + ["post"] * 30
    assert result.n_pre == 50 and result.n_post == 30
    lower = np.array(counterfactual["lower95"])
    upper = np.array(counterfactual["upper95"])
    predicted = np.array(counterfactual["predicted"])
    assert np.all(lower <= predicted) and np.all(predicted <= upper)
    # Pre-period RMSE against the posterior-mean fit, recomputed by hand; the noise SD is 0.2.
    residual = np.array(counterfactual["observed"][:50]) - predicted[:50]
    assert result.pre_fit_rmse == pytest.approx(float(np.sqrt(np.mean(residual**2))))
    assert 0.1 < result.pre_fit_rmse < 0.3


def test_null_effect_hdi_covers_zero() -> None:
    frame, intervention, realized = convex_panel(0.0, seed=23)
    result = synthetic_control(frame, treated="outcome", intervention_date=intervention, **SMALL)
    lo, hi = result.causal_effect.hdi95
    assert lo < 0 < hi
    assert lo < realized < hi
    assert "includes zero" in result.interpretation


# ----------------------------------------------------------------------------- JSON


CONTRACT_KEYS = {
    "causalEffect",
    "counterfactual",
    "donorWeights",
    "preFitRmse",
    "diagnostics",
    "interpretation",
}


def test_json_has_the_contract_keys_and_is_plain(effect_fit) -> None:
    result, _, _ = effect_fit
    payload = result.to_json()
    assert CONTRACT_KEYS <= payload.keys()
    assert set(payload["causalEffect"]) == {"mean", "sd", "hdi95", "probability_positive"}
    assert {"dates", "predicted", "observed", "lower95", "upper95"} <= set(
        payload["counterfactual"]
    )
    assert {"rhat", "ess_bulk", "ess_tail"} <= set(payload["diagnostics"])
    assert set(payload["donorWeights"]) == {"a", "b", "c", "d"}
    assert payload["donors"] == ["a", "b", "c", "d"]
    assert payload["ignoredColumns"] == ["note"]  # not numeric, so not a default donor
    assert payload["interventionDate"] == daily_dates(51)[-1]
    assert payload["sampler"]["draws"] == 300 and payload["sampler"]["chains"] == 2
    assert "idata" not in payload
    text = json.dumps(payload, allow_nan=False)  # no NaN, no numpy types
    assert json.loads(text) == payload
    assert isinstance(payload["diagnostics"]["ess_bulk"], int)


def test_inference_data_is_kept_in_outcome_units(effect_fit) -> None:
    result, _, _ = effect_fit
    posterior = result.idata.posterior
    effect_draws = posterior["causal_effect"].values
    assert effect_draws.shape == (2, 300)
    assert float(effect_draws.mean()) == pytest.approx(result.causal_effect.mean)
    assert posterior["counterfactual"].shape == (2, 300, 80)
    # Residual SD back in outcome units: the simulated noise SD is 0.2.
    assert float(posterior["y_hat_sigma"].mean()) == pytest.approx(0.2, abs=0.06)
    assert "mu" not in posterior


# ----------------------------------------------------------------------------- CausalPy


def causalpy_sc_frame() -> pd.DataFrame:
    """CausalPy's example data set `sc` (causalpy/data/synthetic_control.csv, made by
    `causalpy.data.simulate_data.generate_synthetic_control_data`): donors a-g, the treated
    series `actual`, and the true `causal effect` from row 70 on. Daily dates added."""
    import causalpy as cp

    frame = cp.load_data("sc")
    frame.insert(0, "date", pd.date_range("2024-01-01", periods=len(frame), freq="D"))
    return frame


def test_causalpy_example_data_true_effect() -> None:
    # The data set ships its true effect: mean over rows 70-99 of `causal effect` = -1.6667
    # (a gamma-shaped dip, -50 * gamma(10).pdf(t - 70)).
    frame = causalpy_sc_frame()
    truth = float(frame["causal effect"].iloc[70:].mean())
    assert truth == pytest.approx(-1.66665, abs=1e-4)
    data = frame[["date", *"abcdefg", "actual"]]
    result = synthetic_control(
        data, treated="actual", intervention_date=frame["date"].iloc[70], seed=1, **SMALL
    )
    lo, hi = result.causal_effect.hdi95
    assert lo < truth < hi
    assert result.causal_effect.mean == pytest.approx(truth, abs=0.3)
    assert result.pre_fit_rmse_to_sd < 0.2  # the example's donors span the treated series


@pytest.mark.slow
def test_same_draws_as_causalpy_synthetic_control() -> None:
    """CausalPy 0.7.0's own experiment on its own example, same sampler settings: the weights
    are the same draws, bit for bit, and so is the effect (CausalPy's `post_impact`, observed
    minus `mu`, averaged over the post period)."""
    import causalpy as cp

    frame = causalpy_sc_frame()
    donors = list("abcdefg")
    settings = {"draws": 100, "tune": 100, "chains": 2}
    ours = synthetic_control(
        frame[["date", *donors, "actual"]],
        treated="actual",
        donors=donors,
        intervention_date="2024-03-11",  # row 70
        scaling="none",
        seed=7,
        **settings,
    )
    indexed = frame.set_index("date")[[*donors, "actual"]]
    model = cp.pymc_models.WeightedSumFitter(
        sample_kwargs={
            **settings,
            "random_seed": 7,
            "target_accept": ours.target_accept,
            "init": ours.init,
            "progressbar": False,
        }
    )
    with pytest.warns(UserWarning):  # CausalPy's convex hull notice for this example
        theirs = cp.SyntheticControl(
            indexed,
            pd.Timestamp("2024-03-11"),
            control_units=donors,
            treated_units=["actual"],
            model=model,
        )
    np.testing.assert_array_equal(
        ours.idata.posterior["beta"].values, model.idata.posterior["beta"].values
    )
    their_effect = theirs.post_impact.mean("obs_ind").values.reshape(2, 100)
    np.testing.assert_allclose(
        ours.idata.posterior["causal_effect"].values, their_effect, rtol=0, atol=1e-10
    )
    their_mu = theirs.post_pred["posterior_predictive"]["mu"].values[..., 0]
    np.testing.assert_allclose(
        ours.idata.posterior["counterfactual"].values[:, :, 70:], their_mu, rtol=0, atol=1e-10
    )


# ----------------------------------------------------------------------------- scaling


def test_treated_sd_scaling_makes_the_fit_unit_free() -> None:
    """Multiplying every series by 1000 (steps instead of thousands of steps) multiplies the
    effect by 1000 and leaves the weights alone: the sigma prior follows the data's scale."""
    frame, intervention, _ = convex_panel(EFFECT, seed=11)
    big = frame.assign(**{name: frame[name] * 1000 for name in ["outcome", *TRUE_WEIGHTS]})
    small = synthetic_control(frame, treated="outcome", intervention_date=intervention, **SMALL)
    large = synthetic_control(big, treated="outcome", intervention_date=intervention, **SMALL)
    assert large.causal_effect.mean == pytest.approx(1000 * small.causal_effect.mean, rel=0.03)
    assert large.pre_fit_rmse == pytest.approx(1000 * small.pre_fit_rmse, rel=0.03)
    for mine, theirs in zip(small.donor_weights, large.donor_weights, strict=True):
        assert theirs.mean == pytest.approx(mine.mean, abs=0.02)


def test_zscore_scaling_reads_donors_on_other_scales() -> None:
    """Donors that are other metrics: each a shifted, rescaled copy of a latent pattern. A convex
    combination of the raw donors cannot reach the treated series (warned); of their z-scores
    it can."""
    rng = np.random.default_rng(5)
    n, n_pre = 60, 40
    latent = np.cumsum(rng.normal(0, 0.3, (n, 2)), axis=0)
    outcome = 7.0 + 0.5 * latent[:, 0] + 0.5 * latent[:, 1] + rng.normal(0, 0.1, n)
    outcome[n_pre:] += 1.5
    dates = daily_dates(n)
    frame = pd.DataFrame(
        {
            "date": dates,
            "mood": outcome,
            "hrv": 60 + 10 * latent[:, 0],
            "sleep_score": 80 + 9 * latent[:, 1],
            "noise": rng.normal(50, 1, n),
        }
    )
    raw = synthetic_control(
        frame, treated="mood", intervention_date=dates[n_pre], scaling="none", **TINY
    )
    donors = frame[["hrv", "sleep_score", "noise"]].to_numpy()[:n_pre]
    outside = (outcome[:n_pre] < donors.min(axis=1)) | (outcome[:n_pre] > donors.max(axis=1))
    assert raw.hull_violations == int(outside.sum()) == n_pre  # mood ~7, every donor above 20
    assert any("convex hull" in note for note in raw.warnings)
    zscore = synthetic_control(
        frame, treated="mood", intervention_date=dates[n_pre], scaling="zscore", **SMALL
    )
    weights = zscore.to_json()["donorWeights"]
    assert weights["hrv"] > 0.3 and weights["sleep_score"] > 0.3 and weights["noise"] < 0.15
    assert zscore.pre_fit_rmse < raw.pre_fit_rmse
    assert zscore.to_json()["model"]["scaling"] == "zscore"


# ----------------------------------------------------------------------------- warnings


def test_poor_pre_fit_and_failed_diagnostics_are_warned() -> None:
    # Donors unrelated to the outcome: no weighted sum tracks it. Tiny sampler: low ESS.
    rng = np.random.default_rng(9)
    n = 40
    frame = pd.DataFrame(
        {
            "date": daily_dates(n),
            "outcome": rng.normal(10, 1, n),
            "x": rng.normal(10, 1, n),
            "y": rng.normal(10, 1, n),
        }
    )
    result = synthetic_control(
        frame, treated="outcome", intervention_date=daily_dates(n)[25], **TINY
    )
    assert result.pre_fit_rmse_to_sd > 0.5
    notes = " ".join(result.warnings)
    assert "tracks outcome poorly" in notes
    assert "effective sample size" in notes
    assert "Warning: the synthetic control tracks outcome poorly" in result.interpretation


def test_inputs_as_mapping_pandas_and_polars_agree() -> None:
    frame, intervention, _ = convex_panel(EFFECT, seed=2, n_pre=12, n_post=4)
    from_pandas = synthetic_control(
        frame, treated="outcome", intervention_date=intervention, **TINY
    )
    mapping = {name: frame[name].tolist() for name in frame.columns}
    from_mapping = synthetic_control(
        mapping, treated="outcome", intervention_date=date.fromisoformat(intervention), **TINY
    )
    assert from_mapping.to_json() == from_pandas.to_json()
    polars = pytest.importorskip("polars")
    from_polars = synthetic_control(
        polars.DataFrame(mapping), treated="outcome", intervention_date=intervention, **TINY
    )
    assert from_polars.to_json() == from_pandas.to_json()


# ----------------------------------------------------------------------------- bad input


def small_data(n: int = 20) -> dict[str, list[Any]]:
    rng = np.random.default_rng(0)
    return {
        "date": daily_dates(n),
        "outcome": rng.normal(10, 1, n).tolist(),
        "a": rng.normal(10, 1, n).tolist(),
        "b": rng.normal(10, 1, n).tolist(),
        "label": ["x"] * n,
    }


def with_cell(column: str, row: int, value: Any) -> dict[str, list[Any]]:
    data = small_data()
    data[column][row] = value
    return data


INTERVENTION = daily_dates(20)[10]


@pytest.mark.parametrize(
    ("data", "options", "field", "fragments"),
    [
        (small_data(), {"treated": "mood"}, "treated", ["no column 'mood'", "'outcome'"]),
        (small_data(), {"donors": ["a", "zz"]}, "donors", ["no column 'zz'"]),
        (small_data(), {"date_column": "day"}, "day", ["no column 'day'"]),
        (small_data(), {"donors": ["a", "label"]}, "label", ["row 1", "'x'", "not a number"]),
        (with_cell("outcome", 4, None), {}, "outcome", ["row 5", "missing"]),
        (with_cell("a", 11, float("nan")), {}, "a", ["row 12", "missing"]),
        (with_cell("b", 2, "n/a"), {}, "b", ["row 3", "'n/a'", "not a number"]),
        (with_cell("b", 2, float("inf")), {}, "b", ["row 3", "not a finite number"]),
        (with_cell("date", 2, "03/01/2025"), {}, "date", ["row 3", "not a date"]),
        (with_cell("date", 7, daily_dates(20)[3]), {}, "date", ["appears twice", "rows 4 and 8"]),
        (small_data(), {"donors": ["a"]}, "donors", ["1 donor series", "at least 2"]),
        (
            {k: v for k, v in small_data().items() if k != "b"},
            {},
            "donors",
            ["1 donor series ('a')"],
        ),
        (small_data(), {"donors": ["a", "outcome"]}, "donors", ["treated series"]),
        (small_data(), {"donors": ["a", "a", "b"]}, "donors", ["more than once"]),
        (small_data(), {"donors": "ab"}, "donors", ["list of column names"]),
        (small_data(), {"intervention_date": "2024-01-01"}, "intervention_date", ["outside"]),
        (small_data(), {"intervention_date": "2026-01-01"}, "intervention_date", ["outside"]),
        (
            small_data(),
            {"intervention_date": daily_dates(20)[0]},
            "intervention_date",
            ["outside"],
        ),
        (
            small_data(),
            {"intervention_date": daily_dates(20)[7]},
            "intervention_date",
            ["7 pre-period observations", "at least 8"],
        ),
        (small_data(), {"intervention_date": "soon"}, "intervention_date", ["'soon'"]),
        (small_data(), {"scaling": "minmax"}, "scaling", ["'minmax'", "treated_sd"]),
        (small_data(), {"draws": 5}, "draws", ["at least 10"]),
        (small_data(), {"chains": 0}, "chains", ["at least 1"]),
        (small_data(), {"seed": -1}, "seed", ["at least 0"]),
        (small_data(), {"target_accept": 1.0}, "target_accept", ["between 0 and 1"]),
        (small_data(), {"init": "advi"}, "init", ["'advi'"]),
        ([1, 2, 3], {}, "data", ["DataFrame"]),
        ({"date": daily_dates(3), "outcome": [1, 2]}, {}, "data", ["differ in length"]),
        (
            {**small_data(), "outcome": [5.0] * 20},
            {},
            "outcome",
            ["constant over the pre-period"],
        ),
        (
            {**small_data(), "a": [5.0] * 20},
            {"scaling": "zscore"},
            "a",
            ["constant over the pre-period"],
        ),
    ],
)
def test_bad_input_names_the_field(
    data: Any, options: dict[str, Any], field: str, fragments: list[str]
) -> None:
    arguments = {"treated": "outcome", "intervention_date": INTERVENTION, **options}
    with pytest.raises(InputError) as caught:
        synthetic_control(data, **arguments)
    error = caught.value
    assert error.field == field
    message = str(error)
    assert message.startswith(f"{field}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
