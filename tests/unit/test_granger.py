"""Tests for americano_pipelines.stats.granger (Granger F-tests, lagged correlations)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.tsa.stattools import grangercausalitytests

from americano_pipelines.errors import InputError
from americano_pipelines.stats.granger import (
    GrangerResult,
    LaggedCorrelationResult,
    granger_causality,
    lagged_correlations,
)

# ChickEgg, R package lmtest (data/ChickEgg.rda, lmtest 0.9-40, https://github.com/cran/lmtest):
# US chicken population (December 1, excluding commercial broilers) and egg production
# (millions of dozens), annual, 1930-1983. Thurman W.N. & Fisher M.E. (1988), "Chickens, Eggs,
# and Causality, or Which Came First?", American Journal of Agricultural Economics, 237-238
# (lmtest notes its copy differs slightly from the paper's data).
CHICKEN = [
    468491, 449743, 436815, 444523, 433937, 389958, 403446, 423921, 389624, 418591,
    438288, 422841, 476935, 542047, 582197, 516497, 523227, 467217, 499644, 430876,
    456549, 430988, 426555, 398156, 396776, 390708, 383690, 391363, 374281, 387002,
    369484, 366082, 377392, 375575, 382262, 394118, 393019, 428746, 425158, 422096,
    433280, 421763, 404191, 408769, 394101, 379754, 378361, 386518, 396933, 400585,
    392110, 384838, 378609, 364584,
]  # fmt: skip
EGG = [
    3581, 3532, 3327, 3255, 3156, 3081, 3166, 3443, 3424, 3561,
    3640, 3840, 4456, 5000, 5366, 5154, 5130, 5077, 5032, 5148,
    5404, 5322, 5323, 5307, 5402, 5407, 5500, 5442, 5442, 5542,
    5339, 5358, 5403, 5345, 5435, 5474, 5540, 5836, 5777, 5629,
    5704, 5806, 5742, 5502, 5461, 5382, 5377, 5408, 5608, 5777,
    5825, 5625, 5800, 5656,
]  # fmt: skip
CHICK_EGG = pd.DataFrame({"chicken": CHICKEN, "egg": EGG}, index=range(1930, 1984))


# ----------------------------------------------------------------------------- Granger


def test_chickegg_matches_lmtest_printed_output() -> None:
    """lmtest's own example output (tests/Examples/lmtest-Ex.Rout.save, lmtest 0.9-40):

    grangertest(egg ~ chicken, order = 3, data = ChickEgg)
      Res.Df Df      F Pr(>F)      1: 44;  2: 47 -3 0.5916 0.6238
    grangertest(chicken ~ egg, order = 3, data = ChickEgg)
      Res.Df Df     F   Pr(>F)     1: 44;  2: 47 -3 5.405 0.002966
    """
    chickens_cause_eggs = granger_causality(CHICK_EGG, cause="chicken", effect="egg", max_lag=3)
    lag3 = chickens_cause_eggs.results[2]
    assert (lag3.lag, lag3.df_num, lag3.df_denom) == (3, 3, 44)
    assert lag3.f_statistic == pytest.approx(0.5916, abs=5e-5)
    assert lag3.p_value == pytest.approx(0.6238, abs=5e-5)

    eggs_cause_chickens = granger_causality(CHICK_EGG, cause="egg", effect="chicken", max_lag=3)
    lag3 = eggs_cause_chickens.results[2]
    assert lag3.df_denom == 44
    assert lag3.f_statistic == pytest.approx(5.405, abs=5e-4)
    assert lag3.p_value == pytest.approx(0.002966, abs=5e-7)


@pytest.mark.parametrize(("cause", "effect"), [("chicken", "egg"), ("egg", "chicken")])
def test_matches_statsmodels_ssr_ftest_every_lag(cause: str, effect: str) -> None:
    ours = granger_causality(CHICK_EGG, cause=cause, effect=effect, max_lag=7)
    reference = grangercausalitytests(CHICK_EGG[[effect, cause]].to_numpy(float), maxlag=7)
    for row in ours.results:
        f_stat, p_value, df_denom, df_num = reference[row.lag][0]["ssr_ftest"]
        assert row.f_statistic == pytest.approx(f_stat, rel=1e-9)
        assert row.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-15)
        assert (row.df_num, row.df_denom) == (int(df_num), int(df_denom))


def test_matches_statsmodels_on_simulated_data() -> None:
    rng = np.random.default_rng(3)
    cause = rng.normal(size=120)
    effect = np.zeros(120)
    for t in range(2, 120):
        effect[t] = 0.4 * effect[t - 1] + 0.5 * cause[t - 2] + rng.normal()
    data = {"sleep": cause.tolist(), "mood": effect.tolist()}
    ours = granger_causality(data, cause="sleep", effect="mood", max_lag=5)
    reference = grangercausalitytests(np.column_stack([effect, cause]), maxlag=5)
    for row in ours.results:
        assert row.f_statistic == pytest.approx(reference[row.lag][0]["ssr_ftest"][0], rel=1e-9)


def test_f_statistic_by_hand_at_lag_one() -> None:
    """Lag 1 on a tiny series, F from the two residual sums of squares computed here."""
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 5.0, 8.0, 7.0, 9.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 6.0, 9.0, 8.0, 10.0])
    target = y[1:]
    restricted = np.column_stack([np.ones(9), y[:-1]])
    full = np.column_stack([restricted, x[:-1]])
    rss_r = np.sum((target - restricted @ np.linalg.lstsq(restricted, target, rcond=None)[0]) ** 2)
    rss_f = np.sum((target - full @ np.linalg.lstsq(full, target, rcond=None)[0]) ** 2)
    expected_f = (rss_r - rss_f) / 1 / (rss_f / (9 - 3))
    result = granger_causality({"x": x, "y": y}, cause="x", effect="y", max_lag=1)
    assert result.results[0].f_statistic == pytest.approx(expected_f, rel=1e-12)
    assert result.results[0].p_value == pytest.approx(stats.f.sf(expected_f, 1, 6), rel=1e-12)


def test_bic_selects_the_true_lag() -> None:
    """effect_t = 0.9 cause_{t-2} + noise: the BIC on common rows picks lag 2."""
    rng = np.random.default_rng(11)
    cause = rng.normal(size=400)
    effect = np.concatenate([[0.0, 0.0], 0.9 * cause[:-2]]) + 0.5 * rng.normal(size=400)
    result = granger_causality(
        {"cause": cause, "effect": effect}, cause="cause", effect="effect", max_lag=6
    )
    assert result.selected_lag == 2
    assert result.results[1].p_value < 1e-10
    assert "lag of 2" in result.interpretation
    assert "improve the prediction" in result.interpretation


def test_interpretation_follows_the_chickegg_verdicts() -> None:
    """Thurman & Fisher's conclusion on these data: eggs Granger-cause chickens, not the reverse."""
    chickens_cause_eggs = granger_causality(CHICK_EGG, cause="chicken", effect="egg", max_lag=3)
    eggs_cause_chickens = granger_causality(CHICK_EGG, cause="egg", effect="chicken", max_lag=3)
    assert "do not detectably improve" in chickens_cause_eggs.interpretation
    assert "egg improve the prediction of chicken" in eggs_cause_chickens.interpretation
    assert "not proof of a causal effect" in eggs_cause_chickens.interpretation


def test_granger_to_json() -> None:
    result = granger_causality(CHICK_EGG, cause="egg", effect="chicken", max_lag=4)
    assert isinstance(result, GrangerResult)
    payload = result.to_json()
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert {"results", "interpretation", "selectedLag"} <= payload.keys()
    assert [row["lag"] for row in payload["results"]] == [1, 2, 3, 4]
    assert {"lag", "fStatistic", "pValue", "dfNum", "dfDenom"} <= payload["results"][0].keys()
    assert payload["selectedLag"] in {1, 2, 3, 4}


def test_polars_frame_is_accepted() -> None:
    import polars as pl

    frame = pl.DataFrame({"chicken": CHICKEN, "egg": EGG})
    result = granger_causality(frame, cause="egg", effect="chicken", max_lag=3)
    assert result.results[2].f_statistic == pytest.approx(5.405, abs=5e-4)


@pytest.mark.parametrize(
    ("data", "kwargs", "field"),
    [
        (CHICK_EGG, {"cause": "rooster", "effect": "egg"}, "rooster"),
        (CHICK_EGG, {"cause": "chicken", "effect": "eggs"}, "eggs"),
        ({"a": [1, 2, "x", 4] * 10, "b": list(range(40))}, {"cause": "a", "effect": "b"}, "a"),
        ({"a": [1.0, None] * 20, "b": list(range(40))}, {"cause": "a", "effect": "b"}, "a"),
        (CHICK_EGG.iloc[:20], {"cause": "chicken", "effect": "egg", "max_lag": 7}, "max_lag"),
        (CHICK_EGG, {"cause": "chicken", "effect": "egg", "max_lag": 0}, "max_lag"),
        (CHICK_EGG, {"cause": "egg", "effect": "egg"}, "cause"),
        ({"a": [1.0] * 40, "b": list(range(40))}, {"cause": "a", "effect": "b"}, "a"),
        ([1, 2, 3], {"cause": "a", "effect": "b"}, "data"),
    ],
)
def test_granger_bad_input_names_the_field(data, kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as error:
        granger_causality(data, **kwargs)
    assert error.value.field == field
    assert str(error.value).startswith(field)


# ----------------------------------------------------------------------------- correlations


def test_lagged_spearman_by_hand() -> None:
    """Outcome follows the predictor one day later: Spearman r at lag 1 is exactly 1, and the
    lag-0 value equals the textbook formula 1 - 6 sum d^2 / (n (n^2 - 1)) (no ties)."""
    predictor = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0]
    outcome = [0.0, 3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0]  # predictor shifted by one day
    result = lagged_correlations(
        {"steps": predictor, "mood": outcome},
        predictors=["steps"],
        outcome="mood",
        lags=(0, 1),
        correction="none",
    )
    lag0, lag1 = result.results
    assert (lag1.lag, lag1.n, lag1.r) == (1, 7, pytest.approx(1.0))
    ranks_x = np.argsort(np.argsort(predictor)) + 1
    ranks_y = np.argsort(np.argsort(outcome)) + 1
    n = len(predictor)
    by_formula = 1 - 6 * np.sum((ranks_x - ranks_y) ** 2) / (n * (n**2 - 1))
    assert lag0.n == 8
    assert lag0.r == pytest.approx(by_formula, rel=1e-12)


def test_benjamini_hochberg_by_hand_and_pairwise_missing() -> None:
    rng = np.random.default_rng(5)
    n = 60
    sleep = rng.normal(size=n)
    outcome = np.concatenate([[0.0], sleep[:-1]]) + 0.8 * rng.normal(size=n)  # sleep leads 1 day
    steps = rng.normal(size=n)
    steps[[3, 10, 20]] = np.nan  # missing days are dropped pairwise, not fatal
    data = pd.DataFrame({"sleep": sleep, "steps": steps, "mood": outcome})
    result = lagged_correlations(
        data, predictors=["sleep", "steps"], outcome="mood", lags=(0, 1, 2), method="pearson"
    )
    assert isinstance(result, LaggedCorrelationResult)
    p = np.array([row.p_value for row in result.results])
    m = p.size
    order = np.argsort(p)
    # Benjamini-Hochberg step-up, written out: adjusted p_(i) = min_{j >= i} p_(j) m / j
    stepped = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    expected = np.empty(m)
    expected[order] = np.minimum(stepped, 1.0)
    assert [row.p_value_adjusted for row in result.results] == pytest.approx(expected.tolist())
    by_key = {(row.predictor, row.lag): row for row in result.results}
    assert by_key[("sleep", 1)].p_value_adjusted < 1e-6
    assert by_key[("steps", 0)].n == n - 3
    assert by_key[("steps", 1)].n == n - 1 - 3
    x, y = sleep[:-1], outcome[1:]
    assert by_key[("sleep", 1)].r == pytest.approx(stats.pearsonr(x, y).statistic)
    payload = result.to_json()
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert set(payload["results"][0]) == {"predictor", "lag", "r", "pValue", "pValueAdjusted", "n"}
    assert "sleep at lag 1" in payload["interpretation"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"predictors": ["nope"]}, "nope"),
        ({"outcome": "nope"}, "nope"),
        ({"method": "distance"}, "method"),
        ({"correction": "magic"}, "correction"),
        ({"lags": (-1,)}, "lags"),
        ({"predictors": "sleep"}, "predictors"),
        ({"predictors": ["flat"]}, "flat"),
        ({"predictors": ["text"]}, "text"),
    ],
)
def test_correlation_bad_input_names_the_field(kwargs: dict, field: str) -> None:
    data = {
        "sleep": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "mood": [2.0, 1.0, 4.0, 3.0, 6.0, 5.0],
        "flat": [1.0] * 6,
        "text": ["a", "b", "c", "d", "e", "f"],
    }
    arguments = {"predictors": ["sleep"], "outcome": "mood", **kwargs}
    with pytest.raises(InputError) as error:
        lagged_correlations(data, **arguments)
    assert error.value.field == field
    assert str(error.value).startswith(field)


def test_kendall_and_too_few_pairs() -> None:
    data = {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 3.0, 2.0, 4.0]}
    result = lagged_correlations(data, predictors=["a"], outcome="b", lags=(0,), method="kendall")
    assert result.results[0].r == pytest.approx(stats.kendalltau(data["a"], data["b"]).statistic)
    assert not math.isnan(result.results[0].p_value)
    with pytest.raises(InputError) as error:
        lagged_correlations(data, predictors=["a"], outcome="b", lags=(2,))
    assert error.value.field == "a"
