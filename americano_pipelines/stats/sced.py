"""Single-case randomization tests, as in the SCRT R package.

The tests follow Bulté & Onghena (2008), "An R package for single-case randomization tests",
*Behavior Research Methods* 40, 467-478; Bulté & Onghena (2009), "Randomization tests for
multiple-baseline designs: an extension of the SCRT-R package", *BRM* 41, 477-485; Onghena
(1992), "Randomization tests for extensions and variations of ABAB single-case experimental
designs", *Behavioral Assessment* 14, 153-171; and Edgington & Onghena (2007), *Randomization
Tests* (4th ed.). Definitions match SCRT 1.3.1 (`quantity`, `observed`, `pvalue.systematic`,
`pvalue.random`):

- Phase designs (AB, ABA, ABAB): the admissible assignments are all placements of the phase-change
  moments that leave every phase at least `min_phase_length` observations long. With P phases,
  n observations and minimum k there are C(n - P*k + P - 1, P - 1) of them (SCRT `quantity`):
  n = 24, k = 4 gives 165 for ABAB; n = 60, k = 5 gives 12,341. `min_b_phase_length` gives the
  B phases a minimum of their own (scan's `limit = c(A, B)`); with minima k_j the count is
  C(n - sum k_j + P - 1, P - 1). The multiple baseline takes both minima the same way.
- Multiple baseline across cases (or behaviors): each case is an AB series whose intervention
  start is drawn independently from that case's admissible start points; the combined statistic
  is the average over cases of the per-case statistic, as in scan's `rand_test` (Wilbert; "based
  on an algorithm from the SCRT package") and Bulté & Onghena (2009). The admissible starts are
  every start leaving both phases at least `min_phase_length` long, or the registered
  `start_points`; there are prod_i(#starts_i) assignments (scan: 11^3 = 1331 for three cases of
  20 with limit 5). SCRT's own "MBD" also randomizes which case receives which start-point set
  (a further factor N!, Koehler & Levin 1998); this test does not.
- Alternating treatments: the admissible assignments are all orderings of the observed numbers
  of A and B sessions with at most `max_consecutive` consecutive sessions of one condition (SCRT
  "ATD", where `limit` is that cap); `max_consecutive=None` is the completely randomized design
  (SCRT "CRD").

Statistics, named as in SCRT: "A-B" / "B-A" (mean of all A observations minus mean of all B
observations, or the reverse), "PA-PB" / "PB-PA" (mean of the A-phase means minus mean of the
B-phase means, or the reverse), "|A-B|", "|PA-PB|"; and, named as scan names them, "Median B-A",
"Median A-B" and "|Median A-B|" (median of all B observations minus median of all A ones),
"SMD hedges", "SMD glass", "NAP", "NAP decreasing", "T-test", "W-test" (R's Wilcoxon W; its
small values are the evidence, so its p-value is the lower tail, as scan's) and, for designs with
one B phase, "Slope B-A" and "Slope A-B" (`_moment_statistics` gives scan's definitions). A
user's own statistic, `statistic_expression` (stats.user_statistic: an expression over `a` and
`b`, scan's `statistic_function`), replaces the named one in the phase designs and the multiple
baseline; it is evaluated once per assignment. The directional statistics give one-sided
tests (large values are evidence for the named direction), the absolute ones two-sided tests.
In designs with one A and one B phase the phase-mean statistics equal the plain ones.

p-value (SCRT `pvalue.systematic`/`pvalue.random`): the share of the assignments in the
randomization distribution, the observed one included, whose statistic is >= the observed
statistic; ties count. Exact enumeration is used when the admissible assignments number at most
`max_exact`. Otherwise the test is Monte Carlo, exactly as SCRT's `pvalue.random(number = N)`
("the observed test statistic is always included in the randomization distribution"; its code
draws `sample(1:quantity, number - 1, replace = TRUE)` and divides by `number`): the
distribution holds N = `permutations` statistics, the observed one first and N - 1 drawn
uniformly with replacement from the admissible set, so p = (1 + #{draws >= observed}) / N, i.e.
(1 + k) / (1 + M) with M = N - 1 random draws. This p-value is itself a valid test (P(p <= a)
<= a under the null hypothesis). Statistics within 1e-9 x max|x - mean(x)| of the observed one
count as ties, so floating-point rounding in the prefix sums cannot break a tie.

All assignments are evaluated at once as numpy arrays. In phase designs a statistic comes from
prefix sums of the series, so an assignment costs O(number of phases), not O(n); alternating
sequences are enumerated (or sampled) session by session over all assignments together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.stats.defaults import (
    DEFAULT_MAX_EXACT,
    DEFAULT_MIN_PHASE_LENGTH,
    DEFAULT_PERMUTATIONS,
)
from americano_pipelines.stats.effect_sizes import cohens_d
from americano_pipelines.stats.limits import (
    MAX_ALTERNATING_SESSIONS,
    MAX_ALTERNATING_TABLE,
    MAX_EXACT,
    MAX_PERMUTATIONS,
    MAX_RANDOMIZATION_WORK,
    check_at_most,
    check_magnitudes,
)
from americano_pipelines.stats.sced_standards import (
    StandardsRating,
    alternating_treatments_standards,
    multiple_baseline_standards,
    reversal_design_standards,
)
from americano_pipelines.stats.user_statistic import UserStatistic

__all__ = [
    "CONDITION_STATISTICS",
    "INT64_MAX",
    "MEDIAN_STATISTICS",
    "PhaseSummary",
    "RandomizationTestResult",
    "STATISTICS",
    "ab_randomization_test",
    "aba_randomization_test",
    "abab_randomization_test",
    "admissible_phase_changes",
    "alternating_treatments_test",
    "changes_from_ranks",
    "count_assignments",
    "count_phase_assignments",
    "custom_design_test",
    "default_combination",
    "draw_abab_schedule",
    "draw_alternating_sequence",
    "draw_multiple_baseline_starts",
    "draw_phase_schedule",
    "draw_randomized_blocks",
    "multiple_baseline_start_windows",
    "multiple_baseline_test",
    "phase_minima",
    "randomized_block_test",
    "statistic_named",
]

# The medians' and these names are scan's (`rand_test(statistic = "Median B-A")`).
MEDIAN_STATISTICS = ("Median B-A", "Median A-B", "|Median A-B|")
SCAN_STATISTICS = ("SMD hedges", "SMD glass", "NAP", "NAP decreasing", "T-test", "W-test")
# Small values are the evidence for these (scan's testdirection "less"): R's Wilcoxon W counts
# the pairs with A above B.
LOWER_TAIL_STATISTICS = ("W-test",)
# A slope needs one B phase (AB, multiple baseline): scan fits it within the B observations.
SLOPE_STATISTICS = ("Slope B-A", "Slope A-B")
STATISTICS = (
    "A-B",
    "B-A",
    "PA-PB",
    "PB-PA",
    "|A-B|",
    "|PA-PB|",
    *MEDIAN_STATISTICS,
    *SCAN_STATISTICS,
    *SLOPE_STATISTICS,
)
# The statistics whose large values say that B is below A (the others: above, or two-sided).
DECREASING_STATISTICS = ("A-B", "PA-PB", "Median A-B", "NAP decreasing", "Slope A-B")
# An alternating treatments design has no phases, so no statistics of phase means.
CONDITION_STATISTICS = ("A-B", "B-A", "|A-B|")
_DESCRIPTIONS = {
    "A-B": "mean of A minus mean of B",
    "B-A": "mean of B minus mean of A",
    "PA-PB": "mean of the A-phase means minus mean of the B-phase means",
    "PB-PA": "mean of the B-phase means minus mean of the A-phase means",
    "|A-B|": "absolute difference between the A and B means",
    "|PA-PB|": "absolute difference between the mean A-phase and B-phase means",
    "Median B-A": "median of B minus median of A",
    "Median A-B": "median of A minus median of B",
    "|Median A-B|": "absolute difference between the A and B medians",
    "SMD hedges": "Hedges' g of B against A (pooled SD, small-sample corrected)",
    "SMD glass": "Glass' delta of B against A (the A phase's SD)",
    "NAP": "non-overlap of all pairs, B above A (%)",
    "NAP decreasing": "non-overlap of all pairs, B below A (%)",
    "T-test": "Welch t statistic of B against A",
    "W-test": "Wilcoxon rank-sum W (pairs with A above B; small values favour B)",
    "Slope B-A": "slope of B minus slope of A (per observation)",
    "Slope A-B": "slope of A minus slope of B (per observation)",
}
# How a multiple baseline design combines its cases' statistics (rows: assignments, columns:
# cases); scan's rules are the defaults: the median for its median statistics, the root mean
# square for its standardized mean differences, else the mean.
_COMBINE = {
    "mean": lambda stats: stats.mean(axis=1),
    "median": lambda stats: np.median(stats, axis=1),
    "rms": lambda stats: np.sqrt(np.mean(stats**2, axis=1)),
}
COMBINATIONS = tuple(_COMBINE)
_DEFAULT_COMBINATION = {
    **dict.fromkeys(MEDIAN_STATISTICS, "median"),
    **dict.fromkeys(("SMD hedges", "SMD glass"), "rms"),
}


def default_combination(statistic: str) -> str:
    """How a multiple baseline combines its cases' `statistic` when not told (scan's rule)."""
    return _DEFAULT_COMBINATION.get(statistic, "mean")


# A user's statistic is evaluated once per assignment, in Python (about 20 us each).
MAX_USER_EVALUATIONS = 200_000
# Cells (schedules x observations) of the B-phase masks held at once (_b_masks).
_MASK_CHUNK = 1 << 21
# The JSON keeps the whole distribution up to this size (every Monte Carlo distribution of the
# default 10,000 permutations); a larger one is thinned to evenly spaced order statistics.
JSON_DISTRIBUTION_CAP = 10_000
_TIE_TOLERANCE = 1e-9
# Ranks of admissible assignments are drawn as int64.
_MAX_RANKABLE = 2**62
INT64_MAX = int(np.iinfo(np.int64).max)
_MIN_SESSIONS_PER_CONDITION = 2
_MIN_CASES = 2


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PhaseSummary:
    """One observed phase (or condition): its label, first row (0-based), size and mean."""

    label: str
    n: int
    mean: float
    start: int | None = None
    case: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "n": self.n,
            "mean": self.mean,
            "start": self.start,
            "case": self.case,
        }


@dataclass(frozen=True)
class RandomizationTestResult:
    """A single-case randomization test (CONTRACTS.md §3 `americano analyze abab`).

    `permutation_distribution` is the whole randomization distribution, sorted ascending;
    `to_json()` keeps it whole up to JSON_DISTRIBUTION_CAP (10,000) values, else that many evenly
    spaced order statistics, and says which (`permutationDistributionThinned`). `n_assignments` is its size
    (all admissible assignments when `exact`, else `permutations`); `n_admissible` counts the
    admissible assignments; `n_as_extreme` counts those whose statistic is >= the observed one.
    `effect_size` is Cohen's d of B against A with the pooled SD (for a multiple baseline, the
    average over cases), None when the pooled SD is zero.
    """

    design: str
    statistic: str
    observed_effect: float
    p_value: float
    n_assignments: int
    n_admissible: int
    n_as_extreme: int
    exact: bool
    permutation_distribution: tuple[float, ...]
    effect_size: float | None
    interpretation: str
    sced_standards: StandardsRating
    alpha: float
    seed: int
    phases: tuple[PhaseSummary, ...] = ()
    exclude_equal: bool = False  # ties with the observed statistic not counted (scan)

    @property
    def significant(self) -> bool:
        return self.p_value <= self.alpha

    def to_json(self) -> dict[str, Any]:
        return {
            "observedEffect": self.observed_effect,
            "pValue": self.p_value,
            "effectSize": self.effect_size,
            "interpretation": self.interpretation,
            "permutationDistribution": _capped_distribution(self.permutation_distribution),
            "permutationDistributionThinned": len(self.permutation_distribution)
            > JSON_DISTRIBUTION_CAP,
            "passesSCEDStandards": self.sced_standards.passes,
            "nAssignments": self.n_assignments,
            "exact": self.exact,
            "statistic": self.statistic,
            "sced_standards": self.sced_standards.to_json(),
            "design": self.design,
            "alpha": self.alpha,
            "significant": self.significant,
            "nAdmissibleAssignments": self.n_admissible,
            "nAsExtreme": self.n_as_extreme,
            "excludeEqual": self.exclude_equal,
            "seed": self.seed,
            "phases": [phase.to_json() for phase in self.phases],
        }


def _capped_distribution(distribution: tuple[float, ...]) -> list[float]:
    """The sorted distribution, or JSON_DISTRIBUTION_CAP evenly spaced order statistics of it
    (deterministic)."""
    if len(distribution) <= JSON_DISTRIBUTION_CAP:
        return list(distribution)
    picks = np.linspace(0, len(distribution) - 1, JSON_DISTRIBUTION_CAP).round().astype(np.int64)
    return [distribution[i] for i in picks.tolist()]


# ----------------------------------------------------------------------------- input checks


def _check_int(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{field}: must be a whole number, got {value!r}", field=field)
    if value < minimum:
        raise InputError(f"{field}: must be at least {minimum}, got {value}", field=field)
    return int(value)


def _check_statistic(statistic: str, allowed: Sequence[str] = STATISTICS) -> str:
    name = statistic_named(statistic)
    if name not in allowed:
        raise InputError(
            f"statistic: unknown statistic {statistic!r}; expected one of {', '.join(allowed)}",
            field="statistic",
        )
    return name


def _check_common(
    statistic: str, permutations: int, seed: int, max_exact: int, alpha: float, allowed=STATISTICS
) -> tuple[str, int, int, int, float]:
    statistic = _check_statistic(statistic, allowed)
    permutations = _check_int(permutations, "permutations", 1)
    check_at_most(permutations, MAX_PERMUTATIONS, "permutations", "Monte Carlo assignments")
    seed = _check_int(seed, "seed", 0)
    max_exact = _check_int(max_exact, "max_exact", 0)
    check_at_most(max_exact, MAX_EXACT, "max_exact", "enumerated assignments")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha: must be a number, got {alpha!r}", field="alpha") from None
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha: must lie strictly between 0 and 1, got {alpha}", field="alpha")
    return statistic, permutations, seed, max_exact, alpha


def _values(values: Sequence[float], where: str = "") -> np.ndarray:
    """The series as a finite float array, or an InputError naming the first bad row."""
    raw = list(values)
    try:
        array = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        for row, value in enumerate(raw, start=1):
            try:
                float(value)
            except (TypeError, ValueError):
                raise InputError(
                    f"value: {where}row {row} is not a number: {value!r}", field="value"
                ) from None
        raise InputError(f"value: {where}values must be numbers", field="value") from None
    if array.ndim != 1:
        raise InputError(f"value: {where}values must be a flat list of numbers", field="value")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"value: {where}row {row + 1} is missing or not finite ({raw[row]})", field="value"
        )
    check_magnitudes(array, "value", where)
    return array


_LABEL = re.compile(r"([AB])(\d*)")


def _phase_blocks(
    phases: Sequence[str], pattern: str, design: str, where: str = ""
) -> list[tuple[str, int, int]]:
    """(label, start, end) of each block of a phase series that must follow `pattern` (e.g.
    "ABAB"); labels are "A"/"B" or numbered "A1", "B1", "A2", "B2" in time order."""
    parsed: dict[Any, tuple[str, int | None] | None] = {}
    letters: list[str] = []
    numbers: list[int | None] = []
    for row, raw in enumerate(phases, start=1):
        # Labels repeat, so each distinct one is parsed once.
        label = parsed.get(raw, False) if isinstance(raw, str) else False
        if label is False:
            match = _LABEL.fullmatch(str(raw).strip().upper())
            label = (
                None
                if match is None
                else (match.group(1), int(match.group(2)) if match.group(2) else None)
            )
            if isinstance(raw, str):
                parsed[raw] = label
        if label is None:
            raise InputError(
                f"phase: {where}row {row} has phase {raw!r}; expected A or B (or numbered A1, "
                "B1, A2, B2)",
                field="phase",
            )
        letters.append(label[0])
        numbers.append(label[1])
    if not letters:
        raise InputError(f"phase: {where}no observations", field="phase")
    blocks: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(letters) + 1):
        if i == len(letters) or letters[i] != letters[start]:
            blocks.append((letters[start], start, i))
            start = i
    found = ", ".join(f"{letter} (rows {s + 1}-{e})" for letter, s, e in blocks[:6])
    if len(blocks) > 6:
        found += ", ..."
    if blocks[0][0] != pattern[0]:
        raise InputError(
            f"phase: {where}the series starts with phase {blocks[0][0]} at row 1; an {design} "
            f"design starts with a baseline {pattern[0]} phase",
            field="phase",
        )
    if len(blocks) != len(pattern):
        raise InputError(
            f"phase: {where}rows must form {len(pattern)} blocks alternating "
            f"{', '.join(pattern)} in time order; found {len(blocks)}: {found}",
            field="phase",
        )
    labelled: list[tuple[str, int, int]] = []
    seen = {"A": 0, "B": 0}
    for letter, s, e in blocks:
        seen[letter] += 1
        block_numbers = {n for n in numbers[s:e] if n is not None}
        if len(block_numbers) > 1:
            listed = " and ".join(f"{letter}{n}" for n in sorted(block_numbers))
            raise InputError(
                f"phase: {where}rows {s + 1}-{e} mix labels {listed} with no "
                f"{'B' if letter == 'A' else 'A'} phase between them",
                field="phase",
            )
        if block_numbers and block_numbers != {seen[letter]}:
            label = f"{letter}{block_numbers.pop()}"
            raise InputError(
                f"phase: {where}label {label} at rows {s + 1}-{e} is the {_ordinal(seen[letter])} "
                f"{letter} phase; expected {letter}{seen[letter]}",
                field="phase",
            )
        name = f"{letter}{seen[letter]}" if pattern.count(letter) > 1 else letter
        labelled.append((name, s, e))
    return labelled


def _ordinal(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def _check_phase_lengths(
    blocks: list[tuple[str, int, int]],
    min_phase_length: int,
    where: str = "",
    min_b_phase_length: int | None = None,
) -> None:
    for name, s, e in blocks:
        option, minimum = "min_phase_length", min_phase_length
        if name.startswith("B") and min_b_phase_length is not None:
            option, minimum = "min_b_phase_length", min_b_phase_length
        if e - s < minimum:
            raise InputError(
                f"phase: {where}phase {name} has {e - s} observation{'s' if e - s != 1 else ''} "
                f"(rows {s + 1}-{e}), fewer than {option} = {minimum}, so the observed "
                "schedule is not an admissible assignment",
                field="phase",
            )


def _checked_schedules(
    schedules: Sequence[Sequence[int]], observed: np.ndarray, n_observations: int
) -> tuple[np.ndarray, int]:
    """A custom admissible set: one row per schedule, the 0-based first index of phases 2..P,
    each row increasing within 1..n-1, the observed schedule among them; duplicates dropped.
    Also the shortest phase of any schedule."""
    try:
        changes = np.asarray([list(row) for row in schedules], dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(
            "schedules: each schedule is a list of whole numbers (where phases 2.. start)",
            field="schedules",
        ) from None
    width = observed.shape[1]
    if changes.ndim != 2 or changes.shape[0] == 0 or changes.shape[1] != width:
        raise InputError(
            f"schedules: give at least one schedule of {width} phase starts (the data have "
            f"{width + 1} phases)",
            field="schedules",
        )
    if changes.shape[0] > MAX_EXACT:
        raise InputError(
            f"schedules: {changes.shape[0]:,} schedules, above the limit of {MAX_EXACT:,}",
            field="schedules",
        )
    bounded = np.column_stack(
        [np.zeros(len(changes), dtype=np.int64), changes, np.full(len(changes), n_observations)]
    )
    lengths = np.diff(bounded, axis=1)
    bad = np.flatnonzero((lengths < 1).any(axis=1))
    if bad.size:
        raise InputError(
            f"schedules: schedule {bad[0] + 1} ({', '.join(map(str, changes[bad[0]]))}) does not "
            f"start each phase after the previous one, within the {n_observations} observations",
            field="schedules",
        )
    changes = np.unique(changes, axis=0)
    if not (changes == observed[0]).all(axis=1).any():
        raise InputError(
            "schedules: the observed schedule (phases starting at "
            f"{', '.join(map(str, observed[0]))}) is not among the admissible ones",
            field="schedules",
        )
    return changes, int(lengths.min())


def phase_minima(n_phases: int, min_a: int, min_b: int | None = None) -> np.ndarray:
    """Each phase's minimum length, A phases first and alternating (scan's `limit = c(A, B)`)."""
    minima = np.full(n_phases, min_a, dtype=np.int64)
    if min_b is not None:
        minima[1::2] = min_b
    return minima


def count_assignments(n_observations: int, minima: np.ndarray) -> int:
    """Splits of n observations into len(minima) consecutive phases, phase j at least
    minima[j] long: C(n - sum(minima) + P - 1, P - 1)."""
    n_changes = minima.size - 1
    slots = n_observations - int(minima.sum()) + n_changes
    return 0 if slots < n_changes else math.comb(slots, n_changes)


def changes_from_ranks(ranks: np.ndarray, n_observations: int, minima: np.ndarray) -> np.ndarray:
    """Phase-change indices (first row of phases 2..P) of the assignments with these ranks."""
    n_changes = minima.size - 1
    slots = n_observations - int(minima.sum()) + n_changes
    chosen = _unrank_combinations(ranks, slots, n_changes)
    # Stars and bars: the j-th change (1-based) sits at chosen_j + (minima of phases 1..j)
    # - (j - 1).
    j = np.arange(1, n_changes + 1, dtype=np.int64)
    return chosen + np.cumsum(minima)[:n_changes] - (j - 1)


# ----------------------------------------------------------------------------- combinatorics


def count_phase_assignments(
    n_observations: int,
    n_phases: int,
    min_phase_length: int,
    min_b_phase_length: int | None = None,
) -> int:
    """Number of ways to split n observations into `n_phases` consecutive phases of at least
    `min_phase_length` each: C(n - P*k + P - 1, P - 1) (SCRT `quantity`); the B phases (2, 4,
    ...) at least `min_b_phase_length` when given."""
    return count_assignments(
        n_observations, phase_minima(n_phases, min_phase_length, min_b_phase_length)
    )


def _unrank_combinations(ranks: np.ndarray, m: int, r: int) -> np.ndarray:
    """The r-subsets of {0..m-1} with the given colexicographic ranks (each below C(m, r)), as
    an (N, r) ascending int64 array (combinatorial number system: rank = sum_i C(c_i, i),
    c_1 < ... < c_r).

    The i-th element is at most m - r + i - 1, so the table holds C(c, i) only for c up to
    there: those binomials are at most C(m - 1, r) < C(m, r), so they fit in int64 whenever the
    ranks do, while the full table would not (C(96, 48) has 28 digits for 98 phases with no
    slack). Beyond the band the column holds C(m, r), above any rank, so it stays sorted for
    the search. When C(m, r) itself exceeds int64 the arithmetic is exact Python ints."""
    if not 0 <= r <= m:
        raise ValueError(f"no {r}-subsets of {m} elements")
    total = math.comb(m, r)
    dtype = np.int64 if total <= INT64_MAX else object
    table = np.full((m, r + 1), total, dtype=dtype)
    slack = m - r
    table[:slack, 0] = 1
    for i in range(1, r + 1):
        # C(c, i) = C(c-1, i) + C(c-1, i-1) down column i's band, rows 0 .. slack + i - 1.
        rows = slack + i
        table[0, i] = 0
        table[1:rows, i] = np.cumsum(table[: rows - 1, i - 1])
    remainder = np.array(ranks, dtype=dtype).reshape(-1)
    out = np.empty((remainder.size, r), dtype=np.int64)
    for i in range(r, 0, -1):
        column = table[:, i]
        chosen = np.searchsorted(column, remainder, side="right") - 1
        out[:, i - 1] = chosen
        remainder = remainder - column[chosen]
    return out


def _phase_changes_from_ranks(
    ranks: np.ndarray, n_observations: int, n_phases: int, min_phase_length: int
) -> np.ndarray:
    """Phase-change indices (first row of phases 2..P) of the assignments with these ranks."""
    return changes_from_ranks(ranks, n_observations, phase_minima(n_phases, min_phase_length))


def admissible_phase_changes(
    n_observations: int, n_phases: int, min_phase_length: int
) -> np.ndarray:
    """All admissible phase-change schedules as an (N, P - 1) int64 array; row i holds the
    0-based index of the first observation of phases 2..P. N = `count_phase_assignments`."""
    n_observations = _check_int(n_observations, "n_observations", 1)
    n_phases = _check_int(n_phases, "n_phases", 2)
    min_phase_length = _check_int(min_phase_length, "min_phase_length", 1)
    total = count_phase_assignments(n_observations, n_phases, min_phase_length)
    if total == 0:
        return np.empty((0, n_phases - 1), dtype=np.int64)
    if total > _MAX_RANKABLE:
        raise InputError(
            "n_observations: too many admissible assignments to list", field="n_observations"
        )
    ranks = np.arange(total, dtype=np.int64)
    return _phase_changes_from_ranks(ranks, n_observations, n_phases, min_phase_length)


# ----------------------------------------------------------------------------- statistics


def statistic_named(text: str) -> str | None:
    """The statistic `text` names, ignoring case and spaces ("median b-a" is "Median B-A")."""
    key = str(text).replace(" ", "").upper()
    return next((name for name in STATISTICS if name.replace(" ", "").upper() == key), None)


def _orient(b_minus_a: np.ndarray, statistic: str) -> np.ndarray:
    if statistic.startswith("|"):
        return np.abs(b_minus_a)
    if statistic in ("A-B", "PA-PB", "Median A-B", "Slope A-B"):
        return -b_minus_a
    return b_minus_a


_USER_PREFIX = "user: "


def _user_label(user: UserStatistic) -> str:
    return f"{_USER_PREFIX}{user.expression}"


def _description(statistic: str) -> str:
    if statistic.startswith(_USER_PREFIX):
        return f"statistic {statistic.removeprefix(_USER_PREFIX)}"
    return _DESCRIPTIONS[statistic]


def _check_statistic_fits(statistic: str, design: str, shortest_phase: int) -> None:
    """A slope needs a single B phase; a spread (SMD, t, slope) needs two points per phase."""
    if statistic in SLOPE_STATISTICS and design not in ("AB", "multiple_baseline"):
        raise InputError(
            f"statistic: {statistic} fits a slope within one A and one B phase; use it with "
            "an AB or multiple baseline design",
            field="statistic",
        )
    spread = statistic in SLOPE_STATISTICS or statistic in ("SMD hedges", "SMD glass", "T-test")
    if spread and shortest_phase < 2:
        raise InputError(
            f"statistic: {statistic} needs at least 2 observations in every phase of every "
            "assignment; raise min_phase_length to 2",
            field="statistic",
        )


def _moment_statistics(x: np.ndarray, changes: np.ndarray, statistic: str) -> np.ndarray:
    """scan's SMD, NAP, t and slope statistics of each schedule (rows of `changes`, A first),
    from sums over the B phases: a phase's sum of any column is a difference of two prefix
    sums, so no schedule builds its A and B arrays. NAP comes from the Mann-Whitney count,
    the B observations' midranks in the whole series less nB(nB + 1)/2 (ties count 1/2)."""
    from scipy.stats import rankdata  # scipy.stats costs a second to import: only when used

    n = x.size
    i = np.arange(n, dtype=float)
    columns = np.column_stack([np.ones(n), x, x * x, rankdata(x), i, i * i, i * x])
    prefix = np.vstack([np.zeros(columns.shape[1]), np.cumsum(columns, axis=0)])
    edges = [np.zeros(changes.shape[0], dtype=np.int64), *changes.T, np.full(changes.shape[0], n)]
    b = np.zeros((changes.shape[0], columns.shape[1]))
    for j in range(1, len(edges) - 1, 2):
        b += prefix[edges[j + 1]] - prefix[edges[j]]
    a = prefix[n][None, :] - b
    n_a, n_b = a[:, 0], b[:, 0]
    mean_a, mean_b = a[:, 1] / n_a, b[:, 1] / n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        var_a = (a[:, 2] - n_a * mean_a**2) / (n_a - 1)
        var_b = (b[:, 2] - n_b * mean_b**2) / (n_b - 1)
        if statistic == "SMD hedges":
            total = n_a + n_b
            pooled = np.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / (total - 2))
            correction = (total - 3) / (total - 2.25) * np.sqrt((total - 2) / total)
            return (mean_b - mean_a) / pooled * correction
        if statistic == "SMD glass":
            return (mean_b - mean_a) / np.sqrt(var_a)
        if statistic == "T-test":
            return (mean_b - mean_a) / np.sqrt(var_b / n_b + var_a / n_a)
        if statistic in ("NAP", "NAP decreasing", "W-test"):
            above = b[:, 3] - n_b * (n_b + 1) / 2  # pairs with B above A, ties 1/2
            pairs = n_a * n_b
            if statistic == "W-test":
                return pairs - above
            return 100 * (above if statistic == "NAP" else pairs - above) / pairs

        def slope(sums: np.ndarray, count: np.ndarray) -> np.ndarray:
            sxx = sums[:, 5] - sums[:, 4] ** 2 / count
            return (sums[:, 6] - sums[:, 4] * sums[:, 1] / count) / sxx

        return _orient(slope(b, n_b) - slope(a, n_a), statistic)


def _b_masks(n: int, changes: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, in_b) for chunks of the schedules (rows of `changes`, A first): in_b marks the
    observations of B phases, a (chunk, n) boolean array of at most _MASK_CHUNK cells."""
    position = np.arange(n)
    rows = max(1, _MASK_CHUNK // max(n, 1))
    for first in range(0, changes.shape[0], rows):
        chunk = changes[first : first + rows]
        # an observation is in a B phase when an odd number of phase changes precede it
        in_b = (np.sum(position[None, None, :] >= chunk[:, :, None], axis=1) % 2).astype(bool)
        yield slice(first, first + len(chunk)), in_b


def _median_statistics(x: np.ndarray, changes: np.ndarray, statistic: str) -> np.ndarray:
    """The median statistics of each schedule (rows of `changes`, A first), a chunk of
    assignments at a time: each row masks the other condition's observations as NaN."""
    out = np.empty(changes.shape[0])
    for rows, in_b in _b_masks(x.size, changes):
        median_b = np.nanmedian(np.where(in_b, x, np.nan), axis=1)
        median_a = np.nanmedian(np.where(in_b, np.nan, x), axis=1)
        out[rows] = median_b - median_a
    return _orient(out, statistic)


def _user_statistics(x: np.ndarray, changes: np.ndarray, user: UserStatistic) -> np.ndarray:
    """A user's statistic of each schedule (rows of `changes`, A first), one evaluation each."""
    if changes.shape[0] > MAX_USER_EVALUATIONS:
        raise InputError(
            f"statistic_expression: {changes.shape[0]:,} assignments to evaluate, above the "
            f"limit of {MAX_USER_EVALUATIONS:,} for a user's statistic; lower max_exact or "
            "permutations",
            field="statistic_expression",
        )
    out = np.empty(changes.shape[0])
    for rows, in_b in _b_masks(x.size, changes):
        out[rows] = [user(x[~mask], x[mask]) for mask in in_b]
    return out


def _phase_statistics(
    prefix: np.ndarray,
    changes: np.ndarray,
    statistic: str,
    x: np.ndarray,
    user: UserStatistic | None = None,
) -> np.ndarray:
    """The statistic of each schedule (rows of `changes`) of a phase design starting with A.

    `prefix` is [0, cumsum(x)], so a phase's sum is a difference of two prefix values and every
    assignment costs O(number of phases); the work is a few array operations per phase. The
    medians need the observations `x` themselves (`_median_statistics`)."""
    if user is not None:
        return _user_statistics(x, changes, user)
    if statistic in MEDIAN_STATISTICS:
        return _median_statistics(x, changes, statistic)
    if statistic in SCAN_STATISTICS or statistic in SLOPE_STATISTICS:
        return _moment_statistics(x, changes, statistic)
    n = prefix.size - 1
    edges = [0, *(changes[:, j] for j in range(changes.shape[1])), n]
    at = [prefix[e] for e in edges]
    n_phases = len(edges) - 1
    if statistic in ("PA-PB", "PB-PA", "|PA-PB|"):
        mean_a = mean_b = 0.0
        for j in range(n_phases):
            phase_mean = (at[j + 1] - at[j]) / (edges[j + 1] - edges[j])
            if j % 2:
                mean_b = mean_b + phase_mean
            else:
                mean_a = mean_a + phase_mean
        b_minus_a = mean_b / (n_phases // 2) - mean_a / ((n_phases + 1) // 2)
    else:
        # A phases are the even-numbered ones: (edges[0], edges[1]), (edges[2], edges[3]), ...
        sum_a = len_a = 0
        for j in range(0, n_phases, 2):
            sum_a = sum_a + (at[j + 1] - at[j])
            len_a = len_a + (edges[j + 1] - edges[j])
        b_minus_a = (at[-1] - sum_a) / (n - len_a) - sum_a / len_a
    return _orient(np.asarray(b_minus_a, dtype=float), statistic)


def _centered_prefix(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Prefix sums of the centred series (the statistics are shift-invariant; centring keeps
    the prefix sums small and accurate) and the tie tolerance for that scale."""
    centered = x - x.mean()
    prefix = np.concatenate(([0.0], np.cumsum(centered)))
    scale = float(np.max(np.abs(centered))) if centered.size else 0.0
    return prefix, _TIE_TOLERANCE * scale


def _count_as_extreme(
    distribution: np.ndarray,
    observed: float,
    tolerance: float,
    exclude_equal: bool = False,
    lower_tail: bool = False,
) -> int:
    """Assignments whose statistic is >= the observed one (ties count), or, with
    `exclude_equal` (scan's `exclude.equal = TRUE`), strictly greater; <= and < for a
    `lower_tail` statistic."""
    if lower_tail:
        return _count_as_extreme(-distribution, -observed, tolerance, exclude_equal)
    if exclude_equal:
        return int(np.count_nonzero(distribution > observed + tolerance))
    return int(np.count_nonzero(distribution >= observed - tolerance))


def _effect_size(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's d of B against A with the pooled SD; None when it is undefined (no spread)."""
    try:
        return cohens_d(a, b)
    except InputError:
        return None


def _count_text(count: int) -> str:
    """A count for the text: with thousands separators, or as 1.23e+456 when it has more than 15
    digits (an alternating design's admissible orderings can outgrow any float)."""
    digits = str(count)
    if len(digits) <= 15:
        return f"{count:,}"
    return f"{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def _format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


_COMPARISONS = {  # (lower tail, ties excluded)
    (False, False): "at least this large",
    (False, True): "larger than this (ties excluded)",
    (True, False): "at most this small",
    (True, True): "smaller than this (ties excluded)",
}


def _interpretation(
    *,
    p_value: float,
    alpha: float,
    description: str,
    observed: float,
    n_as_extreme: int,
    n_assignments: int,
    n_admissible: int,
    exact: bool,
    exclude_equal: bool = False,
    lower_tail: bool = False,
) -> str:
    if p_value <= alpha:
        verdict = (
            f"Significant effect (p = {_format_p(p_value)} {'<' if p_value < alpha else '<='} "
            f"{alpha:g})"
        )
    else:
        verdict = f"No significant effect (p = {_format_p(p_value)} > {alpha:g})"
    pool = (
        f"{n_assignments:,} admissible assignments"
        if exact
        else f"{n_assignments:,} Monte Carlo assignments (observed included) out of "
        f"{_count_text(n_admissible)} admissible"
    )
    text = (
        f"{verdict}: {description} = {observed:.4g}; {n_as_extreme:,} of {pool} gave a "
        f"statistic {_COMPARISONS[(lower_tail, exclude_equal)]}."
    )
    if n_admissible < 1.0 / alpha:  # int vs float compares exactly, however large the count
        text += (
            f" With only {n_admissible:,} admissible assignments the smallest attainable p-value "
            f"is {_format_p(1.0 / n_admissible)}, so this design cannot reach p <= {alpha:g}."
        )
    return text


def _result(
    *,
    design: str,
    statistic: str,
    description: str,
    distribution: np.ndarray,
    observed: float,
    tolerance: float,
    n_admissible: int,
    exact: bool,
    effect_size: float | None,
    standards: StandardsRating,
    alpha: float,
    seed: int,
    phases: tuple[PhaseSummary, ...],
    exclude_equal: bool = False,
) -> RandomizationTestResult:
    if not isinstance(exclude_equal, bool | np.bool_):
        raise InputError("exclude_equal: must be true or false", field="exclude_equal")
    if not (math.isfinite(observed) and np.isfinite(distribution).all()):
        raise InputError(
            f"statistic: {statistic} is undefined for some assignments of these data (a phase "
            "without spread); choose a mean or median statistic",
            field="statistic",
        )
    n_as_extreme = _count_as_extreme(
        distribution,
        observed,
        tolerance,
        bool(exclude_equal),
        lower_tail=statistic in LOWER_TAIL_STATISTICS,
    )
    p_value = n_as_extreme / distribution.size
    return RandomizationTestResult(
        design=design,
        statistic=statistic,
        observed_effect=float(observed),
        p_value=float(p_value),
        n_assignments=int(distribution.size),
        n_admissible=int(n_admissible),
        n_as_extreme=n_as_extreme,
        exact=exact,
        permutation_distribution=tuple(np.sort(distribution).tolist()),
        effect_size=None if effect_size is None else float(effect_size),
        interpretation=_interpretation(
            p_value=p_value,
            alpha=alpha,
            description=description,
            observed=observed,
            n_as_extreme=n_as_extreme,
            n_assignments=int(distribution.size),
            n_admissible=n_admissible,
            exact=exact,
            exclude_equal=bool(exclude_equal),
            lower_tail=statistic in LOWER_TAIL_STATISTICS,
        ),
        sced_standards=standards,
        alpha=alpha,
        seed=seed,
        phases=phases,
        exclude_equal=bool(exclude_equal),
    )


# ----------------------------------------------------------------------------- phase designs


def _phase_design_test(
    phases: Sequence[str],
    values: Sequence[float],
    *,
    pattern: str,
    design: str,
    min_phase_length: int,
    statistic: str,
    permutations: int,
    seed: int,
    max_exact: int,
    alpha: float,
    exclude_equal: bool = False,
    min_b_phase_length: int | None = None,
    schedules: Sequence[Sequence[int]] | None = None,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    statistic, permutations, seed, max_exact, alpha = _check_common(
        statistic, permutations, seed, max_exact, alpha
    )
    user = None if statistic_expression is None else UserStatistic(statistic_expression)
    if user is not None:
        statistic = _user_label(user)
    min_phase_length = _check_int(min_phase_length, "min_phase_length", 1)
    if min_b_phase_length is not None:
        min_b_phase_length = _check_int(min_b_phase_length, "min_b_phase_length", 1)
    labels = list(phases)
    x = _values(values)
    if len(labels) != x.size:
        raise InputError(
            f"value: {len(labels)} phase labels but {x.size} values; every row needs both",
            field="value",
        )
    blocks = _phase_blocks(labels, pattern, design)
    n_phases = len(pattern)
    observed_changes = np.array([[s for _, s, _ in blocks[1:]]], dtype=np.int64)
    prefix, tolerance = _centered_prefix(x)
    if schedules is not None:  # a custom admissible set replaces the minimum lengths
        changes, shortest = _checked_schedules(schedules, observed_changes, x.size)
        _check_statistic_fits(statistic, design, shortest)
        n_admissible, exact = len(changes), True
    else:
        _check_phase_lengths(blocks, min_phase_length, min_b_phase_length=min_b_phase_length)
        minima = phase_minima(n_phases, min_phase_length, min_b_phase_length)
        _check_statistic_fits(statistic, design, int(minima.min()))
        n_admissible = count_assignments(x.size, minima)
        if n_admissible > _MAX_RANKABLE:
            raise InputError("value: too many observations for this test", field="value")
        exact = n_admissible <= max_exact
        if exact:
            changes = changes_from_ranks(np.arange(n_admissible, dtype=np.int64), x.size, minima)
        else:
            # SCRT pvalue.random: the observed schedule plus N - 1 uniform draws with replacement.
            rng = np.random.default_rng(seed)
            ranks = rng.integers(0, n_admissible, size=permutations - 1, dtype=np.int64)
            changes = np.concatenate((observed_changes, changes_from_ranks(ranks, x.size, minima)))
    distribution = _phase_statistics(prefix, changes, statistic, x, user)
    observed = float(_phase_statistics(prefix, observed_changes, statistic, x, user)[0])

    a_values = np.concatenate([x[s:e] for name, s, e in blocks if name.startswith("A")])
    b_values = np.concatenate([x[s:e] for name, s, e in blocks if name.startswith("B")])
    summaries = tuple(
        PhaseSummary(label=name, n=e - s, mean=float(x[s:e].mean()), start=s)
        for name, s, e in blocks
    )
    return _result(
        design=design,
        statistic=statistic,
        description=_description(statistic),
        distribution=distribution,
        observed=observed,
        tolerance=tolerance,
        n_admissible=n_admissible,
        exact=exact,
        effect_size=_effect_size(a_values, b_values),
        standards=reversal_design_standards(
            [e - s for _, s, e in blocks], [name for name, _, _ in blocks]
        ),
        alpha=alpha,
        exclude_equal=exclude_equal,
        seed=seed,
        phases=summaries,
    )


def abab_randomization_test(
    phases: Sequence[str],
    values: Sequence[float],
    *,
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
    min_b_phase_length: int | None = None,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    """Randomization test for an ABAB reversal design (SCRT design "ABAB"; Onghena 1992).

    `phases` labels each row ("A"/"B" or "A1", "B1", "A2", "B2"), rows in time order forming
    four blocks A, B, A, B. The randomization is over the three phase-change moments with every
    phase at least `min_phase_length` long: C(n - 4k + 3, 3) admissible assignments. Exact when
    that number is at most `max_exact`, else Monte Carlo with `permutations` assignments (the
    observed one included) drawn with `seed`. See the module docstring for the p-value.
    """
    return _phase_design_test(
        phases,
        values,
        pattern="ABAB",
        design="ABAB",
        min_phase_length=min_phase_length,
        statistic=statistic,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
        min_b_phase_length=min_b_phase_length,
        statistic_expression=statistic_expression,
    )


def aba_randomization_test(
    phases: Sequence[str],
    values: Sequence[float],
    *,
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
    min_b_phase_length: int | None = None,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    """Randomization test for an ABA withdrawal design (SCRT design "ABA").

    As `abab_randomization_test`, with three blocks A, B, A and two phase-change moments:
    C(n - 3k + 2, 2) admissible assignments. Its two attempts to show the effect fall short of
    the WWC's three, which `sced_standards` says.
    """
    return _phase_design_test(
        phases,
        values,
        pattern="ABA",
        design="ABA",
        min_phase_length=min_phase_length,
        statistic=statistic,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
        min_b_phase_length=min_b_phase_length,
        statistic_expression=statistic_expression,
    )


def custom_design_test(
    phases: Sequence[str],
    values: Sequence[float],
    *,
    schedules: Sequence[Sequence[int]],
    statistic: str = "B-A",
    alpha: float = 0.05,
    exclude_equal: bool = False,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    """Randomization test over a custom admissible set (SCRT's user-defined designs): the
    phases alternate A, B, A, ... as `phases` shows them, and `schedules` lists every admissible
    schedule, one row per schedule, the 0-based index of the first observation of phases 2..P.
    The observed schedule must be among them; every schedule is enumerated (at most MAX_EXACT).
    """
    letters = [str(label).strip().upper()[:1] for label in phases]
    n_blocks = 1 + sum(1 for x, y in zip(letters, letters[1:], strict=False) if x != y)
    pattern = ("AB" * n_blocks)[:n_blocks]
    if n_blocks < 2:
        raise InputError("phase: a custom design needs an A and a B phase", field="phase")
    return _phase_design_test(
        phases,
        values,
        pattern=pattern,
        design="custom",
        min_phase_length=1,
        statistic=statistic,
        permutations=DEFAULT_PERMUTATIONS,
        seed=0,
        max_exact=MAX_EXACT,
        alpha=alpha,
        exclude_equal=exclude_equal,
        schedules=schedules,
        statistic_expression=statistic_expression,
    )


def ab_randomization_test(
    phases: Sequence[str],
    values: Sequence[float],
    *,
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
    min_b_phase_length: int | None = None,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    """Randomization test for an AB phase design (SCRT design "AB"; Edgington 1975).

    The intervention start is randomized over every point leaving both phases at least
    `min_phase_length` long: n - 2k + 1 admissible assignments. An AB design does not meet the
    WWC design standards (one attempt to demonstrate the effect), which `sced_standards` says.
    """
    return _phase_design_test(
        phases,
        values,
        pattern="AB",
        design="AB",
        min_phase_length=min_phase_length,
        statistic=statistic,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
        min_b_phase_length=min_b_phase_length,
        statistic_expression=statistic_expression,
    )


# ----------------------------------------------------------------------------- multiple baseline


def multiple_baseline_test(
    cases: Mapping[str, tuple[Sequence[str], Sequence[float]]],
    *,
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
    start_points: Mapping[str, Sequence[int]] | None = None,
    min_cases: int = _MIN_CASES,
    combine: str | None = None,
    min_b_phase_length: int | None = None,
    statistic_expression: str | None = None,
) -> RandomizationTestResult:
    """Randomization test for a multiple baseline AB design across cases or behaviors.

    `cases` maps each case to its (phases, values) AB series in time order. Each case's
    intervention start is randomized independently over its admissible start points: every
    start leaving both phases at least `min_phase_length` long, or, when given,
    `start_points[case]` (0-based index of the first B observation, e.g. the windows of
    `multiple_baseline_start_windows`; they replace `min_phase_length`, as scan's `startpoints`).
    The combined statistic is the average over cases of the per-case statistic (Bulté &
    Onghena 2009; scan `rand_test`), or their median (`combine="median"`, scan's rule for its
    median statistics and the default for them here); the admissible assignments number the
    product of the cases' start-point counts (cases are not also permuted over start-point sets
    as in SCRT "MBD").

    The WWC rating assumes the cases share one time axis, so distinct start indices mean
    staggered intervention starts. At least `min_cases` cases (2: with one the design is an AB
    design, and `ab_randomization_test` is its test; a caller that knowingly reduces a one-case
    series to it passes 1).
    """
    statistic, permutations, seed, max_exact, alpha = _check_common(
        statistic, permutations, seed, max_exact, alpha
    )
    min_phase_length = _check_int(min_phase_length, "min_phase_length", 1)
    min_cases = _check_int(min_cases, "min_cases", 1)
    user = None if statistic_expression is None else UserStatistic(statistic_expression)
    if user is not None:
        statistic = _user_label(user)
    min_b = min_phase_length
    if min_b_phase_length is not None:
        min_b = min_b_phase_length = _check_int(min_b_phase_length, "min_b_phase_length", 1)
    if combine is None:
        combine = default_combination(statistic)
    if start_points is None:
        _check_statistic_fits(statistic, "multiple_baseline", min(min_phase_length, min_b))
    if combine not in COMBINATIONS:
        raise InputError(
            f"combine: unknown option {combine!r}; use one of {', '.join(COMBINATIONS)}",
            field="combine",
        )
    if not isinstance(cases, Mapping) or not cases:
        raise InputError("case: give at least one case as {name: (phases, values)}", field="case")
    if start_points is not None:
        unknown = sorted(set(map(str, start_points)) - set(map(str, cases)))
        if unknown:
            raise InputError(
                f"start_points: no case named {', '.join(map(repr, unknown))}", field="start_points"
            )

    case_statistics: list[np.ndarray] = []
    observed_index: list[int] = []
    summaries: list[PhaseSummary] = []
    effect_sizes: list[float] = []
    phase_lengths: dict[str, list[int]] = {}
    starts: list[int] = []
    tolerance = 0.0
    for name, series in cases.items():
        where = f"case {name!r}: "
        try:
            phases, values = series
        except (TypeError, ValueError):
            raise InputError(f"case: {where}give a (phases, values) pair", field="case") from None
        labels = list(phases)
        x = _values(values, where)
        if len(labels) != x.size:
            raise InputError(
                f"value: {where}{len(labels)} phase labels but {x.size} values", field="value"
            )
        blocks = _phase_blocks(labels, "AB", "AB", where)
        start = blocks[1][1]
        n = x.size
        if start_points is not None and str(name) in {str(k) for k in start_points}:
            raw = next(v for k, v in start_points.items() if str(k) == str(name))
            try:
                admissible = np.unique(np.asarray(list(raw), dtype=np.int64))
            except (TypeError, ValueError):
                raise InputError(
                    f"start_points: {where}start points must be whole numbers", field="start_points"
                ) from None
            if admissible.size == 0 or admissible[0] < 1 or admissible[-1] > n - 1:
                raise InputError(
                    f"start_points: {where}start points must lie between 1 and {n - 1} "
                    "(0-based index of the first B observation)",
                    field="start_points",
                )
            if start not in set(admissible.tolist()):
                raise InputError(
                    f"start_points: {where}the observed start (row {start + 1}, index {start}) is "
                    "not among the admissible start points",
                    field="start_points",
                )
        else:
            _check_phase_lengths(blocks, min_phase_length, where, min_b_phase_length)
            admissible = np.arange(min_phase_length, n - min_b + 1, dtype=np.int64)
        prefix, case_tolerance = _centered_prefix(x)
        tolerance = max(tolerance, case_tolerance)
        case_statistics.append(_phase_statistics(prefix, admissible[:, None], statistic, x, user))
        observed_index.append(int(np.searchsorted(admissible, start)))
        summaries.extend(
            PhaseSummary(label=label, n=e - s, mean=float(x[s:e].mean()), start=s, case=str(name))
            for label, s, e in blocks
        )
        d = _effect_size(x[:start], x[start:])
        if d is not None:
            effect_sizes.append(d)
        phase_lengths[str(name)] = [start, n - start]
        starts.append(start)

    if len(cases) < min_cases:
        names = ", ".join(repr(str(name)) for name in list(cases)[:3])
        raise InputError(
            f"case: {len(cases)} case{'s' if len(cases) != 1 else ''} ({names}); a multiple "
            f"baseline design needs at least {min_cases} (one case is an AB design: use the AB "
            "test)",
            field="case",
        )
    n_cases = len(case_statistics)
    n_admissible = math.prod(len(s) for s in case_statistics)
    exact = n_admissible <= max_exact
    if combine != "mean":
        observed = float(
            _COMBINE[combine](
                np.array([[s[i] for s, i in zip(case_statistics, observed_index, strict=True)]])
            )[0]
        )
    else:
        observed = case_statistics[0][observed_index[0]]
        for stats, index in zip(case_statistics[1:], observed_index[1:], strict=True):
            observed = observed + stats[index]
        observed = float(observed / n_cases)

    if not exact and n_cases * permutations > MAX_RANDOMIZATION_WORK:
        raise InputError(
            f"permutations: {permutations:,} Monte Carlo assignments of {n_cases:,} cases "
            f"take {n_cases * permutations:,} draws, above the limit of "
            f"{MAX_RANDOMIZATION_WORK:,}; use at most {MAX_RANDOMIZATION_WORK // n_cases:,} "
            "permutations",
            field="permutations",
        )
    if combine != "mean":
        if exact:
            grid = np.meshgrid(*case_statistics, indexing="ij")
            distribution = _COMBINE[combine](np.stack([g.ravel() for g in grid], axis=1))
        else:
            rng = np.random.default_rng(seed)
            draws = np.stack(
                [s[rng.integers(0, len(s), size=permutations - 1)] for s in case_statistics],
                axis=1,
            )
            distribution = np.concatenate(([observed], _COMBINE[combine](draws)))
    elif exact:
        # Sum in case order so the observed combination is bitwise the enumerated one.
        total = case_statistics[0]
        for stats in case_statistics[1:]:
            total = (total[:, None] + stats[None, :]).ravel()
        distribution = total / n_cases
    else:
        # Each case's starts are drawn in case order and added as they come (the same stream
        # and sums as drawing them all first), so memory holds one case's draws at a time.
        rng = np.random.default_rng(seed)
        total = case_statistics[0][rng.integers(0, len(case_statistics[0]), size=permutations - 1)]
        for stats in case_statistics[1:]:
            total = total + stats[rng.integers(0, len(stats), size=permutations - 1)]
        distribution = np.concatenate(([observed], total / n_cases))

    return _result(
        design="multiple_baseline",
        statistic=statistic,
        description=f"{'average' if combine == 'mean' else 'median'} over {n_cases} "
        f"case{'s' if n_cases != 1 else ''} of the {_description(statistic)}",
        distribution=distribution,
        observed=observed,
        tolerance=tolerance,
        n_admissible=n_admissible,
        exact=exact,
        effect_size=float(np.mean(effect_sizes)) if effect_sizes else None,
        standards=multiple_baseline_standards(phase_lengths, intervention_starts=starts),
        alpha=alpha,
        exclude_equal=exclude_equal,
        seed=seed,
        phases=tuple(summaries),
    )


# ----------------------------------------------------------------------------- alternating


def _run_capped_levels(
    n_a: int, n_b: int, cap: int
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Completion counts for A/B sequences with n_a A's, n_b B's and runs of at most `cap`.

    level[t][a, last, run] (exact Python ints) is the number of ways to finish a sequence whose
    first t entries hold `a` A's and end in a run of `run` copies of `last` (0 = A, 1 = B);
    slot run = cap + 1 stays zero so a run that would exceed the cap has no completions.
    Returns, for levels 1..n (index 0 unused), each level scaled to [0, 1] as floats (only
    ratios within a level matter to the sampler, and floats cannot overflow), shape
    (n_a + 2, 2, cap + 2) with a zero row for a = n_a + 1 so that "one A too many" weighs 0
    without a mask; whether each state can be completed (count > 0, for the enumeration); and
    the number of admissible sequences. The big integers are kept one level at a time, so memory
    is 9 bytes per state."""
    n = n_a + n_b
    shape = (n_a + 1, 2, cap + 2)
    a_index = np.arange(n_a + 1)

    def scaled(level: np.ndarray) -> np.ndarray:
        out = np.zeros((n_a + 2, 2, cap + 2))
        out[: n_a + 1] = np.asarray(level / max(int(level.max()), 1), dtype=float)
        return out

    levels: list[np.ndarray] = [np.zeros(0)] * (n + 1)
    feasible: list[np.ndarray] = [np.zeros(0, dtype=bool)] * (n + 1)
    level = np.zeros(shape, dtype=object)
    level[n_a, :, 1 : cap + 1] = 1
    levels[n], feasible[n] = scaled(level), level > 0
    for t in range(n - 1, 0, -1):
        following = level
        level = np.zeros(shape, dtype=object)
        # Next is A: a run of A grows, a run of B resets to an A run of 1.
        level[:-1, 0, 1 : cap + 1] += following[1:, 0, 2 : cap + 2]
        level[:-1, 1, 1 : cap + 1] += following[1:, 0, 1:2]
        # Next is B.
        level[:, 1, 1 : cap + 1] += following[:, 1, 2 : cap + 2]
        level[:, 0, 1 : cap + 1] += following[:, 1, 1:2]
        unreachable = (a_index > t) | (t - a_index > n_b)
        level[unreachable] = 0
        levels[t], feasible[t] = scaled(level), level > 0
    total = (int(level[1, 0, 1]) if n_a >= 1 else 0) + (int(level[0, 1, 1]) if n_b >= 1 else 0)
    return levels, feasible, total


def _enumerate_run_capped(
    x: np.ndarray, feasible: list[np.ndarray], n_a: int, n_b: int, cap: int
) -> np.ndarray:
    """Sum of x over the B positions of every admissible sequence, built level by level and
    pruned to prefixes that can still be completed (`feasible`, from `_run_capped_levels`)."""
    n = x.size
    a = np.zeros(1, dtype=np.int64)
    last = np.full(1, -1, dtype=np.int64)
    run = np.zeros(1, dtype=np.int64)
    sum_b = np.zeros(1)
    for t in range(n):
        ok_table = feasible[t + 1]
        run_a = np.where(last == 0, run + 1, 1)
        ok_a = (a < n_a) & (run_a <= cap)
        ok_a &= ok_table[np.minimum(a + 1, n_a), 0, np.minimum(run_a, cap + 1)]
        run_b = np.where(last == 1, run + 1, 1)
        ok_b = (t - a < n_b) & (run_b <= cap)
        ok_b &= ok_table[a, 1, np.minimum(run_b, cap + 1)]
        a = np.concatenate((a[ok_a] + 1, a[ok_b]))
        run = np.concatenate((run_a[ok_a], run_b[ok_b]))
        last = np.concatenate(
            (np.zeros(int(ok_a.sum()), dtype=np.int64), np.ones(int(ok_b.sum()), dtype=np.int64))
        )
        sum_b = np.concatenate((sum_b[ok_a], sum_b[ok_b] + x[t]))
    return sum_b


def _sample_run_capped(
    x: np.ndarray,
    levels: list[np.ndarray],
    n_a: int,
    n_b: int,
    cap: int,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sum of x over the B positions of `draws` sequences drawn uniformly from the admissible
    set: each step picks A or B with probability proportional to its completion count
    (`levels`: the scaled weights). One session's uniforms are drawn at a time, the same stream
    as drawing them all at once, so memory stays proportional to `draws`."""
    n = x.size
    width = cap + 2  # run slots 0..cap+1; slot cap+1 is zero, so over-long runs get weight 0
    flat = [level.ravel() for level in levels]
    # The first session: A or B by their completion counts.
    w_a0, w_b0 = flat[1][(1 * 2 + 0) * width + 1], flat[1][(0 * 2 + 1) * width + 1]
    pick_a = rng.random(draws) * (w_a0 + w_b0) < w_a0
    a = pick_a.astype(np.int64)
    last_is_a = pick_a
    run = np.ones(draws, dtype=np.int64)
    sum_b = np.where(pick_a, 0.0, x[0])
    for t in range(1, n):
        weights = flat[t + 1]
        run_a = np.where(last_is_a, run + 1, 1)
        run_b = np.where(last_is_a, 1, run + 1)
        w_a = weights.take((a + 1) * (2 * width) + run_a)
        w_b = weights.take(a * (2 * width) + width + run_b)
        pick_a = rng.random(draws) * (w_a + w_b) < w_a
        sum_b = np.where(pick_a, sum_b, sum_b + x[t])
        run = np.where(pick_a, run_a, run_b)
        last_is_a = pick_a
        a += pick_a
    return sum_b


def _check_session_draws(
    n_sessions: int, n_sequences: int, exact: bool, steps_per_sequence: int | None = None
) -> None:
    """Building each of `n_sequences` orderings costs a step per session (or
    `steps_per_sequence`); refuse more than MAX_RANDOMIZATION_WORK steps, naming the option that
    sets the count."""
    work = (n_sessions if steps_per_sequence is None else steps_per_sequence) * n_sequences
    if work <= MAX_RANDOMIZATION_WORK:
        return
    if exact:
        raise InputError(
            f"max_exact: enumerating {n_sequences:,} orderings of {n_sessions:,} sessions takes "
            f"{work:,} steps, above the limit of {MAX_RANDOMIZATION_WORK:,}; lower max_exact "
            "for a Monte Carlo test",
            field="max_exact",
        )
    raise InputError(
        f"permutations: {n_sequences:,} Monte Carlo orderings of {n_sessions:,} sessions take "
        f"{work:,} steps, above the limit of {MAX_RANDOMIZATION_WORK:,}; use at most "
        f"{MAX_RANDOMIZATION_WORK // n_sessions:,} permutations",
        field="permutations",
    )


def _permuted_sums(
    is_b: np.ndarray, x: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Sum of x over the B positions of `draws` uniformly shuffled copies of `is_b`, shuffled a
    block of rows at a time (the same stream as all at once) so memory stays bounded."""
    rows_per_block = max(1, 2_000_000 // max(is_b.size, 1))
    sums = []
    for start in range(0, draws, rows_per_block):
        rows = min(rows_per_block, draws - start)
        membership = rng.permuted(np.tile(is_b, (rows, 1)), axis=1)
        sums.append(membership.astype(float) @ x)
    return np.concatenate(sums) if sums else np.zeros(0)


def _longest_run(is_b: np.ndarray) -> int:
    changes = np.flatnonzero(np.diff(is_b.astype(np.int8))) + 1
    bounds = np.concatenate(([0], changes, [is_b.size]))
    return int(np.diff(bounds).max())


def alternating_treatments_test(
    conditions: Sequence[str],
    values: Sequence[float],
    *,
    max_consecutive: int | None = 2,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
) -> RandomizationTestResult:
    """Randomization test for an alternating treatments design (SCRT "ATD" / "CRD").

    `conditions` gives each session's condition ("A" or "B") in time order. The admissible
    assignments are the orderings of the observed numbers of A and B sessions with at most
    `max_consecutive` consecutive sessions of one condition (restricted randomization, SCRT
    `limit`), or all orderings when `max_consecutive` is None (completely randomized design).
    Statistics: "A-B", "B-A", "|A-B|". Monte Carlo draws are uniform over the admissible set
    (sequential sampling weighted by exact completion counts, not rejection sampling).
    """
    statistic, permutations, seed, max_exact, alpha = _check_common(
        statistic, permutations, seed, max_exact, alpha, allowed=CONDITION_STATISTICS
    )
    if max_consecutive is not None:
        max_consecutive = _check_int(max_consecutive, "max_consecutive", 1)
    labels = [str(c).strip().upper() for c in conditions]
    for row, label in enumerate(labels, start=1):
        if label not in ("A", "B"):
            raise InputError(
                f"condition: row {row} has condition {conditions[row - 1]!r}; expected A or B",
                field="condition",
            )
    x = _values(values)
    if len(labels) != x.size:
        raise InputError(
            f"value: {len(labels)} conditions but {x.size} values; every row needs both",
            field="value",
        )
    is_b = np.array([label == "B" for label in labels], dtype=bool)
    n_b = int(is_b.sum())
    n_a = x.size - n_b
    if x.size > MAX_ALTERNATING_SESSIONS:
        raise InputError(
            f"condition: {x.size:,} sessions, above the limit of {MAX_ALTERNATING_SESSIONS:,} for "
            "an alternating treatments design (its admissible orderings are counted exactly)",
            field="condition",
        )
    if min(n_a, n_b) < _MIN_SESSIONS_PER_CONDITION:
        fewer, count = ("A", n_a) if n_a <= n_b else ("B", n_b)
        raise InputError(
            f"condition: {fewer} has {count} session{'s' if count != 1 else ''}; an alternating "
            f"treatments design needs at least {_MIN_SESSIONS_PER_CONDITION} of each condition "
            "(with one, nothing alternates and the condition has no spread)",
            field="condition",
        )
    if max_consecutive is not None and _longest_run(is_b) > max_consecutive:
        raise InputError(
            f"condition: the observed sequence has {_longest_run(is_b)} consecutive sessions of "
            f"one condition, more than max_consecutive = {max_consecutive}, so it is not an "
            "admissible assignment",
            field="condition",
        )

    centered = x - x.mean()
    scale = float(np.max(np.abs(centered)))
    tolerance = _TIE_TOLERANCE * scale
    # Sequential sums in time order, the same additions the enumeration and sampler make.
    grand_total = float(np.cumsum(centered)[-1])
    observed_sum_b = float(np.cumsum(np.where(is_b, centered, 0.0))[-1])
    rng = np.random.default_rng(seed)
    if max_consecutive is None:
        n_admissible = math.comb(x.size, n_b)
        exact = n_admissible <= max_exact
        if exact:  # listing an ordering costs a step per session of the smaller condition
            _check_session_draws(x.size, n_admissible, exact, min(n_a, n_b))
        else:
            _check_session_draws(x.size, permutations, exact)
        if exact:
            # List the positions of the smaller condition (keeps the rank table in int64).
            minority_is_b = n_b <= n_a
            positions = _unrank_combinations(
                np.arange(n_admissible, dtype=np.int64), x.size, min(n_a, n_b)
            )
            minority_sums = np.cumsum(centered[positions], axis=1)[:, -1]
            sum_b = minority_sums if minority_is_b else grand_total - minority_sums
        else:
            sum_b = _permuted_sums(is_b, centered, permutations - 1, rng)
    else:
        cells = x.size * (n_a + 1) * (max_consecutive + 2)
        if cells > MAX_ALTERNATING_TABLE:
            raise InputError(
                f"condition: {x.size:,} sessions ({n_a:,} A) with max_consecutive "
                f"{max_consecutive} need a table of {cells:,} completion counts, above the limit "
                f"of {MAX_ALTERNATING_TABLE:,}; use fewer sessions, a smaller max_consecutive, or "
                "no cap (a completely randomized design)",
                field="condition",
            )
        levels, feasible, n_admissible = _run_capped_levels(n_a, n_b, max_consecutive)
        exact = n_admissible <= max_exact
        _check_session_draws(x.size, n_admissible if exact else permutations, exact)
        if exact:
            sum_b = _enumerate_run_capped(centered, feasible, n_a, n_b, max_consecutive)
        else:
            sum_b = _sample_run_capped(
                centered, levels, n_a, n_b, max_consecutive, permutations - 1, rng
            )
    if not exact:
        sum_b = np.concatenate(([observed_sum_b], sum_b))

    def oriented(sums: np.ndarray) -> np.ndarray:
        return _orient(sums / n_b - (grand_total - sums) / n_a, statistic)

    distribution = oriented(sum_b)
    observed = float(oriented(np.array([observed_sum_b]))[0])
    a_values, b_values = x[~is_b], x[is_b]
    return _result(
        design="alternating_treatments",
        statistic=statistic,
        description=_description(statistic),
        distribution=distribution,
        observed=observed,
        tolerance=tolerance,
        n_admissible=n_admissible,
        exact=exact,
        effect_size=_effect_size(a_values, b_values),
        standards=alternating_treatments_standards(labels),
        alpha=alpha,
        exclude_equal=exclude_equal,
        seed=seed,
        phases=(
            PhaseSummary(label="A", n=n_a, mean=float(a_values.mean())),
            PhaseSummary(label="B", n=n_b, mean=float(b_values.mean())),
        ),
    )


def randomized_block_test(
    conditions: Sequence[str],
    values: Sequence[float],
    *,
    statistic: str = "B-A",
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    exclude_equal: bool = False,
) -> RandomizationTestResult:
    """Randomization test for a randomized block design (SCRT "RBD", two conditions).

    The sessions come in blocks of two in time order (rows 1-2, 3-4, ...), each block one A and
    one B session in a randomized order. The admissible assignments are the 2^m orders of the m
    blocks; swapping a block's order negates its B-minus-A difference d_i, so mean(B) - mean(A)
    of an assignment is the mean of +-d_i. Exact when 2^m is at most `max_exact`, else Monte
    Carlo (the observed assignment first, then uniform random orders). Statistics: "A-B",
    "B-A", "|A-B|".
    """
    statistic, permutations, seed, max_exact, alpha = _check_common(
        statistic, permutations, seed, max_exact, alpha, allowed=CONDITION_STATISTICS
    )
    labels = [str(c).strip().upper() for c in conditions]
    x = _values(values)
    if len(labels) != x.size:
        raise InputError(
            f"value: {len(labels)} conditions but {x.size} values; every row needs both",
            field="value",
        )
    if x.size < 2 * _MIN_SESSIONS_PER_CONDITION or x.size % 2:
        raise InputError(
            f"condition: {x.size} sessions; a randomized block design needs an even number, "
            f"at least {2 * _MIN_SESSIONS_PER_CONDITION} (blocks of one A and one B)",
            field="condition",
        )
    for block in range(x.size // 2):
        pair = labels[2 * block : 2 * block + 2]
        if sorted(pair) != ["A", "B"]:
            raise InputError(
                f"condition: rows {2 * block + 1}-{2 * block + 2} are {pair[0]!r}, {pair[1]!r}; "
                "each block of two consecutive sessions needs one A and one B",
                field="condition",
            )
    is_b = np.array([label == "B" for label in labels], dtype=bool)
    b_values, a_values = x[is_b], x[~is_b]
    differences = b_values - a_values  # block by block, in time order
    m = differences.size
    scale = float(np.max(np.abs(differences))) if m else 0.0
    n_admissible = 2**m
    exact = n_admissible <= max_exact
    if not exact and permutations * m > MAX_RANDOMIZATION_WORK:
        raise InputError(
            f"permutations: {permutations:,} Monte Carlo orders of {m:,} blocks take "
            f"{permutations * m:,} draws, above the limit of {MAX_RANDOMIZATION_WORK:,}; use at "
            f"most {MAX_RANDOMIZATION_WORK // m:,} permutations",
            field="permutations",
        )
    rng = np.random.default_rng(seed)
    rows = n_admissible if exact else permutations
    means = np.empty(rows)
    chunk = max(1, (1 << 22) // m)  # rows of signs held at once
    for first in range(0, rows, chunk):
        index = np.arange(first, min(first + chunk, rows))
        if exact:  # assignment k flips the blocks whose bit is set in k
            signs = 1 - 2 * ((index[:, None] >> np.arange(m)[None, :]) & 1)
        else:
            signs = 1 - 2 * rng.integers(0, 2, size=(index.size, m))
            signs[index == 0] = 1  # the observed assignment first
        means[index] = (signs * differences[None, :]).mean(axis=1)
    distribution = _orient(means, statistic)
    observed = float(_orient(np.array([differences.mean()]), statistic)[0])
    return _result(
        design="randomized_block",
        statistic=statistic,
        description=_description(statistic),
        distribution=distribution,
        observed=observed,
        tolerance=_TIE_TOLERANCE * scale,
        n_admissible=n_admissible,
        exact=exact,
        effect_size=_effect_size(a_values, b_values),
        standards=alternating_treatments_standards(labels),
        alpha=alpha,
        exclude_equal=exclude_equal,
        seed=seed,
        phases=(
            PhaseSummary(label="A", n=m, mean=float(a_values.mean())),
            PhaseSummary(label="B", n=m, mean=float(b_values.mean())),
        ),
    )


# ----------------------------------------------------------------------------- schedules


def draw_phase_schedule(
    n_observations: int,
    n_phases: int,
    min_phase_length: int,
    seed: int,
    min_b_phase_length: int | None = None,
) -> tuple[int, ...]:
    """One schedule drawn uniformly from the admissible phase-change schedules (the set the
    phase-design tests randomize over, with the B phases' own minimum `min_b_phase_length`
    when given): the 0-based index of the first row of phases 2..P."""
    n_observations = _check_int(n_observations, "n_observations", 1)
    n_phases = _check_int(n_phases, "n_phases", 2)
    min_phase_length = _check_int(min_phase_length, "min_phase_length", 1)
    if min_b_phase_length is not None:
        min_b_phase_length = _check_int(min_b_phase_length, "min_b_phase_length", 1)
    seed = _check_int(seed, "seed", 0)
    minima = phase_minima(n_phases, min_phase_length, min_b_phase_length)
    total = count_assignments(n_observations, minima)
    if total == 0:
        raise InputError(
            f"n_observations: {n_phases} phases of at least {_minima_text(minima)} need at "
            f"least {int(minima.sum())} observations, got {n_observations}",
            field="n_observations",
        )
    rng = np.random.default_rng(seed)
    if total <= _MAX_RANKABLE:
        rank = rng.integers(0, total, size=1, dtype=np.int64)
    else:  # many phases over a long series: more schedules than int64 ranks
        rank = np.array([_uniform_below(rng, total)], dtype=object)
    changes = changes_from_ranks(rank, n_observations, minima)
    return tuple(int(c) for c in changes[0])


def _minima_text(minima: np.ndarray) -> str:
    """'4', or '4 (A) and 2 (B)' when the B phases have their own minimum."""
    a, b = int(minima[0]), int(minima[1])
    return str(a) if a == b else f"{a} (A) and {b} (B)"


def _uniform_below(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in [0, n), for n of any size: draws of n's bit length, redrawn when
    they reach n (fewer than two draws on average)."""
    bits = n.bit_length()
    while True:
        draw = int.from_bytes(rng.bytes((bits + 7) // 8), "little") >> (-bits % 8)
        if draw < n:
            return draw


def draw_abab_schedule(
    n_observations: int, min_phase_length: int, seed: int, min_b_phase_length: int | None = None
) -> tuple[int, int, int]:
    """The three phase-change indices (first rows of B1, A2, B2) of an ABAB schedule drawn
    uniformly from the admissible set of `abab_randomization_test` (with the same
    `min_b_phase_length`). Same seed, same schedule."""
    first_b1, first_a2, first_b2 = draw_phase_schedule(
        n_observations, 4, min_phase_length, seed, min_b_phase_length
    )
    return first_b1, first_a2, first_b2


def multiple_baseline_start_windows(
    n_observations: int,
    n_cases: int,
    min_phase_length: int,
    min_b_phase_length: int | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Disjoint, consecutive windows of admissible intervention starts, one per case in order.

    The starts that leave the A phase at least `min_phase_length` long and the B phase at least
    `min_b_phase_length` (default: the same) are split as evenly as possible; a start drawn from
    each window gives distinct, staggered starts. Pass them as `start_points` to
    `multiple_baseline_test` so the test randomizes over the same set."""
    n_observations = _check_int(n_observations, "n_observations", 1)
    n_cases = _check_int(n_cases, "n_cases", 1)
    min_phase_length = _check_int(min_phase_length, "min_phase_length", 1)
    min_b = (
        min_phase_length
        if min_b_phase_length is None
        else _check_int(min_b_phase_length, "min_b_phase_length", 1)
    )
    starts = np.arange(min_phase_length, n_observations - min_b + 1)
    if starts.size < n_cases:
        raise InputError(
            f"n_observations: {n_observations} observations with phases of at least "
            f"{_minima_text(np.array([min_phase_length, min_b]))} leave {starts.size} possible "
            f"starts, fewer than the {n_cases} cases that need distinct starts",
            field="n_observations",
        )
    return tuple(tuple(int(s) for s in window) for window in np.array_split(starts, n_cases))


def draw_multiple_baseline_starts(
    n_observations: int,
    n_cases: int,
    min_phase_length: int,
    seed: int,
    min_b_phase_length: int | None = None,
) -> tuple[int, ...]:
    """Distinct, staggered intervention starts (0-based index of each case's first B row), one
    drawn uniformly from each case's window of `multiple_baseline_start_windows`."""
    seed = _check_int(seed, "seed", 0)
    windows = multiple_baseline_start_windows(
        n_observations, n_cases, min_phase_length, min_b_phase_length
    )
    rng = np.random.default_rng(seed)
    return tuple(int(window[rng.integers(0, len(window))]) for window in windows)


def draw_randomized_blocks(
    n_observations: int, conditions: Sequence[str] = ("A", "B"), seed: int = 0
) -> tuple[str, ...]:
    """A randomized block sequence: consecutive blocks of one session per condition, each
    block's order drawn uniformly and independently (the admissible set of
    `randomized_block_test` for two conditions; SCRT "RBD"). Same seed, same sequence."""
    n_observations = _check_int(n_observations, "n_observations", 1)
    seed = _check_int(seed, "seed", 0)
    names = [str(c) for c in conditions]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError("condition: give at least two distinct conditions", field="condition")
    if n_observations % len(names):
        raise InputError(
            f"n_observations: {n_observations} sessions do not make whole blocks of "
            f"{len(names)} (one session per condition)",
            field="n_observations",
        )
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(names)) for _ in range(n_observations // len(names))]
    return tuple(names[i] for order in orders for i in order.tolist())


def _completion_table(counts: tuple[int, ...], cap: int) -> dict[tuple, int]:
    """Number of ways to finish a sequence from (remaining counts, last condition, run length)
    when no condition may repeat more than `cap` times in a row."""
    k = len(counts)
    table: dict[tuple, int] = {}
    for remaining in sorted(product(*(range(c + 1) for c in counts)), key=sum):
        for last in range(k):
            for run in range(1, cap + 1):
                if sum(remaining) == 0:
                    table[(remaining, last, run)] = 1
                    continue
                ways = 0
                for c in range(k):
                    if remaining[c] == 0 or (c == last and run == cap):
                        continue
                    rest = remaining[:c] + (remaining[c] - 1,) + remaining[c + 1 :]
                    ways += table[(rest, c, run + 1 if c == last else 1)]
                table[(remaining, last, run)] = ways
    return table


def draw_alternating_sequence(
    n_observations: int,
    conditions: Sequence[str] = ("A", "B"),
    max_consecutive: int | None = 2,
    seed: int = 0,
) -> tuple[str, ...]:
    """A condition sequence drawn uniformly from the sequences with balanced counts (differing
    by at most one, earlier conditions first to get the extra session) and at most
    `max_consecutive` consecutive sessions of one condition (None: no cap). For two conditions
    this is the admissible set of `alternating_treatments_test`. Same seed, same sequence."""
    n_observations = _check_int(n_observations, "n_observations", 1)
    seed = _check_int(seed, "seed", 0)
    names = [str(c) for c in conditions]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError("condition: give at least two distinct conditions", field="condition")
    if max_consecutive is not None:
        max_consecutive = _check_int(max_consecutive, "max_consecutive", 1)
    k = len(names)
    counts = tuple(n_observations // k + (1 if i < n_observations % k else 0) for i in range(k))
    rng = np.random.default_rng(seed)
    if max_consecutive is None:
        order = rng.permutation(np.repeat(np.arange(k), counts))
        return tuple(names[i] for i in order.tolist())
    table = _completion_table(counts, max_consecutive)
    remaining, last, run = counts, -1, 0
    sequence: list[str] = []
    for _ in range(n_observations):
        options: list[tuple[int, int]] = []
        for c in range(k):
            if remaining[c] == 0 or (c == last and run == max_consecutive):
                continue
            rest = remaining[:c] + (remaining[c] - 1,) + remaining[c + 1 :]
            ways = table[(rest, c, run + 1 if c == last else 1)]
            if ways:
                options.append((c, ways))
        if not options:
            raise InputError(
                f"max_consecutive: no sequence of {n_observations} sessions over {k} conditions "
                f"keeps runs to {max_consecutive}",
                field="max_consecutive",
            )
        total = sum(ways for _, ways in options)
        target = rng.random() * total
        chosen = options[-1][0]
        cumulative = 0.0
        for c, ways in options:
            cumulative += ways
            if target < cumulative:
                chosen = c
                break
        run = run + 1 if chosen == last else 1
        last = chosen
        remaining = remaining[:chosen] + (remaining[chosen] - 1,) + remaining[chosen + 1 :]
        sequence.append(names[chosen])
    return tuple(sequence)
