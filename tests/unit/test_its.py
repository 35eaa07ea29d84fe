"""Tests for americano_pipelines.stats.its (Bayesian interrupted time series).

Style after CausalPy's tests (github.com/pymc-labs/CausalPy): seeded generators with the true
effect written next to the data, small sampler settings outside the slow tests. The compiled
models are shared through the module's default cache, so each structure compiles once per
session.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

import americano_pipelines  # noqa: F401  (routes the PyTensor cache before pymc is imported)
from americano_pipelines.errors import InputError
from americano_pipelines.reports.its_plots import plot_counterfactual, plot_posterior
from americano_pipelines.stats.its import (
    ITSModelCache,
    ITSResult,
    bayesian_its,
)

SMALL = {"draws": 300, "tune": 300, "chains": 2}  # tests of the numbers the posterior gives
TINY = {"draws": 30, "tune": 30, "chains": 1}  # tests of shapes, files and determinism


def daily_dates(n: int, start: date = date(2025, 9, 15)) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def level_shift_series(
    n_pre: int, n_post: int, effect: float, *, sd: float = 10.0, level: float = 50.0, seed: int
) -> tuple[list[str], np.ndarray, str]:
    """(dates, values, intervention date): Normal(level, sd), plus `effect` after the change."""
    rng = np.random.default_rng(seed)
    values = rng.normal(level, sd, n_pre + n_post) + effect * (np.arange(n_pre + n_post) >= n_pre)
    dates = daily_dates(n_pre + n_post)
    return dates, values, dates[n_pre]


# ----------------------------------------------------------------------------- the guide's test


def guide_series(seed: int) -> tuple[list[str], np.ndarray]:
    """The guide's data: 30 pre-period points N(50, 10), then 14 points N(70, 10) (effect +20),
    intervention on 2025-10-15."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(50, 10, 30), rng.normal(70, 10, 14)])
    return daily_dates(44, start=date(2025, 9, 15)), values


def test_guide_detects_positive_effect() -> None:
    """The implementation guide's test, with its assertions, on its own data-generating model
    (a stationary level: `trend=False`)."""
    dates, values = guide_series(2025)
    result = bayesian_its(
        dates, values, intervention_date="2025-10-15", trend=False, seed=0, **SMALL
    )
    assert result.n_pre == 30 and result.n_post == 14
    assert float(np.abs(result.idata.posterior["beta"].sel(coefficient="trend")).max()) == 0.0
    assert result.causal_effect.mean > 15
    assert result.causal_effect.hdi95[0] > 0
    assert result.causal_effect.probability_positive > 0.95


def test_guide_data_with_default_trend_model() -> None:
    """Same data, default level + trend model. Extrapolating a trend learned from 30 noisy points
    over 14 days widens the posterior (SD about 5 here), so the guide's `mean > 15` would hold
    for only ~80% of random draws and is not asserted; detection and coverage are."""
    dates, values = guide_series(2025)
    result = bayesian_its(dates, values, intervention_date="2025-10-15", seed=0, **SMALL)
    low, high = result.causal_effect.hdi95
    assert low > 0
    assert low < 20 < high
    assert result.causal_effect.probability_positive > 0.95


def test_null_effect_hdi_covers_zero() -> None:
    dates, values, start = level_shift_series(40, 20, 0.0, seed=11)
    result = bayesian_its(dates, values, intervention_date=start, seed=1, **SMALL)
    low, high = result.causal_effect.hdi95
    assert low < 0 < high
    assert 0.05 < result.causal_effect.probability_positive < 0.95
    assert "includes zero" in result.interpretation


def test_effect_is_mean_of_observed_minus_counterfactual() -> None:
    """The reported effect is exactly the posterior mean of mean_post(observed - counterfactual)."""
    dates, values, start = level_shift_series(30, 10, 5.0, seed=3)
    result = bayesian_its(dates, values, intervention_date=start, seed=2, **SMALL)
    cf = result.idata.posterior["counterfactual"].values  # (chain, draw, date)
    post = np.array(result.counterfactual.period) == "post"
    by_hand = (values[post][None, None, :] - cf[:, :, post]).mean(axis=2)
    assert result.causal_effect.mean == pytest.approx(by_hand.mean(), rel=1e-12)
    assert result.causal_effect.probability_positive == pytest.approx((by_hand > 0).mean())
    # the published counterfactual is the per-date posterior mean of those draws
    assert result.counterfactual.predicted == pytest.approx(cf.mean(axis=(0, 1)).tolist())
    assert all(
        lo <= mid <= hi
        for lo, mid, hi in zip(
            result.counterfactual.lower95,
            result.counterfactual.predicted,
            result.counterfactual.upper95,
            strict=True,
        )
    )


def test_same_seed_same_answer() -> None:
    dates, values, start = level_shift_series(20, 8, 4.0, seed=5)
    first = bayesian_its(dates, values, intervention_date=start, seed=7, **TINY)
    second = bayesian_its(dates, values, intervention_date=start, seed=7, **TINY)
    assert first.causal_effect == second.causal_effect


# ----------------------------------------------------------------------------- priors


def test_informative_prior_moves_estimate_when_data_are_weak() -> None:
    """Weak data (10 pre, 3 post, SD 10, true effect 0): a strong prior at +20 pulls the estimate
    towards 20, a vague prior leaves it near the data's answer (both in the joint fit, the one
    with an effect parameter)."""
    dates, values, start = level_shift_series(10, 3, 0.0, seed=21)
    vague = bayesian_its(dates, values, intervention_date=start, fit="joint", seed=3, **SMALL)
    strong = bayesian_its(
        dates,
        values,
        intervention_date=start,
        effect_prior_mean=20.0,
        effect_prior_sd=1.0,
        seed=3,
        **SMALL,
    )
    assert strong.causal_effect.mean - vague.causal_effect.mean > vague.causal_effect.sd
    assert abs(strong.causal_effect.mean - 20) < abs(vague.causal_effect.mean - 20)
    # the model's own effect parameter sits on the prior when the prior is this strong
    effect_parameter = strong.idata.posterior["effect"].values
    assert effect_parameter.mean() == pytest.approx(20.0, abs=2.0)
    assert strong.to_json()["model"]["effectPrior"] == {"mean": 20.0, "sd": 1.0, "default": False}
    assert vague.to_json()["model"]["effectPrior"]["default"] is True
    assert "informative prior" in strong.interpretation


def test_prior_is_negligible_when_data_are_strong() -> None:
    dates, values, start = level_shift_series(60, 30, 8.0, sd=3.0, seed=8)
    vague = bayesian_its(dates, values, intervention_date=start, fit="joint", seed=4, **SMALL)
    mild = bayesian_its(
        dates,
        values,
        intervention_date=start,
        effect_prior_mean=0.0,
        effect_prior_sd=20.0,
        seed=4,
        **SMALL,
    )
    assert mild.causal_effect.mean == pytest.approx(vague.causal_effect.mean, abs=0.3)


# ----------------------------------------------------------------------------- structures


def test_day_of_week_seasonality_recovers_effect() -> None:
    """Strong weekly pattern (amplitude 15 vs noise 3): with day-of-week effects the HDI covers
    the truth and is far narrower than without them."""
    rng = np.random.default_rng(4)
    n_pre, n_post, true_effect = 56, 28, 6.0
    dates = daily_dates(n_pre + n_post, start=date(2025, 1, 6))  # a Monday
    weekly = np.array([0.0, 5.0, -3.0, 10.0, -8.0, 15.0, -15.0])
    day = np.arange(n_pre + n_post)
    values = 40 + weekly[day % 7] + true_effect * (day >= n_pre) + rng.normal(0, 3, day.size)
    seasonal = bayesian_its(
        dates, values, intervention_date=dates[n_pre], seasonality="day_of_week", seed=5, **SMALL
    )
    plain = bayesian_its(dates, values, intervention_date=dates[n_pre], seed=5, **SMALL)
    low, high = seasonal.causal_effect.hdi95
    assert low < true_effect < high
    assert seasonal.causal_effect.sd < 0.5 * plain.causal_effect.sd
    coefficients = seasonal.idata.posterior["beta"].coords["coefficient"].values.tolist()
    assert coefficients == ["intercept", "trend", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    # parameters in outcome units: Monday is the reference, the others are offsets from it
    beta = seasonal.idata.posterior["beta"].mean(dim=("chain", "draw"))
    assert float(beta.sel(coefficient="Mon")) == 0.0
    offsets = beta.sel(coefficient=["Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]).values
    np.testing.assert_allclose(offsets, weekly[1:] - weekly[0], atol=3.0)


def test_ar1_errors_are_estimated() -> None:
    """AR(1) noise with rho = 0.7 and a +5 shift: rho is recovered and the HDI covers 5."""
    rng = np.random.default_rng(12)
    n_pre, n_post, rho = 60, 30, 0.7
    noise = np.zeros(n_pre + n_post)
    noise[0] = rng.normal(0, 2 / np.sqrt(1 - rho**2))
    for i in range(1, noise.size):
        noise[i] = rho * noise[i - 1] + rng.normal(0, 2)
    values = 30 + noise + 5.0 * (np.arange(noise.size) >= n_pre)
    dates = daily_dates(noise.size)
    result = bayesian_its(dates, values, intervention_date=dates[n_pre], ar1=True, seed=6, **SMALL)
    assert 0.4 < float(result.idata.posterior["rho"].mean()) < 0.95
    # The pre-period fit's estimand: observed minus the expectation given the pre period (the
    # shift plus the post-period noise mean, less the decayed last pre-period residual).
    expected = 30 + rho ** np.arange(1, n_post + 1) * noise[n_pre - 1]
    realized = float(np.mean(values[n_pre:] - expected))
    low, high = result.causal_effect.hdi95
    assert low < realized < high
    assert result.to_json()["model"]["ar1"] is True
    # the joint fit's effect parameter also models the post-period noise: it covers the shift
    joint = bayesian_its(
        dates, values, intervention_date=dates[n_pre], ar1=True, fit="joint", seed=6, **SMALL
    )
    low, high = joint.causal_effect.hdi95
    assert low < 5.0 < high


def test_month_seasonality_with_pymc_sampler_and_unseen_month_warning() -> None:
    """PyMC's NUTS path; March occurs only after the intervention, which the result says."""
    rng = np.random.default_rng(9)
    dates = daily_dates(75, start=date(2025, 1, 1))  # Jan 1 .. Mar 16
    values = rng.normal(20, 2, 75) + 3.0 * (np.arange(75) >= 59)
    result = bayesian_its(
        dates,
        values,
        intervention_date="2025-03-01",
        seasonality="month",
        sampler="pymc",
        seed=1,
        **SMALL,
    )
    assert result.sampler == "pymc"
    assert result.n_pre == 59 and result.n_post == 16
    assert any("Mar" in warning for warning in result.warnings)
    assert result.causal_effect.hdi95[0] < 3.0 < result.causal_effect.hdi95[1]


def test_nutpie_and_pymc_agree() -> None:
    dates, values, start = level_shift_series(40, 15, 7.0, sd=5.0, seed=30)
    settings = {"draws": 500, "tune": 500, "chains": 2}
    nutpie_fit = bayesian_its(dates, values, intervention_date=start, sampler="nutpie", **settings)
    pymc_fit = bayesian_its(dates, values, intervention_date=start, sampler="pymc", **settings)
    difference = abs(nutpie_fit.causal_effect.mean - pymc_fit.causal_effect.mean)
    # Monte Carlo error of each mean is about sd / sqrt(ESS ~ 500); 0.25 sd is > 5 such errors
    assert difference < 0.25 * pymc_fit.causal_effect.sd
    assert nutpie_fit.causal_effect.sd == pytest.approx(pymc_fit.causal_effect.sd, rel=0.15)


def test_windows_and_gaps() -> None:
    """pre/post_period_days cut the window (rows outside are counted); gaps are allowed."""
    dates, values, start = level_shift_series(40, 20, 10.0, sd=2.0, seed=2)
    keep = np.ones(60, dtype=bool)
    keep[[5, 33, 52, 55]] = False  # missing days
    kept_dates = [d for d, k in zip(dates, keep, strict=True) if k]
    result = bayesian_its(
        kept_dates,
        values[keep],
        intervention_date=start,
        pre_period_days=30,
        post_period_days=10,
        seed=0,
        **SMALL,
    )
    assert result.n_pre == 29  # 30 days, one missing (day 33)
    assert result.n_post == 10
    assert result.n_excluded == 56 - 29 - 10
    assert result.counterfactual.dates[0] == dates[10]
    assert result.causal_effect.hdi95[0] < 10.0 < result.causal_effect.hdi95[1]


@pytest.mark.slow
def test_compiled_model_is_reused_across_series_lengths() -> None:
    """A model compiled on one series refits a series of another length exactly as a freshly
    compiled model does (same seed, same draws): the fast path does not change the answer."""
    warm = ITSModelCache()
    dates, values, start = level_shift_series(30, 10, 3.0, seed=40)
    bayesian_its(dates, values, intervention_date=start, model_cache=warm, **TINY)
    other_dates, other_values, other_start = level_shift_series(45, 12, -2.0, seed=41)
    refit = bayesian_its(
        other_dates, other_values, intervention_date=other_start, model_cache=warm, **TINY
    )
    fresh = bayesian_its(
        other_dates,
        other_values,
        intervention_date=other_start,
        model_cache=ITSModelCache(),
        **TINY,
    )
    np.testing.assert_allclose(
        refit.idata.posterior["causal_effect"].values,
        fresh.idata.posterior["causal_effect"].values,
        rtol=1e-9,
    )


# ----------------------------------------------------------------------------- calibration

# 300 fits in one process: nutpie's numba backend compiles once per model (about 30 s) and then
# fits a series in about 0.1 s, where the C backend takes 1-2 s per fit.
BATCH_FITS = ITSModelCache(nutpie_backend="numba")


def _coverage(*, ar1: bool, n_series: int, seed: int) -> float:
    """Share of simulated series whose 95% HDI covers the realized effect.

    Each series: 30 pre and 10 post days; level, trend, noise SD and shift drawn per series;
    with `ar1`, stationary AR(1) noise with rho ~ U(0, 0.8). The estimand is the reported
    quantity: the mean over the post period of observed minus the true counterfactual
    expectation given the pre-period (the shift plus the post-period noise mean, and with AR(1)
    the decayed last pre-period residual removed)."""
    rng = np.random.default_rng(seed)
    n_pre, n_post = 30, 10
    day = np.arange(n_pre + n_post)
    dates = daily_dates(day.size)
    covered = 0
    for i in range(n_series):
        level, trend, sd = rng.normal(50, 10), rng.normal(0, 0.2), rng.uniform(1, 8)
        shift = rng.normal(0, 2 * sd)
        baseline = level + trend * (day - n_pre)
        counterfactual = baseline.copy()
        if ar1:
            rho = rng.uniform(0, 0.8)
            noise = np.zeros(day.size)
            noise[0] = rng.normal(0, sd)
            for k in range(1, day.size):
                noise[k] = rho * noise[k - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2))
            counterfactual[n_pre:] += rho ** (day[n_pre:] - (n_pre - 1)) * noise[n_pre - 1]
        else:
            noise = rng.normal(0, sd, day.size)
        values = baseline + shift * (day >= n_pre) + noise
        realized = float(np.mean(values[n_pre:] - counterfactual[n_pre:]))
        result = bayesian_its(
            dates,
            values,
            intervention_date=dates[n_pre],
            ar1=ar1,
            seed=i,
            model_cache=BATCH_FITS,
            draws=300,
            tune=300,
            chains=2,
        )
        low, high = result.causal_effect.hdi95
        covered += low <= realized <= high
    return covered / n_series


@pytest.mark.slow
def test_hdi_coverage_over_simulated_series() -> None:
    """Independent errors, 150 series: the 95% HDI covers the truth 90-99% of the time."""
    assert 0.90 <= _coverage(ar1=False, n_series=150, seed=2024) <= 0.99


@pytest.mark.slow
def test_hdi_coverage_with_ar1_errors() -> None:
    """AR(1) errors and the AR(1) model, 150 series: coverage 90-99%."""
    assert 0.90 <= _coverage(ar1=True, n_series=150, seed=2025) <= 0.99


def test_unknown_nutpie_backend_is_an_input_error() -> None:
    with pytest.raises(InputError, match="nutpie_backend"):
        ITSModelCache(nutpie_backend="jax")


# ----------------------------------------------------------------------------- the two fits


def causalpy_example(refdata: Path) -> tuple[list[str], np.ndarray]:
    """CausalPy's legacy its.csv (../shared/refdata/README.md): monthly, 2010-2019."""
    table = np.genfromtxt(refdata / "causalpy_its.csv", delimiter=",", names=True, dtype=None)
    return [str(d) for d in table["date"].astype(str)], table["value"].astype(float)


def test_pre_period_fit_reproduces_causalpys_published_posterior(refdata: Path) -> None:
    """CausalPy's its_pymc notebook, y ~ 1 + t + C(month), intervention 2017-01-01: average
    effect 1.849, sd 0.59 (refdata README). The joint fit shares one noise scale with the post
    period (residual SD ~2 before, 4.2-4.8 after) and is 40% wider; the pre-period fit is not."""
    dates, values = causalpy_example(refdata)
    settings = {"intervention_date": "2017-01-01", "seasonality": "month", "seed": 1}
    pre = bayesian_its(dates, values, **settings)
    joint = bayesian_its(dates, values, fit="joint", **settings)
    assert pre.fit == "pre_period" and joint.fit == "joint"
    assert pre.causal_effect.mean == pytest.approx(1.849, abs=0.1)
    assert pre.causal_effect.sd == pytest.approx(0.59, rel=0.10)
    assert joint.causal_effect.sd > 1.25 * pre.causal_effect.sd
    pre_sigma = float(pre.idata.posterior["sigma"].mean())
    assert pre_sigma == pytest.approx(2.0, rel=0.15)  # the pre-period residual SD
    assert float(joint.idata.posterior["sigma"].mean()) > 1.25 * pre_sigma
    assert pre.to_json()["model"]["effectPrior"] is None


def test_effect_paths_add_up_to_the_causal_effect() -> None:
    """CausalImpact's pointwise, cumulative and relative effects, from the same draws."""
    dates, values, start = level_shift_series(30, 10, 6.0, sd=2.0, seed=4)
    result = bayesian_its(dates, values, intervention_date=start, seed=2, **SMALL)
    pointwise, cumulative = result.pointwise_effect, result.cumulative_effect
    assert pointwise.dates == tuple(dates[30:]) == cumulative.dates
    assert np.mean(pointwise.mean) == pytest.approx(result.causal_effect.mean)
    assert np.cumsum(pointwise.mean) == pytest.approx(cumulative.mean)
    assert all(
        lo <= mid <= hi
        for lo, mid, hi in zip(
            *(cumulative.lower95, cumulative.mean, cumulative.upper95), strict=True
        )
    )
    cf_post = np.mean(result.counterfactual.predicted[30:])
    assert result.relative_effect.mean == pytest.approx(
        result.causal_effect.mean / cf_post, rel=0.05
    )
    payload = result.to_json()
    assert set(payload["pointwiseEffect"]) == {"dates", "mean", "lower95", "upper95"}
    assert len(payload["cumulativeEffect"]["mean"]) == 10
    assert (
        payload["relativeEffect"]["probability_positive"]
        == result.causal_effect.probability_positive
    )


def test_an_effect_prior_chooses_the_joint_fit() -> None:
    dates, values, start = level_shift_series(20, 6, 3.0, seed=9)
    result = bayesian_its(
        dates, values, intervention_date=start, effect_prior_sd=5.0, seed=1, **TINY
    )
    assert result.fit == "joint"
    assert result.to_json()["model"]["effectPrior"] == {"mean": 0.0, "sd": 5.0, "default": False}
    with pytest.raises(InputError, match="needs fit 'joint'") as raised:
        bayesian_its(
            dates, values, intervention_date=start, fit="pre_period", effect_prior_sd=5.0, **TINY
        )
    assert raised.value.field == "fit"
    with pytest.raises(InputError, match="unknown option 'both'"):
        bayesian_its(dates, values, intervention_date=start, fit="both", **TINY)


# ----------------------------------------------------------------------------- output shape


def test_to_json_contract_keys_and_serializable() -> None:
    dates, values, start = level_shift_series(20, 7, 5.0, seed=1)
    result = bayesian_its(dates, values, intervention_date=start, **TINY)
    assert isinstance(result, ITSResult)
    payload = result.to_json()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text) == payload
    assert {"causalEffect", "counterfactual", "diagnostics", "interpretation"} <= payload.keys()
    assert set(payload["causalEffect"]) == {"mean", "sd", "hdi95", "probability_positive"}
    assert len(payload["causalEffect"]["hdi95"]) == 2
    assert {"dates", "predicted", "observed", "lower95", "upper95"} <= set(
        payload["counterfactual"]
    )
    assert {"rhat", "ess_bulk", "ess_tail"} <= set(payload["diagnostics"])
    assert isinstance(payload["diagnostics"]["ess_bulk"], int)
    counterfactual = payload["counterfactual"]
    assert counterfactual["dates"][:2] == dates[:2]
    assert counterfactual["observed"] == pytest.approx(values.tolist())
    assert all(
        len(counterfactual[key]) == 27
        for key in ("dates", "predicted", "observed", "lower95", "upper95", "period")
    )
    assert isinstance(payload["interpretation"], str) and "95% HDI" in payload["interpretation"]


def test_short_pre_period_and_low_ess_warnings() -> None:
    dates, values, start = level_shift_series(9, 4, 5.0, seed=6)
    result = bayesian_its(dates, values, intervention_date=start, draws=50, tune=100, chains=2)
    text = result.interpretation
    assert "only 9 pre-period observations" in text
    assert "effective sample size" in text  # 100 draws in total cannot reach 400


def test_plots(tmp_path) -> None:
    from matplotlib.figure import Figure

    dates, values, start = level_shift_series(20, 8, 5.0, seed=1)
    result = bayesian_its(dates, values, intervention_date=start, **TINY)
    counterfactual_png = tmp_path / "counterfactual.png"
    posterior_png = tmp_path / "posterior.png"
    assert isinstance(plot_counterfactual(result, path=counterfactual_png), Figure)
    assert isinstance(plot_posterior(result, path=posterior_png), Figure)
    assert counterfactual_png.stat().st_size > 1000
    assert posterior_png.stat().st_size > 1000


def test_inference_data_saves_to_netcdf(tmp_path) -> None:
    import arviz as az

    dates, values, start = level_shift_series(20, 8, 5.0, seed=1)
    result = bayesian_its(dates, values, intervention_date=start, **TINY)
    path = tmp_path / "its.nc"
    result.idata.to_netcdf(str(path))
    loaded = az.from_netcdf(str(path))
    np.testing.assert_allclose(
        loaded.posterior["causal_effect"].values, result.idata.posterior["causal_effect"].values
    )
    np.testing.assert_allclose(loaded.observed_data["value"].values, values)


# ----------------------------------------------------------------------------- bad input


GOOD_DATES = daily_dates(20)
GOOD_VALUES = [float(v) for v in range(20)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dates": ["2025-09-15", "yesterday", *GOOD_DATES[2:]]}, "date"),
        ({"dates": [GOOD_DATES[0], *GOOD_DATES[:-1]]}, "date"),
        ({"values": [1.0, "abc", *GOOD_VALUES[2:]]}, "value"),
        ({"values": [1.0, None, *GOOD_VALUES[2:]]}, "value"),
        ({"values": GOOD_VALUES[:-1]}, "value"),
        ({"intervention_date": "2025-09-01"}, "intervention_date"),
        ({"intervention_date": "2025-12-01"}, "intervention_date"),
        ({"intervention_date": "not-a-date"}, "intervention_date"),
        ({"intervention_date": GOOD_DATES[5]}, "intervention_date"),  # 5 pre points
        ({"pre_period_days": 3}, "pre_period_days"),
        ({"pre_period_days": 0}, "pre_period_days"),
        ({"seasonality": "weekly"}, "seasonality"),
        ({"sampler": "metropolis"}, "sampler"),
        ({"effect_prior_mean": 3.0}, "effect_prior_sd"),
        ({"effect_prior_sd": -1.0}, "effect_prior_sd"),
        ({"draws": 0}, "draws"),
    ],
)
def test_bad_input_names_the_field(change: dict, field: str) -> None:
    arguments = {
        "dates": GOOD_DATES,
        "values": GOOD_VALUES,
        "intervention_date": GOOD_DATES[12],
        **change,
    }
    dates = arguments.pop("dates")
    values = arguments.pop("values")
    with pytest.raises(InputError) as error:
        bayesian_its(dates, values, **arguments)
    assert error.value.field == field
    assert str(error.value).startswith(field)
    assert "\n" not in str(error.value)


def test_no_post_points_in_window() -> None:
    dates = daily_dates(20)
    del dates[12]  # the intervention date itself is missing
    with pytest.raises(InputError) as error:
        bayesian_its(
            dates, list(range(19)), intervention_date=daily_dates(20)[12], post_period_days=1
        )
    assert error.value.field == "post_period_days"
