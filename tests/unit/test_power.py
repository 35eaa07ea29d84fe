"""Simulated power of a design's randomization test (americano_pipelines.stats.power).

Checks: the threshold method reproduces the registered test's decisions study by study (against
calling the test on every simulated study); simulation properties (type-I error within
alpha +- 2 MC SE, power rising with the effect, power at the minimum detectable effect near 80%);
scan's documented `power_test` example where the designs coincide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.stats.power import PowerDesign, simulated_power

ABAB = PowerDesign("ABAB", 24, 4)  # 165 admissible schedules (SCRT quantity, Onghena 1992)
DESIGNS = {
    "abab exact": ABAB,
    "abab monte carlo": PowerDesign("ABAB", 24, 4, max_exact=0, permutations=200, test_seed=5),
    "abab b minimum": PowerDesign("ABAB", 26, 3, min_b_phase_length=5),
    "abab phase means": PowerDesign("ABAB", 24, 4, statistic="PB-PA"),
    "abab decrease": PowerDesign("ABAB", 24, 4, statistic="A-B"),
    "abab ties excluded": PowerDesign("ABAB", 24, 4, exclude_equal=True),
    "multiple baseline exact": PowerDesign("MULTIPLE_BASELINE", 15, 3, n_cases=3),
    "multiple baseline monte carlo": PowerDesign(
        "MULTIPLE_BASELINE", 15, 3, n_cases=3, max_exact=0, permutations=100, test_seed=2
    ),
    "multiple baseline decrease": PowerDesign(
        "MULTIPLE_BASELINE", 16, 3, n_cases=2, statistic="A-B", min_b_phase_length=4
    ),
    "blocks exact": PowerDesign("ALTERNATING", 16, 2, randomization="blocks"),
    "blocks monte carlo": PowerDesign(
        "ALTERNATING", 20, 2, randomization="blocks", max_exact=0, permutations=300
    ),
}


def _effect(design: PowerDesign, size: float) -> float:
    return -size if design.statistic in ("A-B", "PA-PB") else size


@pytest.mark.parametrize("name", list(DESIGNS))
def test_thresholds_reproduce_the_registered_test_study_by_study(name):
    design = DESIGNS[name]
    for size in (0.0, 0.7, 1.5):
        effect = _effect(design, size)
        fast = simulated_power(design, effect=effect, simulations=60, seed=11, autocorrelation=0.3)
        slow = simulated_power(
            design,
            effect=effect,
            simulations=60,
            seed=11,
            autocorrelation=0.3,
            method="per-simulation",
            search=size == 1.5,
        )
        assert fast.method == "thresholds" and slow.method == "per-simulation"
        assert fast.power == slow.power
        assert fast.type_i_error == slow.type_i_error
        assert (fast.n_admissible, fast.exact) == (slow.n_admissible, slow.exact)
    # The bisected minimum detectable effect brackets the exact one of the same studies.
    low, high = slow.minimum_detectable_effect_interval
    assert low <= fast.minimum_detectable_effect <= high + 1e-12


@pytest.mark.parametrize(
    "design",
    [
        ABAB,
        PowerDesign("MULTIPLE_BASELINE", 15, 3, n_cases=3),
        PowerDesign("ALTERNATING", 16, 2, randomization="blocks"),
    ],
    ids=["abab", "multiple baseline", "blocks"],
)
@pytest.mark.parametrize("autocorrelation", [0.0, 0.5])
def test_type_i_error_is_alpha_within_two_monte_carlo_errors(design, autocorrelation):
    n = 4000
    result = simulated_power(
        design, effect=0.0, simulations=n, seed=2024, autocorrelation=autocorrelation
    )
    assert result.power == result.type_i_error
    assert abs(result.type_i_error - 0.05) <= 2 * math.sqrt(0.05 * 0.95 / n)


@pytest.mark.slow
def test_type_i_error_of_a_restricted_alternating_design_by_calling_its_test():
    n = 400
    design = PowerDesign("ALTERNATING", 12, 2, max_consecutive=2)
    result = simulated_power(design, effect=0.0, simulations=n, seed=8, search=False)
    assert result.method == "per-simulation"
    assert abs(result.type_i_error - 0.05) <= 2 * math.sqrt(0.05 * 0.95 / n)


def test_power_rises_with_the_effect():
    powers = [
        simulated_power(ABAB, effect=d, simulations=1000, seed=1).power
        for d in (0.0, 0.5, 1.0, 2.0, 3.0)
    ]
    assert powers == sorted(powers) and len(set(powers)) == len(powers)
    assert powers[-1] > 0.95


def test_power_at_the_minimum_detectable_effect_is_eighty_percent():
    n = 2000
    found = simulated_power(ABAB, effect=1.0, simulations=n, seed=3)
    mde = found.minimum_detectable_effect
    low, high = found.minimum_detectable_effect_interval
    assert low < mde < high
    # New studies (another seed) at that effect: 80% within Monte Carlo error of both runs.
    check = simulated_power(ABAB, effect=mde, simulations=n, seed=4)
    assert abs(check.power - 0.8) <= 3 * math.sqrt(2 * 0.8 * 0.2 / n)


def test_per_simulation_search_for_a_two_sided_statistic():
    design = PowerDesign("ABAB", 20, 4, statistic="|A-B|")
    result = simulated_power(design, effect=1.0, simulations=40, seed=6)
    assert result.method == "per-simulation"
    low, high = result.minimum_detectable_effect_interval
    assert result.minimum_detectable_effect == high and high - low <= high / 2**7
    assert result.to_json()["minimumDetectableEffect"] == high


def test_same_seed_same_answer_and_the_json_keys():
    first = simulated_power(ABAB, effect=1.2, sd=2.0, autocorrelation=0.2, simulations=200)
    assert simulated_power(ABAB, effect=1.2, sd=2.0, autocorrelation=0.2, simulations=200) == first
    body = first.to_json()
    assert body["mcse"] == pytest.approx(math.sqrt(first.power * (1 - first.power) / 200))
    assert body["minimumDetectableEffectSd"] == pytest.approx(body["minimumDetectableEffect"] / 2)
    assert {"power", "mcse", "minimumDetectableEffect", "typeIError", "method"} <= set(body)


def test_a_design_that_cannot_reject_has_no_minimum_detectable_effect():
    # 15 days, phases of at least 4: C(15 - 16 + 3, 3) = 0 ... 16 days: 1 schedule only.
    design = PowerDesign("ABAB", 18, 4)  # C(5, 3) = 10 schedules: p >= 0.1 > alpha
    result = simulated_power(design, effect=5.0, simulations=50)
    assert result.power == 0.0 and result.minimum_detectable_effect is None
    assert result.to_json()["minimumDetectableEffectInterval"] == [None, None]


@pytest.mark.parametrize(
    ("design", "settings", "field"),
    [
        (PowerDesign("CHANGING_CRITERION", 20), {}, "design"),
        (ABAB, {"sd": 0.0}, "sd"),
        (ABAB, {"autocorrelation": 1.0}, "autocorrelation"),
        (ABAB, {"simulations": 1}, "simulations"),
        (ABAB, {"effect": math.nan}, "effect"),
        (PowerDesign("ABAB", 24, 4, statistic="T-B"), {}, "statistic"),
        (
            PowerDesign("MULTIPLE_BASELINE", 3000, 3, n_cases=40),
            {"simulations": 1000},
            "simulations",
        ),
    ],
)
def test_bad_settings_name_their_field(design, settings, field):
    with pytest.raises(InputError) as raised:
        simulated_power(design, **settings)
    assert raised.value.field == field


def test_changing_criterion_says_it_has_no_test():
    with pytest.raises(InputError, match="no randomization test is defined"):
        simulated_power(PowerDesign("CHANGING_CRITERION", 20))


# scan's documented power_test example (jazznbass/scan R/power_test.R, roxygen @examples, and its
# rendered output in docs/reference/power_test.html, commit
# 7e80cb9550e69309363b996b78dd58387682854a): 15 measurements, A = 6, B = 9, rtt = 0.8,
# level = 1.4, trend = 0.05, n_sim = 10. random_scdf (R/random_scdf.R) makes the level
# 1.4 s = 14 and the error SD sqrt((1 - rtt) / rtt) s = 5 with its default s = 10; its "rand"
# method (R/private_options_mc.R) is rand_test(number = 100, exclude.equal = "auto",
# limit = 3), mean B-A. Published: rand power 70% for one case, 100% for three cases.
# Where we differ: scan keeps B at measurement 7 in every study and adds the trend (0.5 a
# measurement); we draw the start with the design's drawer and simulate no trend.
def _binomial_band(published: float, n_sim: int) -> tuple[float, float]:
    half = 2 * math.sqrt(max(published * (1 - published), 0.5 * 0.5 / n_sim) / n_sim)
    return published - half, published + half


def test_scan_power_test_example_one_case():
    design = PowerDesign(
        "MULTIPLE_BASELINE",
        15,
        3,
        n_cases=1,
        max_exact=0,
        permutations=100,
        exclude_equal=True,  # scan's "auto" for one case
    )
    ours = simulated_power(design, effect=14.0, sd=5.0, simulations=2000, seed=10)
    low, high = _binomial_band(0.70, 10)
    assert low <= ours.power <= high


def test_scan_power_test_example_three_cases():
    design = PowerDesign("MULTIPLE_BASELINE", 15, 3, n_cases=3, max_exact=0, permutations=100)
    ours = simulated_power(design, effect=14.0, sd=5.0, simulations=2000, seed=10)
    # 10 of 10 significant: a power of at least 0.05^(1/10) = 0.74 at the 95% level.
    assert ours.power >= 0.05 ** (1 / 10)


def test_the_noise_is_a_stationary_ar1_with_the_given_sd():
    from americano_pipelines.stats.power import _simulate

    studies = _simulate(PowerDesign("ABAB", 200, 4), 400, sd=2.0, autocorrelation=0.6, seed=0)
    e = studies.noise[:, 0]
    assert e.std() == pytest.approx(2.0, rel=0.02)
    assert e[:, 0].std() == pytest.approx(2.0, rel=0.1)  # stationary from the first day
    lag1 = np.mean(e[:, 1:] * e[:, :-1]) / np.mean(e * e)
    assert lag1 == pytest.approx(0.6, abs=0.02)
    # Every schedule is the drawer's: admissible, and the B days where the schedule says.
    for schedule, is_b in zip(studies.schedules, studies.is_b[:, 0], strict=True):
        first_b1, first_a2, first_b2 = schedule
        assert min(first_b1, first_a2 - first_b1, first_b2 - first_a2, 200 - first_b2) >= 4
        assert is_b.sum() == (first_a2 - first_b1) + (200 - first_b2)
