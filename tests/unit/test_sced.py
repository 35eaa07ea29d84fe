"""Single-case randomization tests (americano_pipelines.stats.sced).

Three kinds of checks: hand-enumerable cases; reference values from SCRT / scan (sources in the
comments); simulation properties (type-I error, power) marked slow.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from fractions import Fraction
from itertools import combinations, combinations_with_replacement, groupby, pairwise, product
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from americano_pipelines.errors import InputError
from americano_pipelines.stats.sced import (
    JSON_DISTRIBUTION_CAP,
    STATISTICS,
    ab_randomization_test,
    aba_randomization_test,
    abab_randomization_test,
    admissible_phase_changes,
    alternating_treatments_test,
    count_phase_assignments,
    custom_design_test,
    draw_abab_schedule,
    draw_alternating_sequence,
    draw_multiple_baseline_starts,
    draw_phase_schedule,
    multiple_baseline_start_windows,
    multiple_baseline_test,
    randomized_block_test,
)

# Onghena (1992) hypothetical ABAB data, shipped with SCRT as `data(ABAB)` (SCRT 1.3.1,
# man/ABAB.Rd; used in Bulté & Onghena 2008, Behavior Research Methods 40, 467-478).
ONGHENA_PHASES = ["A1"] * 6 + ["B1"] * 6 + ["A2"] * 6 + ["B2"] * 6
ONGHENA_VALUES = [6, 2, 5, 3, 4, 4, 1, 2, 3, 1, 3, 2, 2, 3, 4, 2, 4, 3, 0, 1, 2, 0, 2, 1]

# scan's `exampleAB` data (scan 0.68, data/exampleAB.rda): three cases, 5 A + 15 B points each.
SCAN_EXAMPLE_AB = {
    "Johanna": (
        ["A"] * 5 + ["B"] * 15,
        [54, 53, 56, 58, 52, 61, 62, 71, 66, 64, 78, 70, 74, 82, 77, 86, 68, 80, 86, 87],
    ),
    "Karolina": (
        ["A"] * 5 + ["B"] * 15,
        [41, 59, 56, 51, 52, 57, 56, 67, 75, 66, 69, 68, 73, 77, 79, 86, 82, 75, 83, 89],
    ),
    "Anja": (
        ["A"] * 5 + ["B"] * 15,
        [55, 58, 53, 50, 52, 55, 68, 68, 81, 67, 78, 73, 72, 78, 81, 78, 71, 85, 80, 76],
    ),
}

# An alternating treatments series of 12 sessions (runs of at most 2).
ATD_CONDITIONS = list("ABBABAABABBA")
ATD_VALUES = [3, 7, 6, 4, 8, 2, 3, 9, 4, 6, 7, 5]


def _phase_labels(changes: tuple[int, ...], n: int) -> list[str]:
    """Labels A1, B1, A2, B2, ... for a series of n rows with these phase changes."""
    edges = (0, *changes, n)
    labels: list[str] = []
    for i in range(len(edges) - 1):
        labels += [f"{'AB'[i % 2]}{i // 2 + 1}"] * (edges[i + 1] - edges[i])
    return labels


def _brute_force_changes(n: int, n_phases: int, k: int) -> set[tuple[int, ...]]:
    return {
        c
        for c in combinations(range(1, n), n_phases - 1)
        if all(b - a >= k for a, b in zip((0, *c), (*c, n), strict=True))
    }


# ----------------------------------------------------------------------------- hand-checkable


def test_ab_tiny_series_enumerated_by_hand_counts_ties() -> None:
    # n = 6, minimum phase 2: A may hold 2, 3 or 4 points (3 assignments).
    #   A = 1,3       B = 2,4,6,5 -> 4.25 - 2.0 = 2.25
    #   A = 1,3,2     B = 4,6,5   -> 5.00 - 2.0 = 3.00  (observed)
    #   A = 1,3,2,4   B = 6,5     -> 5.50 - 2.5 = 3.00  (a tie, which counts)
    result = ab_randomization_test(list("AAABBB"), [1, 3, 2, 4, 6, 5], min_phase_length=2)
    assert result.exact
    assert result.n_assignments == 3
    assert result.permutation_distribution == pytest.approx((2.25, 3.0, 3.0))
    assert result.observed_effect == pytest.approx(3.0)
    assert result.n_as_extreme == 2
    assert result.p_value == pytest.approx(2 / 3)


def test_ab_tiny_series_directions_and_absolute() -> None:
    # Same series: A-B reverses the signs; -3 is the smallest value, so every assignment is >= it.
    down = ab_randomization_test(
        list("AAABBB"), [1, 3, 2, 4, 6, 5], min_phase_length=2, statistic="A-B"
    )
    assert down.permutation_distribution == pytest.approx((-3.0, -3.0, -2.25))
    assert down.p_value == pytest.approx(1.0)
    both = ab_randomization_test(
        list("AAABBB"), [1, 3, 2, 4, 6, 5], min_phase_length=2, statistic="|A-B|"
    )
    assert both.p_value == pytest.approx(2 / 3)


def test_abab_admissible_schedules_listed_by_hand() -> None:
    # n = 9, minimum 2: one phase holds 3 points, the others 2 -> 4 schedules.
    changes = {tuple(row) for row in admissible_phase_changes(9, 4, 2).tolist()}
    assert changes == {(3, 5, 7), (2, 5, 7), (2, 4, 7), (2, 4, 6)}


@pytest.mark.parametrize("n_phases", [2, 3, 4])
def test_assignment_count_matches_brute_force_and_formula(n_phases: int) -> None:
    for n in range(2, 23):
        for k in range(1, 6):
            brute = _brute_force_changes(n, n_phases, k)
            assert count_phase_assignments(n, n_phases, k) == len(brute)
            listed = admissible_phase_changes(n, n_phases, k)
            assert {tuple(r) for r in listed.tolist()} == brute
            assert len(listed) == len(brute)
            if n_phases == 4 and n >= 4 * k:
                assert len(brute) == math.comb(n - 4 * k + 3, 3)


@pytest.mark.parametrize(("n_phases", "k", "spare"), [(98, 3, 0), (98, 3, 2), (120, 2, 1)])
def test_many_phases_list_and_draw_exactly(n_phases: int, k: int, spare: int) -> None:
    # Few schedules, C(P - 1 + spare, P - 1), but a rank table over all C(c, i) would overflow
    # int64 (C(96, 48) is about 6e27): the listed set is every way to hand the spare days to
    # the phases, and a drawn schedule is one of them.
    n = n_phases * k + spare
    expected = set()
    for extra in combinations_with_replacement(range(n_phases), spare):
        lengths = [k + extra.count(j) for j in range(n_phases)]
        expected.add(tuple(np.cumsum(lengths)[:-1].tolist()))
    assert count_phase_assignments(n, n_phases, k) == len(expected)
    listed = admissible_phase_changes(n, n_phases, k)
    assert len(listed) == len(expected)
    assert {tuple(row) for row in listed.tolist()} == expected
    for seed in range(5):
        assert draw_phase_schedule(n, n_phases, k, seed=seed) in expected


def test_draws_beyond_int64_ranks_are_exact_admissible_and_uniform() -> None:
    # 21 phases over 321 observations: C(320, 20), about 1e32 schedules, more than int64 ranks.
    # Uniform over the schedules, a phase's spare observations (its length - k) follow a
    # beta-binomial(S, 1, P - 1) with S = 300 spare, P = 21: mean S/P, the variance below.
    n, n_phases, k = 321, 21, 1
    assert count_phase_assignments(n, n_phases, k) > 2**63
    first, last = [], []
    for seed in range(600):
        lengths = np.diff([0, *draw_phase_schedule(n, n_phases, k, seed=seed), n])
        assert len(lengths) == n_phases and lengths.min() >= k and lengths.sum() == n
        first.append(lengths[0] - k)
        last.append(lengths[-1] - k)
    assert draw_phase_schedule(n, n_phases, k, seed=7) == draw_phase_schedule(n, n_phases, k, 7)
    spare = n - n_phases * k
    sd = math.sqrt(
        spare * (spare + n_phases) * (n_phases - 1) / (n_phases**2 * (n_phases + 1)) / 600
    )
    for spares in (first, last):
        assert abs(np.mean(spares) - spare / n_phases) < 4 * sd


def test_abab_n60_min5_has_12341_assignments() -> None:
    # C(60 - 4*5 + 3, 3) = C(43, 3) = 12,341.
    assert math.comb(43, 3) == 12_341
    assert count_phase_assignments(60, 4, 5) == 12_341
    rng = np.random.default_rng(3)
    labels = _phase_labels((15, 30, 45), 60)
    result = abab_randomization_test(labels, rng.normal(size=60), min_phase_length=5)
    assert result.exact and result.n_assignments == 12_341 == result.n_admissible
    payload = result.to_json()
    assert len(payload["permutationDistribution"]) == JSON_DISTRIBUTION_CAP == 10_000
    assert payload["permutationDistributionThinned"] is True
    assert payload["permutationDistribution"][0] == min(result.permutation_distribution)
    assert payload["permutationDistribution"][-1] == max(result.permutation_distribution)


def test_a_distribution_within_the_cap_is_kept_whole() -> None:
    """The default 10,000 Monte Carlo permutations are all in the JSON, unthinned."""
    labels = _phase_labels((20, 40, 60), 80)  # C(63, 3) = 39,711 > max_exact below
    values = np.random.default_rng(4).normal(size=80)
    result = abab_randomization_test(labels, values, min_phase_length=5, max_exact=1000)
    payload = result.to_json()
    assert (result.exact, result.n_assignments) == (False, 10_000)
    assert payload["permutationDistribution"] == list(result.permutation_distribution)
    assert payload["permutationDistributionThinned"] is False


def test_abab_statistics_by_hand() -> None:
    # Phases A1 = [1, 2], B1 = [5, 6, 7], A2 = [2], B2 = [9, 9, 9, 9] (minimum phase 1).
    labels = ["A"] * 2 + ["B"] * 3 + ["A"] + ["B"] * 4
    values = [1, 2, 5, 6, 7, 2, 9, 9, 9, 9]
    mean_a = (1 + 2 + 2) / 3
    mean_b = (5 + 6 + 7 + 9 * 4) / 7
    phase_a = (1.5 + 2.0) / 2
    phase_b = (6.0 + 9.0) / 2
    expected = {
        "B-A": mean_b - mean_a,
        "A-B": mean_a - mean_b,
        "|A-B|": abs(mean_a - mean_b),
        "PB-PA": phase_b - phase_a,
        "PA-PB": phase_a - phase_b,
        "|PA-PB|": abs(phase_a - phase_b),
    }
    for statistic, value in expected.items():
        result = abab_randomization_test(labels, values, min_phase_length=1, statistic=statistic)
        assert result.observed_effect == pytest.approx(value), statistic
        assert result.n_assignments == math.comb(10 - 4 + 3, 3)


def test_constant_series_ties_everywhere() -> None:
    """Every statistic ties on a constant series; those of a spread (SMD, t) or a slope are
    undefined there or in an ABAB design, and say so."""
    labels = ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4
    for statistic in STATISTICS:
        if statistic in ("SMD hedges", "SMD glass", "T-test", "Slope B-A", "Slope A-B"):
            with pytest.raises(InputError, match=f"statistic: {statistic} "):
                abab_randomization_test(labels, [7.0] * 16, statistic=statistic)
            continue
        result = abab_randomization_test(labels, [7.0] * 16, statistic=statistic)
        assert result.p_value == 1.0
        assert result.effect_size is None  # no spread: Cohen's d undefined, not NaN
        json.dumps(result.to_json(), allow_nan=False)


def test_ties_survive_floating_point_rounding() -> None:
    # A palindromic series: splitting after c or after n - c gives the same |A-B| in exact
    # arithmetic, but the decimals round differently along the way; for this series and split 5
    # a comparison without tolerance loses the tie with split 7. Expected count: exact rationals.
    values = [0.6, 0.3, 0.0, 0.0, 0.8, 0.9, 0.9, 0.8, 0.0, 0.0, 0.3, 0.6]
    exact = [Fraction(str(v)) for v in values]
    n = len(values)

    def abs_diff(c: int) -> Fraction:
        return abs(sum(exact[c:]) / (n - c) - sum(exact[:c]) / c)

    observed_split = 5
    assert abs_diff(5) == abs_diff(7)
    expected = sum(abs_diff(c) >= abs_diff(observed_split) for c in range(2, n - 1))
    result = ab_randomization_test(
        ["A"] * observed_split + ["B"] * (n - observed_split),
        values,
        statistic="|A-B|",
        min_phase_length=2,
    )
    assert result.observed_effect == pytest.approx(float(abs_diff(observed_split)))
    assert result.n_as_extreme == expected == 6
    assert result.p_value == pytest.approx(expected / (n - 3))


def test_alternating_treatments_small_enumeration_by_hand() -> None:
    # 2 A and 2 B sessions, no cap: C(4, 2) = 6 orderings. With cap 1 only ABAB and BABA.
    values = [1.0, 5.0, 2.0, 6.0]
    free = alternating_treatments_test(list("ABAB"), values, max_consecutive=None)
    assert free.n_assignments == 6
    sums = [values[i] + values[j] for i, j in combinations(range(4), 2)]
    b_minus_a = sorted(s / 2 - (14 - s) / 2 for s in sums)
    assert free.permutation_distribution == pytest.approx(tuple(b_minus_a))
    assert free.p_value == pytest.approx(1 / 6)
    capped = alternating_treatments_test(list("ABAB"), values, max_consecutive=1)
    assert capped.n_assignments == 2
    assert capped.permutation_distribution == pytest.approx((-4.0, 4.0))
    assert capped.p_value == pytest.approx(0.5)


def test_multiple_baseline_enumerates_product_of_start_sets() -> None:
    cases = {
        "x": (list("AAABBB"), [1, 3, 2, 4, 6, 5]),
        "y": (list("AABBBB"), [2, 1, 5, 6, 5, 7]),
    }
    result = multiple_baseline_test(cases, min_phase_length=2)
    # Case x: A may hold 2..4 points (3 starts); case y likewise: 9 assignments.
    assert result.n_assignments == 9
    x_stats = [2.25, 3.0, 3.0]
    y = [2, 1, 5, 6, 5, 7]
    y_stats = [np.mean(y[c:]) - np.mean(y[:c]) for c in (2, 3, 4)]
    combined = sorted((a + b) / 2 for a, b in product(x_stats, y_stats))
    assert result.permutation_distribution == pytest.approx(tuple(combined))
    observed = (3.0 + y_stats[0]) / 2
    assert result.observed_effect == pytest.approx(observed)
    assert result.n_as_extreme == sum(c >= observed - 1e-12 for c in combined)


# ----------------------------------------------------------------------------- reference values


def test_scrt_abab_example_onghena_1992() -> None:
    # SCRT 1.3.1 documented examples: quantity(design = "ABAB", MT = 24, limit = 4) = 165 and
    # pvalue.systematic(design = "ABAB", statistic = "PA-PB", limit = 4, data = ABAB); the
    # p-values below are those SCRT 1.3.1's pvalue.systematic/observed return for this data
    # (observed A-B = PA-PB = 2; PA-PB p = 4/165 = .0242).
    expected = {
        "PA-PB": 4 / 165,
        "|PA-PB|": 4 / 165,
        "A-B": 5 / 165,
        "|A-B|": 5 / 165,
        "B-A": 161 / 165,
        "PB-PA": 162 / 165,
    }
    for statistic, p_value in expected.items():
        result = abab_randomization_test(
            ONGHENA_PHASES, ONGHENA_VALUES, min_phase_length=4, statistic=statistic
        )
        assert result.exact
        assert result.n_assignments == 165
        assert abs(result.observed_effect) == pytest.approx(2.0)
        assert result.p_value == pytest.approx(p_value), statistic


def test_scrt_quantity_for_alternating_treatments() -> None:
    # SCRT 1.3.1 quantity(design = "ATD", MT, limit = 2) with MT/2 sessions per condition:
    # 34, 84, 208, 518 for MT = 8, 10, 12, 14; quantity(design = "CRD", MT = 12) = 924.
    for n, expected in [(8, 34), (10, 84), (12, 208), (14, 518)]:
        result = alternating_treatments_test(list("AB" * (n // 2)), np.arange(n, dtype=float))
        assert result.n_admissible == expected
    free = alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES, max_consecutive=None)
    assert free.n_admissible == 924


def test_scrt_alternating_treatments_p_values() -> None:
    # SCRT 1.3.1 pvalue.systematic(design = "ATD", limit = 2) and (design = "CRD") on the
    # 12-session series above: observed B-A = 3.667; ATD p = 1/208 (B-A), 2/208 (|A-B|),
    # 1 (A-B); CRD p = 1/924 (B-A), 2/924 (|A-B|).
    atd = {"B-A": 1 / 208, "|A-B|": 2 / 208, "A-B": 1.0}
    crd = {"B-A": 1 / 924, "|A-B|": 2 / 924, "A-B": 1.0}
    for statistic in atd:
        result = alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES, statistic=statistic)
        assert result.p_value == pytest.approx(atd[statistic])
        assert abs(result.observed_effect) == pytest.approx(11 / 3)
        free = alternating_treatments_test(
            ATD_CONDITIONS, ATD_VALUES, statistic=statistic, max_consecutive=None
        )
        assert free.p_value == pytest.approx(crd[statistic])


def test_scrt_ab_p_value() -> None:
    # SCRT 1.3.1 quantity(design = "AB", MT = 14, limit = 3) = 9 and pvalue.systematic on this
    # series: observed B-A = 3.125, p = 1/9.
    phases = ["A"] * 6 + ["B"] * 8
    values = [4, 5, 3, 6, 5, 4, 7, 8, 6, 9, 7, 8, 9, 7]
    result = ab_randomization_test(phases, values, min_phase_length=3)
    assert result.n_assignments == 9
    assert result.observed_effect == pytest.approx(3.125)
    assert result.p_value == pytest.approx(1 / 9)


def test_scan_book_multiple_baseline_example() -> None:
    # scan book (Wilbert, "Analyzing single-case data with R and scan", ch. "Randomization
    # tests"), printed output of rand_test(exampleAB): "Observed statistic = 20.55556",
    # "Distribution based on a random sample of all 1331 possible combinations" (limit 5).
    # The exact p-value 48/1331 was cross-checked by a separate base-R enumeration of the same
    # 1331 start-point combinations (expand.grid over each case's starts 6..16).
    result = multiple_baseline_test(SCAN_EXAMPLE_AB, min_phase_length=5)
    assert result.n_admissible == 1331 and result.exact
    assert result.observed_effect == pytest.approx(20.55556, abs=5e-6)
    assert result.n_as_extreme == 48
    assert result.p_value == pytest.approx(48 / 1331)


# ----------------------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize(
    "run",
    [
        lambda **kw: abab_randomization_test(
            ONGHENA_PHASES, ONGHENA_VALUES, min_phase_length=4, statistic="PA-PB", **kw
        ),
        lambda **kw: multiple_baseline_test(SCAN_EXAMPLE_AB, min_phase_length=5, **kw),
        lambda **kw: alternating_treatments_test(
            ATD_CONDITIONS, ATD_VALUES, statistic="|A-B|", **kw
        ),
        lambda **kw: alternating_treatments_test(
            ATD_CONDITIONS, ATD_VALUES, statistic="|A-B|", max_consecutive=None, **kw
        ),
    ],
    ids=["abab", "multiple_baseline", "alternating", "completely_randomized"],
)
def test_monte_carlo_p_value_close_to_exact(run) -> None:
    exact = run()
    n = 20_000
    monte_carlo = run(max_exact=0, permutations=n, seed=11)
    assert exact.exact and not monte_carlo.exact
    assert monte_carlo.n_assignments == n
    assert monte_carlo.n_admissible == exact.n_admissible
    se = math.sqrt(exact.p_value * (1 - exact.p_value) / n)
    assert abs(monte_carlo.p_value - exact.p_value) < 4 * se + 1 / n
    # The observed assignment is part of the distribution: p >= 1/N.
    assert monte_carlo.p_value >= 1 / n
    assert monte_carlo.observed_effect in monte_carlo.permutation_distribution


def test_monte_carlo_same_seed_same_result_different_seed_differs() -> None:
    rng = np.random.default_rng(5)
    labels = _phase_labels(draw_abab_schedule(120, 5, seed=4), 120)
    values = rng.normal(size=120)
    first = abab_randomization_test(labels, values, min_phase_length=5, seed=9)
    again = abab_randomization_test(labels, values, min_phase_length=5, seed=9)
    other = abab_randomization_test(labels, values, min_phase_length=5, seed=10)
    assert not first.exact and first.n_assignments == 10_000
    assert first.n_admissible == math.comb(120 - 20 + 3, 3)
    assert first.to_json() == again.to_json()
    assert first.permutation_distribution != other.permutation_distribution


def test_monte_carlo_with_a_single_assignment_is_the_observed_one() -> None:
    result = abab_randomization_test(
        ONGHENA_PHASES, ONGHENA_VALUES, min_phase_length=4, max_exact=0, permutations=1
    )
    assert result.n_assignments == 1 and result.p_value == 1.0


def test_monte_carlo_draws_cover_the_admissible_set_uniformly() -> None:
    # With 20 assignments and 40,000 draws each schedule should appear ~2,000 times.
    phases = ["A"] * 4 + ["B"] * 4 + ["A"] * 3 + ["B"] * 4  # n = 15, minimum 3 -> C(6,3) = 20
    values = 2.0 ** np.arange(15)  # every schedule gets a distinct statistic
    exact = abab_randomization_test(phases, values, min_phase_length=3)
    assert exact.n_assignments == 20 and len(set(exact.permutation_distribution)) == 20
    mc = abab_randomization_test(
        phases, values, min_phase_length=3, max_exact=0, permutations=40_001, seed=2
    )
    counts = Counter(mc.permutation_distribution)
    observed_counts = [counts[v] for v in exact.permutation_distribution]
    assert sum(observed_counts) == 40_001
    assert stats.chisquare(observed_counts).pvalue > 0.001


def test_alternating_admissible_count_matches_brute_force() -> None:
    for n_a, n_b in [(3, 3), (5, 3), (4, 6), (7, 2), (6, 6)]:
        for cap in (1, 2, 3, None):
            brute = [
                seq
                for seq in set(product("AB", repeat=n_a + n_b))
                if seq.count("A") == n_a
                and (cap is None or max(len(list(g)) for _, g in groupby(seq)) <= cap)
            ]
            if not brute:
                continue
            observed = sorted(brute)[0]
            result = alternating_treatments_test(
                list(observed), np.arange(n_a + n_b, dtype=float), max_consecutive=cap
            )
            assert result.n_admissible == len(brute), (n_a, n_b, cap)


def test_alternating_monte_carlo_draws_are_uniform() -> None:
    # 8 sessions, 4 each, runs of at most 2: 34 orderings (SCRT quantity). Powers of two give
    # every ordering its own statistic, so the draws can be counted per ordering.
    values = 2.0 ** np.arange(8)
    exact = alternating_treatments_test(list("ABABABAB"), values)
    assert exact.n_assignments == 34 and len(set(exact.permutation_distribution)) == 34
    mc = alternating_treatments_test(
        list("ABABABAB"), values, max_exact=0, permutations=34_001, seed=6
    )
    counts = Counter(mc.permutation_distribution)
    observed_counts = [counts[v] for v in exact.permutation_distribution]
    assert sum(observed_counts) == 34_001
    assert stats.chisquare(observed_counts).pvalue > 0.001


# ----------------------------------------------------------------------------- JSON contract


def test_to_json_matches_contract() -> None:
    result = abab_randomization_test(
        ONGHENA_PHASES, ONGHENA_VALUES, min_phase_length=4, statistic="PA-PB"
    )
    payload = result.to_json()
    for key in (
        "observedEffect",
        "pValue",
        "effectSize",
        "interpretation",
        "permutationDistribution",
        "passesSCEDStandards",
        "nAssignments",
        "exact",
        "statistic",
        "sced_standards",
    ):
        assert key in payload
    assert set(payload["sced_standards"]) == {"rating", "reasons"}
    assert payload["statistic"] == "PA-PB"
    assert payload["nAssignments"] == 165
    assert payload["permutationDistribution"] == sorted(payload["permutationDistribution"])
    assert payload["passesSCEDStandards"] is True  # 4 phases of 6 points: meets
    assert payload["sced_standards"]["rating"] == "meets"
    assert payload["interpretation"].startswith("Significant effect (p = 0.024 < 0.05)")
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["pValue"] == pytest.approx(4 / 165)
    # Cohen's d of B against A with the pooled SD, by hand.
    a = np.array(ONGHENA_VALUES[:6] + ONGHENA_VALUES[12:18], dtype=float)
    b = np.array(ONGHENA_VALUES[6:12] + ONGHENA_VALUES[18:], dtype=float)
    pooled = math.sqrt((11 * a.var(ddof=1) + 11 * b.var(ddof=1)) / 22)
    assert payload["effectSize"] == pytest.approx((b.mean() - a.mean()) / pooled)


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.mark.parametrize(
    "result",
    [
        lambda: ab_randomization_test(["A"] * 6 + ["B"] * 6, np.arange(12.0)),
        lambda: abab_randomization_test(
            ONGHENA_PHASES, ONGHENA_VALUES, max_exact=0, permutations=50
        ),
        lambda: multiple_baseline_test(SCAN_EXAMPLE_AB, min_phase_length=5),
        lambda: alternating_treatments_test(ATD_CONDITIONS, np.array(ATD_VALUES, dtype=np.float32)),
    ],
    ids=["ab", "abab_monte_carlo", "multiple_baseline", "alternating"],
)
def test_to_json_is_plain_json_for_every_design(result) -> None:
    payload = result().to_json()
    assert _plain(payload)
    json.dumps(payload, allow_nan=False)


def test_interpretation_when_not_significant_and_when_design_too_small() -> None:
    result = ab_randomization_test(
        ["A"] * 6 + ["B"] * 8, [4, 5, 3, 6, 5, 4, 7, 8, 6, 9, 7, 8, 9, 7]
    )
    assert result.interpretation.startswith("No significant effect (p = 0.111 > 0.05)")
    assert "smallest attainable p-value is 0.111" in result.interpretation
    assert result.sced_standards.rating == "does_not_meet"  # AB: one demonstration only
    assert result.to_json()["passesSCEDStandards"] is False


def test_standards_attached_to_each_design() -> None:
    short = abab_randomization_test(["A"] * 3 + ["B"] * 5 + ["A"] * 5 + ["B"] * 5, np.arange(18.0))
    assert short.sced_standards.rating == "meets_with_reservations"
    assert any("A1" in reason for reason in short.sced_standards.reasons)
    atd = alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES)
    assert atd.sced_standards.rating == "meets"  # 6 sessions each, runs of at most 2
    staggered = {
        name: (["A"] * s + ["B"] * (20 - s), np.arange(20.0) + i)
        for i, (name, s) in enumerate(zip("xyz", (5, 9, 13), strict=True))
    }
    assert multiple_baseline_test(staggered).sced_standards.rating == "meets"
    assert multiple_baseline_test(SCAN_EXAMPLE_AB, min_phase_length=5).sced_standards.rating == (
        "does_not_meet"  # all three cases start at the same time
    )


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("phases", "values", "kwargs", "field", "fragment"),
    [
        (["A"] * 4 + ["B"] * 4 + ["A"] * 4, [1.0] * 12, {}, "phase", "4 blocks"),
        (
            ["B"] * 4 + ["A"] * 4 + ["B"] * 4 + ["A"] * 4,
            [1.0] * 16,
            {},
            "phase",
            "starts with phase B",
        ),
        (["A"] * 4 + ["C"] * 4 + ["A"] * 4 + ["B"] * 4, [1.0] * 16, {}, "phase", "'C'"),
        (["A2"] * 4 + ["B1"] * 4 + ["A1"] * 4 + ["B2"] * 4, [1.0] * 16, {}, "phase", "expected A1"),
        (
            ["A"] * 4 + ["B"] * 2 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 14,
            {},
            "phase",
            "min_phase_length",
        ),
        (["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4, [1.0] * 15, {}, "value", "16 phase labels"),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 15 + [float("nan")],
            {},
            "value",
            "row 16",
        ),
        (["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4, [1.0] * 15 + ["abc"], {}, "value", "'abc'"),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 16,
            {"statistic": "mean"},
            "statistic",
            "B-A",
        ),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 16,
            {"alpha": 1.5},
            "alpha",
            "between",
        ),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 16,
            {"permutations": 0},
            "permutations",
            "at least 1",
        ),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 16,
            {"seed": -1},
            "seed",
            "at least 0",
        ),
        (
            ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4,
            [1.0] * 16,
            {"min_phase_length": 0},
            "min_phase_length",
            "at least 1",
        ),
    ],
)
def test_abab_bad_input_names_the_field(phases, values, kwargs, field, fragment) -> None:
    with pytest.raises(InputError) as caught:
        abab_randomization_test(phases, values, **kwargs)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{field}:")
    assert "\n" not in str(caught.value)


def test_alternating_bad_input_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        alternating_treatments_test(list("AAABAB"), [1.0] * 6, max_consecutive=2)
    assert caught.value.field == "condition" and "3 consecutive" in str(caught.value)
    with pytest.raises(InputError) as caught:
        alternating_treatments_test(list("ABCA"), [1.0] * 4)
    assert caught.value.field == "condition"
    with pytest.raises(InputError) as caught:
        alternating_treatments_test(list("ABAB"), [1.0] * 4, statistic="PA-PB")
    assert caught.value.field == "statistic"
    with pytest.raises(InputError) as caught:
        alternating_treatments_test(list("AAAA"), [1.0] * 4, max_consecutive=None)
    assert caught.value.field == "condition"


def test_multiple_baseline_bad_input_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        multiple_baseline_test({})
    assert caught.value.field == "case"
    with pytest.raises(InputError) as caught:
        multiple_baseline_test({"x": (list("AAABBB"), [1, 2, 3, 4, 5, 6])})
    assert caught.value.field == "case" and "at least 2" in str(caught.value)
    with pytest.raises(InputError) as caught:
        multiple_baseline_test(
            {"x": (list("AAABBB"), [1, 2, 3, 4, 5, 6])}, start_points={"x": [4, 5]}, min_cases=1
        )
    assert caught.value.field == "start_points"
    with pytest.raises(InputError) as caught:
        multiple_baseline_test({"x": (list("AAABBBA"), [1, 2, 3, 4, 5, 6, 7])}, min_cases=1)
    assert caught.value.field == "phase" and "case 'x'" in str(caught.value)


def test_schedule_helpers_reject_impossible_requests() -> None:
    with pytest.raises(InputError) as caught:
        draw_abab_schedule(11, 3, seed=0)
    assert caught.value.field == "n_observations"
    with pytest.raises(InputError) as caught:
        draw_multiple_baseline_starts(8, 4, 3, seed=0)
    assert caught.value.field == "n_observations"
    with pytest.raises(InputError) as caught:
        draw_alternating_sequence(6, conditions=("A",))
    assert caught.value.field == "condition"


# ----------------------------------------------------------------------------- schedules


def test_draw_abab_schedule_is_admissible_reproducible_and_uniform() -> None:
    assert draw_abab_schedule(40, 4, seed=7) == draw_abab_schedule(40, 4, seed=7)
    admissible = _brute_force_changes(12, 4, 2)  # C(7, 3) = 35 schedules
    draws = Counter(draw_abab_schedule(12, 2, seed=s) for s in range(3_500))
    assert set(draws) == admissible
    assert stats.chisquare([draws[c] for c in sorted(admissible)]).pvalue > 0.001
    schedule = draw_phase_schedule(30, 2, 5, seed=1)
    assert len(schedule) == 1 and 5 <= schedule[0] <= 25


def test_draw_alternating_sequence_uniform_over_admissible_set() -> None:
    admissible = {
        seq
        for seq in product("AB", repeat=6)
        if seq.count("A") == 3 and max(len(list(g)) for _, g in groupby(seq)) <= 2
    }
    draws = Counter(draw_alternating_sequence(6, max_consecutive=2, seed=s) for s in range(3_000))
    assert set(draws) == admissible
    assert stats.chisquare([draws[s] for s in sorted(admissible)]).pvalue > 0.001
    assert draw_alternating_sequence(20, seed=3) == draw_alternating_sequence(20, seed=3)


def test_draw_alternating_sequence_matches_the_test_admissible_set() -> None:
    sequence = draw_alternating_sequence(12, max_consecutive=2, seed=8)
    result = alternating_treatments_test(sequence, np.arange(12.0), max_consecutive=2)
    assert result.n_admissible == 208  # SCRT quantity(design = "ATD", MT = 12, limit = 2)
    three = draw_alternating_sequence(31, conditions=("A", "B", "C"), max_consecutive=2, seed=1)
    assert sorted(Counter(three).values()) == [10, 10, 11]
    assert max(len(list(g)) for _, g in groupby(three)) <= 2
    free = draw_alternating_sequence(10, max_consecutive=None, seed=1)
    assert Counter(free) == {"A": 5, "B": 5}


def test_draw_multiple_baseline_starts_are_staggered_within_windows() -> None:
    windows = multiple_baseline_start_windows(30, 3, 5)
    assert [s for window in windows for s in window] == list(range(5, 26))
    for seed in range(50):
        starts = draw_multiple_baseline_starts(30, 3, 5, seed=seed)
        assert all(start in window for start, window in zip(starts, windows, strict=True))
        assert list(starts) == sorted(set(starts))
    assert draw_multiple_baseline_starts(30, 3, 5, seed=4) == draw_multiple_baseline_starts(
        30, 3, 5, seed=4
    )
    starts = draw_multiple_baseline_starts(30, 3, 5, seed=4)
    rng = np.random.default_rng(0)
    cases = {
        f"case{i}": (["A"] * s + ["B"] * (30 - s), rng.normal(size=30))
        for i, s in enumerate(starts)
    }
    result = multiple_baseline_test(
        cases, start_points={f"case{i}": w for i, w in enumerate(windows)}
    )
    assert result.n_admissible == math.prod(len(w) for w in windows)


# ----------------------------------------------------------------------------- simulation


ALPHA = 0.05


def _null_abab(rng: np.random.Generator, seed: int, shift: float = 0.0):
    changes = draw_abab_schedule(19, 3, seed=seed)  # C(10, 3) = 120 assignments
    labels = _phase_labels(changes, 19)
    values = rng.normal(size=19) + shift * np.array([lab.startswith("B") for lab in labels])
    return abab_randomization_test(labels, values, min_phase_length=3)


def _null_ab(rng: np.random.Generator, seed: int, shift: float = 0.0):
    (start,) = draw_phase_schedule(25, 2, 3, seed=seed)  # 20 assignments
    values = rng.normal(size=25)
    values[start:] += shift
    return ab_randomization_test(["A"] * start + ["B"] * (25 - start), values, min_phase_length=3)


def _null_multiple_baseline(rng: np.random.Generator, seed: int, shift: float = 0.0):
    # Cases of 9, 10 and 10 points, minimum phase 3: 4 * 5 * 5 = 100 assignments.
    cases = {}
    starts_rng = np.random.default_rng(seed)
    for name, n in zip("xyz", (9, 10, 10), strict=True):
        start = int(starts_rng.integers(3, n - 3 + 1))
        values = rng.normal(size=n)
        values[start:] += shift
        cases[name] = (["A"] * start + ["B"] * (n - start), values)
    return multiple_baseline_test(cases, min_phase_length=3)


def _null_alternating(rng: np.random.Generator, seed: int, shift: float = 0.0):
    conditions = draw_alternating_sequence(12, max_consecutive=2, seed=seed)  # 208 assignments
    values = rng.normal(size=12) + shift * np.array([c == "B" for c in conditions])
    return alternating_treatments_test(conditions, values, max_consecutive=2)


SIMULATIONS = {
    "ab": _null_ab,
    "abab": _null_abab,
    "multiple_baseline": _null_multiple_baseline,
    "alternating": _null_alternating,
}


@pytest.mark.slow
@pytest.mark.parametrize("design", sorted(SIMULATIONS))
def test_type_one_error_at_alpha(design: str) -> None:
    # Randomly assigned schedules on null (iid normal) data: the test's size is exactly
    # floor(alpha * N) / N; the designs above make it 0.05 (0.048 for 208 ATD assignments).
    simulate = SIMULATIONS[design]
    rng = np.random.default_rng(2024)
    replicates = 4_000
    rejections = sum(simulate(rng, seed).p_value <= ALPHA for seed in range(replicates))
    rate = rejections / replicates
    se = math.sqrt(ALPHA * (1 - ALPHA) / replicates)
    assert abs(rate - ALPHA) <= 2 * se, f"{design}: type-I error {rate:.4f}"


@pytest.mark.slow
@pytest.mark.parametrize("design", sorted(SIMULATIONS))
def test_power_rises_with_effect_size(design: str) -> None:
    simulate = SIMULATIONS[design]
    rates = []
    for shift in (0.0, 1.0, 2.0, 3.0):
        rng = np.random.default_rng(7)
        replicates = 400
        rejections = sum(simulate(rng, seed, shift).p_value <= ALPHA for seed in range(replicates))
        rates.append(rejections / replicates)
    assert rates == sorted(rates) and rates[-1] > rates[0] + 0.4, rates


# ----------------------------------------------------------------------------- scan's examples


def _scan_rows(refdata: Path, name: str) -> list[dict[str, str]]:
    with (refdata / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_scan_rand_test_median_b_minus_a_on_by_heart_2011_case_1(refdata: Path) -> None:
    """scan's `rand_test(byHeart2011[1], statistic = "Median B-A", limit = 5)` (jazznbass/scan
    @ 7e80cb95, data/byHeart2011.rda; refdata README): 11 start points, p = 0.6363636."""
    rows = _scan_rows(refdata, "scan_byheart2011_case1.csv")
    result = ab_randomization_test(
        [row["phase"] for row in rows],
        [float(row["value"]) for row in rows],
        statistic="Median B-A",
        min_phase_length=5,
    )
    assert (result.n_assignments, result.exact) == (11, True)
    assert result.p_value == pytest.approx(0.6363636, abs=5e-8)


def test_scan_rand_test_median_b_minus_a_on_grosche_2011(refdata: Path) -> None:
    """scan's `rand_test(Grosche2011, statistic = "Median B-A", limit = 4)` (jazznbass/scan @
    7e80cb95, data/Grosche2011.rda, 3 cases; refdata README): 2,652 combinations of start
    points, the cases' statistics averaged, p = 0.8435143."""
    cases: dict[str, tuple[list[str], list[float]]] = {}
    for row in _scan_rows(refdata, "scan_grosche2011.csv"):
        phases, values = cases.setdefault(row["case"], ([], []))
        phases.append(row["phase"])
        values.append(float(row["value"]))
    result = multiple_baseline_test(cases, statistic="Median B-A", min_phase_length=4)
    assert (result.n_assignments, result.exact) == (2652, True)
    assert result.p_value == pytest.approx(0.8435143, abs=5e-8)


@pytest.mark.parametrize("statistic", ["Median B-A", "Median A-B", "|Median A-B|"])
def test_median_statistics_match_a_loop_over_every_schedule(statistic: str) -> None:
    """ABAB, every admissible schedule: the vectorized medians against numpy per schedule."""
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1, 16)
    phases = ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4
    result = abab_randomization_test(phases, values, statistic=statistic, min_phase_length=3)
    expected = []
    for changes in admissible_phase_changes(16, 4, 3):
        edges = [0, *changes, 16]
        in_b = np.zeros(16, bool)
        for j in (1, 3):
            in_b[edges[j] : edges[j + 1]] = True
        diff = np.median(values[in_b]) - np.median(values[~in_b])
        expected.append(
            {"Median B-A": diff, "Median A-B": -diff, "|Median A-B|": abs(diff)}[statistic]
        )
    assert sorted(result.permutation_distribution) == pytest.approx(sorted(expected))


def test_exclude_equal_counts_only_larger_statistics(refdata: Path) -> None:
    """scan's `exclude.equal = TRUE`: ties with the observed statistic (the observed assignment
    among them) leave the count; the default counts them (SCRT, scan's default)."""
    rows = _scan_rows(refdata, "scan_byheart2011_case1.csv")
    phases, values = [r["phase"] for r in rows], [float(r["value"]) for r in rows]
    kept = ab_randomization_test(phases, values, statistic="Median B-A", min_phase_length=5)
    excluded = ab_randomization_test(
        phases, values, statistic="Median B-A", min_phase_length=5, exclude_equal=True
    )
    distribution = np.asarray(kept.permutation_distribution)
    observed = kept.observed_effect
    assert kept.n_as_extreme == np.count_nonzero(distribution >= observed) == 7
    assert excluded.n_as_extreme == np.count_nonzero(distribution > observed)
    assert excluded.n_as_extreme < kept.n_as_extreme
    assert excluded.p_value == excluded.n_as_extreme / 11
    assert excluded.to_json()["excludeEqual"] is True and kept.to_json()["excludeEqual"] is False
    assert "ties excluded" in excluded.interpretation
    with pytest.raises(InputError, match="exclude_equal"):
        ab_randomization_test(phases, values, min_phase_length=5, exclude_equal="yes")


@pytest.mark.parametrize(("pattern", "n"), [("AB", 20), ("ABAB", 18)])
def test_separate_minimum_lengths_for_a_and_b_phases_enumerate_every_admissible_split(
    pattern: str, n: int
) -> None:
    """scan's `limit = c(5, 3)`: A phases at least 5, B phases at least 3; the test's assignments
    are exactly the splits a brute-force search over change points admits."""
    minima = [5 if p == "A" else 3 for p in pattern]
    splits = [
        changes
        for changes in combinations(range(1, n), len(pattern) - 1)
        if all(e - s >= m for (s, e), m in zip(pairwise((0, *changes, n)), minima, strict=True))
    ]
    labels = _phase_labels(splits[len(splits) // 2], n)
    values = np.random.default_rng(8).normal(size=n)
    test = ab_randomization_test if pattern == "AB" else abab_randomization_test
    result = test(labels, values, min_phase_length=5, min_b_phase_length=3)
    assert result.exact and result.n_assignments == len(splits)
    with pytest.raises(InputError, match=f"fewer than min_b_phase_length = {n}"):
        test(labels, values, min_phase_length=5, min_b_phase_length=n)


def test_multiple_baseline_takes_the_b_minimum_too() -> None:
    rng = np.random.default_rng(9)
    cases = {name: (["A"] * 6 + ["B"] * 10, rng.normal(size=16)) for name in ("a", "b")}
    result = multiple_baseline_test(cases, min_phase_length=5, min_b_phase_length=3)
    assert result.n_assignments == (16 - 5 - 3 + 1) ** 2


def _scan_statistic(a: np.ndarray, b: np.ndarray, statistic: str) -> float:
    """scan's definitions (R/rand_test.R, `.opt$rand_test`), one assignment at a time."""
    if statistic in ("NAP", "NAP decreasing"):
        above = sum((bb > aa) + 0.5 * (bb == aa) for aa in a for bb in b)
        pairs = a.size * b.size
        return 100 * (above if statistic == "NAP" else pairs - above) / pairs
    if statistic == "T-test":
        return float(stats.ttest_ind(b, a, equal_var=False).statistic)
    if statistic == "W-test":  # R's wilcox.test(a, b)$statistic: U of a
        return float(stats.mannwhitneyu(a, b).statistic)
    if statistic in ("Slope B-A", "Slope A-B"):
        diff = np.polyfit(np.arange(b.size), b, 1)[0] - np.polyfit(np.arange(a.size), a, 1)[0]
        return float(diff if statistic == "Slope B-A" else -diff)
    n_a, n_b = a.size, b.size
    if statistic == "SMD glass":
        return float((b.mean() - a.mean()) / a.std(ddof=1))
    pooled = np.sqrt(((n_a - 1) * a.var(ddof=1) + (n_b - 1) * b.var(ddof=1)) / (n_a + n_b - 2))
    n = n_a + n_b
    return float((b.mean() - a.mean()) / pooled * (n - 3) / (n - 2.25) * np.sqrt((n - 2) / n))


@pytest.mark.parametrize(
    "statistic",
    [
        "SMD hedges",
        "SMD glass",
        "NAP",
        "NAP decreasing",
        "T-test",
        "W-test",
        "Slope B-A",
        "Slope A-B",
    ],
)
def test_scans_statistics_match_their_definitions_for_every_start(statistic: str) -> None:
    """AB, 16 points (ties included), minimum phase 3: every start's statistic as scan
    defines it, and the multiple baseline combines cases as scan does (root mean square for
    the SMDs, else the mean)."""
    rng = np.random.default_rng(11)
    values = np.round(rng.normal(5, 2, 16), 1)
    values[[2, 12]] = values[9]  # ties across the phases, for NAP
    phases = ["A"] * 7 + ["B"] * 9
    result = ab_randomization_test(phases, values, statistic=statistic, min_phase_length=3)
    expected = [_scan_statistic(values[:c], values[c:], statistic) for c in range(3, 14)]
    assert sorted(result.permutation_distribution) == pytest.approx(sorted(expected))
    assert result.observed_effect == pytest.approx(expected[7 - 3])
    other = np.round(rng.normal(5, 2, 16), 1)
    both = multiple_baseline_test(
        {"x": (phases, values), "y": (phases, other)}, statistic=statistic, min_phase_length=3
    )
    pair = np.array([expected[4], _scan_statistic(other[:7], other[7:], statistic)])
    combined = np.sqrt(np.mean(pair**2)) if statistic.startswith("SMD") else pair.mean()
    assert both.observed_effect == pytest.approx(combined)


def test_a_slope_needs_one_b_phase_and_a_spread_two_points() -> None:
    labels = _phase_labels((4, 8, 12), 16)
    values = np.random.default_rng(1).normal(size=16)
    with pytest.raises(InputError, match="an AB or multiple baseline design"):
        abab_randomization_test(labels, values, statistic="Slope B-A", min_phase_length=3)
    with pytest.raises(InputError, match="at least 2 observations in every phase"):
        ab_randomization_test(["A"] * 8 + ["B"] * 8, values, statistic="T-test", min_phase_length=1)
    with pytest.raises(InputError, match="without spread"):
        ab_randomization_test(
            ["A"] * 8 + ["B"] * 8, [1.0] * 16, statistic="SMD glass", min_phase_length=3
        )


def test_aba_enumerates_scrts_quantity_and_falls_short_of_the_wwc_standard() -> None:
    """SCRT "ABA": C(n - 3k + 2, 2) schedules (n = 15, k = 3: 28); each statistic as computed
    by hand for every schedule."""
    values = np.random.default_rng(5).normal(size=15)
    labels = _phase_labels((5, 10), 15)
    result = aba_randomization_test(labels, values, min_phase_length=3)
    assert result.exact and result.n_assignments == math.comb(15 - 9 + 2, 2) == 28
    expected = []
    for first_b, second_a in admissible_phase_changes(15, 3, 3):
        b = values[first_b:second_a]
        a = np.concatenate([values[:first_b], values[second_a:]])
        expected.append(b.mean() - a.mean())
    assert sorted(result.permutation_distribution) == pytest.approx(sorted(expected))
    assert result.design == "ABA" and result.sced_standards.passes is False


def test_the_w_test_counts_the_lower_tail() -> None:
    """scan's W-test has testdirection "less": small W (few pairs with A above B) is the
    evidence for B above A, so p is the share of schedules with W at most the observed."""
    values = np.arange(20.0)  # a steady rise: B above A wherever B starts
    result = ab_randomization_test(["A"] * 10 + ["B"] * 10, values, statistic="W-test")
    distribution = np.asarray(result.permutation_distribution)
    assert result.observed_effect == 0.0
    assert result.n_as_extreme == np.count_nonzero(distribution <= 0.0)
    assert "at most this small" in result.interpretation


def test_randomized_block_enumerates_every_order_of_every_block() -> None:
    """SCRT "RBD", two conditions: 2^m orders of m blocks; each order's B-A by relabeling the
    sessions directly."""
    rng = np.random.default_rng(12)
    values = rng.normal(size=10)
    conditions = ["A", "B", "B", "A", "A", "B", "B", "A", "A", "B"]
    result = randomized_block_test(conditions, values)
    expected = []
    for flips in product((False, True), repeat=5):
        relabeled = []
        for block, flip in enumerate(flips):
            pair = conditions[2 * block : 2 * block + 2]
            relabeled += pair[::-1] if flip else pair
        is_b = np.array(relabeled) == "B"
        expected.append(values[is_b].mean() - values[~is_b].mean())
    assert result.exact and result.n_assignments == 32
    assert sorted(result.permutation_distribution) == pytest.approx(sorted(expected))
    assert result.observed_effect == pytest.approx(expected[0])
    monte_carlo = randomized_block_test(conditions, values, max_exact=10, permutations=2000, seed=3)
    assert (monte_carlo.exact, monte_carlo.n_assignments) == (False, 2000)
    assert monte_carlo.p_value == pytest.approx(result.p_value, abs=0.05)
    assert randomized_block_test(conditions, values, max_exact=10, seed=3) == randomized_block_test(
        conditions, values, max_exact=10, seed=3
    )


def test_randomized_block_needs_pairs_of_one_a_and_one_b() -> None:
    with pytest.raises(InputError, match="rows 3-4 are 'A', 'A'"):
        randomized_block_test(["A", "B", "A", "A", "B", "B"], range(6))
    with pytest.raises(InputError, match="an even number"):
        randomized_block_test(["A", "B", "A", "B", "A"], range(5))


def test_a_custom_admissible_set_is_the_test_over_exactly_those_schedules() -> None:
    """Given every ABAB schedule, the custom design is the ABAB test; given a subset, its
    distribution is the subset's."""
    values = np.random.default_rng(13).normal(size=16)
    labels = _phase_labels((4, 8, 12), 16)
    every = admissible_phase_changes(16, 4, 3)
    abab = abab_randomization_test(labels, values, min_phase_length=3)
    custom = custom_design_test(labels, values, schedules=every.tolist())
    assert custom.p_value == abab.p_value and custom.n_assignments == abab.n_assignments
    assert custom.design == "custom"
    subset = [row for row in every.tolist() if row[0] == 4]
    narrow = custom_design_test(labels, values, schedules=subset + subset[:2])  # duplicates
    assert narrow.n_assignments == len(subset)
    assert sorted(narrow.permutation_distribution) == pytest.approx(
        sorted(
            v
            for row, v in zip(every.tolist(), _abab_b_minus_a(values, every), strict=True)
            if row[0] == 4
        )
    )
    with pytest.raises(InputError, match="not among the admissible ones"):
        custom_design_test(labels, values, schedules=[[3, 8, 12]])
    with pytest.raises(InputError, match="does not start each phase after the previous one"):
        custom_design_test(labels, values, schedules=[[4, 8, 12], [9, 8, 12]])


def _abab_b_minus_a(values: np.ndarray, schedules: np.ndarray) -> list[float]:
    out = []
    for first_b, second_a, second_b in schedules:
        in_b = np.zeros(values.size, bool)
        in_b[first_b:second_a] = in_b[second_b:] = True
        out.append(values[in_b].mean() - values[~in_b].mean())
    return out


def test_a_users_expression_is_the_statistic_it_writes(refdata: Path) -> None:
    """scan's statistic_function, as a safe expression over a and b: `mean(b) - mean(a)` is the
    B-A test, `median(b) - median(a)` scan's Median B-A, in every design it reaches."""
    rows = _scan_rows(refdata, "scan_byheart2011_case1.csv")
    phases, values = [r["phase"] for r in rows], [float(r["value"]) for r in rows]
    by_name = ab_randomization_test(phases, values, statistic="Median B-A", min_phase_length=5)
    by_expression = ab_randomization_test(
        phases, values, statistic_expression="median(b) - median(a)", min_phase_length=5
    )
    assert by_expression.p_value == by_name.p_value == pytest.approx(0.6363636, abs=5e-8)
    assert by_expression.statistic == "user: median(b) - median(a)"
    labels = _phase_labels((4, 8, 12), 16)
    series = np.random.default_rng(14).normal(size=16)
    mean_test = abab_randomization_test(labels, series, min_phase_length=3)
    mean_expression = abab_randomization_test(
        labels, series, min_phase_length=3, statistic_expression="sum(b) / n(b) - mean(a)"
    )
    assert mean_expression.permutation_distribution == pytest.approx(
        mean_test.permutation_distribution
    )
    assert mean_expression.p_value == mean_test.p_value
    cases = {"x": (["A"] * 6 + ["B"] * 6, series[:12]), "y": (["A"] * 5 + ["B"] * 7, series[4:])}
    assert (
        multiple_baseline_test(cases, statistic_expression="mean(b) - mean(a)").p_value
        == multiple_baseline_test(cases).p_value
    )
    for bad, fragment in [
        ("__import__('os').system('true')", "calls take one argument"),
        ("a.sum()", "calls take one argument"),
        ("b[0] - a[0]", "Subscript is not allowed"),
        ("mean(c)", "unknown name 'c'"),
        ("b - a", "cannot be evaluated"),  # arrays of other lengths
        ("b - 1", "gives"),  # an array, not one number
    ]:
        with pytest.raises(InputError, match=re.escape(fragment)):
            ab_randomization_test(phases, values, statistic_expression=bad, min_phase_length=5)
