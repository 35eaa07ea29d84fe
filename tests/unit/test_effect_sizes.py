"""Tests for americano_pipelines.stats.effect_sizes.

Reference values come from three places, cited at each use:
- Parker, Vannest & Davis (2011), "Effect size in single-case research: a review of nine
  nonoverlap techniques", Behavior Modification 35(4): worked examples, exact fractions (the
  same ones SingleCaseES checks in tests/testthat/test-parker-vannest-davis-2011.R).
- SingleCaseES 0.7.4 (github.com/jepusto/SingleCaseES, R/non-overlap-measures.R and
  R/parametric-measures.R): the help-page example A = (20, 20, 26, 25, 22, 23),
  B = (28, 25, 24, 27, 30, 30, 29) used by `NAP()`, `Tau()`, `SMD()`, `LRRd()`..., the
  Parker & Vannest (2009) example of `NAP()`, the package's `McKissick` and `Schmidt2007` data
  sets (tests/testdata/McKissick.csv, auxiliary/Schmidt2007.csv). Values are what the package's
  `calc_*` functions print, run with R 4.2.2, 12 significant digits.
- Hand-checkable cases worked out in the comments.

NAP confidence limits: SingleCaseES finds the score-interval roots with R's `uniroot` at its
default tolerance (.Machine$double.eps^0.25, about 1.2e-4), so its printed limits are accurate to
about 1e-4; we solve to machine precision and compare at abs=1e-4 (and check the score equation
itself at full precision).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.stats.effect_sizes import (
    EffectEstimate,
    EffectSizeSummary,
    abab_effect_sizes,
    cohens_d,
    effect_sizes,
    ird,
    lrrd,
    lrri,
    nap,
    pand,
    pem,
    pnd,
    smd,
    tau,
    tau_u,
)

# SingleCaseES help-page example (NAP.Rd, Tau.Rd, SMD.Rd, LRR.Rd, PND.Rd, ...)
DOC_A = [20, 20, 26, 25, 22, 23]
DOC_B = [28, 25, 24, 27, 30, 30, 29]

CI_TOL = 1e-4  # R uniroot default tolerance, see module docstring
EST_TOL = 1e-10  # printed to 12 significant digits


def approx(value: float, abs_tol: float = EST_TOL) -> object:
    return pytest.approx(value, abs=abs_tol)


def assert_estimate(
    result: EffectEstimate | None,
    estimate: float,
    se: float | None = None,
    ci: tuple[float, float] | None = None,
    ci_tol: float = EST_TOL,
) -> None:
    assert result is not None
    assert result.estimate == approx(estimate)
    if se is None:
        assert result.se is None
    else:
        assert result.se == approx(se)
    if ci is not None:
        assert result.ci95 is not None
        assert result.ci95[0] == approx(ci[0], ci_tol)
        assert result.ci95[1] == approx(ci[1], ci_tol)


# ----------------------------------------------------------------------------- hand-checkable


def test_complete_separation_small_case() -> None:
    # A = 1,2,3 and B = 4,5,6: every B point beats every A point
    a, b = [1, 2, 3], [4, 5, 6]
    assert nap(a, b).estimate == 1.0
    assert tau(a, b).estimate == 1.0
    assert pnd(a, b).estimate == 1.0
    assert pand(a, b).estimate == 1.0
    assert ird(a, b).estimate == 1.0
    assert pem(a, b).estimate == 1.0
    # S_AB = 9 pairs, baseline trend S_A = 3 (1<2, 1<3, 2<3): (9 - 3) / 9
    assert tau_u(a, b).estimate == pytest.approx(6 / 9)
    # mean difference 3, baseline SD 1, J = 1 - 3/(4*2 - 1) = 4/7
    assert smd(a, b).estimate == pytest.approx(3 * 4 / 7)
    # pooled SD is 1 too; Cohen's d has no correction
    assert cohens_d(a, b) == pytest.approx(3.0)


def test_nap_with_ties_counts_half() -> None:
    # pairs (A, B): (1,1) tie, (1,2) win, (2,1) loss, (2,2) tie -> (0.5 + 1 + 0 + 0.5) / 4
    assert nap([1, 2], [1, 2]).estimate == pytest.approx(0.5)
    # PEM: median of A is 1.5; B = 1 below, 2 above -> 0.5
    assert pem([1, 2], [1, 2]).estimate == pytest.approx(0.5)


def test_nap_standard_error_formula_by_hand() -> None:
    # m = n = 2, A = (1, 2), B = (3, 4): q is all ones, NAP = 1, so Q1 = Q2 = X = 0 and only the
    # truncated leading term remains: t = 0.5/4, V = t (1 - t) / 1
    result = nap([1, 2], [3, 4])
    t = 0.5 / 4
    assert result.se == pytest.approx(math.sqrt(t * (1 - t)))


def test_nap_interval_solves_newcombe_score_equation() -> None:
    result = nap(DOC_A, DOC_B)
    m, n, est = 6, 7, result.estimate
    z = 1.959963984540054
    h = (m + n) / 2 - 1

    def score(x: float) -> float:
        return m * n * (est - x) ** 2 * (2 - x) * (1 + x) - z**2 * x * (1 - x) * (
            2 + h + (1 + 2 * h) * x * (1 - x)
        )

    assert result.ci95 is not None
    lower, upper = result.ci95
    assert lower < est < upper
    assert abs(score(lower)) < 1e-9 and abs(score(upper)) < 1e-9


def test_nap_interval_at_complete_separation_is_not_degenerate() -> None:
    # SingleCaseES 0.7.4 prints [1, 1] here (uniroot returns the trivial root x = 1); Newcombe's
    # interval has a lower limit below 1 that solves the reduced score equation.
    result = nap([1, 2, 3], [4, 5, 6])
    assert result.ci95 is not None
    lower, upper = result.ci95
    assert upper == 1.0
    assert 0.4 < lower < 0.6
    flipped = nap([4, 5, 6], [1, 2, 3])
    assert flipped.ci95 == pytest.approx((1 - upper, 1 - lower))


# ----------------------------------------------------------------------------- published values


def test_parker_vannest_davis_2011_worked_example() -> None:
    # Parker, Vannest & Davis (2011), worked example (data = SingleCaseES help-page example)
    assert pnd(DOC_A, DOC_B).estimate == pytest.approx(5 / 7)
    assert pand(DOC_A, DOC_B).estimate == pytest.approx(1 - 2 / 13)
    assert pem(DOC_A, DOC_B).estimate == pytest.approx(7 / 7)
    assert ird(DOC_A, DOC_B).estimate == pytest.approx(6 / 7 - 1 / 6)
    assert nap(DOC_A, DOC_B).estimate == pytest.approx(38.5 / 42)
    assert tau(DOC_A, DOC_B).estimate == pytest.approx((38 - 3) / 42)


def test_parker_vannest_davis_2011_tau_u_example() -> None:
    # Parker, Vannest & Davis (2011), Tau and Tau-U example 2
    a, b = [3, 3, 4, 5], [4, 5, 6, 7, 7]
    assert tau(a, b).estimate == pytest.approx(16 / 20)
    assert tau_u(a, b).estimate == pytest.approx(11 / 20)


def test_singlecasees_help_example_nonoverlap() -> None:
    # SingleCaseES 0.7.4: NAP(A, B), Tau(A, B), Tau_U(A, B) with the help-page data
    assert_estimate(
        nap(DOC_A, DOC_B),
        0.916666666667,
        0.0690065559342354,
        (0.597340610527278, 0.986017584590098),
        CI_TOL,
    )
    assert_estimate(
        tau(DOC_A, DOC_B),
        0.833333333333333,
        0.138013111868471,
        (0.194681221054555, 0.972035169180197),
        2 * CI_TOL,
    )
    assert_estimate(tau_u(DOC_A, DOC_B), 0.738095238095238)


def test_singlecasees_help_example_smd() -> None:
    # SingleCaseES 0.7.4: SMD(A, B) and SMD(A, B, std_dev = "pool")
    assert_estimate(
        smd(DOC_A, DOC_B),
        1.64993188129337,
        0.634093508615602,
        (0.407131441576154, 2.89273232101059),
    )
    assert_estimate(
        smd(DOC_A, DOC_B, std_dev="pool"),
        1.87624741107057,
        0.637421552498555,
        (0.626924125203796, 3.12557069693735),
    )


def test_singlecasees_help_example_log_response_ratios() -> None:
    # SingleCaseES 0.7.4: LRRi(A, B) = 0.195396165735149 (SE 0.0555772321349662); LRRd(A, B)
    # (whose own default is improvement = "decrease") prints the same numbers, so with
    # improvement = "increase" LRRd is their negative.
    ci = (0.086466792390193, 0.304325539080105)
    assert_estimate(lrri(DOC_A, DOC_B), 0.195396165735149, 0.0555772321349662, ci)
    assert_estimate(
        lrrd(DOC_A, DOC_B, improvement="decrease"), 0.195396165735149, 0.0555772321349662, ci
    )
    assert_estimate(lrrd(DOC_A, DOC_B), -0.195396165735149, 0.0555772321349662, (-ci[1], -ci[0]))


def test_singlecasees_parker_vannest_2009_nap_example() -> None:
    # SingleCaseES NAP.Rd: "Example from Parker & Vannest (2009)"
    y_a = [4, 3, 4, 3, 4, 7, 5, 2, 3, 2]
    y_b = [5, 9, 7, 9, 7, 5, 9, 11, 11, 10, 9]
    assert_estimate(
        nap(y_a, y_b),
        0.963636363636364,
        0.0319262234934932,
        (0.749974108078036, 0.995072899240167),
        CI_TOL,
    )
    assert_estimate(tau_u(y_a, y_b), 1.01818181818182)
    assert_estimate(smd(y_a, y_b), 2.85318439418713, 0.783081170010833)
    assert_estimate(lrri(y_a, y_b), 0.810298291622759, 0.148670225199757)
    assert pnd(y_a, y_b).estimate == approx(0.636363636363636)
    assert pand(y_a, y_b).estimate == approx(0.904761904761905)
    assert ird(y_a, y_b).estimate == approx(0.809090909090909)


# SingleCaseES data set McKissick (tests/testdata/McKissick.csv): disruptive behavior counts,
# improvement = "decrease"; values printed by calc_NAP, calc_Tau, calc_SMD, calc_LRRi, ...
MCKISSICK = {
    "Period 2": {
        "a": [8.07, 21.86, 19.6, 20.98, 17.75],
        "b": [9.96, 4.02, 10.8, 9.57, 0.04, 5.57, 24.52],
        "nap": (0.771428571429, 0.153861851632, (0.430532065181, 0.932244381291)),
        "tau": (0.542857142857, 0.307723703265, (-0.138935869638, 0.864488762582)),
        "tau_u": 0.542857142857,
        "pnd": 0.428571428571,
        "pand": 0.833333333333,
        "ird": 0.657142857143,
        "pem": 0.857142857143,
        "smd": (1.21081658303, 0.650076510903, (-0.0633099655307, 2.4849431316)),
        "smd_pool": (1.11727694901, 0.587640173851, (-0.0344766276028, 2.26903052563)),
        "lrri": (0.60961090743, 0.348584186029, (-0.073601542767, 1.29282335763)),
    },
    "Period 3": {
        "a": [11.82, 13.95, 11.93, 16.09, 18.09, 11.75, 13.75, 12.59, 11.0],
        "b": [1.98, 4.8, 11.87, 5.34],
        "nap": (0.916666666667, 0.0833333333333, (0.567632362591, 0.987454463114)),
        "tau": (0.833333333333, 0.166666666667, (0.135264725181, 0.974908926228)),
        "tau_u": 0.666666666667,
        "pnd": 0.75,
        "pand": 0.923076923077,
        "ird": 0.819444444444,
        "pem": 1.0,
        "smd": (2.88529784546, 1.08276354397, (0.763120295515, 5.00747539541)),
        "smd_pool": (2.34472871683, 0.727135463716, (0.919569396065, 3.7698880376)),
        "lrri": (0.747838674293, 0.353485484391, (0.0550198558295, 1.44065749276)),
    },
}


@pytest.mark.parametrize("case", sorted(MCKISSICK))
def test_singlecasees_mckissick_counts(case: str) -> None:
    ref = MCKISSICK[case]
    a, b = ref["a"], ref["b"]
    tol = 1e-10  # printed to 12 significant digits

    def check(result: EffectEstimate | None, expected: object, ci_tol: float = tol) -> None:
        est, se, (lo, hi) = expected  # type: ignore[misc]
        assert result is not None and result.ci95 is not None and result.se is not None
        assert result.estimate == pytest.approx(est, abs=tol)
        assert result.se == pytest.approx(se, abs=tol)
        assert result.ci95[0] == pytest.approx(lo, abs=ci_tol)
        assert result.ci95[1] == pytest.approx(hi, abs=ci_tol)

    check(nap(a, b, "decrease"), ref["nap"], CI_TOL)
    check(tau(a, b, "decrease"), ref["tau"], 2 * CI_TOL)
    check(smd(a, b, "decrease"), ref["smd"])
    check(smd(a, b, "decrease", std_dev="pool"), ref["smd_pool"])
    check(lrri(a, b, "decrease"), ref["lrri"])
    est, se, (lo, hi) = ref["lrri"]  # type: ignore[misc]
    check(lrrd(a, b, "decrease"), (-est, se, (-hi, -lo)))
    for name, function in (
        ("tau_u", tau_u),
        ("pnd", pnd),
        ("pand", pand),
        ("ird", ird),
        ("pem", pem),
    ):
        assert function(a, b, "decrease").estimate == pytest.approx(ref[name], abs=tol), name


def test_singlecasees_mckissick_period_1_complete_separation() -> None:
    # McKissick "Period 1": NAP = Tau = PND = PAND = IRD = PEM = 1, Tau-U = 1.04761904762,
    # NAP SE = 0.0440100655016, SMD 2.75482985936 (SE 0.943298507772), LRRi 0.80706404149
    # (SE 0.197751379434). SingleCaseES prints the NAP interval as [1, 1]; see
    # test_nap_interval_at_complete_separation_is_not_degenerate for ours.
    a = [13.62, 12.57, 15.76]
    b = [5.97, 4.63, 5.82, 3.72, 8.07, 2.95, 11.86]
    result = nap(a, b, "decrease")
    assert result.estimate == 1.0 and result.se == approx(0.0440100655016)
    assert tau(a, b, "decrease").se == approx(0.0880201310032)
    for function in (pnd, pand, ird, pem):
        assert function(a, b, "decrease").estimate == 1.0
    assert tau_u(a, b, "decrease").estimate == approx(1.04761904762)
    assert_estimate(smd(a, b, "decrease"), 2.75482985936, 0.943298507772)
    assert_estimate(lrri(a, b, "decrease"), 0.80706404149, 0.197751379434)


def test_singlecasees_lrr_percentage_reflects_the_level() -> None:
    # SingleCaseES Schmidt2007, case Faith, on-task behavior (percentage, improvement increase),
    # phase pair 1: calc_LRRi = 0.322618643768 (SE 0.129301868058),
    # calc_LRRd = -1.71599729265 (SE 0.393361391951): LRRd uses 100 - mean.
    a = [46.21848739, 30.25210084, 93.27731092, 96.63865546, 50.42016807]
    a += [99.15966387, 86.55462185, 54.62184874, 52.10084034]
    b = [96.63865546, 83.19327731, 96.63865546, 96.63865546, 96.63865546]
    b += [92.43697479, 94.95798319, 96.63865546]
    assert_estimate(lrri(a, b, scale="percentage"), 0.322618643768, 0.129301868058)
    assert_estimate(lrrd(a, b, scale="percentage"), -1.71599729265, 0.393361391951)


def test_singlecasees_lrr_zero_means_are_truncated_for_counts() -> None:
    # SingleCaseES: calc_LRRd(c(0,0,0), c(1,2,0)) = 1.7362039136725 (SE 0.881917103688197)
    # with its default improvement "decrease"; calc_LRRi(c(2,3,1,0), c(0,0,0)) =
    # -2.06759494770659 (SE 0.793492047615872). Count truncation: mean >= 1/(2n).
    assert_estimate(
        lrrd([0, 0, 0], [1, 2, 0], improvement="decrease"), 1.7362039136725, 0.881917103688197
    )
    assert_estimate(lrri([2, 3, 1, 0], [0, 0, 0]), -2.06759494770659, 0.793492047615872)


def test_lrr_zero_mean_without_truncation_constant_is_an_input_error() -> None:
    with pytest.raises(InputError) as error:
        lrri([0, 0, 0], [1, 2, 0], scale="other")
    assert error.value.field == "value"


# ----------------------------------------------------------------------------- direction


@pytest.mark.parametrize("function", [nap, pem])
def test_decrease_mirrors_proportion_indices(function) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.poisson(10, 8).astype(float), rng.poisson(12, 9).astype(float)
    up, down = function(a, b, "increase"), function(a, b, "decrease")
    assert down.estimate == pytest.approx(1 - up.estimate)


@pytest.mark.parametrize("function", [tau, tau_u, smd, lrri, lrrd])
def test_decrease_flips_sign_of_symmetric_indices(function) -> None:
    # as SingleCaseES tests/testthat/test-directional-arguments.R checks for count data
    rng = np.random.default_rng(4)
    a, b = rng.poisson(10, 8).astype(float), rng.poisson(12, 9).astype(float)
    up, down = function(a, b, "increase"), function(a, b, "decrease")
    assert down.estimate == pytest.approx(-up.estimate)
    if up.se is not None:
        assert down.se == pytest.approx(up.se)
        assert down.ci95 == pytest.approx((-up.ci95[1], -up.ci95[0]))


def test_decrease_matches_negated_data_for_nonoverlap() -> None:
    a, b = [5, 7, 6, 8], [3, 2, 4, 1, 2]
    for function in (pnd, pand, ird, nap, tau_u):
        flipped = function([-x for x in a], [-x for x in b])
        assert function(a, b, "decrease").estimate == pytest.approx(flipped.estimate)
    assert pnd(a, b, "decrease").estimate == 1.0


def test_cohens_d_is_b_minus_a_without_correction() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 4.0, 6.0, 7.0]
    pooled = math.sqrt((3 * np.var(a, ddof=1) + 4 * np.var(b, ddof=1)) / 7)
    assert cohens_d(a, b) == pytest.approx((5.0 - 2.5) / pooled)
    assert cohens_d(b, a) == pytest.approx(-cohens_d(a, b))


# ----------------------------------------------------------------------------- summaries


def test_effect_sizes_summary_matches_functions_and_contract_keys() -> None:
    phases = ["A"] * len(DOC_A) + ["B"] * len(DOC_B)
    summary = effect_sizes(phases, DOC_A + DOC_B)
    assert isinstance(summary, EffectSizeSummary)
    assert summary.nap == nap(DOC_A, DOC_B)
    assert summary.smd == smd(DOC_A, DOC_B)
    payload = summary.to_json()
    # CONTRACTS.md section 3, `americano analyze effect-sizes`
    for key in ("nap", "tau", "tauU", "pnd", "pand", "ird", "pem", "smd", "lrri"):
        assert key in payload
    assert set(payload["nap"]) == {"estimate", "se", "ci95"}
    assert set(payload["pnd"]) == {"estimate"}
    assert payload["smd"]["ci95"] == pytest.approx([0.407131441576154, 2.89273232101059])
    json.dumps(payload, allow_nan=False)  # plain JSON, no NaN


def test_effect_sizes_undefined_indices_are_null() -> None:
    # constant baseline: SMD undefined; negative values: no log response ratio
    summary = effect_sizes(["A"] * 3 + ["B"] * 3, [-1, -1, -1, 2, 3, 4])
    payload = summary.to_json()
    assert payload["smd"] is None and payload["lrri"] is None and payload["lrrd"] is None
    assert payload["smdPooled"] is not None and payload["cohensD"] is not None
    json.dumps(payload, allow_nan=False)


def test_abab_pairs_and_equal_weight_average() -> None:
    # SingleCaseES Schmidt2007, case Faith, disruptive behavior (counts, improvement decrease).
    # Per pair: calc_NAP / calc_SMD / calc_LRRi. Average: batch_calc_ES(aggregate = Phase_num,
    # weighting = "equal") formula, mean estimate, SE = sqrt(sum SE^2) / 2, Wald CI.
    values = [22.94446345, 22.43129205, 27.78538032, 16.92895427, 21.83829399, 3.780362641]
    values += [18.13775801, 11.77443266, 22.08347588]
    values += [4.98694517, 10.00652742, 4.647519582, 0.646214099, 1.148825065, 1.671018277]
    values += [3.524804178, 2.219321149]
    values += [15.43362832, 31.22123894, 14.2300885]
    values += [1.368397342, 1.869579908, 4.623268386, 6.920824417, 4.724631152]
    phases = ["A1"] * 9 + ["B1"] * 8 + ["A2"] * 3 + ["B2"] * 5
    result = abab_effect_sizes(phases, values, "decrease")
    first, second = result.pairs
    assert (first.label, second.label) == ("A1-B1", "A2-B2")
    assert_estimate(
        first.summary.nap,
        0.958333333333,
        0.0416666666667,
        (0.704191948347, 0.994760084751),
        CI_TOL,
    )
    assert_estimate(first.summary.smd, 1.89655646389, 0.540716399372)
    assert_estimate(second.summary.smd, 0.988004906437, 0.43854069081)
    assert_estimate(first.summary.lrri, 1.60623356989, 0.323808115433)
    assert_estimate(second.summary.lrri, 1.65116747197, 0.375873376257)
    assert first.summary.tau_u.estimate == approx(0.722222222222)
    assert second.summary.tau_u.estimate == approx(0.933333333333)
    average = result.average
    assert_estimate(average.nap, 0.979166666667, 0.0379601399131, (0.904766159589, 1.05356717374))
    assert_estimate(average.smd, 1.44228068517, 0.348099182004, (0.76001882539, 2.12454254494))
    assert_estimate(average.lrri, 1.62870052093, 0.248058708071, (1.14251438706, 2.1148866548))
    assert_estimate(average.pnd, 0.8125)
    # plain A/B labels give the same answer
    plain = abab_effect_sizes([p[0] for p in phases], values, "decrease")
    assert plain.average == result.average
    payload = result.to_json()
    assert [pair["pair"] for pair in payload["pairs"]] == ["A1-B1", "A2-B2"]
    json.dumps(payload, allow_nan=False)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("phases", "values", "field"),
    [
        (["A", "A", "B", "B", "C"], [1, 2, 3, 4, 5], "phase"),  # unknown label
        (["B", "B", "A", "A"], [1, 2, 3, 4], "phase"),  # out of order
        (["A", "B", "A", "B"], [1, 2, 3, 4], "phase"),  # more than one block each
        (["A", "B", "B"], [1, 2, 3], "phase"),  # one baseline point
        (["A", "A", "B"], [1, 2], "phase"),  # lengths differ
        (["A", "A", "B", "B"], [1, float("nan"), 3, 4], "value"),
        (["A", "A", "B", "B"], [1, float("inf"), 3, 4], "value"),
        (["A", "A", "B", "B"], [1, "x", 3, 4], "value"),
    ],
)
def test_effect_sizes_bad_input(phases, values, field) -> None:
    with pytest.raises(InputError) as error:
        effect_sizes(phases, values)
    assert error.value.field == field
    assert field in str(error.value)


def test_bad_improvement_and_options() -> None:
    with pytest.raises(InputError) as error:
        nap([1, 2], [3, 4], improvement="up")
    assert error.value.field == "improvement"
    with pytest.raises(InputError) as error:
        smd([1, 2], [3, 4], std_dev="both")  # type: ignore[arg-type]
    assert error.value.field == "std_dev"
    with pytest.raises(InputError) as error:
        lrri([1, 2], [3, 4], scale="kelvin")  # type: ignore[arg-type]
    assert error.value.field == "scale"
    with pytest.raises(InputError) as error:
        smd([2, 2, 2], [3, 4, 5])
    assert error.value.field == "value"
    with pytest.raises(InputError) as error:
        cohens_d([2, 2], [2, 2])
    assert error.value.field == "value"


@pytest.mark.parametrize(
    "phases",
    [
        ["A", "A", "B", "B", "A", "A"],  # three blocks
        ["A1", "A1", "B1", "B1", "B2", "B2", "A2", "A2"],  # B2 before A2
        ["B", "B", "A", "A", "B", "B", "A", "A"],  # starts with B
    ],
)
def test_abab_bad_phase_structure(phases) -> None:
    with pytest.raises(InputError) as error:
        abab_effect_sizes(phases, list(range(1, len(phases) + 1)))
    assert error.value.field == "phase"


def test_effect_estimate_json_shape() -> None:
    assert EffectEstimate(0.5).to_json() == {"estimate": 0.5}
    full = EffectEstimate(np.float64(0.5), np.float64(0.1), (np.float64(0.3), 0.7)).to_json()
    assert full == {"estimate": 0.5, "se": 0.1, "ci95": [0.3, 0.7]}
    assert all(type(v) is float for v in (full["estimate"], full["se"], *full["ci95"]))


# ----------------------------------------------------------------------------- counted from ranks


def _pairwise_reference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """The definitions over all pairs, as SingleCaseES writes them (the O(m n) way)."""
    m, n = a.size, b.size
    q = (b[None, :] > a[:, None]) + 0.5 * (b[None, :] == a[:, None])
    s_ab = float(np.sign(b[None, :] - a[:, None]).sum())
    s_a = float(np.triu(np.sign(a[None, :] - a[:, None]), k=1).sum())
    # PAND: keep the ka lowest A points and the B points from sorted position fb on, over every
    # (ka, fb) that leaves no overlap
    a_sorted = np.concatenate(([-np.inf], np.sort(a)))
    b_sorted = np.concatenate((np.sort(b), [np.inf]))
    kept = np.arange(m + 1)[:, None] + (n - np.arange(n + 1)[None, :])
    no_overlap = a_sorted[:, None] < b_sorted[None, :]
    pand_value = float(np.max(np.where(no_overlap, kept, 0))) / (m + n)
    return {"nap": float(q.mean()), "tau_u": (s_ab - s_a) / (m * n), "pand": pand_value}


@pytest.mark.parametrize("seed", range(12))
def test_rank_counts_equal_the_pairwise_definitions(seed: int) -> None:
    """NAP, Tau-U and PAND come from sorting and binary search (O(n log n)); on data with many
    ties they equal the all-pairs definitions exactly."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 40)), int(rng.integers(2, 40))
    a = rng.integers(0, 6, m).astype(float)
    b = rng.integers(0, 7, n).astype(float)
    reference = _pairwise_reference(a, b)
    if m >= 2:
        assert nap(a, b).estimate == reference["nap"]
    assert tau_u(a, b).estimate == pytest.approx(reference["tau_u"], abs=1e-15)
    assert pand(a, b).estimate == pytest.approx(reference["pand"], abs=1e-15)
