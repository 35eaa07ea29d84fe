"""Group-sequential boundaries (Lan-DeMets alpha spending) and interim monitoring.

Three kinds of check: hand-checkable cases, published reference values (source cited next to
each), and simulation of the type-I error under H0 (slow).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from americano_pipelines.errors import InputError
from americano_pipelines.stats.sequential import (
    Boundary,
    MonitoringDecision,
    SequentialDesign,
    alpha_spending,
    crossing_probabilities,
    group_sequential_design,
    hsd,
    monitor,
    obrien_fleming,
    pocock,
)

SPENDINGS = ("obrien_fleming", "pocock", "hsd")


def critical_values(design: SequentialDesign) -> np.ndarray:
    return np.array([boundary.critical_value for boundary in design.boundaries])


def alpha_spent(design: SequentialDesign) -> np.ndarray:
    return np.array([boundary.alpha_spent for boundary in design.boundaries])


# ------------------------------------------------------------------------------------------
# Hand-checkable
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spending", SPENDINGS)
@pytest.mark.parametrize(
    ("sides", "alpha", "fixed_sample_z"),
    [(2, 0.05, 1.959964), (1, 0.05, 1.644854), (1, 0.025, 1.959964)],
)
def test_one_look_is_the_fixed_sample_test(spending, sides, alpha, fixed_sample_z):
    design = group_sequential_design(alpha=alpha, spending=spending, max_n=40, looks=1, sides=sides)
    (only,) = design.boundaries
    assert only.critical_value == pytest.approx(fixed_sample_z, abs=1e-6)
    assert only.alpha_spent == pytest.approx(alpha, abs=1e-15)
    assert only.nominal_alpha == pytest.approx(alpha, abs=1e-12)
    assert (only.look, only.n, only.information_rate) == (1, 40, 1.0)


@pytest.mark.parametrize("spending", SPENDINGS)
@pytest.mark.parametrize("sides", [1, 2])
def test_all_alpha_is_spent_by_the_last_look_and_spending_only_grows(spending, sides):
    design = group_sequential_design(alpha=0.05, spending=spending, max_n=200, looks=6, sides=sides)
    spent = alpha_spent(design)
    assert spent[-1] == pytest.approx(0.05, abs=1e-15)
    assert np.all(np.diff(spent) > 0)
    # A look's nominal level is below what it adds to the spending plus what came before,
    # and never above the overall alpha.
    nominal = np.array([b.nominal_alpha for b in design.boundaries])
    assert np.all(nominal <= 0.05)
    assert nominal[0] == pytest.approx(spent[0], rel=1e-9)


@pytest.mark.parametrize("alpha", [0.01, 0.025, 0.05, 0.1])
def test_spending_functions_spend_alpha_at_full_information_and_nothing_at_zero(alpha):
    for spend in (
        lambda t: obrien_fleming(t, alpha),
        lambda t: pocock(t, alpha),
        lambda t: hsd(t, alpha, -4.0),
        lambda t: hsd(t, alpha, 0.0),
        lambda t: hsd(t, alpha, 2.0),
    ):
        assert spend(1.0) == pytest.approx(alpha, rel=1e-12)
        assert spend(0.0) == 0.0
        values = spend(np.linspace(0.0, 1.0, 11))
        assert isinstance(values, np.ndarray)
        assert np.all(np.diff(values) > 0)


def test_spending_function_values_by_hand():
    # O'Brien-Fleming type spends almost nothing early: 2 - 2 Phi(2.2414 / sqrt(0.1)) ~ 1.4e-12.
    assert obrien_fleming(0.1, 0.025) < 1e-10
    assert obrien_fleming(0.01, 0.025) < 1e-100
    # Pocock type: alpha ln(1 + (e - 1) t) is alpha ln 2 at t = 1 / (e - 1).
    assert pocock(1.0 / (math.e - 1.0), 0.05) == pytest.approx(0.05 * math.log(2.0), rel=1e-12)
    # HSD: (1 - e^{2}) / (1 - e^{4}) = 1 / (1 + e^2) at t = 1/2, gamma = -4.
    assert hsd(0.5, 0.025, -4.0) == pytest.approx(0.025 / (1.0 + math.e**2), rel=1e-12)
    assert hsd(0.3, 0.025, 0.0) == pytest.approx(0.0075, rel=1e-12)
    # O'Brien-Fleming type, one-sided alpha 0.05, printed in the SeqBounds.jl README
    # (github.com/PharmCat/SeqBounds.jl, "Function value" column): 8.85754e-5, 0.0055746, 0.0236251.
    np.testing.assert_allclose(
        obrien_fleming([0.25, 0.5, 0.75], 0.05), [8.85754e-5, 0.0055746, 0.0236251], rtol=1e-5
    )


def test_two_sided_spending_is_the_one_sided_function_at_half_alpha_per_tail():
    # rpact getSpendingValueCpp: asOF = 2 * sided * (1 - Phi(z_{1 - alpha / (2 sided)} / sqrt(t))).
    t = np.array([0.2, 0.5, 0.8, 1.0])
    np.testing.assert_allclose(
        alpha_spending("obrien_fleming", t, 0.05, sides=2), 2 * obrien_fleming(t, 0.025)
    )
    np.testing.assert_allclose(alpha_spending("pocock", t, 0.05, sides=2), pocock(t, 0.05))
    np.testing.assert_allclose(
        alpha_spending("hsd", t, 0.05, sides=2, hsd_gamma=-4), hsd(t, 0.05, -4)
    )


@pytest.mark.parametrize("spending", SPENDINGS)
def test_two_sided_at_005_has_the_boundaries_of_one_sided_at_0025(spending):
    rates = [0.15, 0.4, 0.6, 0.85, 1.0]
    one = group_sequential_design(
        alpha=0.025, spending=spending, max_n=100, looks=5, sides=1, information_rates=rates
    )
    two = group_sequential_design(
        alpha=0.05, spending=spending, max_n=100, looks=5, sides=2, information_rates=rates
    )
    # Equal up to the paths that stop at the lower boundary and would have crossed the upper one
    # later (a two-sided design stops them, as rpact's and gsDesign's do): about 3e-5 on the z
    # scale for these Pocock looks, far less for O'Brien-Fleming, nothing at the first look.
    np.testing.assert_allclose(critical_values(two), critical_values(one), atol=1e-4)
    assert critical_values(two)[0] == pytest.approx(critical_values(one)[0], abs=1e-12)
    np.testing.assert_allclose(alpha_spent(two), 2 * alpha_spent(one), rtol=1e-9)


def test_json_has_the_contract_keys_and_plain_types():
    design = group_sequential_design(alpha=0.05, spending="obrien_fleming", max_n=10, looks=4)
    payload = design.to_json()
    json.dumps(payload, allow_nan=False)
    assert {"boundaries", "warning"} <= payload.keys()
    assert "peek" in payload["warning"]
    first = payload["boundaries"][0]
    assert {"n", "informationRate", "criticalValue", "alphaSpent"} <= first.keys()
    assert type(first["n"]) is int and type(first["criticalValue"]) is float
    # n = max_n * informationRate rounded half up: 2.5 -> 3, 7.5 -> 8.
    assert [b["n"] for b in payload["boundaries"]] == [3, 5, 8, 10]
    assert [b["informationRate"] for b in payload["boundaries"]] == [0.25, 0.5, 0.75, 1.0]
    assert isinstance(design.boundaries[0], Boundary)


# ------------------------------------------------------------------------------------------
# Published reference values
# ------------------------------------------------------------------------------------------


def test_rpact_asof_three_looks_alpha_003():
    # rpact unit tests (cran/rpact, tests/testthat/test-f_design_group_sequential_design.R and
    # test-f_design_group_sequential.R, x6): getDesignGroupSequential(kMax = 3, alpha = 0.03,
    # typeOfDesign = "asOF", ...) -- its futility bounds are non-binding, so the efficacy
    # boundaries are those of pure alpha spending.
    design = group_sequential_design(
        alpha=0.03, spending="obrien_fleming", max_n=300, looks=3, sides=1
    )
    np.testing.assert_allclose(critical_values(design), [3.5815302, 2.417863, 1.9175839], atol=1e-5)
    np.testing.assert_allclose(alpha_spent(design), [0.00017079385, 0.0078650906, 0.03], rtol=1e-6)
    np.testing.assert_allclose(
        [b.nominal_alpha for b in design.boundaries],
        [0.00017079385, 0.0078059773, 0.027581894],
        rtol=1e-5,
    )


def test_rpact_ashsd_gamma_minus_one_equal_and_unequal_information():
    # rpact unit tests (cran/rpact, tests/testthat/test-f_design_group_sequential_design.R,
    # x2 and x3): getDesignInverseNormal(kMax = 4, alpha = 0.07, sided = 1, typeOfDesign = "asHSD",
    # gammaA = -1, ...) with equally spaced looks and with informationRates = c(0.2, 0.4, 0.8, 1)
    # (non-binding futility, so the efficacy boundaries are pure alpha spending).
    equal = group_sequential_design(
        alpha=0.07, spending="hsd", hsd_gamma=-1.0, max_n=100, looks=4, sides=1
    )
    np.testing.assert_allclose(
        critical_values(equal), [2.2710911, 2.0692301, 1.8645608, 1.6606881], atol=1e-5
    )
    np.testing.assert_allclose(
        alpha_spent(equal), [0.011570732, 0.026427847, 0.045504759, 0.07], rtol=1e-6
    )
    unequal = group_sequential_design(
        alpha=0.07,
        spending="hsd",
        hsd_gamma=-1.0,
        max_n=100,
        looks=4,
        sides=1,
        information_rates=[0.2, 0.4, 0.8, 1.0],
    )
    np.testing.assert_allclose(
        critical_values(unequal), [2.364813, 2.1928805, 1.7718975, 1.6682985], atol=1e-5
    )
    np.testing.assert_allclose(
        alpha_spent(unequal), [0.0090195874, 0.020036136, 0.049926539, 0.07], rtol=1e-6
    )


def test_rpact_ashsd_gamma_zero_unequal_information():
    # rpact unit tests (cran/rpact, tests/testthat/test-f_design_group_sequential.R, x1):
    # getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1), alpha = 0.03,
    # sided = 1, typeOfDesign = "asHSD", gammaA = 0).
    design = group_sequential_design(
        alpha=0.03,
        spending="hsd",
        hsd_gamma=0.0,
        max_n=50,
        looks=3,
        sides=1,
        information_rates=[0.2, 0.4, 1.0],
    )
    np.testing.assert_allclose(
        critical_values(design), [2.5121443, 2.4228747, 2.0280392], atol=1e-5
    )
    np.testing.assert_allclose(alpha_spent(design), [0.006, 0.012, 0.03], rtol=1e-9)
    np.testing.assert_allclose(
        [b.nominal_alpha for b in design.boundaries], [0.006, 0.0076991189, 0.021278125], rtol=1e-5
    )


def test_rpact_asof_three_looks_summary_table():
    # rpact slides "rpact for confirmatory adaptive group sequential designs" (MCP 2025,
    # rpact-com.github.io/slides-mcp-2025), summary of getDesignGroupSequential(typeOfDesign =
    # "asOF", futilityBounds = c(0, 0)), one-sided 2.5%, 3 looks: efficacy boundary 3.710, 2.511,
    # 1.993; cumulative alpha spent 0.0001, 0.0060, 0.0250; stage levels 0.0001, 0.0060, 0.0231.
    design = group_sequential_design(
        alpha=0.025, spending="obrien_fleming", max_n=210, looks=3, sides=1
    )
    np.testing.assert_allclose(critical_values(design), [3.710, 2.511, 1.993], atol=5e-4)
    np.testing.assert_allclose(alpha_spent(design), [0.0001, 0.0060, 0.0250], atol=5e-5)
    np.testing.assert_allclose(
        [b.nominal_alpha for b in design.boundaries], [0.0001, 0.0060, 0.0231], atol=5e-5
    )


@pytest.mark.parametrize(("sides", "alpha"), [(1, 0.025), (2, 0.05)])
def test_gsdesign_hsd_gamma_minus_four_five_looks(sides, alpha):
    # gsDesign print snapshot (keaven/gsDesign, tests/testthat/_snaps/
    # independent-test-print.gsDesign.md): gsDesign(k = 5, test.type = 1 or 2, alpha = 0.025,
    # sfu = sfHSD, sfupar = -4); test.type = 2 is the symmetric design, 2.5% per side.
    # Z 3.25 2.99 2.69 2.37 2.03; nominal p 0.0006 0.0014 0.0036 0.0088 0.0214;
    # spend per look 0.0006 0.0013 0.0028 0.0063 0.0140 (all per side).
    design = group_sequential_design(
        alpha=alpha, spending="hsd", hsd_gamma=-4.0, max_n=100, looks=5, sides=sides
    )
    np.testing.assert_allclose(critical_values(design), [3.25, 2.99, 2.69, 2.37, 2.03], atol=0.005)
    per_side_nominal = np.array([b.nominal_alpha for b in design.boundaries]) / sides
    np.testing.assert_allclose(
        per_side_nominal, [0.0006, 0.0014, 0.0036, 0.0088, 0.0214], atol=5e-5
    )
    per_side_spend = np.diff(alpha_spent(design), prepend=0.0) / sides
    np.testing.assert_allclose(per_side_spend, [0.0006, 0.0013, 0.0028, 0.0063, 0.0140], atol=5e-5)


@pytest.mark.parametrize(
    ("spending", "tabulated"),
    [
        ("obrien_fleming", [4.877, 3.357, 2.680, 2.290, 2.031]),
        ("pocock", [2.438, 2.427, 2.410, 2.397, 2.386]),
    ],
)
def test_lan_demets_five_equal_looks_one_sided_0025(spending, tabulated):
    # The textbook Lan-DeMets table for K = 5 equally spaced looks, one-sided 0.025 (two-sided
    # 0.05), as produced by gsDesign sfLDOF / sfLDPocock and rpact asOF / asP, printed to 3
    # decimals. (The 7-digit rpact values in the tests above pin the same computation harder.)
    design = group_sequential_design(alpha=0.025, spending=spending, max_n=100, looks=5, sides=1)
    np.testing.assert_allclose(critical_values(design), tabulated, atol=5e-4)


@pytest.mark.parametrize(
    ("looks", "per_tail"),
    [(2, 0.042), (4, 0.063), (10, 0.097), (20, 0.124)],
)
def test_peeking_at_196_inflates_type_i_error(looks, per_tail):
    # Testing every look at the unadjusted 1.96 (two-sided 5%): probability of crossing the
    # upper bound. gsDesign tests/testthat/test-outputs.R "test.Deming.gsProb" (from
    # K. Anderson's 2008 Deming presentation): 0.042, 0.063, 0.097, 0.124 for 2, 4, 10, 20 looks.
    # Two-sided, Jennison & Turnbull (2000) Table 1.1 (after Armitage, McPherson & Rowe 1969):
    # 0.08, 0.13, 0.19, 0.25.
    rates = np.arange(1, looks + 1) / looks
    crossing = crossing_probabilities(rates, [1.959964] * looks, sides=2)
    assert crossing.sum() / 2 == pytest.approx(per_tail, abs=5e-4)
    assert crossing.sum() == pytest.approx(2 * per_tail, abs=0.005)


# ------------------------------------------------------------------------------------------
# Independent check: crossing probabilities from the multivariate normal CDF
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spending", "sides"), [("obrien_fleming", 1), ("pocock", 2), ("hsd", 1), ("hsd", 2)]
)
def test_unequal_looks_match_the_multivariate_normal_cdf(spending, sides):
    rates = np.array([0.3, 0.7, 1.0])
    design = group_sequential_design(
        alpha=0.05,
        spending=spending,
        max_n=100,
        looks=3,
        sides=sides,
        information_rates=list(rates),
    )
    critical = critical_values(design)
    # Canonical joint distribution under H0: corr(Z_i, Z_j) = sqrt(t_i / t_j).
    correlation = np.sqrt(np.minimum.outer(rates, rates) / np.maximum.outer(rates, rates))
    for look in range(1, 4):
        joint = multivariate_normal(
            mean=np.zeros(look),
            cov=correlation[:look, :look],
            abseps=1e-8,
            releps=1e-8,
            seed=20240601,
        )
        upper = critical[:look]
        lower = -upper if sides == 2 else np.full(look, -np.inf)
        crossed_by_now = 1.0 - joint.cdf(upper, lower_limit=lower)
        assert crossed_by_now == pytest.approx(design.boundaries[look - 1].alpha_spent, abs=1e-5)


# ------------------------------------------------------------------------------------------
# Simulation (slow)
# ------------------------------------------------------------------------------------------


def simulated_z_paths(rates: np.ndarray, paths: int, seed: int) -> np.ndarray:
    """Z statistics at the looks of a Brownian motion under H0: Z_k = B(t_k) / sqrt(t_k)."""
    rng = np.random.default_rng(seed)
    increments = rng.standard_normal((paths, len(rates))) * np.sqrt(np.diff(rates, prepend=0.0))
    return np.cumsum(increments, axis=1) / np.sqrt(rates)


@pytest.mark.slow
@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("sides", [1, 2])
def test_simulated_type_i_error_matches_alpha(spending, sides):
    alpha, paths = 0.05, 400_000
    rates = np.array([0.2, 0.35, 0.6, 0.8, 1.0])
    design = group_sequential_design(
        alpha=alpha,
        spending=spending,
        max_n=500,
        looks=5,
        sides=sides,
        information_rates=list(rates),
    )
    z = simulated_z_paths(rates, paths, seed=7 + sides)
    statistic = np.abs(z) if sides == 2 else z
    rejected = np.any(statistic >= critical_values(design), axis=1).mean()
    monte_carlo_se = math.sqrt(alpha * (1 - alpha) / paths)
    assert abs(rejected - alpha) < 3 * monte_carlo_se

    # The same paths tested at the unadjusted fixed-sample threshold every look: inflated.
    fixed_sample_z = 1.959964 if sides == 2 else 1.644854
    naive = np.any(statistic >= fixed_sample_z, axis=1)
    assert naive.mean() > 2 * alpha


# ------------------------------------------------------------------------------------------
# Monitoring
# ------------------------------------------------------------------------------------------


@pytest.fixture
def four_look_design() -> SequentialDesign:
    # Two-sided 0.05, O'Brien-Fleming type, looks at n = 25, 50, 75, 100.
    return group_sequential_design(alpha=0.05, spending="obrien_fleming", max_n=100, looks=4)


def test_a_path_crossing_at_look_two_stops_there(four_look_design):
    second = four_look_design.boundaries[1]
    decision = monitor(four_look_design, [1.2, second.critical_value + 0.05])
    assert isinstance(decision, MonitoringDecision)
    assert decision.decision == "stop_efficacy"
    assert decision.stopped_at_look == 2 and decision.look == 2
    assert decision.direction == "upper" and decision.reject_null
    assert decision.critical_value == second.critical_value
    assert decision.alpha_spent == second.alpha_spent
    assert decision.boundaries == four_look_design.boundaries[:2]
    assert not decision.boundaries_recomputed
    # Looks after the stop do not change it.
    later = monitor(four_look_design, [1.2, second.critical_value + 0.05, 0.1])
    assert (later.decision, later.stopped_at_look, later.look) == ("stop_efficacy", 2, 2)


def test_a_path_that_never_crosses_continues_then_ends(four_look_design):
    decision = monitor(four_look_design, [1.0, 2.5])  # 2.5 < 2.963 at look 2
    assert decision.decision == "continue"
    assert decision.stopped_at_look is None and decision.direction is None
    assert decision.look == 2 and decision.z_statistic == 2.5
    assert decision.remaining_boundaries == four_look_design.boundaries[2:]
    final = monitor(four_look_design, [1.0, 2.5, 2.0, 1.9])
    assert final.decision == "stop_final" and not final.reject_null
    assert final.alpha_spent == pytest.approx(0.05)
    assert final.remaining_boundaries == ()


def test_two_sided_lower_crossing_stops_but_one_sided_does_not():
    two = group_sequential_design(alpha=0.05, spending="pocock", max_n=60, looks=3, sides=2)
    decision = monitor(two, [-(two.boundaries[0].critical_value + 0.01)])
    assert (decision.decision, decision.direction) == ("stop_efficacy", "lower")
    one = group_sequential_design(alpha=0.025, spending="pocock", max_n=60, looks=3, sides=1)
    assert monitor(one, [-5.0]).decision == "continue"


def test_observed_information_rates_recompute_the_boundaries(four_look_design):
    # Looks actually happened at 30% and 55% of the planned information instead of 25% / 50%.
    observed = [0.3, 0.55]
    decision = monitor(four_look_design, [1.0, 2.9], information_rates_observed=observed)
    assert decision.boundaries_recomputed
    # Boundaries at a look depend only on the looks up to it, so they equal those of a design
    # planned with these rates from the start.
    replanned = group_sequential_design(
        alpha=0.05,
        spending="obrien_fleming",
        max_n=100,
        looks=4,
        information_rates=[0.3, 0.55, 0.75, 1.0],
    )
    np.testing.assert_allclose(
        [b.critical_value for b in decision.boundaries],
        critical_values(replanned)[:2],
        atol=1e-9,
    )
    # First look in closed form: |Z| >= z_{1 - a(0.3) / 2}, a(t) = 4 (1 - Phi(z_{1-0.0125} / sqrt t)).
    first_spend = 4 * (1 - 0.5 * math.erfc(-(2.241403 / math.sqrt(0.3)) / math.sqrt(2)))
    assert decision.boundaries[0].alpha_spent == pytest.approx(first_spend, rel=1e-5)
    assert [b.n for b in decision.boundaries] == [30, 55]
    # 2.9 is below the planned 2.963 but above the recomputed 2.81: the decision flips.
    assert critical_values(four_look_design)[1] > 2.9 > decision.critical_value
    assert monitor(four_look_design, [1.0, 2.9]).decision == "continue"
    assert decision.decision == "stop_efficacy"
    # The remaining planned looks are provisional boundaries at 75% and 100%.
    assert [b.information_rate for b in decision.remaining_boundaries] == [0.75, 1.0]
    assert decision.remaining_boundaries[-1].alpha_spent == pytest.approx(0.05)


def test_final_look_spends_what_is_left_when_information_falls_short(four_look_design):
    observed = [0.25, 0.5, 0.75, 0.9]  # the study ended at 90% of the planned information
    decision = monitor(four_look_design, [0.5, 0.8, 1.0, 1.5], observed)
    assert decision.decision == "stop_final" and decision.boundaries_recomputed
    assert decision.alpha_spent == pytest.approx(0.05, abs=1e-15)
    crossed = crossing_probabilities(
        observed, [b.critical_value for b in decision.boundaries], sides=2
    )
    assert crossed.sum() == pytest.approx(0.05, abs=1e-9)
    # Earlier looks keep the boundaries they were tested against.
    np.testing.assert_allclose(
        [b.critical_value for b in decision.boundaries[:3]],
        critical_values(four_look_design)[:3],
        atol=1e-12,
    )


def test_planned_rates_passed_explicitly_do_not_recompute(four_look_design):
    decision = monitor(four_look_design, [0.3, 0.4], information_rates_observed=[0.25, 0.5])
    assert not decision.boundaries_recomputed
    assert decision.boundaries == four_look_design.boundaries[:2]


def test_monitoring_json_is_plain(four_look_design):
    payload = monitor(four_look_design, [1.0, 3.5], [0.3, 0.5]).to_json()
    json.dumps(payload, allow_nan=False)
    assert {
        "decision",
        "stoppedAtLook",
        "look",
        "zStatistic",
        "criticalValue",
        "alphaSpent",
        "boundaries",
    } <= payload.keys()
    assert payload["decision"] == "stop_efficacy" and payload["stoppedAtLook"] == 2
    assert {"n", "informationRate", "criticalValue", "alphaSpent"} <= payload["boundaries"][
        0
    ].keys()


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------

GOOD = {"alpha": 0.05, "spending": "obrien_fleming", "max_n": 100, "looks": 3}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": "0.05"}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"spending": "linear"}, "spending"),
        ({"looks": 0}, "looks"),
        ({"looks": 2.5}, "looks"),
        ({"looks": 1000}, "looks"),
        ({"max_n": 2}, "max_n"),
        ({"sides": 3}, "sides"),
        ({"hsd_gamma": 100.0, "spending": "hsd"}, "hsd_gamma"),
        ({"information_rates": [0.5, 0.4, 1.0]}, "information_rates"),
        ({"information_rates": [0.3, 1.0]}, "information_rates"),
        ({"information_rates": [0.3, 0.6, 0.9]}, "information_rates"),
        ({"information_rates": [0.0, 0.5, 1.0]}, "information_rates"),
        ({"information_rates": [0.3, 0.7, 1.2]}, "information_rates"),
        ({"information_rates": ["a", 0.5, 1.0]}, "information_rates"),
        ({"information_rates": "0.3,0.6,1"}, "information_rates"),
        ({"information_rates": [0.5, 0.5000001, 1.0]}, "information_rates"),
        ({"max_n": 3, "information_rates": [0.1, 0.2, 1.0]}, "information_rates"),
    ],
)
def test_bad_design_input_names_the_field(changes, field):
    with pytest.raises(InputError) as error:
        group_sequential_design(**{**GOOD, **changes})
    assert error.value.field == field
    assert field in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("z", "observed", "field"),
    [
        ([], None, "z_statistics"),
        ([1.0, 1.0, 1.0, 1.0], None, "z_statistics"),
        ([1.0, "x"], None, "z_statistics"),
        ([1.0, float("inf")], None, "z_statistics"),
        ([1.0, 2.0], [0.3], "information_rates_observed"),
        ([1.0, 2.0], [0.5, 0.4], "information_rates_observed"),
        ([1.0, 2.0], [1.0, 1.2], "information_rates_observed"),
        ([1.0, 2.0], [-0.1, 0.4], "information_rates_observed"),
    ],
)
def test_bad_monitoring_input_names_the_field(z, observed, field):
    design = group_sequential_design(**GOOD)
    with pytest.raises(InputError) as error:
        monitor(design, z, observed)
    assert error.value.field == field
    assert field in str(error.value)
