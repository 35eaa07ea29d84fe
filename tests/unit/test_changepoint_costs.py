"""The change-point costs beyond a mean shift (stats.changepoint_costs) and their penalties.

Each cost is checked against ruptures' own class on the same segments, our exact solvers
against ruptures' Pelt and Binseg with that class, and the penalties against R changepoint's
penalty_decision (rkillick/changepoint, R/penalty_decision.R: BIC = (diffparam + 1) log n,
MBIC = (diffparam + 2) log n, plus log(segment length) in src/cost_general_functions.c's mbic_*).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import ruptures
from ruptures.costs import CostLinear, CostNormal, CostRank

from americano_pipelines.errors import InputError
from americano_pipelines.stats import changepoints
from americano_pipelines.stats.changepoint_costs import COSTS, cost_named
from americano_pipelines.stats.changepoints import detect_change_points

NEW_COSTS = [name for name in COSTS if name != "mean"]


def found(values: np.ndarray, **settings: object) -> list[int]:
    result = detect_change_points(values, n_bootstrap=20, **settings)  # type: ignore[arg-type]
    return [point.index for point in result.change_points]


def ruptures_cost(name: str, signal: np.ndarray) -> tuple[ruptures.base.BaseCost, np.ndarray]:
    """ruptures' class for our cost, fitted to the signal as that class needs it."""
    if name == "normal":
        return CostNormal(add_small_diag=False), signal
    if name == "linear":  # regressors (1, t)
        design = np.column_stack((signal, np.ones(signal.size), np.arange(signal.size)))
        return CostLinear(), design
    return CostRank(), signal


# ----------------------------------------------------------------------------- the costs


@pytest.mark.parametrize("name", ["normal", "linear", "rank"])
def test_segment_costs_are_ruptures_costs(name: str) -> None:
    rng = np.random.default_rng(3)
    signal = np.r_[rng.normal(0, 1, 40), rng.normal(2, 3, 40)] + 0.05 * np.arange(80)
    reference, fitted_on = ruptures_cost(name, signal)
    reference.fit(fitted_on)
    cost = cost_named(name, signal)
    stats = cost.statistics(signal)
    for start, stop in [(0, 80), (0, 5), (13, 57), (40, 80), (70, 73)]:
        ours = float(np.squeeze(cost.segment(stats, start, stop)))
        assert ours == pytest.approx(float(np.squeeze(reference.error(start, stop))), abs=1e-8)


def test_variance_cost_is_r_changepoint_mll_var() -> None:
    # mll_var: n (log 2 pi + log(x3 / n) + 1), x3 the sum of squares about the series' mean;
    # ours drops the constant n (log 2 pi + 1), which sums to the same over any segmentation
    signal = np.array([1.0, 3.0, -2.0, 4.0, 0.5, -1.5, 2.5, 0.0])
    cost = cost_named("variance", signal)
    x3 = np.sum((signal[2:7] - signal.mean()) ** 2)
    r_value = 5 * (math.log(2 * math.pi) + math.log(x3 / 5) + 1)
    ours = float(np.squeeze(cost.segment(cost.statistics(signal), 2, 7)))
    assert ours == pytest.approx(r_value - 5 * (math.log(2 * math.pi) + 1))


def test_constant_segments_are_floored_at_the_rounding_variance() -> None:
    # counts in steps of 10: a run of equal values costs m log(10^2 / 12), not -infinity
    signal = np.array([30.0, 30.0, 30.0, 30.0, 40.0, 20.0, 50.0, 30.0, 10.0, 40.0])
    for name in ("variance", "normal"):
        cost = cost_named(name, signal)
        assert cost.floor == pytest.approx(100 / 12)
        if name == "normal":
            value = float(np.squeeze(cost.segment(cost.statistics(signal), 0, 4)))
            assert value == pytest.approx(4 * math.log(100 / 12))


# ----------------------------------------------------------------------------- the solvers


def _signal_with_change(name: str, seed: int) -> tuple[np.ndarray, int]:
    """A series with one change of the kind `name` models, and where it is."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 90))
    signal = rng.normal(0.0, 1.0, n)
    cut = int(rng.integers(15, n - 15))
    if name in ("variance", "normal"):
        signal[cut:] *= 4.0
    elif name == "linear":
        signal += np.where(np.arange(n) < cut, 0.3 * np.arange(n), 0.3 * (2 * cut - np.arange(n)))
    else:
        signal[cut:] += 3.0
    return signal, cut


@pytest.mark.parametrize("name", ["normal", "linear", "rank"])
@pytest.mark.parametrize("seed", range(3))
def test_exact_solvers_match_ruptures_with_its_cost(name: str, seed: int) -> None:
    signal = _signal_with_change(name, seed)[0]
    min_size = 3
    cost = cost_named(name, signal)
    penalty = 3.0 * math.log(signal.size)
    for algorithm, estimator in (("PELT", ruptures.Pelt), ("BinarySegmentation", ruptures.Binseg)):
        reference, fitted_on = ruptures_cost(name, signal)
        expected = (
            estimator(custom_cost=reference, min_size=min_size, jump=1)
            .fit(fitted_on)
            .predict(pen=penalty)
        )
        ours = changepoints._refit(
            cost, signal[None, :], algorithm, np.array([penalty]), np.zeros(1), min_size
        )
        assert ours == [expected[:-1]], algorithm


@pytest.mark.parametrize("name", COSTS)
@pytest.mark.parametrize("algorithm", ["pelt", "binseg"])
def test_each_cost_finds_the_change_it_models(name: str, algorithm: str) -> None:
    signal, cut = _signal_with_change(name, 7)
    points = found(signal, cost=name, algorithm=algorithm, min_segment_length=5)
    assert len(points) == 1 and abs(points[0] - cut) <= 3, (points, cut)


def test_the_mean_cost_cuts_a_variance_change_the_normal_cost_finds_once() -> None:
    """QC3's failure in the issue, on simulated data: mean and spread change together."""
    rng = np.random.default_rng(11)
    signal = np.r_[rng.normal(0, 1, 150), rng.normal(1.5, 3.0, 150)]
    assert len(found(signal)) > 1
    assert found(signal, cost="normal", penalty="mbic") == pytest.approx([150], abs=3)


def test_noise_free_line_is_cut_at_its_kink_with_full_confidence() -> None:
    t = np.arange(60, dtype=float)
    signal = np.where(t < 35, 2.0 * t, 70.0 - 1.5 * (t - 35))
    result = detect_change_points(signal, cost="linear", penalty=1.0, n_bootstrap=20)
    assert [point.index for point in result.change_points] == [35]
    assert result.change_points[0].confidence == 1.0


@pytest.mark.parametrize("name", COSTS)
def test_a_constant_series_has_no_change_point(name: str) -> None:
    result = detect_change_points([4.0] * 30, cost=name)
    assert result.change_points == ()


# ----------------------------------------------------------------------------- penalties


@pytest.mark.parametrize(("name", "parameters"), [("variance", 1), ("normal", 2), ("rank", 1)])
def test_likelihood_costs_take_r_changepoint_penalties(name: str, parameters: int) -> None:
    signal = _signal_with_change(name, 1)[0]
    n = signal.size
    bic = detect_change_points(signal, cost=name, n_bootstrap=5).to_json()
    assert bic["penalty"] == pytest.approx((parameters + 1) * math.log(n))
    assert (bic["penaltyMethod"], bic["segmentLengthPenalty"], bic["sigma"]) == ("bic", 0.0, None)
    mbic = detect_change_points(signal, cost=name, penalty="MBIC", n_bootstrap=5).to_json()
    assert mbic["penalty"] == pytest.approx((parameters + 2) * math.log(n))
    assert (mbic["penaltyMethod"], mbic["segmentLengthPenalty"]) == ("mbic", 1.0)
    assert mbic["cost"] == name


@pytest.mark.parametrize(("name", "parameters"), [("mean", 1), ("linear", 2)])
def test_least_squares_costs_scale_penalties_by_the_noise_variance(
    name: str, parameters: int
) -> None:
    signal = _signal_with_change(name, 2)[0]
    n = signal.size
    result = detect_change_points(signal, cost=name, penalty="mbic", n_bootstrap=5)
    sigma2 = result.sigma**2  # type: ignore[operator]
    assert result.penalty == pytest.approx((parameters + 2) * sigma2 * math.log(n))
    assert result.segment_length_penalty == pytest.approx(sigma2)
    assert result.penalty_method == "mbic_robust_sigma"


def test_mbic_length_term_matches_a_brute_force_search() -> None:
    """The solvers minimize cost + penalty x changes + weight x sum log(lengths): checked
    against every segmentation with at most two change points."""
    signal = _signal_with_change("normal", 4)[0][:30]
    cost = cost_named("normal", signal)
    stats = cost.statistics(signal)
    n, min_size, penalty, weight = signal.size, 3, 4.0, 1.0

    def objective(points: tuple[int, ...]) -> float:
        bounds = [0, *points, n]
        return sum(
            float(np.squeeze(cost.segment(stats, a, b))) + weight * math.log(b - a)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ) + penalty * len(points)

    candidates = [()] + [(a,) for a in range(min_size, n - min_size + 1)]
    candidates += [
        (a, b) for a in range(min_size, n + 1) for b in range(a + min_size, n - min_size + 1)
    ]
    best = min(candidates, key=objective)
    ours = changepoints._refit(
        cost, signal[None, :], "PELT", np.array([penalty]), np.array([weight]), min_size
    )[0]
    assert len(ours) <= 2  # so the brute force covers it
    assert objective(tuple(ours)) == pytest.approx(objective(best))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"penalty": "aic"}, "penalty"),
        ({"penalty": "-1"}, "penalty"),
        ({"cost": "poisson"}, "cost"),
        ({"cost": "linear", "min_segment_length": 1}, "min_segment_length"),
    ],
)
def test_bad_cost_or_penalty_names_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as error:
        detect_change_points(np.arange(40.0), **settings)  # type: ignore[arg-type]
    assert error.value.field == field


def test_a_penalty_given_as_text_is_a_number() -> None:
    signal = _signal_with_change("mean", 0)[0]
    as_text = detect_change_points(signal, penalty=" 12.5 ", n_bootstrap=5)
    assert as_text == detect_change_points(signal, penalty=12.5, n_bootstrap=5)
    assert as_text.penalty_method == "user"
