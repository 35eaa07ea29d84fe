"""Tests for americano_pipelines.stats.changepoints.

Style after ruptures' own tests (github.com/deepcharles/ruptures, tests/test_detection.py): a
generator returns (signal, true_breakpoints), tests are parametrized across algorithms, and
recovery is exact on noise-free data.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pytest
import ruptures

from americano_pipelines.errors import InputError
from americano_pipelines.stats import changepoints
from americano_pipelines.stats.changepoint_costs import cost_named
from americano_pipelines.stats.changepoints import ChangePointResult, detect_change_points

ALGORITHMS = ["pelt", "binseg"]
L2 = cost_named("mean", np.zeros(1))  # today's cost, ruptures' "l2"


def piecewise_constant(
    n_samples: int = 200,
    n_bkps: int = 3,
    min_gap: int = 20,
    delta: tuple[float, float] = (3.0, 10.0),
    noise_std: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, list[int]]:
    """Piecewise-constant signal and its breakpoints, ruptures style (the last one is n).

    Like ruptures.pw_constant, but every segment is at least `min_gap` long and each level
    differs from the previous one by a jump drawn from `delta` with a random sign.
    """
    rng = np.random.default_rng(seed)
    slack = n_samples - (n_bkps + 1) * min_gap
    extra = np.sort(rng.integers(0, slack + 1, size=n_bkps))
    bkps = [int(min_gap * (k + 1) + extra[k]) for k in range(n_bkps)] + [n_samples]
    signal = np.empty(n_samples)
    level = 50.0
    for start, stop in zip([0, *bkps[:-1]], bkps, strict=True):
        signal[start:stop] = level
        level += rng.uniform(*delta) * rng.choice([-1.0, 1.0])
    if noise_std is not None:
        signal = signal + rng.normal(0.0, noise_std, n_samples)
    return signal, bkps


def found(result: ChangePointResult) -> list[int]:
    return [point.index for point in result.change_points]


# ----------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_recovery_on_noise_free_data(algorithm: str, seed: int) -> None:
    signal, bkps = piecewise_constant(n_bkps=3, seed=seed)
    for penalty in (None, 1.0):  # default (SD fallback, since MAD of diffs is 0) and explicit
        result = detect_change_points(signal, algorithm=algorithm, penalty=penalty, n_bootstrap=20)
        assert found(result) + [signal.size] == bkps
        # residuals are all zero, so every bootstrap refit is the same fit
        assert all(point.confidence == 1.0 for point in result.change_points)
        for point, start in zip(result.change_points, [0, *bkps[:-2]], strict=True):
            assert point.before_mean == pytest.approx(signal[start])
            assert point.after_mean == pytest.approx(signal[point.index])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", [10, 11, 12])
def test_near_recovery_with_noise_and_high_confidence(algorithm: str, seed: int) -> None:
    # jumps of 4-8 noise SDs, segments of at least 30 days
    signal, bkps = piecewise_constant(
        n_samples=200, n_bkps=2, min_gap=30, delta=(4.0, 8.0), noise_std=1.0, seed=seed
    )
    result = detect_change_points(signal, algorithm=algorithm, seed=seed)
    assert len(result.change_points) == 2
    for point, truth in zip(result.change_points, bkps[:-1], strict=True):
        assert abs(point.index - truth) <= 3
        assert point.confidence >= 0.8


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hand_checkable_step(algorithm: str) -> None:
    # ten days at 10 then ten at 15: one change at index 10, +50%
    values = [10.0] * 10 + [15.0] * 10
    result = detect_change_points(values, min_segment_length=3, algorithm=algorithm)
    (point,) = result.change_points
    assert (point.index, point.before_mean, point.after_mean) == (10, 10.0, 15.0)
    assert point.percent_change == pytest.approx(50.0)
    assert result.segment_means == (10.0, 15.0)
    assert result.algorithm == {"pelt": "PELT", "binseg": "BinarySegmentation"}[algorithm]


def test_percent_change_is_none_when_before_mean_is_zero() -> None:
    result = detect_change_points([0.0] * 10 + [5.0] * 10, min_segment_length=3)
    (point,) = result.change_points
    assert point.percent_change is None
    assert point.to_json()["percentChange"] is None
    # a negative baseline: change relative to |before|
    result = detect_change_points([-10.0] * 10 + [-5.0] * 10, min_segment_length=3)
    assert result.change_points[0].percent_change == pytest.approx(50.0)


def test_constant_series_has_no_change_point() -> None:
    result = detect_change_points([3.0] * 30)
    assert result.change_points == ()
    assert result.segment_means == (3.0,)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_confidence_in_unit_interval_and_seeded(algorithm: str) -> None:
    # a modest jump (1.5 SD) in autocorrelated noise: confidence strictly between the extremes
    rng = np.random.default_rng(5)
    noise = np.zeros(150)
    for t in range(1, 150):
        noise[t] = 0.5 * noise[t - 1] + rng.normal()
    signal = noise + np.r_[np.zeros(75), np.full(75, 1.5)]
    first = detect_change_points(signal, algorithm=algorithm, seed=1)
    again = detect_change_points(signal, algorithm=algorithm, seed=1)
    assert first == again
    assert first.change_points
    for point in first.change_points:
        assert 0.0 <= point.confidence <= 1.0
        assert point.confidence * first.n_bootstrap == pytest.approx(
            round(point.confidence * first.n_bootstrap)
        )


def test_default_penalty_is_bic_with_robust_sigma() -> None:
    rng = np.random.default_rng(7)
    signal = rng.normal(0.0, 2.0, 400)
    result = detect_change_points(signal, n_bootstrap=1)
    assert result.penalty_method == "bic_robust_sigma"
    assert result.sigma == pytest.approx(2.0, rel=0.15)
    assert result.penalty == pytest.approx(2 * result.sigma**2 * math.log(400))
    # the estimate ignores a large mean shift (it works on first differences)
    shifted = detect_change_points(signal + np.r_[np.zeros(200), np.full(200, 50.0)], n_bootstrap=1)
    assert shifted.sigma == pytest.approx(result.sigma, rel=0.05)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_scale_invariance_of_default_penalty(algorithm: str) -> None:
    signal, _ = piecewise_constant(n_bkps=2, noise_std=2.0, seed=4)
    base = detect_change_points(signal, algorithm=algorithm, n_bootstrap=30)
    scaled = detect_change_points(signal * 10.0, algorithm=algorithm, n_bootstrap=30)
    assert found(scaled) == found(base)
    assert scaled.penalty == pytest.approx(base.penalty * 100.0)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_few_false_positives_on_pure_noise(algorithm: str) -> None:
    # 200 null series of 120 days: measured false-positive rate with the default penalty is
    # about 0.08 (PELT) and 0.06 (binary segmentation); 0.15 is over three SEs above
    rng = np.random.default_rng(2024)
    with_change = sum(
        bool(
            detect_change_points(
                rng.normal(60.0, 5.0, 120), algorithm=algorithm, n_bootstrap=1
            ).change_points
        )
        for _ in range(200)
    )
    assert with_change / 200 <= 0.15


# ----------------------------------------------------------------------------- solvers


@pytest.mark.parametrize("seed", range(8))
def test_bootstrap_solvers_match_ruptures(seed: int) -> None:
    # the vectorized refit solvers give exactly ruptures' answers (Pelt and Binseg, jump=1)
    rng = np.random.default_rng(seed)
    n, min_size = int(rng.integers(40, 120)), int(rng.integers(2, 9))
    signal = rng.normal(0.0, 1.0, n)
    for point in rng.choice(np.arange(min_size, n - min_size), size=2, replace=False):
        signal[point:] += rng.normal(0.0, 2.0)
    penalty = float(rng.uniform(2.0, 15.0))
    pelt = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(signal).predict(pen=penalty)
    binseg = ruptures.Binseg(model="l2", min_size=min_size, jump=1).fit(signal).predict(pen=penalty)
    ours = changepoints._refit(
        L2, signal[None, :], "PELT", np.array([penalty]), np.zeros(1), min_size
    )[0]
    assert ours == pelt[:-1]
    assert changepoints._refit(
        L2, signal[None, :], "BinarySegmentation", np.array([penalty]), np.zeros(1), min_size
    ) == [binseg[:-1]]


# ----------------------------------------------------------------------------- dates


def test_dates_with_gaps_report_observed_dates() -> None:
    # 40 observed days over 45 calendar days (5 days missing), given out of order
    start = date(2025, 9, 1)
    days = [start + timedelta(days=k) for k in range(45) if k not in {3, 11, 12, 30, 31}]
    values = np.r_[np.full(20, 52.0), np.full(20, 64.0)]
    order = np.random.default_rng(0).permutation(40)
    shuffled_days = [days[i].isoformat() for i in order]
    result = detect_change_points(values[order], shuffled_days, min_segment_length=5)
    (point,) = result.change_points
    assert point.index == 20
    assert point.date == days[20].isoformat()  # the first observed day of the new level
    assert result.missing_days == 5
    payload = result.to_json()
    assert payload["changePoints"][0]["date"] == days[20].isoformat()
    # date objects work as well as ISO strings, and give the same answer
    assert detect_change_points(values, days, min_segment_length=5) == result


def test_json_contract_keys() -> None:
    signal, _ = piecewise_constant(n_bkps=1, noise_std=1.0, seed=3)
    dates = [(date(2025, 1, 1) + timedelta(days=k)).isoformat() for k in range(signal.size)]
    payload = detect_change_points(signal, dates, n_bootstrap=20).to_json()
    # CONTRACTS.md section 3, `americano analyze changepoints`
    assert payload["algorithm"] == "PELT"
    assert payload["changePoints"]
    for point in payload["changePoints"]:
        assert set(point) == {
            "date",
            "index",
            "confidence",
            "beforeMean",
            "afterMean",
            "percentChange",
        }
        assert type(point["index"]) is int and type(point["confidence"]) is float
    json.dumps(payload, allow_nan=False)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"values": [1.0] * 13}, "value"),  # fewer than 2 * min_segment_length
        ({"values": [1.0] * 10 + [float("nan")] + [1.0] * 10}, "value"),
        ({"values": [1.0] * 10 + ["abc"] + [1.0] * 10}, "value"),
        ({"values": [1.0] * 20, "dates": ["2025-01-01"] * 20}, "date"),  # duplicates
        ({"values": [1.0] * 20, "dates": ["2025-01-01"]}, "date"),  # lengths differ
        ({"values": [1.0] * 20, "dates": ["01/02/2025"] * 20}, "date"),
        ({"values": [1.0] * 20, "algorithm": "dynp"}, "algorithm"),
        ({"values": [1.0] * 20, "penalty": -1.0}, "penalty"),
        ({"values": [1.0] * 20, "penalty": float("inf")}, "penalty"),
        ({"values": [1.0] * 20, "min_segment_length": 0}, "min_segment_length"),
        ({"values": [1.0] * 20, "n_bootstrap": 0}, "n_bootstrap"),
    ],
)
def test_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as error:
        detect_change_points(**kwargs)
    assert error.value.field == field
    assert field in str(error.value)


def test_duplicate_date_message_names_the_date() -> None:
    dates = [(date(2025, 1, 1) + timedelta(days=k)).isoformat() for k in range(20)]
    dates[7] = dates[3]
    with pytest.raises(InputError, match="2025-01-04"):
        detect_change_points([1.0] * 20, dates)


# ----------------------------------------------------------------------------- long series


@pytest.mark.parametrize("seed", range(6))
def test_grid_solvers_match_ruptures_with_jump(seed: int) -> None:
    """Beyond 2,000 rows the search runs on every jump-th row: our cumulative-sum cost inside
    ruptures, and the bootstrap's grid solvers, give ruptures' own Pelt/Binseg(jump) answers."""
    rng = np.random.default_rng(100 + seed)
    n, min_size, jump = int(rng.integers(80, 240)), int(rng.integers(1, 8)), int(rng.integers(2, 8))
    signal = np.round(rng.normal(size=n) + np.repeat(rng.integers(0, 4, 6), n // 6 + 1)[:n], 2)
    penalty = float(rng.uniform(2.0, 15.0))
    pelt = ruptures.Pelt(model="l2", min_size=min_size, jump=jump).fit(signal).predict(pen=penalty)
    binseg = (
        ruptures.Binseg(model="l2", min_size=min_size, jump=jump).fit(signal).predict(pen=penalty)
    )
    assert changepoints._ruptures_fit(signal, "PELT", penalty, min_size, jump) == pelt[:-1]
    assert (
        changepoints._ruptures_fit(signal, "BinarySegmentation", penalty, min_size, jump)
        == binseg[:-1]
    )
    for algorithm, expected in (("PELT", pelt), ("BinarySegmentation", binseg)):
        grid = changepoints._refit(
            L2, signal[None, :], algorithm, np.array([penalty]), np.zeros(1), min_size, jump
        )
        assert grid == [expected[:-1]]


@pytest.mark.parametrize("algorithm", ["pelt", "binseg"])
def test_long_series_found_to_the_row(algorithm: str) -> None:
    """20,000 rows: the steps are found at their exact rows, with full confidence; the refits
    search every 20th row, and the method text says so."""
    truth = [4_013, 9_990, 15_007]
    signal = np.repeat([0.0, 3.0, -1.0, 2.0], np.diff([0, *truth, 20_000]))
    signal = signal + np.random.default_rng(0).normal(0, 0.5, signal.size)
    result = detect_change_points(signal, algorithm=algorithm, n_bootstrap=50)
    assert [point.index for point in result.change_points] == truth
    assert all(point.confidence == 1.0 for point in result.change_points)
    assert result.refit_step == 20
    assert "the refits search every 20 rows" in result.to_json()["confidenceMethod"]
