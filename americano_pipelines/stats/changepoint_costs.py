"""Segment costs and penalties of the change-point search (`stats.changepoints`).

Each cost is the negative log-likelihood (times 2) of one segment under its model, or the
least-squares criterion that is proportional to it, computed from cumulative sums so that a
segment costs O(1) whatever its length, for many series at once (rows):

| cost | model of a segment | cost of a segment of length m | parameters p |
| --- | --- | --- | --- |
| `mean` | own mean, one noise SD for the series | sum (y - mean)^2 (ruptures "l2") | 1 |
| `variance` | the series' mean, own SD | m log(max(s0^2, floor)), s0^2 = mean (y - series mean)^2 | 1 |
| `normal` | own mean and own SD | m log(max(s^2, floor)), s^2 = mean (y - mean)^2 | 2 |
| `linear` | own line a + b t, one noise SD | residual sum of squares of the least-squares line | 2 |
| `rank` | own location of the ranks | -m rbar^2 / var(r), r the centred ranks of the series | 1 |

`variance` and `normal` are R changepoint's `cpt.var` and `cpt.meanvar` costs (Normal test
statistic, mll_var / mll_meanvar, without their constant m (log 2 pi + 1), whose sum over the
segments is always n (log 2 pi + 1)); `rank` is ruptures' CostRank (Lung-Yut-Fong, Levy-Leduc &
Cappe, 2015), `linear` ruptures' CostLinear on the regressors (1, t). We compute them ourselves
rather than through ruptures' classes because those recompute each segment from its rows
(O(m) per evaluation, O(n^3) for an exact search in Python), cannot be vectorized over the
bootstrap replicates, and CostNormal handles a constant segment by adding an absolute 1e-6 to
its variance, which depends on the units of the data. Here the variance of a segment is floored
at the variance of rounding, delta^2 / 12, delta the smallest gap between distinct values of
the series: a run of equal values (coarsely recorded data) would otherwise have log 0 = -inf
cost and be cut out whatever the penalty. `mean` and `linear` are in squared units of the values
(their likelihood divides by the noise variance sigma^2), the others in log-likelihood units.

Penalties (R changepoint's `penalty_decision`, with its `diffparam` = p): per change point,
BIC = (p + 1) log n and MBIC = (p + 2) log n; MBIC (Zhang & Siegmund, 2007, Biometrics 63:22) also
adds log(m) for every segment of length m, as changepoint's mbic_* costs do. For `mean` and
`linear` both are multiplied by sigma^2 (the robust noise variance of `stats.changepoints`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["COSTS", "PENALTIES", "SegmentCost", "cost_named", "penalty_terms"]

COSTS = ("mean", "variance", "normal", "linear", "rank")
"""The segment costs, by the names the CLI and protocol files use."""
PENALTIES = ("bic", "mbic")
"""The named penalties; a number is the other choice."""

Stats = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class SegmentCost:
    """One cost: its name, ruptures-style model name, parameters per segment and units.

    `scaled`: in squared units of the values (the penalty is multiplied by sigma^2). `floor`:
    the smallest segment variance (`variance`, `normal`)."""

    name: str
    model: str
    parameters: int
    scaled: bool
    floor: float = 0.0

    def statistics(self, signals: np.ndarray) -> Stats:
        """Cumulative sums (with a leading 0) along the last axis, one row per series, and any
        per-row constant the cost needs (kept 2-D or scalar-shaped so it broadcasts)."""
        if self.name == "rank":
            from scipy.stats import rankdata

            ranks = rankdata(signals, axis=-1)
            centred = ranks - (signals.shape[-1] + 1) / 2
            spread = np.mean(centred**2, axis=-1, keepdims=True)
            return (_cumulative(centred), spread)
        centred = signals - signals.mean(axis=-1, keepdims=True)
        if self.name == "variance":
            return (_cumulative(centred**2),)
        sums = (_cumulative(centred), _cumulative(centred**2))
        if self.name == "linear":
            index = np.arange(signals.shape[-1]) - (signals.shape[-1] - 1) / 2
            return (*sums, _cumulative(centred * index))
        return sums

    def segment(self, stats: Stats, start: np.ndarray | int, stop: np.ndarray | int) -> np.ndarray:
        """Cost of [start, stop) for each row; start and stop broadcast against each other."""
        length = np.asarray(stop) - np.asarray(start)
        if self.name == "variance":
            mean_square = (stats[0][..., stop] - stats[0][..., start]) / length
            return length * np.log(np.maximum(mean_square, self.floor))
        if self.name == "rank":
            total = stats[0][..., stop] - stats[0][..., start]
            with np.errstate(divide="ignore", invalid="ignore"):
                cost = -(total**2 / length) / stats[1]
            return np.where(stats[1] > 0, cost, 0.0)
        total = stats[0][..., stop] - stats[0][..., start]
        squares = (stats[1][..., stop] - stats[1][..., start]) - total**2 / length
        if self.name == "mean":
            return squares
        if self.name == "normal":
            return length * np.log(np.maximum(squares / length, self.floor))
        # linear: the centred index of the segment's rows has mean `centre` and sum of squares
        # m (m^2 - 1) / 12, so the slope term comes from the cumulative sums alone
        n = stats[0].shape[-1] - 1
        centre = (np.asarray(start) + np.asarray(stop) - 1) / 2 - (n - 1) / 2
        cross = (stats[2][..., stop] - stats[2][..., start]) - centre * total
        spread = length * (length**2 - 1) / 12
        with np.errstate(divide="ignore", invalid="ignore"):
            slope_term = np.where(spread > 0, cross**2 / spread, 0.0)
        return np.maximum(squares - slope_term, 0.0)

    def fitted(self, signal: np.ndarray, bounds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The fitted model of each row: location and scale, so that the standardized
        residuals (y - location) / scale are what the bootstrap resamples. Scale 1 for the
        costs with one noise level (mean, linear, rank); the segment's SD for the others."""
        location = np.empty_like(signal)
        scale = np.ones_like(signal)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            part = signal[start:stop]
            if self.name == "mean":
                location[start:stop] = part.mean()
            elif self.name == "rank":
                location[start:stop] = np.median(part)  # the ranks' model is a location shift
            elif self.name == "linear":
                location[start:stop] = _line(part)
            elif self.name == "variance":
                location[start:stop] = signal.mean()
                scale[start:stop] = math.sqrt(np.mean((part - signal.mean()) ** 2))
            else:
                location[start:stop] = part.mean()
                scale[start:stop] = part.std()
        return location, scale


def _cumulative(values: np.ndarray) -> np.ndarray:
    zeros = np.zeros(values.shape[:-1] + (1,))
    return np.concatenate((zeros, np.cumsum(values, axis=-1)), axis=-1)


def _line(part: np.ndarray) -> np.ndarray:
    """The least-squares line through `part` against its row numbers."""
    if part.size < 2:
        return part.astype(float)
    index = np.arange(part.size, dtype=float)
    slope, intercept = np.polyfit(index, part, 1)
    return intercept + slope * index


def _rounding_floor(signal: np.ndarray) -> float:
    """delta^2 / 12, delta the smallest gap between distinct values (0 for a constant series)."""
    gaps = np.diff(np.unique(signal))
    return float(gaps.min() ** 2 / 12) if gaps.size else 0.0


_MODELS = {
    "mean": ("l2", 1, True),
    "variance": ("variance", 1, False),
    "normal": ("normal", 2, False),
    "linear": ("linear", 2, True),
    "rank": ("rank", 1, False),
}


def cost_named(name: str, signal: np.ndarray) -> SegmentCost:
    """The cost `name` (one of COSTS) for `signal` (which sets the variance floor)."""
    model, parameters, scaled = _MODELS[name]
    floor = _rounding_floor(signal) if name in ("variance", "normal") else 0.0
    return SegmentCost(name, model, parameters, scaled, floor)


def penalty_terms(
    cost: SegmentCost, penalty: str, sigma: np.ndarray | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(per change point, per log segment length) of the named penalty, per row of `sigma` (the
    noise SDs, for the scaled costs; one row otherwise)."""
    scale = np.ones(1) if sigma is None else sigma**2
    if penalty == "bic":
        return (cost.parameters + 1) * scale * math.log(n), np.zeros_like(scale)
    return (cost.parameters + 2) * scale * math.log(n), scale
