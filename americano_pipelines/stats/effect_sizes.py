"""Single-case effect sizes, defined exactly as in the SingleCaseES R package.

Every index compares an A (baseline) phase with a B (treatment) phase of one case. The
definitions, standard errors and confidence intervals follow SingleCaseES 0.7.4
(Pustejovsky, Chen, Grekov & Swan; https://jepusto.github.io/SingleCaseES/), in particular
its vignette "Effect size definitions and mathematical details"
(https://cran.r-project.org/web/packages/SingleCaseES/vignettes/Effect-size-definitions.html)
and the help pages of `NAP`, `Tau`, `Tau_U`, `PND`, `PAND`, `IRD`, `PEM`, `SMD`, `LRRi`/`LRRd` and
`batch_calc_ES`.

Also Tau-BC (Tarlow, 2017; `Tau_BC`), the log odds ratio (`LOR`), the log ratio of medians
(`LRM`) and the percent of goal obtained (`PoGO`), with SingleCaseES's options: the NAP/Tau
standard error (`SE = "unbiased"`, `"Hanley"`, `"null"`), the confidence level (`confidence`),
and the truncation constant of the log ratios (`observation_length`, `intervals`, `D_const`),
gathered in `EffectSizeOptions`.

`improvement="decrease"` flips direction the way SingleCaseES does: the non-overlap indices and
Tau-U are computed on the negated data, the SMD, LOR and LRM change sign, and the log response
ratios follow `calc_LRRi`/`calc_LRRd` (for counts and rates LRRd = -LRRi; for percentages and
proportions the level is first reflected, 100 - mean or 1 - mean). PoGO does not depend on it
(the goal gives the direction).

Intervals are at the `confidence` level (95% by default): Wald intervals (estimate +/- z SE) for
SMD, the log ratios, LRM, PoGO and Kendall's Tau-BC, Newcombe's (2006) score-inversion interval
(Method 5) for NAP, and that interval mapped by 2 * NAP - 1 for Tau and Tau-BC.

Not here: SingleCaseES's gradual effects model (`gem_scd`, Swan & Pustejovsky, 2018). It is a
GLM (any `family`) whose treatment covariate depends on a delay parameter omega found by R's
`optimize` over the profile deviance, with a covariance from a modified design matrix; a
faithful port needs R's GLM families and Brent search reproduced, and SingleCaseES ships no test
or printed example of it to check a port against, so it is left out rather than approximated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.stats.limits import check_magnitudes, first_too_large, too_large_message

__all__ = [
    "DEFAULT_OPTIONS",
    "NAP_STANDARD_ERRORS",
    "ABABEffectSizes",
    "EffectEstimate",
    "EffectSizeOptions",
    "EffectSizeSummary",
    "PhasePairEffectSizes",
    "TauBC",
    "abab_effect_sizes",
    "cohens_d",
    "effect_sizes",
    "equal_weight_average",
    "ird",
    "lrrd",
    "lor",
    "lrm",
    "lrri",
    "nap",
    "pand",
    "pem",
    "pnd",
    "pogo",
    "smd",
    "tau",
    "tau_bc",
    "tau_u",
]

Improvement = Literal["increase", "decrease"]
Scale = Literal["count", "rate", "proportion", "percentage", "other"]
NapSE = Literal["unbiased", "hanley", "null"]
PhaseValues = Sequence[float] | np.ndarray

_T = TypeVar("_T")
# Φ⁻¹(0.975); a literal, so importing this module (and sced.py) does not load scipy.
_Z95 = 1.959963984540054
_IMPROVEMENTS = ("increase", "decrease")
_SCALES = ("count", "rate", "proportion", "percentage", "other")
NAP_STANDARD_ERRORS: tuple[str, ...] = ("unbiased", "hanley", "null")
"""SingleCaseES's `SE` choices for NAP, Tau and Tau-BC ("unbiased", "Hanley", "null")."""
DEFAULT_CONFIDENCE = 0.95
MAX_TAU_BC_BASELINE = 3000
"""Tau-BC's Theil-Sen slope is the median of all m(m - 1)/2 baseline slopes (4.5 million here)."""


def _z(confidence: float) -> float:
    """Φ⁻¹(1 - (1 - confidence)/2), R's qnorm (the stdlib's Wichura AS 241, no scipy)."""
    if confidence == DEFAULT_CONFIDENCE:
        return _Z95
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


@dataclass(frozen=True)
class EffectEstimate:
    """One effect size: the estimate, and its standard error and interval where defined.

    `ci` is the interval at level `confidence`; JSON names it `ci95` at the default 95% (the
    CONTRACTS.md key) and `ci` with `confidence` beside it at any other level."""

    estimate: float
    se: float | None = None
    ci: tuple[float, float] | None = None
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The interval when it is a 95% one, else None."""
        return self.ci if self.confidence == DEFAULT_CONFIDENCE else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"estimate": float(self.estimate)}
        if self.se is not None:
            out["se"] = float(self.se)
        if self.ci is not None:
            interval = [float(self.ci[0]), float(self.ci[1])]
            if self.confidence == DEFAULT_CONFIDENCE:
                out["ci95"] = interval
            else:
                out["ci"] = interval
                out["confidence"] = float(self.confidence)
        return out


# ----------------------------------------------------------------------------- input checks


def _phase_array(values: PhaseValues, phase: str, min_points: int) -> np.ndarray:
    """The phase's values as a finite float array, or an InputError naming the problem."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"value: phase {phase} has a non-numeric value", field="value") from None
    if array.ndim != 1:
        raise InputError(f"value: phase {phase} must be a flat list of numbers", field="value")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InputError(
            f"value: phase {phase} has a missing or non-finite value at position {bad + 1}",
            field="value",
        )
    beyond = first_too_large(array)
    if beyond is not None:
        raise InputError(
            too_large_message("value", f"phase {phase} at position {beyond + 1}", array[beyond]),
            field="value",
        )
    if array.size < min_points:
        raise InputError(
            f"phase: phase {phase} has {array.size} observation(s); at least {min_points} needed",
            field="phase",
        )
    return array


def _check_improvement(improvement: str) -> Improvement:
    if improvement not in _IMPROVEMENTS:
        raise InputError(
            f"improvement: must be 'increase' or 'decrease', got {improvement!r}",
            field="improvement",
        )
    return improvement  # type: ignore[return-value]


def _phases(
    a: PhaseValues, b: PhaseValues, improvement: str, min_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both phases, negated when a decrease is the improvement (SingleCaseES convention)."""
    direction = _check_improvement(improvement)
    a_arr = _phase_array(a, "A", min_points)
    b_arr = _phase_array(b, "B", min_points)
    if direction == "decrease":
        return -a_arr, -b_arr
    return a_arr, b_arr


def _wald(estimate: float, se: float, confidence: float = DEFAULT_CONFIDENCE) -> EffectEstimate:
    z = _z(confidence)
    return EffectEstimate(estimate, se, (estimate - z * se, estimate + z * se), confidence)


def _check_confidence(confidence: float) -> float:
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0.0 < confidence < 1.0
    ):
        raise InputError(
            f"confidence: must be a level between 0 and 1 (e.g. 0.95), got {confidence!r}",
            field="confidence",
        )
    return float(confidence)


def _check_nap_se(se_method: str) -> NapSE:
    method = se_method.lower() if isinstance(se_method, str) else se_method
    if method not in NAP_STANDARD_ERRORS:
        raise InputError(
            f"nap_se: must be one of {', '.join(NAP_STANDARD_ERRORS)} (SingleCaseES's SE), got "
            f"{se_method!r}",
            field="nap_se",
        )
    return method  # type: ignore[return-value]


# ----------------------------------------------------------------------------- non-overlap


def _nap_score_interval(nap_est: float, m: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Newcombe (2006) Method 5: invert the symmetrized score statistic for the AUC.

    Roots of f(x) = m n (NAP - x)^2 (2 - x)(1 + x) - z^2 x (1 - x)(2 + h + (1 + 2h) x (1 - x)),
    h = (m + n)/2 - 1, one on each side of NAP (SingleCaseES `calc_NAP`). At NAP = 1 (or 0)
    x = 1 (or 0) is a trivial root; SingleCaseES 0.7.4's `uniroot` call returns it, giving the
    degenerate interval [1, 1]. We return Newcombe's interval instead: the other root (found
    after dividing out the trivial factor) and the boundary.
    """
    h = (m + n) / 2.0 - 1.0
    z2 = z**2

    def variance_term(x: float) -> float:
        return 2.0 + h + (1.0 + 2.0 * h) * x * (1.0 - x)

    def score(x: float) -> float:
        return m * n * (nap_est - x) ** 2 * (2.0 - x) * (1.0 + x) - z2 * x * (
            1.0 - x
        ) * variance_term(x)

    from scipy import optimize  # only NAP's interval needs it; keep the module import light

    tol = {"xtol": 1e-14, "rtol": 1e-14}
    if nap_est >= 1.0:
        # f(x) / (1 - x): positive at 0, negative at 1
        def reduced_upper(x: float) -> float:
            return m * n * (1.0 - x) * (2.0 - x) * (1.0 + x) - z2 * x * variance_term(x)

        return optimize.brentq(reduced_upper, 0.0, 1.0, **tol), 1.0
    if nap_est <= 0.0:
        # f(x) / x: negative at 0, positive at 1
        def reduced_lower(x: float) -> float:
            return m * n * x * (2.0 - x) * (1.0 + x) - z2 * (1.0 - x) * variance_term(x)

        return 0.0, optimize.brentq(reduced_lower, 0.0, 1.0, **tol)
    lower = optimize.brentq(score, 0.0, nap_est, **tol)
    upper = optimize.brentq(score, nap_est, 1.0, **tol)
    return lower, upper


@dataclass(frozen=True)
class _PairComparisons:
    """The m x n pair matrix q[i, j] = 1[b_j > a_i] + 0.5 * 1[b_j == a_i], summarized.

    `row_sums[i]` sums q over B for A observation i, `column_sums[j]` over A for B observation j;
    `wins` and `ties` count the pairs with b_j > a_i and b_j == a_i, `losses` those with b_j < a_i.
    All come from sorting and binary search, O((m + n) log(m + n)), never the m x n pairs, so
    100,000 observations take milliseconds; they are whole or half numbers, hence exact.
    """

    row_sums: np.ndarray
    column_sums: np.ndarray
    wins: int
    ties: int
    losses: int


def _pair_comparisons(a_arr: np.ndarray, b_arr: np.ndarray) -> _PairComparisons:
    a_sorted, b_sorted = np.sort(a_arr), np.sort(b_arr)
    b_at_most = np.searchsorted(b_sorted, a_arr, side="right")
    b_below = np.searchsorted(b_sorted, a_arr, side="left")
    a_below = np.searchsorted(a_sorted, b_arr, side="left")
    a_at_most = np.searchsorted(a_sorted, b_arr, side="right")
    wins = int(np.sum(a_below))
    ties = int(np.sum(a_at_most - a_below))
    return _PairComparisons(
        row_sums=(b_arr.size - b_at_most) + 0.5 * (b_at_most - b_below),
        column_sums=a_below + 0.5 * (a_at_most - a_below),
        wins=wins,
        ties=ties,
        losses=a_arr.size * b_arr.size - wins - ties,
    )


def _nap_from_pairs(
    pairs: _PairComparisons, m: int, n: int, se_method: NapSE, confidence: float
) -> EffectEstimate:
    """NAP, its SE by `se_method` and its score interval, from the pair counts."""
    estimate = (pairs.wins + 0.5 * pairs.ties) / (m * n)
    trunc = 0.5 / (m * n)
    nap_trunc = min(max(estimate, trunc), 1.0 - trunc)
    q1 = float(np.sum((pairs.row_sums - n * estimate) ** 2)) / (m * n**2)
    q2 = float(np.sum((pairs.column_sums - m * estimate) ** 2)) / (m**2 * n)
    if se_method == "unbiased":
        # mean over pairs of (q - NAP)^2 = mean of q^2 - NAP^2; q^2 is 1 for a win, 1/4 for a tie
        x = max((pairs.wins + 0.25 * pairs.ties) / (m * n) - estimate**2, 0.0)
        variance = (nap_trunc * (1.0 - nap_trunc) + n * q1 + m * q2 - 2.0 * x) / ((m - 1) * (n - 1))
    elif se_method == "hanley":
        variance = (nap_trunc * (1.0 - nap_trunc) + (n - 1) * q1 + (m - 1) * q2) / (m * n)
    else:  # "null": the exact variance when there is no effect
        variance = (m + n + 1) / (12.0 * m * n)
    interval = _nap_score_interval(estimate, m, n, _z(confidence))
    return EffectEstimate(estimate, math.sqrt(variance), interval, confidence)


def nap(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    se_method: str = "unbiased",
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Non-overlap of all pairs (Parker & Vannest, 2009), as SingleCaseES `NAP()`.

    NAP = mean over all (A, B) pairs of 1[B improves on A] + 0.5 * 1[tie]: the Mann-Whitney U of B
    against A over m n, counted from ranks (`_pair_comparisons`). SE, SingleCaseES's `SE`:
    "unbiased" (the default), the exactly unbiased estimator of Sen (1967) / Mee (1990);
    "hanley", Hanley & McNeil (1982); both with NAP truncated to [0.5/(mn), 1 - 0.5/(mn)] in the
    leading term, and their sums of squares over the rows and columns of the pair matrix come
    from the per-observation counts; "null", (m + n + 1) / (12 m n), the variance under no
    effect. CI: Newcombe (2006) score interval at `confidence`. Needs at least 2 observations in
    each phase.
    """
    method = _check_nap_se(se_method)
    level = _check_confidence(confidence)
    a_arr, b_arr = _phases(a, b, improvement, min_points=2)
    m, n = a_arr.size, b_arr.size
    return _nap_from_pairs(_pair_comparisons(a_arr, b_arr), m, n, method, level)


def _tau_from_nap(nap_result: EffectEstimate) -> EffectEstimate:
    """Tau = 2 NAP - 1 with SE and interval mapped the same way (SingleCaseES `calc_Tau`)."""
    assert nap_result.se is not None and nap_result.ci is not None
    lower, upper = nap_result.ci
    return EffectEstimate(
        2.0 * nap_result.estimate - 1.0,
        2.0 * nap_result.se,
        (2.0 * lower - 1.0, 2.0 * upper - 1.0),
        nap_result.confidence,
    )


def tau(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    se_method: str = "unbiased",
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Tau (non-overlap) = 2 * NAP - 1, as SingleCaseES `Tau()` (Parker et al., 2011).

    SE = 2 * SE(NAP) (by `se_method`, see `nap`); the interval is NAP's score interval mapped by
    2x - 1.
    """
    return _tau_from_nap(nap(a, b, improvement, se_method, confidence))


def _kendall_s_over_time(values: np.ndarray) -> int:
    """Kendall's S of a series against session order, sum over i < k of sign(x_k - x_i).

    Counted level by level as in a merge sort, O(n log^2 n): at width w the rows fall into blocks
    of 2w, and each row of a block's right half is compared, by binary search among the sorted
    left half of its block, with the w rows before it. Every pair i < k meets exactly once, at
    the level where they share a block but not a half. Values are replaced by their ranks so
    that block and rank pack into one sortable integer key.
    """
    n = values.size
    _, ranks = np.unique(values, return_inverse=True)
    ranks = ranks.astype(np.int64).reshape(-1)
    n_ranks = int(ranks.max()) + 1 if n else 0
    index = np.arange(n, dtype=np.int64)
    total = 0
    width = 1
    while width < n:
        block = index // (2 * width)
        right = (index // width) % 2 == 1
        left_keys = np.sort(block[~right] * n_ranks + ranks[~right])
        base = block[right] * n_ranks
        keys = base + ranks[right]
        below = np.searchsorted(left_keys, keys, side="left")
        at_most = np.searchsorted(left_keys, keys, side="right")
        block_start = np.searchsorted(left_keys, base, side="left")
        block_stop = np.searchsorted(left_keys, base + n_ranks, side="left")
        total += int(np.sum(below - block_start)) - int(np.sum(block_stop - at_most))
        width *= 2
    return total


def tau_u(a: PhaseValues, b: PhaseValues, improvement: str = "increase") -> EffectEstimate:
    """Tau-U with baseline trend correction (Parker, Vannest, Davis & Sauber, 2011).

    As SingleCaseES `Tau_U()`: (S_AB - S_A) / (m n), where S_AB = sum of sign(B_j - A_i) over all
    pairs and S_A = Kendall's S of the baseline against session order (sum over i < k of
    sign(A_k - A_i)). `a` must be in session order. No SE (SingleCaseES gives none). Both sums are
    counted from ranks (`_pair_comparisons`, `_kendall_s_over_time`), not over the pairs.
    """
    a_arr, b_arr = _phases(a, b, improvement, min_points=1)
    m, n = a_arr.size, b_arr.size
    pairs = _pair_comparisons(a_arr, b_arr)
    s_ab = pairs.wins - pairs.losses
    s_a = _kendall_s_over_time(a_arr)
    return EffectEstimate(float(s_ab - s_a) / (m * n))


@dataclass(frozen=True)
class TauBC:
    """Tau-BC and the baseline trend behind it.

    `effect`: the estimate, SE and interval. `slope`, `intercept`: the Theil-Sen line of the
    baseline against session number (sessions 1..m, then m+1..m+n for B). `corrected`: whether
    the line was subtracted (always, unless a pretest found no significant trend).
    `trend_p_value`: the pretest's two-sided p-value (None without a pretest). `kendall`: Tau is
    Kendall's tau-b against the phase (Tarlow, 2017) rather than Tau (non-overlap)."""

    effect: EffectEstimate
    slope: float
    intercept: float
    corrected: bool
    trend_p_value: float | None
    kendall: bool

    def to_json(self) -> dict[str, Any]:
        return {
            **self.effect.to_json(),
            "slope": float(self.slope),
            "intercept": float(self.intercept),
            "trendCorrected": self.corrected,
            "trendPValue": None if self.trend_p_value is None else float(self.trend_p_value),
            "kendall": self.kendall,
        }


def _theil_sen(values: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of `values` against sessions 1..m as SingleCaseES `calc_Tau_BC`: the
    median of the slopes over all pairs of sessions, then the median of y - slope * session."""
    m = values.size
    sessions = np.arange(1, m + 1, dtype=float)
    slopes = np.concatenate([(values[lag:] - values[:-lag]) / lag for lag in range(1, m)])
    slope = float(np.median(slopes))
    return slope, float(np.median(values - sessions * slope))


def _tie_sizes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_counts=True)[1].astype(float)


def _baseline_trend_p_value(values: np.ndarray) -> float:
    """Two-sided p-value of Kendall's S of the baseline against session order, as R's
    `Kendall::Kendall(A_data, session_A)$sl` computes it (Kendall.f, TAUK2): S is taken as normal
    with variance (m(m-1)(2m+5) - sum t(t-1)(2t+5)) / 18 over the tie groups t, with a continuity
    correction of 1 toward zero (its exact branch is never reached). 1 when m <= 3 or the
    baseline is constant, where TAUK2 returns its initial p-value of 1."""
    m = values.size
    if m <= 3 or np.all(values == values[0]):
        return 1.0
    s = _kendall_s_over_time(values)
    ties = _tie_sizes(values)
    variance = (m * (m - 1) * (2 * m + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    corrected = s - 1 if s > 0 else s + 1 if s < 0 else 0
    return math.erfc(abs(corrected) / math.sqrt(variance) / math.sqrt(2.0))


def tau_bc(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    *,
    kendall: bool = False,
    pretest_trend: float | None = None,
    se_method: str = "unbiased",
    confidence: float = DEFAULT_CONFIDENCE,
) -> TauBC:
    """Baseline-corrected Tau (Tarlow, 2017), as SingleCaseES `Tau_BC()`.

    The Theil-Sen line of the baseline against session number (A at sessions 1..m, B at m+1..
    m+n) is subtracted from both phases, then Tau is computed on the residuals: Tau (non-overlap,
    no tie adjustment; SE and interval as `tau`, by `se_method`) by default, or with
    `kendall=True` Kendall's tau-b of the residuals against the phase dummy, S / sqrt(m n (N(N-1)/2
    - U)) with U the tied pairs of residuals (0 when the residuals are constant), SE =
    sqrt(2 (1 - tau^2) / (m + n)) and a Wald interval, as Tarlow's calculator.

    `pretest_trend=None` (SingleCaseES `pretest_trend = FALSE`) always corrects; a level in (0, 1)
    corrects only when the baseline trend's Kendall test has p <= that level (otherwise Tau-BC is
    Tau of the raw data). Neither SE accounts for the estimated trend. `a` must be in session
    order; at least 2 observations per phase and at most `MAX_TAU_BC_BASELINE` baseline ones.
    """
    method = _check_nap_se(se_method)
    level = _check_confidence(confidence)
    direction = _check_improvement(improvement)
    if pretest_trend is not None and (
        isinstance(pretest_trend, bool)
        or not isinstance(pretest_trend, int | float)
        or not 0.0 < pretest_trend < 1.0
    ):
        raise InputError(
            "tau_bc_pretest: the baseline trend pretest's level must lie between 0 and 1 (e.g. "
            f"0.05), got {pretest_trend!r}",
            field="tau_bc_pretest",
        )
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    m, n = a_arr.size, b_arr.size
    if m > MAX_TAU_BC_BASELINE:
        raise InputError(
            f"phase: Tau-BC takes at most {MAX_TAU_BC_BASELINE} baseline observations (the "
            f"Theil-Sen slope compares every pair of them), got {m}",
            field="phase",
        )
    p_value = None if pretest_trend is None else _baseline_trend_p_value(a_arr)
    corrected = p_value is None or p_value <= pretest_trend
    slope, intercept = _theil_sen(a_arr)
    if corrected:
        a_arr = a_arr - intercept - slope * np.arange(1, m + 1, dtype=float)
        b_arr = b_arr - intercept - slope * np.arange(m + 1, m + n + 1, dtype=float)
    if direction == "decrease":
        a_arr, b_arr = -a_arr, -b_arr
    pairs = _pair_comparisons(a_arr, b_arr)
    if kendall:
        both = np.concatenate((a_arr, b_arr))
        if np.all(both == both[0]):
            tau_b = 0.0
        else:
            ties = _tie_sizes(both)
            total = m + n
            untied = total * (total - 1) / 2.0 - float(np.sum(ties * (ties - 1) / 2.0))
            tau_b = (pairs.wins - pairs.losses) / math.sqrt(m * n * untied)
        effect = _wald(tau_b, math.sqrt(2.0 / (m + n) * (1.0 - tau_b**2)), level)
    else:
        effect = _tau_from_nap(_nap_from_pairs(pairs, m, n, method, level))
    return TauBC(effect, slope, intercept, corrected, p_value, kendall)


def pnd(a: PhaseValues, b: PhaseValues, improvement: str = "increase") -> EffectEstimate:
    """Percentage of non-overlapping data (Scruggs, Mastropieri & Casto, 1987), as a proportion.

    Share of B observations beyond the most extreme A observation (SingleCaseES `PND()`).
    """
    a_arr, b_arr = _phases(a, b, improvement, min_points=1)
    return EffectEstimate(float(np.mean(b_arr > a_arr.max())))


def _pand_estimate(a_arr: np.ndarray, b_arr: np.ndarray) -> float:
    """Most observations kept, as a share, when only the highest A and lowest B points may go and
    every kept A point must lie below every kept B point. Keeping the k lowest A points, the B
    points kept are those above the k-th lowest A point; the best k is found in one pass over
    the sorted A points (O((m + n) log(m + n)))."""
    m, n = a_arr.size, b_arr.size
    b_sorted = np.sort(b_arr)
    # B points at or below the highest kept A point must go; keeping no A point keeps every B
    removed_b = np.concatenate(([0], np.searchsorted(b_sorted, np.sort(a_arr), side="right")))
    kept = np.arange(m + 1) + (n - removed_b)
    return float(np.max(kept)) / (m + n)


def pand(a: PhaseValues, b: PhaseValues, improvement: str = "increase") -> EffectEstimate:
    """Percentage of all non-overlapping data (Parker, Hagan-Burke & Vannest, 2007).

    Share of observations left after removing the fewest points (highest of A, lowest of B) so
    that every remaining A point lies below every remaining B point (SingleCaseES `PAND()`).
    """
    a_arr, b_arr = _phases(a, b, improvement, min_points=1)
    return EffectEstimate(_pand_estimate(a_arr, b_arr))


def ird(a: PhaseValues, b: PhaseValues, improvement: str = "increase") -> EffectEstimate:
    """Robust improvement rate difference (Parker, Vannest & Brown, 2009).

    From PAND as in SingleCaseES `IRD()`: ((m + n)^2 PAND - m^2 - n^2) / (2 m n).
    """
    a_arr, b_arr = _phases(a, b, improvement, min_points=1)
    m, n = a_arr.size, b_arr.size
    pand_est = _pand_estimate(a_arr, b_arr)
    return EffectEstimate(((m + n) ** 2 * pand_est - m**2 - n**2) / (2.0 * m * n))


def pem(a: PhaseValues, b: PhaseValues, improvement: str = "increase") -> EffectEstimate:
    """Percentage exceeding the median (Ma, 2006), as a proportion; ties with the median count
    one half (SingleCaseES `PEM()`)."""
    a_arr, b_arr = _phases(a, b, improvement, min_points=1)
    median = float(np.median(a_arr))
    return EffectEstimate(float(np.mean((b_arr > median) + 0.5 * (b_arr == median))))


# ----------------------------------------------------------------------------- parametric


def smd(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    std_dev: Literal["baseline", "pool"] = "baseline",
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Within-case standardized mean difference, as SingleCaseES `SMD(bias_correct = TRUE)`.

    d = J (mean_B - mean_A) / s with Hedges' J = 1 - 3 / (4 df - 1).
    `std_dev="baseline"`: s = SD of A, df = m - 1, SE = J sqrt(1/m + s_B^2 / (n s_A^2) + d^2/(2 df)).
    `std_dev="pool"`: s = pooled SD, df = m + n - 2, SE = J sqrt(1/m + 1/n + d^2 / (2 df)).
    The sign is flipped when a decrease is the improvement. CI: d +/- z SE at `confidence`.
    """
    direction = _check_improvement(improvement)
    level = _check_confidence(confidence)
    if std_dev not in ("baseline", "pool"):
        raise InputError(f"std_dev: must be 'baseline' or 'pool', got {std_dev!r}", field="std_dev")
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    m, n = a_arr.size, b_arr.size
    var_a, var_b = float(np.var(a_arr, ddof=1)), float(np.var(b_arr, ddof=1))
    if std_dev == "baseline":
        df = m - 1
        s_sq = var_a
        if s_sq == 0.0:
            raise InputError(
                "value: phase A has no variation, so the baseline SMD is undefined", field="value"
            )
        sampling_var = 1.0 / m + var_b / (n * var_a)
    else:
        df = m + n - 2
        s_sq = ((m - 1) * var_a + (n - 1) * var_b) / df
        if s_sq == 0.0:
            raise InputError(
                "value: neither phase varies, so the pooled SMD is undefined", field="value"
            )
        sampling_var = 1.0 / m + 1.0 / n
    j = 1.0 - 3.0 / (4.0 * df - 1.0)
    d = j * (float(b_arr.mean()) - float(a_arr.mean())) / math.sqrt(s_sq)
    if direction == "decrease":
        d = -d
    se = j * math.sqrt(sampling_var + d**2 / (2.0 * df))
    return _wald(d, se, level)


def _truncation_constant(
    scale: str,
    observation_length: float | None,
    intervals: float | None,
    d_const: float | None = None,
) -> float:
    """D in Pustejovsky (2018): the resolution of the measurement (SingleCaseES `trunc_constant`),
    or SingleCaseES's `D_const` when given."""
    for name, setting in (
        ("observation_length", observation_length),
        ("intervals", intervals),
        ("truncation_constant", d_const),
    ):
        if setting is not None and (
            isinstance(setting, bool)
            or not isinstance(setting, int | float)
            or not (math.isfinite(setting) and setting > 0)
        ):
            raise InputError(f"{name}: must be a positive number, got {setting!r}", field=name)
    if d_const is not None:
        return float(d_const)
    if scale == "count":
        return 1.0
    if scale == "rate":
        return float(observation_length) if observation_length is not None else math.inf
    if scale == "proportion":
        return float(intervals) if intervals is not None else math.inf
    if scale == "percentage":
        return float(intervals) / 100.0 if intervals is not None else math.inf
    return math.inf


def _log_response_ratio(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str,
    scale: str,
    observation_length: float | None,
    intervals: float | None,
    increasing: bool,
    d_const: float | None,
    confidence: float,
) -> EffectEstimate:
    """Shared body of SingleCaseES `calc_LRRi` (increasing=True) and `calc_LRRd`."""
    direction = _check_improvement(improvement)
    level = _check_confidence(confidence)
    if scale not in _SCALES:
        raise InputError(
            f"scale: must be one of {', '.join(_SCALES)}, got {scale!r}", field="scale"
        )
    d_const = _truncation_constant(scale, observation_length, intervals, d_const)
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    both = np.concatenate((a_arr, b_arr))
    if np.any(both < 0):
        raise InputError(
            "value: log response ratios need non-negative values (a ratio scale)", field="value"
        )
    if scale == "percentage" and np.any(both > 100):
        raise InputError("value: percentages must lie between 0 and 100", field="value")
    if scale == "proportion" and np.any(both > 1):
        raise InputError("value: proportions must lie between 0 and 1", field="value")

    counts = np.array([a_arr.size, b_arr.size], dtype=float)
    means = np.array([a_arr.mean(), b_arr.mean()])
    variances = np.array([np.var(a_arr, ddof=1), np.var(b_arr, ddof=1)])
    # LRRi measures the level in the direction of improvement, LRRd against it; for
    # percentages/proportions that means reflecting the level (SingleCaseES calc_LRRi/calc_LRRd)
    reflect = (direction == "decrease") if increasing else (direction == "increase")
    if reflect and scale == "percentage":
        means = 100.0 - means
    elif reflect and scale == "proportion":
        means = 1.0 - means

    # truncated means and variances keep the log and the SE finite (Pustejovsky, 2018)
    means = np.maximum(1.0 / (2.0 * d_const * counts), means)
    variances = np.maximum(1.0 / (d_const**2 * counts**3), variances)
    if np.any(means <= 0):
        raise InputError(
            "value: a phase mean is zero, so the log response ratio is undefined; "
            "use scale='count' (or give observation_length, intervals or a truncation constant) "
            "to truncate it",
            field="value",
        )
    corrected_logs = np.log(means) + variances / (2.0 * counts * means**2)
    estimate = float(corrected_logs[1] - corrected_logs[0])
    if reflect and scale not in ("percentage", "proportion"):
        estimate = -estimate
    se = math.sqrt(float(np.sum(variances / (counts * means**2))))
    return _wald(estimate, se, level)


def lrri(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    scale: Scale = "count",
    observation_length: float | None = None,
    intervals: float | None = None,
    d_const: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Log response ratio, increasing version, as SingleCaseES `LRRi()` (Pustejovsky, 2015, 2018).

    Bias-corrected: [ln mean_B + s_B^2/(2 n mean_B^2)] - [ln mean_A + s_A^2/(2 m mean_A^2)],
    positive for therapeutic improvement; SE = sqrt(s_A^2/(m mean_A^2) + s_B^2/(n mean_B^2));
    CI: Wald. Zero means are handled as SingleCaseES documents: each phase mean is truncated
    below at 1/(2 D n) and each variance at 1/(D^2 n^3), with D = 1 for counts (the default
    scale, as in `LRRi()`), the session length in minutes for rates, and the number of intervals
    for proportions (intervals/100 for percentages), or `d_const` (SingleCaseES `D_const`) when
    given. With no such D (scale "other", or rate / proportion / percentage without it) a zero
    phase mean raises InputError. Negative values raise InputError: the ratio needs a scale
    with a true zero.
    """
    return _log_response_ratio(
        a, b, improvement, scale, observation_length, intervals, True, d_const, confidence
    )


def lrrd(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    scale: Scale = "count",
    observation_length: float | None = None,
    intervals: float | None = None,
    d_const: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Log response ratio, decreasing version, as SingleCaseES `LRRd()`: negative values mean
    therapeutic improvement. For counts and rates LRRd = -LRRi; see `lrri` for the details.

    Unlike SingleCaseES's standalone `LRRd()`, whose default is `improvement = "decrease"`, the
    default here is "increase" like every other function in this module (and `calc_ES`).
    """
    return _log_response_ratio(
        a, b, improvement, scale, observation_length, intervals, False, d_const, confidence
    )


def lor(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    scale: Scale = "percentage",
    intervals: float | None = None,
    d_const: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Log odds ratio (Pustejovsky, 2015), bias-corrected, as SingleCaseES `LOR()`.

    For a proportion (or a percentage, divided by 100): [logit p_B - c_B] - [logit p_A - c_A] with
    the delta-method correction c = (2p - 1) s^2 / (2 n p^2 (1 - p)^2); SE = sqrt(sum s^2 /
    (n p^2 (1 - p)^2)); Wald interval. The sign flips when a decrease is the improvement (the
    LOR is symmetric in valence). Each phase mean is truncated to [1/(2 D n), 1 - 1/(2 D n)] and
    each variance below at 1/(D^2 n^3), D = `intervals` (per session; 60 x minutes for
    continuous recording) or `d_const`; without either a phase mean of 0 or 1 raises InputError.
    Other scales raise InputError (SingleCaseES returns NA for them).
    """
    direction = _check_improvement(improvement)
    level = _check_confidence(confidence)
    if scale not in ("proportion", "percentage"):
        raise InputError(
            f"scale: the log odds ratio needs a proportion or percentage scale, got {scale!r}",
            field="scale",
        )
    d = _truncation_constant(scale, None, intervals, d_const)
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    top = 100.0 if scale == "percentage" else 1.0
    both = np.concatenate((a_arr, b_arr))
    if np.any((both < 0) | (both > top)):
        raise InputError(f"value: {scale}s must lie between 0 and {top:g}", field="value")
    if scale == "percentage":
        a_arr, b_arr = a_arr / 100.0, b_arr / 100.0
        d = d * 100.0  # SingleCaseES: D per percentage point, times 100 per unit
    counts = np.array([a_arr.size, b_arr.size], dtype=float)
    lower = 1.0 / (2.0 * d * counts)
    means = np.minimum(1.0 - lower, np.maximum(lower, [a_arr.mean(), b_arr.mean()]))
    variances = np.maximum(1.0 / (d**2 * counts**3), [np.var(a_arr, ddof=1), np.var(b_arr, ddof=1)])
    if np.any((means <= 0) | (means >= 1)):
        raise InputError(
            "value: a phase mean is 0 or 1, so the log odds ratio is undefined; give intervals "
            "(or a truncation constant) to truncate it",
            field="value",
        )
    odds_curvature = counts * means**2 * (1.0 - means) ** 2
    corrected = (
        np.log(means) - np.log1p(-means) - (2.0 * means - 1.0) * variances / (2.0 * odds_curvature)
    )
    estimate = float(corrected[1] - corrected[0])
    if direction == "decrease":
        estimate = -estimate
    return _wald(estimate, math.sqrt(float(np.sum(variances / odds_curvature))), level)


def _binomial_half_cdf(k: int, n: int) -> float:
    """P[Bin(n, 1/2) <= k], R's pbinom(k, n, 0.5), without loading scipy.stats: exactly from
    whole numbers up to n = 5,000, beyond from the largest term down (each term is the one above
    times i / (n - i + 1)), accurate to about 1e-10 relative there."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n <= 5000:
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    term = math.exp(
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)
    )
    total = 0.0
    for i in range(k, -1, -1):
        total += term
        term *= i / (n - i + 1)
        if term < total * 1e-17:
            break
    return min(total, 1.0)


def _log_median_and_variance(values: np.ndarray, delta_method: bool) -> tuple[float, float]:
    """The log median of a phase and its variance from order statistics (Bonett & Price, 2020),
    as SingleCaseES `stats_LRM`: L and U are the o-th lowest and highest values, o = max(1,
    round(n/2 - sqrt(n))), z0 = Φ⁻¹(1 - P[Bin(n, 1/2) <= o - 1]); the variance is ((ln U -
    ln L) / (2 z0))^2, or with `delta_method` ((U - L) / (2 z0))^2 / median^2."""
    from statistics import NormalDist

    n = values.size
    ordered = np.sort(values)
    median = float(np.median(ordered))
    o1 = max(round(n / 2.0 - math.sqrt(n)), 1)  # R's round, like Python's, rounds half to even
    lower, upper = float(ordered[o1 - 1]), float(ordered[n - o1])
    z0 = NormalDist().inv_cdf(1.0 - _binomial_half_cdf(o1 - 1, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        if delta_method:
            variance = ((upper - lower) / (2.0 * z0)) ** 2 / median**2
        else:
            variance = float((np.log(upper) - np.log(lower)) / (2.0 * z0)) ** 2
        log_median = float(np.log(median)) if median > 0 else -math.inf
    return log_median, variance


def lrm(
    a: PhaseValues,
    b: PhaseValues,
    improvement: str = "increase",
    delta_method: bool = False,
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Log ratio of medians, ln(median_B / median_A), as SingleCaseES `LRM()` (Bonett & Price,
    2020); negated when a decrease is the improvement. SE = sqrt(var_A + var_B) from each phase's
    order statistics (`_log_median_and_variance`; `delta_method` as SingleCaseES's); Wald
    interval. A zero median (or negative values) makes it undefined: InputError. When a phase's
    order statistic L is 0 (so ln L = -inf), SingleCaseES's SE is infinite; the estimate then
    comes without SE and interval.
    """
    direction = _check_improvement(improvement)
    level = _check_confidence(confidence)
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    if np.any(a_arr < 0) or np.any(b_arr < 0):
        raise InputError("value: the log ratio of medians needs non-negative values", field="value")
    log_a, var_a = _log_median_and_variance(a_arr, delta_method)
    log_b, var_b = _log_median_and_variance(b_arr, delta_method)
    if not (math.isfinite(log_a) and math.isfinite(log_b)):
        raise InputError(
            "value: a phase median is zero, so the log ratio of medians is undefined",
            field="value",
        )
    estimate = log_b - log_a
    if direction == "decrease":
        estimate = -estimate
    variance = var_a + var_b
    if not math.isfinite(variance):
        return EffectEstimate(estimate, confidence=level)
    return _wald(estimate, math.sqrt(variance), level)


def pogo(
    a: PhaseValues,
    b: PhaseValues,
    goal: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> EffectEstimate:
    """Percent of goal obtained (Ferron et al., 2020), as SingleCaseES `PoGO()`:
    100 (mean_B - mean_A) / (goal - mean_A). SE: Dunlap & Silver's (1986) ratio approximation as
    SingleCaseES computes it, 100 sqrt(s_A^2/m + s_B^2/n + (PoGO/100)^2 s_A^2/m) / |goal - mean_A|;
    Wald interval. The goal sets the direction, so there is no `improvement`. A goal equal to the
    baseline mean raises InputError.
    """
    level = _check_confidence(confidence)
    if (
        isinstance(goal, bool)
        or not isinstance(goal, int | float | np.floating | np.integer)
        or not math.isfinite(goal)
    ):
        raise InputError(f"goal: must be a finite number, got {goal!r}", field="goal")
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    m, n = a_arr.size, b_arr.size
    mean_a, mean_b = float(a_arr.mean()), float(b_arr.mean())
    gap = float(goal) - mean_a
    if gap == 0.0:
        raise InputError(
            f"goal: {goal:g} equals the baseline mean, so the percent of goal obtained is "
            "undefined",
            field="goal",
        )
    estimate = 100.0 * (mean_b - mean_a) / gap
    var_a, var_b = float(np.var(a_arr, ddof=1)), float(np.var(b_arr, ddof=1))
    variance = (var_a / m + var_b / n + (estimate / 100.0) ** 2 * var_a / m) / gap**2
    return _wald(estimate, 100.0 * math.sqrt(variance), level)


def cohens_d(a: PhaseValues, b: PhaseValues) -> float:
    """Cohen's d of B against A: (mean_B - mean_A) / pooled SD, variances with n - 1.

    No small-sample correction and no direction flip (positive when B is higher).
    """
    a_arr = _phase_array(a, "A", 2)
    b_arr = _phase_array(b, "B", 2)
    m, n = a_arr.size, b_arr.size
    pooled_var = ((m - 1) * np.var(a_arr, ddof=1) + (n - 1) * np.var(b_arr, ddof=1)) / (m + n - 2)
    if pooled_var == 0.0:
        raise InputError("value: neither phase varies, so Cohen's d is undefined", field="value")
    return float((b_arr.mean() - a_arr.mean()) / math.sqrt(pooled_var))


# ----------------------------------------------------------------------------- summaries

# EffectSizeOptions' fields by their camelCase keys (JSON and the protocol file).
_OPTION_KEYS = {
    "scale": "scale",
    "confidence": "confidence",
    "nap_se": "napSe",
    "goal": "goal",
    "observation_length": "observationLength",
    "intervals": "intervals",
    "truncation_constant": "truncationConstant",
    "tau_bc_pretest": "tauBcPretest",
    "tau_bc_kendall": "tauBcKendall",
}


@dataclass(frozen=True)
class EffectSizeOptions:
    """The settings of a summary (`effect_sizes`, `abab_effect_sizes`), SingleCaseES's arguments:
    `scale`, `confidence`, `nap_se` (`SE`, for NAP, Tau and Tau-BC), `goal` (PoGO; without it
    PoGO is left out), `observation_length`, `intervals` and `truncation_constant` (`D_const`) for
    the log ratios' truncation, `tau_bc_pretest` (`pretest_trend`: None corrects the baseline
    trend always, a level only when significant) and `tau_bc_kendall` (`Kendall`). Checked when
    made (InputError naming the field)."""

    scale: Scale = "count"
    confidence: float = DEFAULT_CONFIDENCE
    nap_se: NapSE = "unbiased"
    goal: float | None = None
    observation_length: float | None = None
    intervals: float | None = None
    truncation_constant: float | None = None
    tau_bc_pretest: float | None = None
    tau_bc_kendall: bool = False

    def __post_init__(self) -> None:
        if self.scale not in _SCALES:
            raise InputError(
                f"scale: must be one of {', '.join(_SCALES)}, got {self.scale!r}", field="scale"
            )
        object.__setattr__(self, "confidence", _check_confidence(self.confidence))
        object.__setattr__(self, "nap_se", _check_nap_se(self.nap_se))
        if self.goal is not None:
            if (
                isinstance(self.goal, bool)
                or not isinstance(self.goal, int | float)
                or not math.isfinite(self.goal)
            ):
                raise InputError(f"goal: must be a finite number, got {self.goal!r}", field="goal")
            object.__setattr__(self, "goal", float(self.goal))
        _truncation_constant(
            self.scale, self.observation_length, self.intervals, self.truncation_constant
        )
        if self.tau_bc_pretest is not None and (
            isinstance(self.tau_bc_pretest, bool)
            or not isinstance(self.tau_bc_pretest, int | float)
            or not 0.0 < self.tau_bc_pretest < 1.0
        ):
            raise InputError(
                "tau_bc_pretest: the baseline trend pretest's level must lie between 0 and 1 "
                f"(e.g. 0.05), got {self.tau_bc_pretest!r}",
                field="tau_bc_pretest",
            )
        if not isinstance(self.tau_bc_kendall, bool):
            raise InputError(
                f"tau_bc_kendall: must be true or false, got {self.tau_bc_kendall!r}",
                field="tau_bc_kendall",
            )

    def to_json(self) -> dict[str, Any]:
        """Every setting by its camelCase key (None for those left out)."""
        return {key: getattr(self, name) for name, key in _OPTION_KEYS.items()}

    @classmethod
    def from_json(cls, value: Any, where: str = "effectSizes") -> EffectSizeOptions:
        """From a mapping of camelCase keys (the protocol file's `effectSizes:`); InputError
        naming `where.key`. A key left out or null takes the default."""
        if not isinstance(value, Mapping):
            raise InputError(
                f"{where}: must be a mapping of effect-size settings "
                f"({', '.join(_OPTION_KEYS.values())})",
                field=where,
            )
        names = {key: name for name, key in _OPTION_KEYS.items()}
        given: dict[str, Any] = {}
        for key, setting in value.items():
            if key not in names:
                raise InputError(
                    f"{where}.{key}: not an effect-size setting; they are "
                    f"{', '.join(_OPTION_KEYS.values())}",
                    field=f"{where}.{key}",
                )
            if setting is not None:
                given[names[key]] = setting
        try:
            return cls(**given)
        except InputError as error:
            key = _OPTION_KEYS.get(error.field or "", error.field or "")
            message = str(error).split(": ", 1)[-1]
            raise InputError(f"{where}.{key}: {message}", field=f"{where}.{key}") from None

    def given(self) -> dict[str, Any]:
        """The settings that differ from the defaults, by camelCase key (what a file writes)."""
        default = EffectSizeOptions().to_json()
        return {key: v for key, v in self.to_json().items() if v != default[key]}


DEFAULT_OPTIONS = EffectSizeOptions()


@dataclass(frozen=True)
class EffectSizeSummary:
    """All indices for one A-B comparison. An index is None when it is undefined for the data
    (e.g. SMD with a constant baseline, log response ratios with negative values)."""

    nap: EffectEstimate
    tau: EffectEstimate
    tau_u: EffectEstimate
    pnd: EffectEstimate
    pand: EffectEstimate
    ird: EffectEstimate
    pem: EffectEstimate
    smd: EffectEstimate | None
    smd_pooled: EffectEstimate | None
    lrri: EffectEstimate | None
    lrrd: EffectEstimate | None
    cohens_d: float | None
    n_baseline: int
    n_treatment: int
    improvement: Improvement
    tau_bc: TauBC | EffectEstimate | None = None
    lor: EffectEstimate | None = None
    lrm: EffectEstimate | None = None
    pogo: EffectEstimate | None = None
    options: EffectSizeOptions = DEFAULT_OPTIONS

    def to_json(self) -> dict[str, Any]:
        def maybe(estimate: EffectEstimate | TauBC | None) -> dict[str, Any] | None:
            return None if estimate is None else estimate.to_json()

        return {
            "nap": self.nap.to_json(),
            "tau": self.tau.to_json(),
            "tauU": self.tau_u.to_json(),
            "pnd": self.pnd.to_json(),
            "pand": self.pand.to_json(),
            "ird": self.ird.to_json(),
            "pem": self.pem.to_json(),
            "smd": maybe(self.smd),
            "lrri": maybe(self.lrri),
            "smdPooled": maybe(self.smd_pooled),
            "lrrd": maybe(self.lrrd),
            "cohensD": None if self.cohens_d is None else {"estimate": float(self.cohens_d)},
            "nBaseline": self.n_baseline,
            "nTreatment": self.n_treatment,
            "improvement": self.improvement,
            "tauBC": maybe(self.tau_bc),
            "lor": maybe(self.lor),
            "lrm": maybe(self.lrm),
            "pogo": maybe(self.pogo),
            "options": self.options.to_json(),
        }


def _undefined_as_none(compute: Callable[[], _T]) -> _T | None:
    """Run an index that may be undefined for valid data; None instead of its InputError."""
    try:
        return compute()
    except InputError:
        return None


def _summarize(
    a: np.ndarray, b: np.ndarray, improvement: Improvement, options: EffectSizeOptions
) -> EffectSizeSummary:
    o = options
    level = o.confidence
    truncation = (o.observation_length, o.intervals, o.truncation_constant, level)
    goal = o.goal
    return EffectSizeSummary(
        nap=nap(a, b, improvement, o.nap_se, level),
        tau=tau(a, b, improvement, o.nap_se, level),
        tau_u=tau_u(a, b, improvement),
        pnd=pnd(a, b, improvement),
        pand=pand(a, b, improvement),
        ird=ird(a, b, improvement),
        pem=pem(a, b, improvement),
        smd=_undefined_as_none(lambda: smd(a, b, improvement, "baseline", level)),
        smd_pooled=_undefined_as_none(lambda: smd(a, b, improvement, "pool", level)),
        lrri=_undefined_as_none(lambda: lrri(a, b, improvement, o.scale, *truncation)),
        lrrd=_undefined_as_none(lambda: lrrd(a, b, improvement, o.scale, *truncation)),
        cohens_d=_undefined_as_none(lambda: cohens_d(a, b)),
        n_baseline=int(a.size),
        n_treatment=int(b.size),
        improvement=improvement,
        tau_bc=_undefined_as_none(
            lambda: tau_bc(
                a,
                b,
                improvement,
                kendall=o.tau_bc_kendall,
                pretest_trend=o.tau_bc_pretest,
                se_method=o.nap_se,
                confidence=level,
            )
        ),
        lor=_undefined_as_none(
            lambda: lor(a, b, improvement, o.scale, o.intervals, o.truncation_constant, level)
        ),
        lrm=_undefined_as_none(lambda: lrm(a, b, improvement, confidence=level)),
        pogo=None if goal is None else _undefined_as_none(lambda: pogo(a, b, goal, level)),
        options=options,
    )


def _resolved_options(options: EffectSizeOptions | None, scale: Scale | None) -> EffectSizeOptions:
    resolved = DEFAULT_OPTIONS if options is None else options
    return resolved if scale is None else replace(resolved, scale=scale)


def _labels_and_values(
    phases: Sequence[str], values: Sequence[float]
) -> tuple[list[str], np.ndarray]:
    labels = [str(label).strip().upper() for label in phases]
    if len(labels) != len(values):
        raise InputError(
            f"phase: {len(labels)} phase labels for {len(values)} values", field="phase"
        )
    if not labels:
        raise InputError("value: no observations", field="value")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError("value: a value is not a number", field="value") from None
    if array.ndim != 1:
        raise InputError("value: values must be a flat list of numbers", field="value")
    if not np.all(np.isfinite(array)):
        row = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InputError(f"value: missing or non-finite value at row {row + 1}", field="value")
    check_magnitudes(array, "value")
    return labels, array


_SCALE_RANGES = {"proportion": 1.0, "percentage": 100.0}


def _check_scale(scale: str, array: np.ndarray) -> Scale:
    """A known scale, and values that lie on it: a proportion in [0, 1], a percentage in
    [0, 100]. Counts and rates may be any number (the log response ratios are then left out
    for negative values, as undefined for those data)."""
    if scale not in _SCALES:
        raise InputError(
            f"scale: must be one of {', '.join(_SCALES)}, got {scale!r}", field="scale"
        )
    top = _SCALE_RANGES.get(scale)
    if top is not None:
        outside = np.flatnonzero((array < 0) | (array > top))
        if outside.size:
            row = int(outside[0])
            raise InputError(
                f"value: row {row + 1} has {array[row]:g}, outside [0, {top:g}], so the values are "
                f"not on the {scale} scale given (use scale 'count' or 'other')",
                field="value",
            )
    return scale  # type: ignore[return-value]


def _blocks(labels: list[str]) -> list[tuple[str, int, int]]:
    """Runs of equal labels as (label, start, stop)."""
    label_array = np.asarray(labels)
    starts = np.flatnonzero(np.r_[True, label_array[1:] != label_array[:-1]])
    stops = np.r_[starts[1:], len(labels)]
    return [(labels[s], int(s), int(e)) for s, e in zip(starts, stops, strict=True)]


def effect_sizes(
    phases: Sequence[str],
    values: Sequence[float],
    improvement: str = "increase",
    *,
    scale: Scale | None = None,
    options: EffectSizeOptions | None = None,
) -> EffectSizeSummary:
    """Every index for an AB series: one block of "A" rows, then one block of "B" rows.

    At least 2 observations per phase (the SEs need them). `options` (default
    `EffectSizeOptions()`) holds SingleCaseES's settings; `scale`, when given, overrides its
    scale. The scale only affects the log ratios (see `lrri`, `lor`), but the values must lie on
    it (a proportion in [0, 1], a percentage in [0, 100]: InputError otherwise); SMD, LRR, LOR,
    LRM, PoGO, Tau-BC and Cohen's d come back as None when undefined for the data (LOR off the
    proportion/percentage scales, PoGO without a goal). Values beyond +/-1e150
    (`limits.MAX_ABS_VALUE`) are an InputError.
    """
    direction = _check_improvement(improvement)
    resolved = _resolved_options(options, scale)
    labels, array = _labels_and_values(phases, values)
    _check_scale(resolved.scale, array)
    unknown = sorted(set(labels) - {"A", "B"})
    if unknown:
        raise InputError(
            f"phase: labels must be 'A' or 'B', got {', '.join(map(repr, unknown))}",
            field="phase",
        )
    blocks = _blocks(labels)
    if [label for label, _, _ in blocks] != ["A", "B"]:
        order = "-".join(label for label, _, _ in blocks)
        raise InputError(
            f"phase: expected one A block followed by one B block, got {order}", field="phase"
        )
    (_, a_start, a_stop), (_, b_start, b_stop) = blocks
    a = _phase_array(array[a_start:a_stop], "A", 2)
    b = _phase_array(array[b_start:b_stop], "B", 2)
    return _summarize(a, b, direction, resolved)


@dataclass(frozen=True)
class PhasePairEffectSizes:
    """The indices of one A-B pair of an ABAB design, e.g. label "A1-B1"."""

    label: str
    summary: EffectSizeSummary

    def to_json(self) -> dict[str, Any]:
        return {"pair": self.label, **self.summary.to_json()}


@dataclass(frozen=True)
class ABABEffectSizes:
    """Per-pair indices of an ABAB design and their equally weighted average.

    The average follows SingleCaseES `batch_calc_ES(aggregate = phase_pair, weighting = "equal")`:
    estimate = mean of the pair estimates, SE = sqrt(sum SE^2) / k, CI = Wald interval from that
    SE (also for NAP and Tau); indices without SE are averaged alone. An index undefined in any
    pair is None in the average.
    """

    pairs: tuple[PhasePairEffectSizes, ...]
    average: EffectSizeSummary

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": [pair.to_json() for pair in self.pairs],
            "average": self.average.to_json(),
            "weighting": "equal",
        }


def equal_weight_average(
    estimates: Sequence[EffectEstimate | TauBC | None],
) -> EffectEstimate | None:
    """Mean of independent estimates (pairs or cases), SE = sqrt(sum SE^2) / k and a Wald
    interval from it at the estimates' confidence level, as SingleCaseES
    `batch_calc_ES(weighting = "equal")`; without an SE when any estimate lacks one, and None
    when there is none or any is None. A Tau-BC is averaged by its estimate."""
    if not estimates or any(estimate is None for estimate in estimates):
        return None
    present = [
        estimate.effect if isinstance(estimate, TauBC) else estimate
        for estimate in estimates
        if estimate is not None
    ]
    mean = float(np.mean([estimate.estimate for estimate in present]))
    ses = [estimate.se for estimate in present]
    level = present[0].confidence
    if any(se is None for se in ses):
        return EffectEstimate(mean, confidence=level)
    se = math.sqrt(sum(se**2 for se in ses if se is not None)) / len(present)
    return _wald(mean, se, level)


def _average_summaries(summaries: list[EffectSizeSummary]) -> EffectSizeSummary:
    cohen_values = [summary.cohens_d for summary in summaries]
    return EffectSizeSummary(
        nap=equal_weight_average([s.nap for s in summaries]),  # type: ignore[arg-type]
        tau=equal_weight_average([s.tau for s in summaries]),  # type: ignore[arg-type]
        tau_u=equal_weight_average([s.tau_u for s in summaries]),  # type: ignore[arg-type]
        pnd=equal_weight_average([s.pnd for s in summaries]),  # type: ignore[arg-type]
        pand=equal_weight_average([s.pand for s in summaries]),  # type: ignore[arg-type]
        ird=equal_weight_average([s.ird for s in summaries]),  # type: ignore[arg-type]
        pem=equal_weight_average([s.pem for s in summaries]),  # type: ignore[arg-type]
        smd=equal_weight_average([s.smd for s in summaries]),
        smd_pooled=equal_weight_average([s.smd_pooled for s in summaries]),
        lrri=equal_weight_average([s.lrri for s in summaries]),
        lrrd=equal_weight_average([s.lrrd for s in summaries]),
        cohens_d=None
        if any(value is None for value in cohen_values)
        else float(np.mean([v for v in cohen_values if v is not None])),
        n_baseline=sum(s.n_baseline for s in summaries),
        n_treatment=sum(s.n_treatment for s in summaries),
        improvement=summaries[0].improvement,
        tau_bc=equal_weight_average([s.tau_bc for s in summaries]),
        lor=equal_weight_average([s.lor for s in summaries]),
        lrm=equal_weight_average([s.lrm for s in summaries]),
        pogo=equal_weight_average([s.pogo for s in summaries]),
        options=summaries[0].options,
    )


def abab_effect_sizes(
    phases: Sequence[str],
    values: Sequence[float],
    improvement: str = "increase",
    *,
    scale: Scale | None = None,
    options: EffectSizeOptions | None = None,
) -> ABABEffectSizes:
    """Indices for each A-B pair of an ABAB design (A1 vs B1, A2 vs B2) and their average.

    Rows are in time order; labels are "A"/"B" or numbered "A1", "B1", "A2", "B2", forming four
    alternating blocks A, B, A, B. Each phase needs at least 2 observations. `options` and
    `scale` as for `effect_sizes`; Tau-BC's baseline trend is each pair's own, with its B phase
    continuing the A phase's session numbers.
    """
    direction = _check_improvement(improvement)
    resolved = _resolved_options(options, scale)
    labels, array = _labels_and_values(phases, values)
    _check_scale(resolved.scale, array)
    blocks = _blocks(labels)
    found = "-".join(label for label, _, _ in blocks)
    plain = [label for label, _, _ in blocks] == ["A", "B", "A", "B"]
    numbered = [label for label, _, _ in blocks] == ["A1", "B1", "A2", "B2"]
    if not (plain or numbered):
        raise InputError(
            "phase: expected four alternating blocks A, B, A, B (or A1, B1, A2, B2) in time "
            f"order, got {found}",
            field="phase",
        )
    names = ["A1", "B1", "A2", "B2"]
    phase_data = [
        _phase_array(array[start:stop], name, 2)
        for name, (_, start, stop) in zip(names, blocks, strict=True)
    ]
    pairs = tuple(
        PhasePairEffectSizes(
            f"A{k}-B{k}",
            _summarize(phase_data[2 * k - 2], phase_data[2 * k - 1], direction, resolved),
        )
        for k in (1, 2)
    )
    return ABABEffectSizes(pairs, _average_summaries([pair.summary for pair in pairs]))
