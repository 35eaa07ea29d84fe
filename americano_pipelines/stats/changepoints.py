"""Change points of a daily series: ruptures PELT or binary segmentation over a segment cost.

Model and cost. By default (`cost="mean"`) a piecewise-constant mean with normal noise, fitted
with the least-squares cost "l2" (the sum of squared deviations from each segment's mean). The
other costs (`stats.changepoint_costs` gives each one's formula): `variance` (each segment its
own SD about the series' mean, R changepoint's cpt.var), `normal` (its own mean and SD,
cpt.meanvar), `linear` (its own line a + b t, ruptures' CostLinear) and `rank` (a location
shift of the ranks, ruptures' CostRank). PELT (Killick, Fearnhead & Eckley, 2012, JASA
107:1590) minimizes total cost + penalty x (number of change points); binary segmentation
splits greedily while a split lowers the cost by more than the penalty. The mean cost with a
BIC or numeric penalty runs in `ruptures` (Truong, Oudre & Vayatis, 2020, "Selective review of
offline change point detection methods", Signal Processing 167:107299) with `jump=1` and
`min_size = min_segment_length`, as always; the other costs and MBIC run in our exact numpy
solvers of the same objectives (`_search` says why), which the bootstrap refits always used.

Penalty. `bic` (the default), `mbic` or a number, as R changepoint defines them for a cost with
p parameters per segment (mean 1, variance 1, normal 2, linear 2, rank 1): BIC adds
(p + 1) log n per change point; MBIC (Zhang & Siegmund, 2007) adds (p + 2) log n per change
point and log(m) for every segment of m observations (`segmentLengthPenalty` in the JSON is
that term's weight). The variance, normal and rank costs are in log-likelihood units, so those
are the penalties. The mean and linear costs are sums of squares, whose likelihood divides by
the noise variance, so their penalties are multiplied by sigma^2: BIC for the mean is
2 sigma^2 log(n), each change point adding a location and a mean (Truong et al. 2020, section on
penalty selection; Killick et al. 2012 use the same family). sigma is estimated robustly from
the first differences, which a few mean shifts (or a linear trend) barely touch:
sigma = MAD(diff(y)) / (sqrt(2) * 0.6745), MAD = median absolute deviation from the median. When
that MAD is 0 (noise-free or coarsely rounded data, where most differences are exactly 0) we
fall back to SD(diff(y)) / sqrt(2); jumps inflate it, so the penalty errs on the conservative
side. A number is taken as the penalty per change point, in the cost's units. A constant series
has no change point.

Dates and gaps. With `dates`, rows are sorted by date, duplicate dates are rejected, and missing
days are not filled: detection runs on the observed points in time order (a change point is a
change between consecutive observations), and each change point reports the date of its first
observation in the new segment. `missingDays` in the JSON says how many calendar days are absent.

Confidence. A moving-block residual bootstrap of the fitted model: residuals y - fitted (the
segment means; for `linear` the segment lines, for `rank` the segment medians) are resampled in
blocks of length round(n^(1/3)) (keeping short-range autocorrelation, as daily wearable data
have), added back to the fitted values, and the same algorithm and cost (with a named penalty
re-estimated the same way) is refitted. For `variance` and `normal`, whose segments differ in
spread, the residuals are standardized by their segment's SD before resampling and rescaled by
it after (a segment with SD 0 contributes zeros). A change point's confidence is the share of
the refits with a change point within +/- tolerance observations of it, tolerance =
max(2, min_segment_length // 2). It measures how stable the location is under the fitted
model's noise, not a posterior probability. Refits use exact numpy solvers of the same
objectives (optimal partitioning, which PELT's pruning reproduces, Killick et al. 2012; greedy
binary segmentation as ruptures does it), vectorized over the bootstrap replicates.

percent_change = 100 * (after_mean - before_mean) / |before_mean|; None (JSON null) when
before_mean is 0.

Long series. Up to 2,000 rows the above holds exactly as written. Beyond, ruptures gets the same
l2 cost from cumulative sums (O(1) per segment instead of a pass over it) and first searches
every ceil(n / 1000)-th row (`jump`). When that finds at most 100 change points, ruptures
searches every row (PELT only up to 5,000 rows: its partitions keep a dict per row), allowed 3
million cost evaluations, and that is the answer. Otherwise the grid's change points are made
exact by optimal partitioning over the rows within +/- (jump - 1) of them, which also removes
grid artifacts (a change between two grid rows fitted as two change points around a short
segment). The bootstrap refits then search the grid (ruptures' Pelt/Binseg(jump) objective) in
chunks of replicates, and the tolerance widens by jump - 1. 100,000 rows take seconds.
The other costs, and MBIC, search the same grid with our exact solvers, then refine the same way.
Values beyond +/-1e150, series entirely within +/-1e-150, penalties above 1e300 and bootstrap
work beyond `limits.MAX_BOOTSTRAP_WORK` are refused (InputError naming the field).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import ruptures

from americano_pipelines.errors import InputError
from americano_pipelines.stats.changepoint_costs import (
    COSTS,
    PENALTIES,
    SegmentCost,
    cost_named,
    penalty_terms,
)
from americano_pipelines.stats.limits import (
    MAX_BOOTSTRAP,
    MAX_BOOTSTRAP_WORK,
    MAX_PENALTY,
    check_at_most,
    check_magnitudes,
)

__all__ = [
    "ALGORITHMS",
    "COSTS",
    "PENALTIES",
    "ChangePoint",
    "ChangePointResult",
    "detect_change_points",
]

ALGORITHMS = ("pelt", "binseg")
"""The detectors, by the names the CLI and protocol files use (aliases are accepted too)."""

_L2 = SegmentCost("mean", "l2", 1, True)  # today's cost, as ruptures names it
_MAD_TO_SD = 0.6745  # MAD of a standard normal
_ALGORITHMS = {
    "pelt": "PELT",
    "binseg": "BinarySegmentation",
    "binarysegmentation": "BinarySegmentation",
    "binary_segmentation": "BinarySegmentation",
}
# Long series (see the module docstring). Up to _EXACT_SEARCH_ROWS rows nothing changes:
# ruptures' own "l2" cost, every row a candidate, exact bootstrap refits. Beyond, the cost comes
# from cumulative sums (O(1) per segment, the same values); ruptures searches every
# ceil(n / _GRID_POINTS)-th row, then every row when that is cheap enough (`_search`), else the
# grid's change points are made exact in windows around them; the bootstrap refits search the
# grid.
_EXACT_SEARCH_ROWS = 2_000
_GRID_POINTS = 1_000
_SEARCH_EVALUATIONS = 3_000_000
_EXACT_CHANGES = 100
_EXACT_PELT_ROWS = 5_000
# The exact pass around the grid's change points takes at most this many candidate rows.
_REFINE_POSITIONS = 20_000
# Bootstrap replicates are built this many values at a time on long series.
_BOOTSTRAP_CELLS = 2_000_000


@dataclass(frozen=True)
class ChangePoint:
    """One change in mean. `index` (0-based) is the first observation of the new segment."""

    index: int
    date: str | None
    confidence: float
    before_mean: float
    after_mean: float
    percent_change: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "index": int(self.index),
            "confidence": float(self.confidence),
            "beforeMean": float(self.before_mean),
            "afterMean": float(self.after_mean),
            "percentChange": None if self.percent_change is None else float(self.percent_change),
        }


@dataclass(frozen=True)
class ChangePointResult:
    """Detected change points and how they were found."""

    change_points: tuple[ChangePoint, ...]
    algorithm: str  # "PELT" or "BinarySegmentation"
    penalty: float
    cost_model: str
    # "bic_robust_sigma", "mbic_robust_sigma" (mean, linear), "bic", "mbic" (the others), "user"
    penalty_method: str
    sigma: float | None
    min_segment_length: int
    n_observations: int
    missing_days: int | None
    n_bootstrap: int
    bootstrap_block_length: int
    confidence_tolerance: int
    segment_means: tuple[float, ...]
    search_step: int = 1  # the search's candidates: every search_step-th row (then refined)
    refit_step: int = 1  # the bootstrap refits' candidates: every refit_step-th row
    cost: str = "mean"  # one of COSTS
    segment_length_penalty: float = 0.0  # MBIC: each segment adds this x log(its length)

    def to_json(self) -> dict[str, Any]:
        residuals = "standardized residual" if self.cost in ("variance", "normal") else "residual"
        method = (
            f"moving-block {residuals} bootstrap ({self.n_bootstrap} refits, blocks of "
            f"{self.bootstrap_block_length}): share of refits with a change point within "
            f"+/-{self.confidence_tolerance} observations"
        )
        if self.refit_step > 1:
            method += f"; the refits search every {self.refit_step} rows"
        if self.search_step > 1:
            method += (
                f"; change points searched every {self.search_step} rows, then exactly within "
                f"+/-{self.search_step - 1} rows of those found"
            )
        return {
            "changePoints": [point.to_json() for point in self.change_points],
            "algorithm": self.algorithm,
            "penalty": float(self.penalty),
            "penaltyMethod": self.penalty_method,
            "sigma": None if self.sigma is None else float(self.sigma),
            "costModel": self.cost_model,
            "minSegmentLength": self.min_segment_length,
            "nObservations": self.n_observations,
            "missingDays": self.missing_days,
            "segmentMeans": [float(mean) for mean in self.segment_means],
            "confidenceMethod": method,
            "confidenceTolerance": self.confidence_tolerance,
            "nBootstrap": self.n_bootstrap,
            "cost": self.cost,
            "segmentLengthPenalty": float(self.segment_length_penalty),
        }


# ----------------------------------------------------------------------------- input


def _values_array(values: Sequence[float]) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        # find the offending row for the message
        for row, value in enumerate(values):
            try:
                float(value)
            except (TypeError, ValueError):
                raise InputError(
                    f"value: row {row + 1} is not a number: {value!r}", field="value"
                ) from None
        raise InputError("value: values must be a flat list of numbers", field="value") from None
    if array.ndim != 1:
        raise InputError("value: values must be a flat list of numbers", field="value")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InputError(
            f"value: row {bad[0] + 1} is missing or not finite ({array[bad[0]]!r})", field="value"
        )
    check_magnitudes(array, "value")
    return array


def _as_date(value: date | str, row: int) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            try:
                return datetime.fromisoformat(text).date()
            except ValueError:
                pass
    raise InputError(
        f"date: row {row + 1} is not an ISO date (YYYY-MM-DD): {value!r}", field="date"
    )


def _sorted_by_date(
    values: np.ndarray, dates: Sequence[date | str]
) -> tuple[np.ndarray, list[date], int]:
    """Values in date order, their dates, and the number of calendar days with no row."""
    if len(dates) != values.size:
        raise InputError(f"date: {len(dates)} dates for {values.size} values", field="date")
    parsed = [_as_date(value, row) for row, value in enumerate(dates)]
    ordinals = np.array([day.toordinal() for day in parsed])
    order = np.argsort(ordinals, kind="stable")
    ordinals = ordinals[order]
    repeated = np.flatnonzero(np.diff(ordinals) == 0)
    if repeated.size:
        day = date.fromordinal(int(ordinals[repeated[0]]))
        raise InputError(f"date: {day.isoformat()} appears more than once", field="date")
    missing_days = int(ordinals[-1] - ordinals[0] + 1 - ordinals.size)
    return values[order], [parsed[i] for i in order], missing_days


# ----------------------------------------------------------------------------- penalty


def _robust_sigma(signals: np.ndarray) -> np.ndarray:
    """Noise SD per row from first differences: MAD / (sqrt(2) 0.6745), SD fallback when 0."""
    differences = np.diff(signals, axis=1)
    centred = differences - np.median(differences, axis=1, keepdims=True)
    sigma = np.median(np.abs(centred), axis=1) / (math.sqrt(2.0) * _MAD_TO_SD)
    fallback = np.std(differences, axis=1, ddof=1) / math.sqrt(2.0)
    return np.where(sigma > 0, sigma, fallback)


# ----------------------------------------------------------------------------- solvers


def _optimal_partition(
    cost: SegmentCost,
    stats: tuple[np.ndarray, ...],
    positions: np.ndarray,
    penalties: np.ndarray,
    weights: np.ndarray,
    min_size: int,
) -> list[list[int]]:
    """Exact penalized segmentation of each row (optimal partitioning, Jackson et al. 2005).

    Minimizes the sum of the segment costs + penalty x (number of change points), + weight x
    the sum of log(segment length) for MBIC, every segment at least `min_size` long and its
    boundaries at `positions` (0, the candidate rows, n; `_grid_positions`). With every row a
    candidate it is the objective of ruptures' Pelt(jump=1), whose pruning finds the same
    optimum; on a grid, that of Pelt(jump). `stats` are the rows' cumulative statistics
    (`SegmentCost.statistics`), so a fit costs O(G^2) for G positions, vectorized over rows.
    Returns the change points of each row (first index of each new segment).
    """
    n_series, n_positions = penalties.size, positions.size
    best = np.full((n_series, n_positions), np.inf)
    best[:, 0] = -penalties
    previous = np.zeros((n_series, n_positions), dtype=np.int64)
    rows = np.arange(n_series)
    first_start = int(np.searchsorted(positions, min_size, side="left"))
    weighted = bool(np.any(weights))
    for j in range(1, n_positions):
        stop = int(positions[j])
        last = int(np.searchsorted(positions, stop - min_size, side="right"))
        starts = np.concatenate(([0], np.arange(max(first_start, 1), last)))
        costs = cost.segment(stats, positions[starts], positions[j : j + 1])
        totals = best[:, starts] + costs + penalties[:, None]
        if weighted:
            totals = totals + weights[:, None] * np.log(stop - positions[starts])
        choice = np.argmin(totals, axis=1)
        best[:, j] = totals[rows, choice]
        previous[:, j] = starts[choice]
    change_points = []
    for row in range(n_series):
        points = []
        j = n_positions - 1
        while j > 0:
            j = int(previous[row, j])
            if j > 0:
                points.append(int(positions[j]))
        change_points.append(points[::-1])
    return change_points


def _binary_segmentation(
    cost: SegmentCost,
    stats: tuple[np.ndarray, ...],
    penalty: float,
    weight: float,
    min_size: int,
    jump: int = 1,
) -> list[int]:
    """Greedy binary segmentation of one series, as ruptures' Binseg(jump).predict(pen=).

    Split the segment whose best split lowers the cost most (the MBIC's log-length terms
    included, with `weight`), while that gain exceeds the penalty. Split points are the
    multiples of `jump` (every row when 1) leaving both sides at least `min_size` long, as in
    ruptures. Ties: the largest split point within a segment, the first segment across segments
    (as ruptures' `max` over (gain, bkp) tuples and over segments). The segments' best splits
    wait in a heap ordered by (gain, start), so many change points cost O(k log k), not O(k^2),
    and the choices are those of a scan in segment order. `stats`: the series' cumulative
    statistics (one row of `SegmentCost.statistics`).
    """
    n = stats[0].shape[-1] - 1

    def best_split(start: int, stop: int) -> tuple[int | None, float]:
        first = start + min_size
        if jump > 1:
            first = -(-first // jump) * jump  # the first multiple of jump at or after it
        candidates = np.arange(first, stop - min_size + 1, jump)
        if candidates.size == 0:
            return None, 0.0
        gains = (
            cost.segment(stats, start, stop)
            - cost.segment(stats, start, candidates)
            - cost.segment(stats, candidates, stop)
        )
        if weight:
            gains = gains - weight * (
                np.log(candidates - start) + np.log(stop - candidates) - math.log(stop - start)
            )
        top = candidates.size - 1 - int(np.argmax(gains[::-1]))
        return int(candidates[top]), float(gains[top])

    waiting: list[tuple[float, int, int, int]] = []

    def push(start: int, stop: int) -> None:
        point, gain = best_split(start, stop)
        if point is not None:
            heapq.heappush(waiting, (-gain, start, stop, point))

    push(0, n)
    change_points: list[int] = []
    while waiting:
        negative_gain, start, stop, point = heapq.heappop(waiting)
        if not -negative_gain > penalty:
            break
        change_points.append(point)
        push(start, point)
        push(point, stop)
    return sorted(change_points)


class _CumulativeL2Cost(ruptures.base.BaseCost):
    """ruptures' "l2" cost (sum of squared deviations from the segment mean) from cumulative
    sums of the centred signal: O(1) per segment instead of a pass over it, which makes the
    search over long series fast. Used only beyond `_EXACT_SEARCH_ROWS` rows; the answers
    below stay those of ruptures' own CostL2."""

    model = "l2_cumulative"

    def __init__(self) -> None:
        self.min_size = 1
        self.signal: np.ndarray | None = None
        self._s1: list[float] = []
        self._s2: list[float] = []

    def fit(self, signal: np.ndarray) -> _CumulativeL2Cost:
        self.signal = signal.reshape(-1, 1) if signal.ndim == 1 else signal
        s1, s2 = _L2.statistics(np.asarray(signal, dtype=float).reshape(-1))
        self._s1, self._s2 = s1.tolist(), s2.tolist()
        return self

    def error(self, start: int, end: int) -> float:
        total = self._s1[end] - self._s1[start]
        return (self._s2[end] - self._s2[start]) - total * total / (end - start)


def _grid_step(n: int) -> int:
    """1 (every row a candidate change point) up to `_EXACT_SEARCH_ROWS` rows; beyond, the step
    that leaves about `_GRID_POINTS` candidates."""
    return 1 if n <= _EXACT_SEARCH_ROWS else math.ceil(n / _GRID_POINTS)


class _SearchTooLong(Exception):
    """The exact search has used up its cost evaluations (`_BudgetedL2Cost`)."""


class _BudgetedL2Cost(_CumulativeL2Cost):
    """The cumulative-sum l2 cost, refusing to be evaluated more than `budget` times: ruptures'
    work is its number of cost evaluations, so this bounds the time of an exact search."""

    model = "l2_cumulative_budgeted"

    def __init__(self, budget: int) -> None:
        super().__init__()
        self._left = budget

    def error(self, start: int, end: int) -> float:
        self._left -= 1
        if self._left < 0:
            raise _SearchTooLong
        return super().error(start, end)


def _search(
    cost: SegmentCost,
    signal: np.ndarray,
    algorithm: str,
    penalty: float,
    weight: float,
    min_size: int,
) -> tuple[list[int], int]:
    """The change points of `signal` and the step of the rows searched (1: all).

    The mean cost with a BIC or numeric penalty (no log-length term) runs in ruptures: up to
    `_EXACT_SEARCH_ROWS` rows with its own "l2" cost at every row, as always. Longer: ruptures
    first searches every `_grid_step(n)`-th row with the cumulative-sum cost. When that finds
    at most `_EXACT_CHANGES` change points (and, for PELT, whose partitions hold a dict per row
    and change point, the series has at most `_EXACT_PELT_ROWS` rows), ruptures searches every
    row, allowed `_SEARCH_EVALUATIONS` cost evaluations; that is the answer. Otherwise, or when
    it runs out, the grid's change points refined (`_refine`).

    The other costs, and MBIC, run in our exact solvers of the same objectives, the ones the
    bootstrap refits use (`_refit`): ruptures would evaluate them one Python call per segment,
    and MBIC's log-length term breaks the inequality PELT's pruning rests on (splitting a
    segment must never raise its cost), so optimal partitioning finds PELT's optimum without
    pruning. Up to `_EXACT_SEARCH_ROWS` rows every row is a candidate; beyond, the grid's change
    points refined.
    """
    n = signal.size
    step = _grid_step(n)
    if cost.name != "mean" or weight:
        coarse = _refit(
            cost,
            signal[None, :],
            algorithm,
            np.array([penalty]),
            np.array([weight]),
            min_size,
            step,
        )[0]
        return _refine(cost, signal, coarse, penalty, weight, min_size, step), step
    if n <= _EXACT_SEARCH_ROWS:
        return _ruptures_fit(signal, algorithm, penalty, min_size), 1
    coarse = _ruptures_fit(signal, algorithm, penalty, min_size, step, _CumulativeL2Cost())
    if len(coarse) <= _EXACT_CHANGES and (algorithm != "PELT" or n <= _EXACT_PELT_ROWS):
        budget = _BudgetedL2Cost(_SEARCH_EVALUATIONS)
        try:
            return _ruptures_fit(signal, algorithm, penalty, min_size, cost=budget), 1
        except _SearchTooLong:
            pass
    return _refine(cost, signal, coarse, penalty, weight, min_size, step), step


def _grid_positions(n: int, min_size: int, jump: int) -> np.ndarray:
    """Where segments may start or end on a search grid: 0, the multiples of `jump` from
    `min_size` on, and n (ruptures' admissible breakpoints)."""
    inner = np.arange(jump, n, jump)
    return np.concatenate(([0], inner[inner >= min_size], [n])).astype(np.int64)


def _ruptures_fit(
    signal: np.ndarray,
    algorithm: str,
    penalty: float,
    min_size: int,
    jump: int = 1,
    cost: ruptures.base.BaseCost | None = None,
) -> list[int]:
    """ruptures' Pelt or Binseg with `min_size` and `jump`, cost "l2" unless `cost` is given."""
    settings: dict[str, Any] = {"model": "l2"} if cost is None else {"custom_cost": cost}
    if algorithm == "PELT":
        estimator = ruptures.Pelt(min_size=min_size, jump=jump, **settings)
    else:
        estimator = ruptures.Binseg(min_size=min_size, jump=jump, **settings)
    breakpoints = estimator.fit(signal).predict(pen=penalty)
    return [int(point) for point in breakpoints[:-1]]  # the last one is n


def _refine(
    cost: SegmentCost,
    signal: np.ndarray,
    change_points: list[int],
    penalty: float,
    weight: float,
    min_size: int,
    jump: int,
) -> list[int]:
    """The change points found on the grid, made exact near where they are.

    The penalized segmentation is solved again, exactly (optimal partitioning), with every
    row within +/- (jump - 1) of a grid change point as a candidate. Each change point so moves
    to its best row, and grid artifacts go: a change between two grid rows is otherwise fitted
    as two change points around a short middle segment. When those windows hold more than
    `_REFINE_POSITIONS` rows (hundreds of change points), each change point is instead moved,
    left to right, to the best row of its window with its neighbours held fixed. Either way the
    grid solution is among the candidates, so the penalized cost never rises.
    """
    if jump == 1 or not change_points:
        return change_points
    n = signal.size
    offsets = np.arange(-(jump - 1), jump)
    windows = (np.asarray(change_points)[:, None] + offsets[None, :]).ravel()
    windows = windows[(windows >= min_size) & (windows <= n - min_size)]
    positions = np.unique(np.concatenate(([0, n], windows))).astype(np.int64)
    stats = cost.statistics(signal[None, :])
    if positions.size <= _REFINE_POSITIONS:
        return _optimal_partition(
            cost, stats, positions, np.array([penalty]), np.array([weight]), min_size
        )[0]
    row = tuple(values[0] for values in stats)
    bounds = [0, *change_points, n]
    for k in range(1, len(bounds) - 1):
        low = max(bounds[k - 1] + min_size, bounds[k] - jump + 1)
        high = min(bounds[k + 1] - min_size, bounds[k] + jump - 1)
        candidates = np.arange(low, high + 1)
        costs = cost.segment(row, bounds[k - 1], candidates) + cost.segment(
            row, candidates, bounds[k + 1]
        )
        if weight:
            costs = costs + weight * (
                np.log(candidates - bounds[k - 1]) + np.log(bounds[k + 1] - candidates)
            )
        bounds[k] = int(candidates[int(np.argmin(costs))])
    return bounds[1:-1]


def _refit(
    cost: SegmentCost,
    signals: np.ndarray,
    algorithm: str,
    penalties: np.ndarray,
    weights: np.ndarray,
    min_size: int,
    jump: int = 1,
) -> list[list[int]]:
    """Each row's change points by the exact solvers, every `jump`-th row a candidate."""
    stats = cost.statistics(signals)
    if algorithm == "PELT":
        positions = _grid_positions(signals.shape[1], min_size, jump)
        return _optimal_partition(cost, stats, positions, penalties, weights, min_size)
    return [
        _binary_segmentation(
            cost, tuple(values[row] for values in stats), float(pen), float(w), min_size, jump
        )
        for row, (pen, w) in enumerate(zip(penalties, weights, strict=True))
    ]


# ----------------------------------------------------------------------------- confidence


def _block_starts(
    n: int, n_bootstrap: int, block_length: int, rng: np.random.Generator
) -> np.ndarray:
    """Moving-block bootstrap (Kuensch, 1989): each replicate's block starts, (n_bootstrap,
    ceil(n / block_length)), all drawn at once (one random stream whatever the chunking)."""
    n_blocks = math.ceil(n / block_length)
    return rng.integers(0, n - block_length + 1, size=(n_bootstrap, n_blocks))


def _resampled_blocks(residuals: np.ndarray, starts: np.ndarray, block_length: int) -> np.ndarray:
    """The residual series rebuilt from the blocks at `starts`, one row per replicate."""
    n = residuals.size
    positions = (starts[:, :, None] + np.arange(block_length)).reshape(starts.shape[0], -1)[:, :n]
    return residuals[positions]


def _confidences(
    change_points: list[int],
    cost: SegmentCost,
    location: np.ndarray,
    scale: np.ndarray,
    standardized: np.ndarray,
    algorithm: str,
    penalty: float,
    weight: float,
    penalty_name: str | None,
    min_size: int,
    n_bootstrap: int,
    block_length: int,
    tolerance: int,
    rng: np.random.Generator,
    jump: int = 1,
) -> list[float]:
    """Share of the refits of `location + scale x (resampled blocks of the standardized
    residuals)` with a change point within `tolerance` of each change point. A named penalty
    of a scaled cost is re-estimated on each replicate, from its own noise SD."""
    if not change_points:
        return []
    n = location.size
    starts = _block_starts(n, n_bootstrap, block_length, rng)
    # Replicates are built and refitted a chunk of rows at a time (all at once up to
    # `_EXACT_SEARCH_ROWS` rows), so memory stays bounded for long series.
    rows_per_chunk = n_bootstrap if n <= _EXACT_SEARCH_ROWS else max(1, _BOOTSTRAP_CELLS // n)
    hits = np.zeros((n_bootstrap, len(change_points)), dtype=bool)
    targets = np.asarray(change_points)
    for first in range(0, n_bootstrap, rows_per_chunk):
        chunk = starts[first : first + rows_per_chunk]
        replicates = location + scale * _resampled_blocks(standardized, chunk, block_length)
        if penalty_name is not None and cost.scaled:
            penalties, weights = penalty_terms(cost, penalty_name, _robust_sigma(replicates), n)
        else:
            penalties = np.full(chunk.shape[0], penalty)
            weights = np.full(chunk.shape[0], weight)
        refits = _refit(cost, replicates, algorithm, penalties, weights, min_size, jump)
        for offset, points in enumerate(refits):
            if points:
                distance = np.abs(np.asarray(points)[:, None] - targets[None, :])
                hits[first + offset] = (distance <= tolerance).any(axis=0)
    return [float(share) for share in hits.mean(axis=0)]


def _check_bootstrap_work(n_bootstrap: int, n: int, min_size: int, refit_step: int) -> None:
    """A refit is an exact segmentation over the candidate rows, O(candidates^2) for PELT (and
    bounded so for binary segmentation, which splits at most once per candidate). Refuse more
    than MAX_BOOTSTRAP_WORK steps in all, naming the bootstrap."""
    candidates = n if refit_step == 1 else _grid_positions(n, min_size, refit_step).size
    per_refit = candidates**2
    work = n_bootstrap * per_refit
    if work > MAX_BOOTSTRAP_WORK:
        raise InputError(
            f"n_bootstrap: {n_bootstrap:,} refits over {candidates:,} candidate change points "
            f"take {work:,} steps (refits x candidates^2), above the limit of "
            f"{MAX_BOOTSTRAP_WORK:,}; use at most {max(1, MAX_BOOTSTRAP_WORK // per_refit):,}",
            field="n_bootstrap",
        )


# ----------------------------------------------------------------------------- public


def _penalty_choice(penalty: float | str | None) -> str | float:
    """ "bic" (the default, None), "mbic", or a non-negative number (also given as text)."""
    if penalty is None:
        return "bic"
    if isinstance(penalty, str):
        text = penalty.strip().lower()
        if text in PENALTIES:
            return text
        penalty = text
    try:
        number = float(penalty)
    except (TypeError, ValueError):
        raise InputError(
            f"penalty: must be {', '.join(PENALTIES)} or a non-negative number, got {penalty!r}",
            field="penalty",
        ) from None
    if not (math.isfinite(number) and number >= 0):
        raise InputError(
            f"penalty: must be a non-negative number, got {penalty!r}", field="penalty"
        )
    check_at_most(number, MAX_PENALTY, "penalty", "(the cost's units)")
    return number


def _checked_cost(cost: str, min_size: int) -> str:
    name = str(cost).strip().lower()
    if name not in COSTS:
        raise InputError(f"cost: must be one of {', '.join(COSTS)}, got {cost!r}", field="cost")
    if name in ("variance", "normal", "linear") and min_size < 2:
        raise InputError(
            f"min_segment_length: the {name} cost fits {'a line' if name == 'linear' else 'a variance'} "
            "to each segment, so segments need at least 2 observations",
            field="min_segment_length",
        )
    return name


def detect_change_points(
    values: Sequence[float],
    dates: Sequence[date | str] | None = None,
    *,
    min_segment_length: int = 7,
    algorithm: str = "pelt",
    penalty: float | str | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    cost: str = "mean",
) -> ChangePointResult:
    """Change points of `values` (in time order, or ordered by `dates`).

    cost: "mean" (default), "variance", "normal", "linear" or "rank" (module docstring and
    `stats.changepoint_costs`). algorithm: "pelt" (default) or "binseg". penalty: "bic" (the
    default, None), "mbic", or a non-negative number in the cost's units (squared units of the
    values for mean and linear). Every segment has at least `min_segment_length` observations;
    at least twice that many are needed. Confidence per change point: moving-block
    (standardized) residual bootstrap with `n_bootstrap` refits, seeded by `seed`.
    """
    if isinstance(min_segment_length, bool) or not isinstance(min_segment_length, int | np.integer):
        raise InputError(
            f"min_segment_length: must be a whole number, got {min_segment_length!r}",
            field="min_segment_length",
        )
    min_size = int(min_segment_length)
    if min_size < 1:
        raise InputError(
            f"min_segment_length: must be at least 1, got {min_size}", field="min_segment_length"
        )
    cost_name = _checked_cost(cost, min_size)
    algorithm_name = _ALGORITHMS.get(str(algorithm).strip().lower())
    if algorithm_name is None:
        raise InputError(
            f"algorithm: must be 'pelt' or 'binseg', got {algorithm!r}", field="algorithm"
        )
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer):
        raise InputError(
            f"n_bootstrap: must be a whole number, got {n_bootstrap!r}", field="n_bootstrap"
        )
    if n_bootstrap < 1:
        raise InputError(f"n_bootstrap: must be at least 1, got {n_bootstrap}", field="n_bootstrap")
    check_at_most(int(n_bootstrap), MAX_BOOTSTRAP, "n_bootstrap", "refits")
    choice = _penalty_choice(penalty)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed: must be a whole number of at least 0, got {seed!r}", field="seed")

    signal = _values_array(values)
    observed_dates: list[date] | None = None
    missing_days: int | None = None
    if dates is not None:
        signal, observed_dates, missing_days = _sorted_by_date(signal, dates)
    n = signal.size
    if n < 2 * min_size:
        raise InputError(
            f"value: {n} observations; at least {2 * min_size} (twice min_segment_length) "
            "are needed",
            field="value",
        )
    segment_cost = cost_named(cost_name, signal)
    penalty_name = choice if isinstance(choice, str) else None
    if penalty_name is not None and segment_cost.scaled and n < 3:
        raise InputError(
            f"value: {n} observations; the default penalty estimates the noise from the "
            "differences of at least 3 (or give a penalty)",
            field="value",
        )

    refit_step = _grid_step(n)
    _check_bootstrap_work(int(n_bootstrap), n, min_size, refit_step)
    # a refit on the grid can miss a change point's row by up to refit_step - 1
    tolerance = max(2, min_size // 2) + refit_step - 1
    block_length = max(1, round(n ** (1 / 3)))
    sigma: float | None = None
    if penalty_name is None:
        used_penalty, weight = float(choice), 0.0
        penalty_method = "user"
    else:
        if segment_cost.scaled:
            sigma = float(_robust_sigma(signal[None, :])[0])
        per_change, per_length = penalty_terms(
            segment_cost, penalty_name, None if sigma is None else np.array([sigma]), n
        )
        used_penalty, weight = float(per_change[0]), float(per_length[0])
        penalty_method = f"{penalty_name}_robust_sigma" if segment_cost.scaled else penalty_name

    constant = bool(np.all(signal == signal[0]))
    change_points: list[int] = []
    search_step = 1
    if not constant:
        change_points, search_step = _search(
            segment_cost, signal, algorithm_name, used_penalty, weight, min_size
        )

    bounds = [0, *change_points, n]
    segment_means = [
        float(signal[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    location, scale = segment_cost.fitted(signal, bounds)
    standardized = np.divide(signal - location, scale, out=np.zeros_like(signal), where=scale > 0)
    confidences = _confidences(
        change_points,
        segment_cost,
        location,
        scale,
        standardized,
        algorithm_name,
        used_penalty,
        weight,
        penalty_name,
        min_size,
        int(n_bootstrap),
        block_length,
        tolerance,
        np.random.default_rng(seed),
        refit_step,
    )

    points = []
    for k, index in enumerate(change_points):
        before, after = segment_means[k], segment_means[k + 1]
        points.append(
            ChangePoint(
                index=index,
                date=None if observed_dates is None else observed_dates[index].isoformat(),
                confidence=confidences[k],
                before_mean=before,
                after_mean=after,
                percent_change=None if before == 0 else 100.0 * (after - before) / abs(before),
            )
        )
    return ChangePointResult(
        change_points=tuple(points),
        algorithm=algorithm_name,
        penalty=used_penalty,
        cost_model=segment_cost.model,
        penalty_method=penalty_method,
        sigma=sigma,
        min_segment_length=min_size,
        n_observations=n,
        missing_days=missing_days,
        n_bootstrap=int(n_bootstrap),
        bootstrap_block_length=block_length,
        confidence_tolerance=tolerance,
        segment_means=tuple(segment_means),
        search_step=search_step,
        refit_step=refit_step,
        cost=cost_name,
        segment_length_penalty=weight,
    )
