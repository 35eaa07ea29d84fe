"""Group-sequential designs as complete as gsDesign: futility bounds (binding and non-binding,
beta spending, gsDesign test types 3-6), classic Pocock / O'Brien-Fleming boundaries, the
Kim-DeMets family, sample size, power and monitoring with a futility bound.

Reference values are typed from the reference packages' own tests and vignettes:
- gsDesign: keaven/gsDesign at commit 2a5688846651a56f469cdb0997c2adf325c1b7d6 (GSD below).
- rpact: rpact-com/rpact tests/testthat/test-f_design_group_sequential.R at commit
  1d81a55ea2b5a4a4f4b5ff70dc25077077d8bddb (RPACT below).
Hand-checkable cases check the same recursion against the multivariate normal distribution.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from americano_pipelines.errors import InputError
from americano_pipelines.stats.sequential import (
    SequentialDesign,
    crossing_probabilities,
    group_sequential_design,
    kim_demets,
    monitor,
)

GSD = "keaven/gsDesign@2a5688846651a56f469cdb0997c2adf325c1b7d6"
RPACT = "rpact-com/rpact@1d81a55ea2b5a4a4f4b5ff70dc25077077d8bddb"


def upper(design: SequentialDesign) -> np.ndarray:
    return np.array([b.critical_value for b in design.boundaries])


def lower(design: SequentialDesign) -> np.ndarray:
    return np.array([b.futility_bound for b in design.boundaries])


def hsd_design(test_type: int, **changes) -> SequentialDesign:
    """gsDesign's defaults: sfu = sfHSD(-4), sfl = sfHSD(-2), alpha = 0.025 one-sided, beta 0.1."""
    options = {
        "alpha": 0.05 if test_type == 2 else 0.025,
        "spending": "hsd",
        "looks": 5,
        "test_type": test_type,
        "max_n": 10_000,
    }
    options.update(changes)
    return group_sequential_design(**options)


# ------------------------------------------------------------------------------------------
# gsDesign
# ------------------------------------------------------------------------------------------


def test_gsdesign_default_design():
    # gsDesign() (k = 3, test.type = 4, alpha = 0.025, beta = 0.1, sfHSD -4 / sfHSD -2). GSD
    # tests/testthat/_snaps/independent-test-gsBoundSummary.md, "Test with Probability Of
    # Success(POS) set to TRUE" (gsDesign(delta = .3)): efficacy Z 3.0107, 2.5465, 1.9992;
    # futility -0.2387, 0.9411, 1.9992; information 41.64, 83.27, 124.91 for the fixed design's
    # ((qnorm(.975) + qnorm(.9)) / .3)^2; P(cross upper) if delta = 0: 0.0013, 0.0062, 0.0233.
    design = group_sequential_design(alpha=0.025, spending="hsd", looks=3, test_type=4, max_n=1000)
    np.testing.assert_allclose(upper(design), [3.0107, 2.5465, 1.9992], atol=6e-5)
    np.testing.assert_allclose(lower(design), [-0.2387, 0.9411, 1.9992], atol=6e-5)
    n_fix = ((norm.ppf(0.975) + norm.ppf(0.9)) / 0.3) ** 2
    assert design.inflation_factor == pytest.approx(124.91 / n_fix, abs=1e-4)
    null = design.characteristics[0]
    np.testing.assert_allclose(np.cumsum(null.upper_crossing), [0.0013, 0.0062, 0.0233], atol=6e-5)
    assert design.power == pytest.approx(0.9, abs=1e-7)


def test_gsdesign_default_design_gsprobability_table():
    # GSD tests/testthat/_snaps/independent-test-print.gsProbability.md: gsProbability(d =
    # gsDesign(), theta = x$delta * seq(0, 2, .25)), totals of the upper and lower boundary
    # crossing probabilities.
    multiples = np.arange(0.0, 2.01, 0.25)
    design = group_sequential_design(alpha=0.025, spending="hsd", looks=3, test_type=4, max_n=1000)
    design = group_sequential_design(
        alpha=0.025,
        spending="hsd",
        looks=3,
        test_type=4,
        max_n=1000,
        power_at=list(design.effect * multiples),
    )
    at = design.characteristics[2:]
    power = [c.power for c in at]
    futility = [sum(c.lower_crossing) for c in at]
    expected_power = [0.0233, 0.1209, 0.3636, 0.6810, 0.9, 0.9810, 0.9976, 0.9998, 1.0]
    expected_futility = [0.9767, 0.8791, 0.6364, 0.3190, 0.1, 0.0190, 0.0024, 0.0002, 0.0]
    np.testing.assert_allclose(power, expected_power, atol=6e-5)
    np.testing.assert_allclose(futility, expected_futility, atol=6e-5)
    np.testing.assert_allclose(at[4].upper_crossing, [0.1412, 0.4403, 0.3185], atol=6e-5)
    np.testing.assert_allclose(at[4].lower_crossing, [0.0148, 0.0289, 0.0563], atol=6e-5)


# GSD tests/testthat/_snaps/independent-test-print.gsDesign.md: gsDesign(k = 5, test.type = t,
# n.fix = 1) for t = 1..6 (t = 4 with n.fix = 800): bounds to 2 decimals, "Sample Size Ratio"
# to 3 decimals.
GSDESIGN_PRINT = {
    1: ([3.25, 2.99, 2.69, 2.37, 2.03], None, 1.023),
    2: ([3.25, 2.99, 2.69, 2.37, 2.03], None, 1.023),
    3: ([3.25, 2.99, 2.69, 2.37, 1.97], [-0.92, -0.07, 0.66, 1.32, 1.97], 1.069),
    4: ([3.25, 2.99, 2.69, 2.37, 2.03], [-0.90, -0.04, 0.69, 1.36, 2.03], 882 / 800),
    5: ([3.25, 2.99, 2.69, 2.37, 2.02], [-1.44, -0.98, -0.47, 0.21, 2.02], 1.026),
    6: ([3.25, 2.99, 2.69, 2.37, 2.03], [-1.44, -0.98, -0.47, 0.21, 2.03], 1.027),
}


@pytest.mark.parametrize("test_type", sorted(GSDESIGN_PRINT))
def test_gsdesign_test_types_one_to_six(test_type):
    efficacy, futility, ratio = GSDESIGN_PRINT[test_type]
    design = hsd_design(test_type, beta=0.1)
    np.testing.assert_allclose(upper(design), efficacy, atol=0.005 + 1e-9)
    if futility is None:
        assert design.boundaries[0].futility_bound is None
    else:
        np.testing.assert_allclose(lower(design), futility, atol=0.005 + 1e-9)
    assert design.inflation_factor == pytest.approx(ratio, abs=0.0015)
    assert design.binding is (test_type in (3, 5))


def test_gsdesign_test_type_4_sample_size_and_expected_n():
    # GSD print snapshot "test.type=4, n.fix=1" (gsDesign(k = 5, test.type = 4, n.fix = 800)):
    # N = 177, 353, 529, 705, 882 (ceiling of n.I, as print.gsDesign shows them), E{N} 458.0
    # under H0 and 595.2 under the alternative; gsBoundSummary of the same design
    # (_snaps/independent-test-gsBoundSummary.md, "test.type > 1"): futility Z -0.9016,
    # -0.0367, 0.6945, 1.3603, 2.0253 and efficacy 3.2527, 2.9860, 2.6917, 2.3737, 2.0253.
    design = hsd_design(4, max_n=None, n_fix=800)
    assert [b.n for b in design.boundaries] == [177, 353, 529, 705, 882]
    assert design.max_n == 882
    np.testing.assert_allclose(
        [c.expected_n for c in design.characteristics[:2]], [458.0, 595.2], atol=0.05
    )
    np.testing.assert_allclose(lower(design), [-0.9016, -0.0367, 0.6945, 1.3603, 2.0253], atol=6e-5)
    np.testing.assert_allclose(upper(design), [3.2527, 2.9860, 2.6917, 2.3737, 2.0253], atol=6e-5)
    np.testing.assert_allclose(
        [b.futility_spent for b in design.boundaries],
        np.cumsum([0.0077, 0.0115, 0.0171, 0.0256, 0.0381]),
        atol=2e-4,
    )


def test_gsdesign_n_per_look_is_rounded_up():
    # GSD print snapshot "n.fix > 1": gsDesign(k = 5, test.type = 1, n.fix = 12) prints
    # N = 3, 5, 8, 10, 13 (ceiling(x$n.I), R/gsMethods.R print.gsDesign / gsBoundSummary).
    design = hsd_design(1, max_n=None, n_fix=12)
    assert [b.n for b in design.boundaries] == [3, 5, 8, 10, 13]
    # A fixed maximum: 214 / 3 = 71.33 is look 1's n = 72 (gsDesign), not 71.
    three = group_sequential_design(alpha=0.05, spending="pocock", max_n=214, looks=3)
    assert [b.n for b in three.boundaries] == [72, 143, 214]


@pytest.mark.parametrize(
    ("test_type", "spending", "rho", "beta", "alpha", "looks", "n_i", "en"),
    [
        # GSD tests/testthat/test-outputs.R "test.JT.OFss", "test.JT.Pocock", "test.JT.Power.symm"
        # and "test.JT.Power.type3": round(x$n.I[k] * 100, 1) and round(x$en[1] * 100, 1) of
        # generic (n.fix = 1) designs. Two-sided there is alpha = 0.025 per side.
        (2, "obrien_fleming_classic", 3.0, 0.2, 0.05, 5, 102.8, 102.1),
        (2, "obrien_fleming_classic", 3.0, 0.1, 0.05, 20, 104.5, 103.4),
        (2, "pocock_classic", 3.0, 0.2, 0.05, 4, 120.2, 117.5),
        (2, "pocock_classic", 3.0, 0.1, 0.05, 15, 130.5, 126.4),
        (2, "kim_demets", 1.0, 0.2, 0.05, 3, 111.7, 109.9),
        (2, "kim_demets", 2.0, 0.2, 0.05, 10, 108.1, 106.6),
        (3, "kim_demets", 2.0, 0.05, 0.05, 5, 110.1, 63.4),
        (3, "kim_demets", 3.0, 0.05, 0.05, 10, 106.9, 63.1),
        (3, "kim_demets", 2.0, 0.1, 0.05, 3, 107.2, 68.1),
        (3, "kim_demets", 3.0, 0.2, 0.05, 15, 106.9, 62.2),
    ],
)
def test_gsdesign_sample_size_and_expected_sample_size(
    test_type, spending, rho, beta, alpha, looks, n_i, en
):
    n_fix = 1000.0
    design = group_sequential_design(
        alpha=alpha,
        spending=spending,
        rho=rho,
        futility_spending="kim_demets" if test_type == 3 else None,
        futility_rho=rho,
        beta=beta,
        looks=looks,
        test_type=test_type,
        n_fix=n_fix,
    )
    assert design.max_n_continuous / n_fix * 100 == pytest.approx(n_i, abs=0.05 + 1e-6)
    assert design.characteristics[0].expected_n / n_fix * 100 == pytest.approx(en, abs=0.05 + 1e-6)


def test_gsdesign_pocock_expected_n_over_effects():
    # GSD test-outputs.R "test.JT.Pocock": gsProbability(theta = x$delta * c(0, .5, 1, 1.5),
    # d = gsDesign(k = 4, test.type = 2, sfu = "Pocock", beta = 0.2))$en * 100.
    n_fix = 1000.0
    design = group_sequential_design(
        alpha=0.05, spending="pocock_classic", beta=0.2, looks=4, test_type=2, n_fix=n_fix
    )
    design = group_sequential_design(
        alpha=0.05,
        spending="pocock_classic",
        beta=0.2,
        looks=4,
        test_type=2,
        n_fix=n_fix,
        power_at=[design.effect * m for m in (0.0, 0.5, 1.0, 1.5)],
    )
    np.testing.assert_allclose(
        [c.expected_n / n_fix * 100 for c in design.characteristics[2:]],
        [117.5, 108.8, 80.5, 52.2],
        atol=0.05 + 1e-6,
    )


def test_classic_boundary_constants():
    # GSD test-outputs.R "test.Deming.OFbound": gsDesign(k = 4, test.type = 2, sfu = "OF")
    # upper bounds 4.05, 2.86, 2.34, 2.02. Pocock (1977) C_P(5, 0.05) = 2.413 and O'Brien &
    # Fleming (1979) C_B(5, 0.05) = 2.040 (Jennison & Turnbull 2000, tables 2.1 and 2.3).
    of = group_sequential_design(alpha=0.05, spending="obrien_fleming_classic", looks=4, max_n=100)
    np.testing.assert_allclose(upper(of), [4.05, 2.86, 2.34, 2.02], atol=0.005)
    assert upper(of) * np.sqrt([0.25, 0.5, 0.75, 1.0]) == pytest.approx([upper(of)[-1]] * 4)
    pocock = group_sequential_design(alpha=0.05, spending="pocock_classic", looks=5, max_n=100)
    np.testing.assert_allclose(upper(pocock), [2.413] * 5, atol=5e-4)
    of5 = group_sequential_design(alpha=0.05, spending="obrien_fleming_classic", looks=5, max_n=50)
    assert upper(of5)[-1] == pytest.approx(2.040, abs=5e-4)
    assert of5.boundaries[-1].alpha_spent == pytest.approx(0.05, abs=1e-9)
    one_sided = group_sequential_design(
        alpha=0.025, spending="pocock_classic", looks=5, max_n=100, sides=1
    )
    spent = crossing_probabilities(one_sided.information_rates, upper(one_sided), sides=1)
    assert spent.sum() == pytest.approx(0.025, abs=1e-9)


def test_gsdesign_vignette_futility_stop():
    # GSD vignettes/GentleIntroductionToGSD.Rmd: k = 2, test.type = 4, alpha = 0.1, beta = 0.17,
    # timing 0.5, sfLDOF for both bounds, n.fix = nNormal(delta1 = 3, sd = 7.5, alpha = 0.1,
    # beta = 0.17) (= ((qnorm(.1) + qnorm(.17)) / (3 / 15))^2, R/nNormal.R), planned N 67 and 134;
    # the interim came at 59 and the update gives the futility bound -0.2304 (nominal p 0.59).
    # "a nominal p-value of 0.77 was observed which crossed the futility bound, stopping the
    # trial": z = -0.74.
    n_fix = ((norm.ppf(0.1) + norm.ppf(0.17)) / 0.2) ** 2
    design = group_sequential_design(
        alpha=0.1,
        beta=0.17,
        spending="obrien_fleming",
        futility_spending="obrien_fleming",
        looks=2,
        test_type=4,
        n_fix=n_fix,
    )
    assert [b.n for b in design.boundaries] == [67, 134]
    decision = monitor(design, [-0.74], [59 / 134])
    assert decision.decision == "stop_futility"
    assert decision.crossed_bound == "futility"
    assert decision.futility_bound == pytest.approx(-0.2304, abs=5e-5)
    assert decision.boundaries[0].futility_nominal_p == pytest.approx(0.59, abs=0.005)
    assert decision.boundaries[0].alpha_spent == pytest.approx(
        2 - 2 * norm.cdf(norm.ppf(0.95) / math.sqrt(59 / 134)), rel=1e-12
    )
    assert not decision.reject_null
    payload = decision.to_json()
    json.dumps(payload, allow_nan=False)
    assert payload["crossedBound"] == "futility" and "futilityBound" in payload
    # Above the bound the trial continues.
    assert monitor(design, [0.1], [59 / 134]).decision == "continue"


# ------------------------------------------------------------------------------------------
# rpact
# ------------------------------------------------------------------------------------------

RPACT_X7 = {
    "alpha": 0.13,
    "beta": 0.41,
    "spending": "obrien_fleming",
    "futility_spending": "kim_demets",
    "futility_rho": 2.5,
    "information_rates": [0.4, 0.75, 1.0],
}


@pytest.mark.parametrize(
    ("options", "critical", "futility", "inflation"),
    [
        # RPACT x2: getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1), alpha =
        # 0.07, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = -1, typeBetaSpending =
        # "bsHSD", gammaB = -2) (non-binding); getDesignCharacteristics inflationFactor.
        (
            {
                "alpha": 0.07,
                "beta": 0.14,
                "spending": "hsd",
                "hsd_gamma": -1.0,
                "futility_spending": "hsd",
                "futility_hsd_gamma": -2.0,
                "information_rates": [0.2, 0.4, 1.0],
                "test_type": 4,
            },
            [2.364813, 2.1928805, 1.5660474],
            [-1.1063623, -0.35992439],
            1.0869177,
        ),
        # RPACT x3: asKD gammaA = 2.2, bsKD gammaB = 3.2, alpha = 0.03, beta = 0.34.
        (
            {
                "alpha": 0.03,
                "beta": 0.34,
                "spending": "kim_demets",
                "rho": 2.2,
                "futility_spending": "kim_demets",
                "futility_rho": 3.2,
                "information_rates": [0.3, 0.7, 1.0],
                "test_type": 4,
            },
            [2.8594012, 2.2435708, 1.9735737],
            [-1.1558435, 0.72836893],
            1.0555891,
        ),
        # RPACT x7a / x7b: asOF, bsKD gammaB = 2.5, alpha = 0.13, beta = 0.41, non-binding and
        # binding futility.
        (
            {**RPACT_X7, "test_type": 4},
            [2.1280732, 1.4368565, 1.2468994],
            [-0.83725762, 0.35992547],
            None,
        ),
        (
            {**RPACT_X7, "test_type": 3},
            [2.1280732, 1.4362896, 1.2218662],
            [-0.84937686, 0.34328914],
            None,
        ),
    ],
)
def test_rpact_beta_spending_designs(options, critical, futility, inflation):
    design = group_sequential_design(looks=3, max_n=1000, **options)
    np.testing.assert_allclose(upper(design), critical, atol=1e-6)
    np.testing.assert_allclose(lower(design)[:-1], futility, atol=1e-6)
    assert lower(design)[-1] == pytest.approx(upper(design)[-1], abs=1e-12)
    assert design.power == pytest.approx(1 - options["beta"], abs=1e-7)
    if inflation is not None:
        assert design.inflation_factor == pytest.approx(inflation, abs=1e-6)


def test_rpact_power_and_futility_probabilities():
    # RPACT x2 again: x$power (cumulative) 0.12038953, 0.32895265, 0.86 and
    # getDesignCharacteristics futilityProbabilities 0.010777094, 0.016077535, shift 7.1015942.
    design = group_sequential_design(
        alpha=0.07,
        beta=0.14,
        spending="hsd",
        hsd_gamma=-1.0,
        futility_spending="hsd",
        futility_hsd_gamma=-2.0,
        information_rates=[0.2, 0.4, 1.0],
        test_type=4,
        looks=3,
        max_n=1000,
    )
    alternative = design.characteristics[1]
    np.testing.assert_allclose(
        np.cumsum(alternative.upper_crossing), [0.12038953, 0.32895265, 0.86], atol=1e-6
    )
    np.testing.assert_allclose(
        alternative.lower_crossing[:2], [0.010777094, 0.016077535], atol=1e-7
    )
    assert design.drift**2 == pytest.approx(7.1015942, abs=1e-5)


# ------------------------------------------------------------------------------------------
# Hand-checkable
# ------------------------------------------------------------------------------------------


def test_kim_demets_is_a_power_of_t():
    assert kim_demets(0.5, 0.025, 2.0) == pytest.approx(0.025 / 4)
    assert kim_demets(1.0, 0.025, 7.0) == pytest.approx(0.025)
    np.testing.assert_allclose(kim_demets([0.0, 0.3, 2.0], 0.1, 1.0), [0.0, 0.03, 0.1])


def _bivariate(rates, a, b):
    """P(Z1 <= a1, Z2 <= a2) with corr sqrt(t1 / t2), means b."""
    rho = math.sqrt(rates[0] / rates[1])
    return multivariate_normal(mean=b, cov=[[1, rho], [rho, 1]]).cdf(a)


@pytest.mark.parametrize("test_type", [3, 4])
def test_two_look_futility_matches_the_bivariate_normal(test_type):
    rates = [0.45, 1.0]
    design = group_sequential_design(
        alpha=0.025,
        spending="obrien_fleming",
        futility_spending="pocock",
        looks=2,
        information_rates=rates,
        test_type=test_type,
        max_n=100,
    )
    (u1, u2), (l1, _) = upper(design), lower(design)
    theta = design.drift
    means = [theta * math.sqrt(t) for t in rates]
    # Beta spent at look 1 under the alternative: P(Z1 <= l1) = the Pocock-type spending.
    assert norm.cdf(l1 - means[0]) == pytest.approx(0.1 * math.log1p((math.e - 1) * 0.45))
    # Type II error: P(Z1 <= l1) + P(l1 < Z1 < u1, Z2 < u2) = beta (l2 = u2).
    continuing = _bivariate(rates, [u1, u2], means) - _bivariate(rates, [l1, u2], means)
    assert norm.cdf(l1 - means[0]) + continuing == pytest.approx(0.1, abs=2e-6)
    # H0 upper crossing: alpha when the bound is ignored (non-binding) or obeyed (binding).
    below_upper = _bivariate(rates, [u1, u2], [0, 0])
    ignoring = 1 - below_upper
    obeying = norm.sf(u1) + (norm.cdf(u1) - norm.cdf(l1))
    obeying -= below_upper - _bivariate(rates, [l1, u2], [0, 0])
    if test_type == 4:
        assert ignoring == pytest.approx(0.025, abs=2e-6)
        assert obeying < 0.025
    else:
        assert obeying == pytest.approx(0.025, abs=2e-6)


def test_types_five_and_six_spend_one_minus_alpha_below():
    for test_type in (5, 6):
        design = hsd_design(test_type)
        null = design.characteristics[0]
        assert sum(null.lower_crossing) + sum(null.upper_crossing) == pytest.approx(1.0, abs=1e-7)
        assert lower(design)[-1] == upper(design)[-1]
    # Binding (5): upper crossing under H0 with the lower bound is alpha.
    assert sum(hsd_design(5).characteristics[0].upper_crossing) == pytest.approx(0.025, abs=1e-7)


def test_power_at_a_given_effect_and_max_n():
    # With max_n and the effect max_n detects with power 0.9, the same design comes back.
    sized = hsd_design(4, max_n=500)
    given = hsd_design(4, max_n=500, effect=sized.effect)
    np.testing.assert_allclose(upper(given), upper(sized), atol=1e-9)
    np.testing.assert_allclose(lower(given), lower(sized), atol=1e-6)
    assert given.power == pytest.approx(0.9, abs=1e-6)
    # A smaller effect: less power, the futility bounds move down.
    smaller = hsd_design(4, max_n=500, effect=sized.effect / 2)
    assert smaller.power < 0.5 and np.all(lower(smaller)[:-1] < lower(sized)[:-1])


def test_futility_json_keys_and_todays_keys_unchanged():
    plain = group_sequential_design(alpha=0.05, spending="obrien_fleming", max_n=100, looks=4)
    assert "testType" not in plain.to_json()
    assert "futilityBound" not in plain.to_json()["boundaries"][0]
    payload = hsd_design(4).to_json()
    json.dumps(payload, allow_nan=False)
    assert payload["testType"] == 4 and payload["binding"] is False
    assert payload["futilitySpending"] == "hsd" and payload["futilityHsdGamma"] == -2.0
    assert {"futilityBound", "futilitySpent", "futilityNominalP"} <= payload["boundaries"][0].keys()
    assert [c["effect"] for c in payload["operatingCharacteristics"]][0] == 0.0
    assert payload["power"] == pytest.approx(0.9)


def test_monitor_efficacy_and_final_with_a_futility_bound():
    design = hsd_design(3, max_n=200)
    assert monitor(design, [3.3]).decision == "stop_efficacy"
    assert monitor(design, [3.3]).crossed_bound == "efficacy"
    assert monitor(design, [0.0, 0.5]).decision == "continue"
    below = monitor(design, [0.0, -0.5])
    assert below.decision == "stop_futility" and below.stopped_at_look == 2
    assert "binding" in below.message
    # At the final look only efficacy or the end remain.
    final = monitor(design, [0.0, 0.5, 1.0, 1.5, 1.0])
    assert final.decision == "stop_final" and final.crossed_bound is None


def test_monitor_recomputes_futility_bounds_at_observed_information():
    design = hsd_design(4, max_n=200)
    planned = monitor(design, [0.0])
    moved = monitor(design, [0.0], [0.3])
    assert moved.boundaries_recomputed and not planned.boundaries_recomputed
    assert moved.boundaries[0].futility_bound > planned.boundaries[0].futility_bound
    assert moved.remaining_boundaries[-1].information_rate == 1.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"test_type": 7}, "test_type"),
        ({"test_type": 4, "sides": 2}, "sides"),
        ({"test_type": 2, "sides": 1}, "sides"),
        ({"test_type": 3, "spending": "pocock_classic"}, "spending"),
        ({"futility_spending": "hsd"}, "futility_spending"),
        ({"test_type": 4, "futility_spending": "pocock_classic"}, "futility_spending"),
        ({"beta": 0.99}, "beta"),
        ({"beta": 0.0}, "beta"),
        ({"rho": 0.0}, "rho"),
        ({"spending": "kim_demets", "rho": 51}, "rho"),
        ({"test_type": 4, "futility_rho": -1}, "futility_rho"),
        ({"n_fix": 100}, "n_fix"),
        ({"max_n": None}, "max_n"),
        ({"max_n": None, "n_fix": -3}, "n_fix"),
        ({"max_n": None, "n_fix": 100, "effect": 0.2}, "effect"),
        ({"effect": -0.2}, "effect"),
        ({"power_at": "0.1"}, "power_at"),
        ({"max_n": None, "n_fix": 1}, "n_fix"),
    ],
)
def test_bad_input_names_the_field(changes, field):
    options = {"alpha": 0.025, "spending": "hsd", "looks": 3, "max_n": 100, "sides": None}
    options.update(changes)
    with pytest.raises(InputError) as error:
        group_sequential_design(**options)
    assert error.value.field == field


def test_classic_boundaries_refuse_other_information_rates():
    design = group_sequential_design(alpha=0.05, spending="pocock_classic", max_n=100, looks=3)
    with pytest.raises(InputError) as error:
        monitor(design, [1.0], [0.4])
    assert error.value.field == "information_rates_observed"
    assert monitor(design, [2.5]).decision == "stop_efficacy"


# ------------------------------------------------------------------------------------------
# Simulation
# ------------------------------------------------------------------------------------------


def _first_crossings(z: np.ndarray, design: SequentialDesign) -> tuple[np.ndarray, np.ndarray]:
    """Per path: crossed the efficacy bound first, crossed the futility bound first."""
    up, low = z >= upper(design), z <= lower(design)
    first_up = np.where(up.any(axis=1), up.argmax(axis=1), z.shape[1])
    first_low = np.where(low.any(axis=1), low.argmax(axis=1), z.shape[1])
    return first_up <= first_low, first_low < first_up


@pytest.mark.slow
@pytest.mark.parametrize("test_type", [3, 4])
def test_simulated_error_rates_of_futility_designs(test_type):
    paths = 400_000
    rates = np.array([0.25, 0.5, 0.75, 1.0])
    design = group_sequential_design(
        alpha=0.025,
        spending="obrien_fleming",
        futility_spending="kim_demets",
        futility_rho=2.0,
        looks=4,
        information_rates=list(rates),
        test_type=test_type,
        max_n=400,
    )
    rng = np.random.default_rng(11 + test_type)
    increments = rng.standard_normal((paths, 4)) * np.sqrt(np.diff(rates, prepend=0.0))
    null = np.cumsum(increments, axis=1) / np.sqrt(rates)
    alternative = null + design.drift * np.sqrt(rates)
    se_alpha, se_beta = math.sqrt(0.025 * 0.975 / paths), math.sqrt(0.1 * 0.9 / paths)
    efficacy, _ = _first_crossings(null, design)
    if test_type == 3:  # binding: alpha when the trial stops at the futility bound
        assert abs(efficacy.mean() - 0.025) < 3 * se_alpha
    else:  # non-binding: alpha even when it never stops for futility
        ignoring = np.any(null >= upper(design), axis=1).mean()
        assert abs(ignoring - 0.025) < 3 * se_alpha
    _, futility = _first_crossings(alternative, design)
    assert abs(futility.mean() - 0.1) < 3 * se_beta  # beta: the futility bound under H1
