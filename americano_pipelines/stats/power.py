"""Simulated power of a design's randomization test under the design's own randomization.

What SCRT, scan and StudyU leave to the user: before a protocol is registered, how likely is its
registered randomization test to reject at `alpha` if the intervention shifts the outcome by
`effect`? `simulated_power` answers by Monte Carlo, in the spirit of scan's `power_test`
(Wilbert & Lüke; jazznbass/scan `R/power_test.R`), but with the protocol's own schedule drawer
and test rather than a fixed phase design:

1. Each of `simulations` studies draws its schedule with the design's drawer (`stats.sced`:
   `draw_abab_schedule`; `draw_multiple_baseline_starts`, one start per case;
   `draw_alternating_sequence` or `draw_randomized_blocks`), i.e. from exactly the admissible
   set the test enumerates, and simulates one observation per planned day (per case):
   baseline level 0, `effect` added on every B day, noise with marginal SD `sd` and lag-one
   autocorrelation `autocorrelation` (a stationary AR(1): e_0 = sd z_0,
   e_t = r e_(t-1) + sd sqrt(1 - r^2) z_t; cases independent).
2. It runs the registered test (statistic, minimum lengths, `max_exact`/`permutations` and the
   test's own seed, `exclude_equal`, alpha) on the study; the power is the share of studies
   with p <= alpha, with its Monte Carlo standard error sqrt(p (1 - p) / N).
3. The minimum detectable effect is the smallest effect whose simulated power is at least 80%,
   searched with common random numbers (the same schedules and noise for every effect).

Two ways to get the same answers (`method`):

- "thresholds" (the directional mean statistics B-A, A-B, PB-PA, PA-PB of ABAB, multiple
  baseline with the mean combination, and randomized blocks). These statistics are linear in the
  data, so for a study and an assignment j of the test's reference set the statistic is
  effect x b_j + e_j (b_j: the statistic of the study's B indicator, largest for the observed
  schedule; e_j: of its noise). Each assignment stops counting as "at least as extreme" above one
  effect, so each study has one critical effect T_i and it rejects exactly when the effect
  exceeds T_i. The power at every effect is then the share of T_i below it, and the minimum
  detectable effect is their 80% quantile: exact for these simulations, with a distribution-free
  95% interval from the order statistics as its Monte Carlo precision. Cost: one pass over
  simulations x reference assignments x phases (N = 1,000 studies of an exact ABAB test over
  12,341 schedules take about 3 seconds on one core).
- "per-simulation" (every other statistic, combination and the restricted alternating design):
  the registered test itself is called for every study at every effect the search visits; the
  minimum detectable effect is bracketed by doubling from `sd` and then bisected (8 halvings),
  and its interval is that bracket (the search's precision). Cost: (2 + doublings + 8) x N test
  calls.

The threshold method reproduces the registered test's decisions study by study (checked in the
tests against the per-simulation calls). Same seed, same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.stats.defaults import (
    DEFAULT_MAX_EXACT,
    DEFAULT_MIN_PHASE_LENGTH,
    DEFAULT_PERMUTATIONS,
)
from americano_pipelines.stats.sced import (
    DECREASING_STATISTICS,
    INT64_MAX,
    RandomizationTestResult,
    abab_randomization_test,
    alternating_treatments_test,
    changes_from_ranks,
    count_assignments,
    default_combination,
    draw_abab_schedule,
    draw_alternating_sequence,
    draw_multiple_baseline_starts,
    draw_randomized_blocks,
    multiple_baseline_test,
    phase_minima,
    randomized_block_test,
)

__all__ = [
    "DESIGNS",
    "MAX_POWER_CELLS",
    "MAX_SIMULATIONS",
    "PowerDesign",
    "PowerResult",
    "simulated_power",
]

DESIGNS = ("ABAB", "MULTIPLE_BASELINE", "ALTERNATING", "CHANGING_CRITERION")
TARGET_POWER = 0.8
MAX_SIMULATIONS = 100_000
# Simulated observations held at once (studies x cases x days): 160 MB of noise.
MAX_POWER_CELLS = 20_000_000
# Reference-set cells (studies x assignments) evaluated at once by the threshold method.
_CHUNK_CELLS = 1 << 22
_TIE_TOLERANCE = 1e-9
_GAP_TOLERANCE = 1e-9
_BISECTIONS = 8
_MAX_DOUBLINGS = 12
_THRESHOLD_STATISTICS = {"B-A": 1.0, "PB-PA": 1.0, "A-B": -1.0, "PA-PB": -1.0}


@dataclass(frozen=True)
class PowerDesign:
    """The design and its registered randomization test, as a protocol registers them.

    `n_observations`: planned days (sessions for ALTERNATING), one observation each (per case
    for MULTIPLE_BASELINE, `n_cases` cases). `randomization`: "restricted" (with
    `max_consecutive`) or "blocks" for ALTERNATING. The test settings are the
    randomization_test item's (`statistic`, `statistic_expression`, `combine`, `permutations`,
    `max_exact`, `test_seed`, `exclude_equal`) and the protocol's `alpha`."""

    design: str
    n_observations: int
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH
    min_b_phase_length: int | None = None
    n_cases: int = 1
    randomization: str = "restricted"
    max_consecutive: int | None = 2
    statistic: str = "B-A"
    statistic_expression: str | None = None
    combine: str | None = None
    permutations: int = DEFAULT_PERMUTATIONS
    max_exact: int = DEFAULT_MAX_EXACT
    test_seed: int = 0
    alpha: float = 0.05
    exclude_equal: bool = False


@dataclass(frozen=True)
class PowerResult:
    """Simulated power at `effect`, the type-I error (effect 0), both with their Monte Carlo
    SE, and the minimum detectable effect at 80% power with its interval (see the module
    docstring for what the interval means under each `method`). `minimum_detectable_effect` is
    None when no effect reaches 80% (e.g. a design with fewer than 1/alpha assignments); it is
    negative for the statistics that expect B below A."""

    design: str
    statistic: str
    alpha: float
    effect: float
    sd: float
    autocorrelation: float
    simulations: int
    seed: int
    power: float
    mcse: float
    type_i_error: float
    type_i_error_mcse: float
    minimum_detectable_effect: float | None
    minimum_detectable_effect_interval: tuple[float | None, float | None]
    method: str
    n_admissible: int
    exact: bool
    target_power: float = TARGET_POWER
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.minimum_detectable_effect_interval
        return {
            "power": self.power,
            "mcse": self.mcse,
            "effect": self.effect,
            "sd": self.sd,
            "autocorrelation": self.autocorrelation,
            "simulations": self.simulations,
            "seed": self.seed,
            "alpha": self.alpha,
            "typeIError": self.type_i_error,
            "typeIErrorMcse": self.type_i_error_mcse,
            "targetPower": self.target_power,
            "minimumDetectableEffect": self.minimum_detectable_effect,
            "minimumDetectableEffectInterval": [lo, hi],
            "minimumDetectableEffectSd": None
            if self.minimum_detectable_effect is None
            else self.minimum_detectable_effect / self.sd,
            "method": self.method,
            "design": self.design,
            "statistic": self.statistic,
            "nAdmissibleAssignments": self.n_admissible,
            "exact": self.exact,
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------- checks


def _number(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name}: must be a number, got {value!r}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{name}: must be a finite number, got {value!r}", field=name)
    if (low is not None and number <= low) or (high is not None and number >= high):
        bounds = (
            f"above {low:g}"
            if high is None
            else f"strictly between {low:g} and {high:g}"
            if low is not None
            else f"below {high:g}"
        )
        raise InputError(f"{name}: must lie {bounds}, got {value!r}", field=name)
    return number


def _whole(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name}: must be a whole number of at least {minimum}", field=name)
    if maximum is not None and value > maximum:
        raise InputError(f"{name}: must be at most {maximum:,}, got {value:,}", field=name)
    return int(value)


def _check_design(design: PowerDesign) -> None:
    if design.design not in DESIGNS:
        raise InputError(
            f"design: unknown design {design.design!r}; expected one of {', '.join(DESIGNS)}",
            field="design",
        )
    if design.design == "CHANGING_CRITERION":
        raise InputError(
            "design: no randomization test is defined for a changing criterion design, so it "
            "has no power to simulate",
            field="design",
        )
    if design.design == "MULTIPLE_BASELINE":
        _whole(design.n_cases, "n_cases", 1)
    if design.design == "ALTERNATING" and design.randomization not in ("restricted", "blocks"):
        raise InputError(
            f"randomization: {design.randomization!r}; expected restricted or blocks",
            field="randomization",
        )


# ----------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class _Studies:
    """The simulated studies: B indicators and noise, (N, cases, n) each, and the schedules."""

    is_b: np.ndarray
    noise: np.ndarray
    schedules: tuple[Any, ...]


def _ar1(z: np.ndarray, sd: float, r: float) -> np.ndarray:
    """Stationary AR(1) noise with marginal SD `sd` from standard normals along the last axis."""
    e = np.empty_like(z)
    e[..., 0] = z[..., 0]
    scale = math.sqrt(1.0 - r * r)
    for t in range(1, z.shape[-1]):
        e[..., t] = r * e[..., t - 1] + scale * z[..., t]
    return sd * e


def _draw(design: PowerDesign, seed: int) -> Any:
    """One schedule by the design's drawer."""
    n = design.n_observations
    if design.design == "ABAB":
        return draw_abab_schedule(n, design.min_phase_length, seed, design.min_b_phase_length)
    if design.design == "MULTIPLE_BASELINE":
        return draw_multiple_baseline_starts(
            n, design.n_cases, design.min_phase_length, seed, design.min_b_phase_length
        )
    if design.randomization == "blocks":
        return draw_randomized_blocks(n, ("A", "B"), seed)
    return draw_alternating_sequence(n, ("A", "B"), design.max_consecutive, seed)


def _indicator(design: PowerDesign, schedule: Any) -> np.ndarray:
    """The B days of a schedule, (cases, n)."""
    n = design.n_observations
    day = np.arange(n)
    if design.design == "ABAB":
        first_b1, first_a2, first_b2 = schedule
        return (((day >= first_b1) & (day < first_a2)) | (day >= first_b2))[None, :]
    if design.design == "MULTIPLE_BASELINE":
        return day[None, :] >= np.asarray(schedule)[:, None]
    return (np.asarray(schedule) == "B")[None, :]


def _simulate(
    design: PowerDesign, simulations: int, sd: float, autocorrelation: float, seed: int
) -> _Studies:
    cases = design.n_cases if design.design == "MULTIPLE_BASELINE" else 1
    cells = simulations * cases * design.n_observations
    if cells > MAX_POWER_CELLS:
        raise InputError(
            f"simulations: {simulations:,} studies of {cases * design.n_observations:,} "
            f"observations are {cells:,} values, above the limit of {MAX_POWER_CELLS:,}; use "
            f"at most {MAX_POWER_CELLS // (cases * design.n_observations):,} simulations",
            field="simulations",
        )
    rng = np.random.default_rng(seed)
    schedule_seeds = rng.integers(0, 2**31 - 1, size=simulations)
    schedules = tuple(_draw(design, int(s)) for s in schedule_seeds)
    is_b = np.stack([_indicator(design, s) for s in schedules])
    z = rng.standard_normal((simulations, cases, design.n_observations))
    return _Studies(is_b=is_b, noise=_ar1(z, sd, autocorrelation), schedules=schedules)


# ----------------------------------------------------------------------------- the test itself


def _labels(is_b: np.ndarray) -> list[str]:
    return ["B" if b else "A" for b in is_b.tolist()]


def _test_result(design: PowerDesign, is_b: np.ndarray, y: np.ndarray) -> RandomizationTestResult:
    """The registered test on one simulated study (is_b, y: (cases, n))."""
    options: dict[str, Any] = {
        "statistic": design.statistic,
        "permutations": design.permutations,
        "seed": design.test_seed,
        "max_exact": design.max_exact,
        "alpha": design.alpha,
        "exclude_equal": design.exclude_equal,
    }
    if design.statistic_expression is not None and design.design != "ALTERNATING":
        options["statistic_expression"] = design.statistic_expression
    if design.design == "ABAB":
        result = abab_randomization_test(
            _labels(is_b[0]),
            y[0],
            min_phase_length=design.min_phase_length,
            min_b_phase_length=design.min_b_phase_length,
            **options,
        )
    elif design.design == "MULTIPLE_BASELINE":
        result = multiple_baseline_test(
            {f"case{c + 1}": (_labels(is_b[c]), y[c]) for c in range(is_b.shape[0])},
            min_phase_length=design.min_phase_length,
            min_b_phase_length=design.min_b_phase_length,
            min_cases=1,
            combine=design.combine,
            **options,
        )
    elif design.randomization == "blocks":
        result = randomized_block_test(_labels(is_b[0]), y[0], **options)
    else:
        result = alternating_treatments_test(
            _labels(is_b[0]), y[0], max_consecutive=design.max_consecutive, **options
        )
    return result


def _run_test(design: PowerDesign, is_b: np.ndarray, y: np.ndarray) -> float:
    return _test_result(design, is_b, y).p_value


def _per_simulation_power(design: PowerDesign, studies: _Studies, effect: float) -> float:
    y = effect * studies.is_b + studies.noise
    rejected = sum(
        _run_test(design, studies.is_b[i], y[i]) <= design.alpha for i in range(y.shape[0])
    )
    return rejected / y.shape[0]


# ----------------------------------------------------------------------------- thresholds


def _max_allowed(alpha: float, total: int) -> int:
    """The largest count k with k / total <= alpha, in the test's own float arithmetic."""
    k = int(alpha * total)
    while k + 1 <= total and (k + 1) / total <= alpha:
        k += 1
    while k >= 0 and k / total > alpha:
        k -= 1
    return k


def _critical(
    b: np.ndarray,
    e: np.ndarray,
    b_obs: np.ndarray,
    e_obs: np.ndarray,
    tolerance: np.ndarray,
    allowed: int,
    exclude_equal: bool,
    always: int = 0,
) -> np.ndarray:
    """Each study's critical effect T (in the statistic's direction): with statistic
    u b_j + e_j over the reference assignments j (rows of b, e: (studies, R)), assignment j
    counts as extreme at u while u g_j <= e_j - e_obs + tol (g_j = b_obs - b_j >= 0; strictly
    above the observed one when `exclude_equal`); the study rejects when at most `allowed`
    count, `always` of them (the observed one, for a Monte Carlo test) counting at every u."""
    gap = b_obs[:, None] - b
    slack = e - e_obs[:, None]
    flat = gap <= _GAP_TOLERANCE
    if exclude_equal:
        constant = np.count_nonzero(flat & (slack > tolerance[:, None]), axis=1)
        limits = (slack - tolerance[:, None]) / np.where(flat, 1.0, gap)
    else:
        constant = np.count_nonzero(flat & (slack >= -tolerance[:, None]), axis=1)
        limits = (slack + tolerance[:, None]) / np.where(flat, 1.0, gap)
    limits = np.where(flat, -np.inf, limits)
    room = allowed - always - constant
    out = np.where(room < 0, np.inf, -np.inf)  # beyond every limit: rejects at every effect
    # The (room + 1)-th largest limit, one partition per distinct room (most studies share one).
    for r in np.unique(room[(room >= 0) & (room < limits.shape[1])]).tolist():
        rows = room == r
        out[rows] = -np.partition(-limits[rows], r, axis=1)[:, r]
    return out


def _phase_stat(
    prefix: np.ndarray, edges: list[np.ndarray], kind: str, per_study: bool = False
) -> np.ndarray:
    """B-A (kind "plain") or PB-PA ("phase") of phase designs starting with A: `prefix`
    (studies, n + 1), `edges` the P + 1 phase bounds, each an (R,) index array, giving
    (studies, R); or, `per_study`, one (studies,) array each: each study's own schedule."""
    n_phases = len(edges) - 1
    n = prefix.shape[1] - 1
    if per_study:
        rows = np.arange(prefix.shape[0])

        def at(e: np.ndarray) -> np.ndarray:
            return prefix[rows, e]
    else:

        def at(e: np.ndarray) -> np.ndarray:
            return prefix[:, e]

    if kind == "phase":
        mean_a = mean_b = 0.0
        for j in range(n_phases):
            mean = (at(edges[j + 1]) - at(edges[j])) / (edges[j + 1] - edges[j])
            if j % 2:
                mean_b = mean_b + mean
            else:
                mean_a = mean_a + mean
        return mean_b / (n_phases // 2) - mean_a / ((n_phases + 1) // 2)
    sum_b = 0.0
    len_b = 0
    for j in range(1, n_phases, 2):
        sum_b = sum_b + (at(edges[j + 1]) - at(edges[j]))
        len_b = len_b + (edges[j + 1] - edges[j])
    total = prefix[:, n] if per_study else prefix[:, n][:, None]
    return sum_b / len_b - (total - sum_b) / (n - len_b)


def _prefix(x: np.ndarray) -> np.ndarray:
    return np.concatenate((np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)), axis=1)


def _tolerance(noise: np.ndarray) -> np.ndarray:
    """The test's tie tolerance, 1e-9 x the largest centred |value| (of the noise; ties between
    distinct assignments of continuous data have probability zero)."""
    centred = noise - noise.mean(axis=-1, keepdims=True)
    return _TIE_TOLERANCE * np.abs(centred).reshape(noise.shape[0], -1).max(axis=1)


def _abab_thresholds(design: PowerDesign, studies: _Studies) -> tuple[np.ndarray, int, bool]:
    n = design.n_observations
    minima = phase_minima(4, design.min_phase_length, design.min_b_phase_length)
    n_admissible = count_assignments(n, minima)
    exact = n_admissible <= design.max_exact
    if exact:
        reference = changes_from_ranks(np.arange(n_admissible, dtype=np.int64), n, minima)
        total, always = n_admissible, 0
    else:
        rng = np.random.default_rng(design.test_seed)
        ranks = rng.integers(0, n_admissible, size=design.permutations - 1, dtype=np.int64)
        reference = changes_from_ranks(ranks, n, minima)
        total, always = design.permutations, 1
    kind = "phase" if design.statistic in ("PB-PA", "PA-PB") else "plain"
    sign = _THRESHOLD_STATISTICS[design.statistic]
    full = np.full(reference.shape[0], n)
    edges = [np.zeros(reference.shape[0], dtype=np.int64), *reference.T, full]
    observed = np.array(studies.schedules, dtype=np.int64)
    allowed = _max_allowed(design.alpha, total)
    out = np.empty(studies.is_b.shape[0])
    step = max(1, _CHUNK_CELLS // reference.shape[0])
    for first in range(0, out.size, step):
        rows = slice(first, first + step)
        ind = _prefix(studies.is_b[rows, 0].astype(float))
        noise = _prefix(studies.noise[rows, 0])
        obs = observed[rows]
        obs_edges = [np.zeros(len(obs), dtype=np.int64), *obs.T, np.full(len(obs), n)]
        b_obs = _phase_stat(ind, obs_edges, kind, per_study=True)
        e_obs = sign * _phase_stat(noise, obs_edges, kind, per_study=True)
        out[rows] = _critical(
            _phase_stat(ind, edges, kind),
            sign * _phase_stat(noise, edges, kind),
            b_obs,
            e_obs,
            _tolerance(studies.noise[rows]),
            allowed,
            design.exclude_equal,
            always if not design.exclude_equal else 0,
        )
    return out, n_admissible, exact


def _case_statistics(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """B-A of AB series x (studies, n) at each start: (studies, len(starts))."""
    prefix = _prefix(x)
    n = x.shape[1]
    sum_a = prefix[:, starts]
    return (prefix[:, n][:, None] - sum_a) / (n - starts) - sum_a / starts


def _multiple_baseline_thresholds(
    design: PowerDesign, studies: _Studies
) -> tuple[np.ndarray, int, bool]:
    n = design.n_observations
    cases = design.n_cases
    min_b = design.min_b_phase_length or design.min_phase_length
    starts = np.arange(design.min_phase_length, n - min_b + 1, dtype=np.int64)
    n_admissible = len(starts) ** cases
    exact = n_admissible <= design.max_exact
    sign = _THRESHOLD_STATISTICS[design.statistic]
    observed = np.array(studies.schedules, dtype=np.int64)  # (N, cases)
    position = np.searchsorted(starts, observed)
    if exact:
        grid = np.meshgrid(*([np.arange(len(starts))] * cases), indexing="ij")
        picks = [g.ravel() for g in grid]
        total, always = n_admissible, 0
    else:
        rng = np.random.default_rng(design.test_seed)
        picks = [rng.integers(0, len(starts), size=design.permutations - 1) for _ in range(cases)]
        total, always = design.permutations, 1
    width = len(picks[0])
    allowed = _max_allowed(design.alpha, total)
    out = np.empty(observed.shape[0])
    step = max(1, _CHUNK_CELLS // max(width, 1))
    for first in range(0, out.size, step):
        rows = slice(first, first + step)
        diag = np.arange(len(observed[rows]))
        b = e = 0.0
        b_obs = e_obs = 0.0
        for c in range(cases):
            ind = _case_statistics(studies.is_b[rows, c].astype(float), starts)
            noise = sign * _case_statistics(studies.noise[rows, c], starts)
            b = b + ind[:, picks[c]]
            e = e + noise[:, picks[c]]
            b_obs = b_obs + ind[diag, position[rows, c]]
            e_obs = e_obs + noise[diag, position[rows, c]]
        out[rows] = _critical(
            b / cases,
            e / cases,
            b_obs / cases,
            e_obs / cases,
            _tolerance(studies.noise[rows]),
            allowed,
            design.exclude_equal,
            always if not design.exclude_equal else 0,
        )
    return out, n_admissible, exact


def _block_thresholds(design: PowerDesign, studies: _Studies) -> tuple[np.ndarray, int, bool]:
    m = design.n_observations // 2
    n_admissible = 2**m
    exact = n_admissible <= design.max_exact
    rows = n_admissible if exact else design.permutations
    signs = np.empty((rows, m), dtype=np.int64)
    rng = np.random.default_rng(design.test_seed)
    chunk = max(1, (1 << 22) // m)  # the test's own chunks, so its Monte Carlo stream
    for first in range(0, rows, chunk):
        index = np.arange(first, min(first + chunk, rows))
        if exact:
            signs[index] = 1 - 2 * ((index[:, None] >> np.arange(m)[None, :]) & 1)
        else:
            drawn = 1 - 2 * rng.integers(0, 2, size=(index.size, m))
            drawn[index == 0] = 1
            signs[index] = drawn
    sign = _THRESHOLD_STATISTICS[design.statistic]
    is_b = studies.is_b[:, 0]
    x = studies.noise[:, 0]
    d_noise = (x[:, 1::2] - x[:, 0::2]) * np.where(is_b[:, 1::2], 1.0, -1.0)
    b_row = signs.mean(axis=1)
    allowed = _max_allowed(design.alpha, rows)
    out = np.empty(is_b.shape[0])
    step = max(1, _CHUNK_CELLS // rows)
    for first in range(0, out.size, step):
        part = slice(first, first + step)
        d = d_noise[part]
        e = sign * (d @ signs.T.astype(float)) / m
        count = d.shape[0]
        scale = _TIE_TOLERANCE * np.abs(d).max(axis=1)
        out[part] = _critical(
            np.broadcast_to(b_row, (count, rows)),
            e,
            np.full(count, 1.0),
            sign * d.mean(axis=1),
            scale,
            allowed,
            design.exclude_equal,
        )
    return out, n_admissible, exact


def _threshold_method(design: PowerDesign) -> Callable[..., tuple[np.ndarray, int, bool]] | None:
    """The threshold computation for this design and statistic, or None (per-simulation)."""
    if design.statistic not in _THRESHOLD_STATISTICS or design.statistic_expression is not None:
        return None
    if design.design == "ABAB":
        return _abab_thresholds
    if design.design == "MULTIPLE_BASELINE":
        combine = design.combine or default_combination(design.statistic)
        if combine == "mean" and design.statistic in ("B-A", "A-B"):
            return _multiple_baseline_thresholds
        return None
    if design.randomization == "blocks" and design.statistic in ("B-A", "A-B"):
        return _block_thresholds
    return None


# ----------------------------------------------------------------------------- the answer


def _mcse(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def _quantile_interval(critical: np.ndarray, target: float) -> tuple[float, float, float]:
    """The smallest u with share(u > T) >= target (u just above the k-th smallest T), and a
    distribution-free 95% interval for it from the order statistics."""
    ordered = np.sort(critical)
    n = ordered.size
    k = math.ceil(target * n - 1e-9)
    half = 1.96 * math.sqrt(n * target * (1 - target))
    lo = max(1, math.floor(k - half))
    hi = min(n, math.ceil(k + half))
    return float(ordered[k - 1]), float(ordered[lo - 1]), float(ordered[hi - 1])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def simulated_power(
    design: PowerDesign,
    *,
    effect: float = 1.0,
    sd: float = 1.0,
    autocorrelation: float = 0.0,
    simulations: int = 1000,
    seed: int = 0,
    method: str = "auto",
    search: bool = True,
) -> PowerResult:
    """The power of `design`'s registered test at `effect` by simulation (module docstring).
    `method`: "auto" (thresholds where they apply), or "per-simulation" (always call the
    test). `search=False` skips the per-simulation search for the minimum detectable effect
    (its cost; the threshold method always gives it). InputError naming the field for bad settings, a design without a test, or a test
    the registered settings cannot run."""
    _check_design(design)
    effect = _number(effect, "effect")
    sd = _number(sd, "sd", low=0.0)
    autocorrelation = _number(autocorrelation, "autocorrelation", low=-1.0, high=1.0)
    simulations = _whole(simulations, "simulations", 2, MAX_SIMULATIONS)
    seed = _whole(seed, "seed", 0, INT64_MAX)
    if method not in ("auto", "per-simulation"):
        raise InputError(f"method: {method!r}; expected auto or per-simulation", field="method")
    studies = _simulate(design, simulations, sd, autocorrelation, seed)
    # The registered test on the first study, so its own checks (statistic, lengths, limits)
    # speak before any simulation work.
    first = _test_result(design, studies.is_b[0], effect * studies.is_b[0] + studies.noise[0])
    thresholds = _threshold_method(design) if method == "auto" else None
    notes: list[str] = []
    if thresholds is not None:
        critical, n_admissible, exact = thresholds(design, studies)
        sign = _THRESHOLD_STATISTICS[design.statistic]

        def power_at(d: float) -> float:
            u = sign * d
            hit = u >= critical if design.exclude_equal else u > critical
            return float(np.count_nonzero(hit)) / simulations

        power, type_i = power_at(effect), power_at(0.0)
        mde, lo, hi = _quantile_interval(critical, TARGET_POWER)
        if math.isfinite(mde):
            mde_value = sign * max(mde, 0.0)
            ends = [sign * max(v, 0.0) if math.isfinite(v) else None for v in (lo, hi)]
            interval = (ends[0], ends[1]) if sign > 0 else (ends[1], ends[0])
        else:
            mde_value, interval = None, (None, None)
        notes.append(
            "minimum detectable effect: the 80% quantile of the simulated studies' critical "
            "effects (exact for these simulations); its interval is a distribution-free 95% "
            "interval for that quantile"
        )
        method_name = "thresholds"
    else:
        power = _per_simulation_power(design, studies, effect)
        type_i = _per_simulation_power(design, studies, 0.0)
        n_admissible, exact = first.n_admissible, first.exact
        if search:
            mde_value, interval = _bisected_mde(design, studies, sd)
            notes.append(
                "minimum detectable effect: bracketed by doubling from sd, then bisected "
                f"{_BISECTIONS} times with the same simulated studies; its interval is that "
                "bracket"
            )
        else:
            mde_value, interval = None, (None, None)
            notes.append("minimum detectable effect: not searched (search off)")
        method_name = "per-simulation"
    if mde_value is None and (search or thresholds is not None):
        notes.append("no effect reached 80% power (the test may be unable to reject at alpha)")
    return PowerResult(
        design=design.design,
        statistic=design.statistic,
        alpha=design.alpha,
        effect=effect,
        sd=sd,
        autocorrelation=autocorrelation,
        simulations=simulations,
        seed=seed,
        power=power,
        mcse=_mcse(power, simulations),
        type_i_error=type_i,
        type_i_error_mcse=_mcse(type_i, simulations),
        minimum_detectable_effect=mde_value,
        minimum_detectable_effect_interval=interval,
        method=method_name,
        n_admissible=n_admissible,
        exact=exact,
        notes=tuple(notes),
    )


def _bisected_mde(
    design: PowerDesign, studies: _Studies, sd: float
) -> tuple[float | None, tuple[float | None, float | None]]:
    """The per-simulation search, in the statistic's direction (negative effects for the
    statistics that expect B below A; the absolute ones are searched upwards)."""
    direction = -1.0 if design.statistic in DECREASING_STATISTICS else 1.0
    lo, hi = 0.0, sd
    for _ in range(_MAX_DOUBLINGS):
        if _per_simulation_power(design, studies, direction * hi) >= TARGET_POWER:
            break
        lo, hi = hi, 2 * hi
    else:
        return None, (None, None)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if _per_simulation_power(design, studies, direction * mid) >= TARGET_POWER:
            hi = mid
        else:
            lo = mid
    ends = sorted((direction * lo, direction * hi))
    return direction * hi, (ends[0], ends[1])
