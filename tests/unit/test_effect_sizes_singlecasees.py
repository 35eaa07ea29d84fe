"""Tau-BC, LOR, LRM, PoGO and SingleCaseES's options (NAP SE, confidence, truncation) checked
against SingleCaseES's own tests and vignettes.

Sources, cited at each use (github.com/jepusto/SingleCaseES at commit
8de5a3aa50d2a3959803e751bf4e6c16b6d93401, version 0.7.4):
- tests/testthat/test-tarlow-2017.R (Tau-BC), test-Tau-variance-estimator.R (the Hanley and
  unbiased SEs), test-PoGO.R, test-Bonett-Price-2020.R (LRM), test-LOR-design.R,
  test-trunc-constant.R;
- vignettes/Using-SingleCaseES.Rmd (the zero baseline whose LRR needs `observation_length`, the
  LOR examples, the NAP `SE` and `confidence` examples).
Where a SingleCaseES test compares the package with a formula written in the test (Bonett &
Price's `ci_median_bs`, the `Tau_est` variance estimators, Tarlow's Kendall tau-b), the same
formula is written here, by brute force over the pairs where it has pairs, so the fast code is
checked against the definition.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.stats.effect_sizes import (
    EffectEstimate,
    EffectSizeOptions,
    abab_effect_sizes,
    effect_sizes,
    lor,
    lrm,
    lrrd,
    lrri,
    nap,
    pogo,
    smd,
    tau,
    tau_bc,
    tau_u,
)

# SingleCaseES help-page example (NAP.Rd, Tau_BC.Rd, PoGO.Rd, LRM.Rd, ...)
DOC_A = [20, 20, 26, 25, 22, 23]
DOC_B = [28, 25, 24, 27, 30, 30, 29]


def _phases(a: list[float], b: list[float]) -> list[str]:
    return ["A"] * len(a) + ["B"] * len(b)


# ----------------------------------------------------------------------------- truncation


def test_vignette_zero_baseline_rate_needs_observation_length() -> None:
    # vignettes/Using-SingleCaseES.Rmd, "Outcome scale": A = 0,0,0,0 has a zero mean; LRRd with
    # scale = "rate" is NaN without observation_length and 8.67 with observation_length = 30
    # (the log of B's mean over the truncated mean 1/(2 * 30 * 4), bias-corrected).
    a, b = [0, 0, 0, 0], [28, 25, 24, 27, 30, 30, 29]
    with pytest.raises(InputError, match="truncat"):
        lrri(a, b, scale="rate")
    result = lrri(a, b, scale="rate", observation_length=30)
    assert round(result.estimate, 2) == 8.67
    # by hand: truncated A mean 1/240 and variance 1/(30^2 * 4^3), so A's correction is 1/8
    mean_b, var_b = float(np.mean(b)), float(np.var(b, ddof=1))
    by_hand = math.log(mean_b) + var_b / (2 * 7 * mean_b**2) - (math.log(1 / 240) + 1 / 8)
    assert result.estimate == pytest.approx(by_hand, rel=1e-12)
    # LRRd (SingleCaseES's default improvement = "decrease") is the same number for a rate
    assert lrrd(a, b, "decrease", "rate", 30).estimate == pytest.approx(by_hand, rel=1e-12)
    # the vignette's percentage version: intervals = 180, D = 1.8 per percentage point
    with pytest.raises(InputError):
        lrrd(a, b, "decrease", "percentage")
    pct = lrrd(a, b, "decrease", "percentage", intervals=180)
    assert pct.estimate == pytest.approx(
        math.log(mean_b) + var_b / (2 * 7 * mean_b**2) - (math.log(1 / (2 * 1.8 * 4)) + 1 / 8)
    )
    # SingleCaseES's D_const gives the same truncation directly
    assert lrri(a, b, scale="rate", d_const=30) == result


def test_zero_baseline_summary_gets_lrr_from_the_options() -> None:
    # What `americano analyze effect-sizes` returned as null before (issue 9, item 3)
    a, b = [0, 0, 0, 0], [28, 25, 24, 27, 30, 30, 29]
    plain = effect_sizes(_phases(a, b), a + b, scale="rate")
    assert plain.lrri is None
    options = EffectSizeOptions(scale="rate", observation_length=30)
    summary = effect_sizes(_phases(a, b), a + b, options=options)
    assert summary.lrri is not None and round(summary.lrri.estimate, 2) == 8.67
    assert summary.to_json()["options"]["observationLength"] == 30


# ----------------------------------------------------------------------------- NAP options


def test_nap_hanley_and_null_standard_errors() -> None:
    # The help-page example with SE = "Hanley": 0.07739185, as printed on the reference page of
    # scda's NAP (r-packages.gitlab.io/scda/reference/NAP.html, the Hanley-McNeil SE that
    # SingleCaseES's NAP(SE = "Hanley") computes; NAP = 0.9167 is not truncated)
    assert nap(DOC_A, DOC_B, se_method="hanley").se == pytest.approx(0.07739185, abs=5e-9)
    assert nap(DOC_A, DOC_B, se_method="Hanley").se == pytest.approx(0.07739185, abs=5e-9)
    # SE = "null": (m + n + 1) / (12 m n) (R/non-overlap-measures.R, calc_NAP)
    assert nap(DOC_A, DOC_B, se_method="null").se == pytest.approx(math.sqrt(14 / (12 * 42)))
    # the vignette's default, SE = "unbiased": 0.06900656
    assert nap(DOC_A, DOC_B).se == pytest.approx(0.06900656, abs=5e-9)
    with pytest.raises(InputError, match="nap_se"):
        nap(DOC_A, DOC_B, se_method="jackknife")


def _tau_variances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """test-Tau-variance-estimator.R's `Tau_est`: the Hanley-McNeil and unbiased variances of
    Tau, written over the m x n sign matrix."""
    u = np.sign(b[None, :] - a[:, None])
    m, n = a.size, b.size
    t = u.sum() / (m * n)
    q1 = np.sum(u.sum(axis=1) ** 2) / (m * n**2)
    q2 = np.sum(u.sum(axis=0) ** 2) / (m**2 * n)
    hanley = (1 - t**2 + (n - 1) * (q1 - t**2) + (m - 1) * (q2 - t**2)) / (m * n)
    x = np.sum(u**2) / (m * n)
    unbiased = (1 + n * q1 + m * q2 - (m + n - 1) * t**2 - 2 * x) / ((m - 1) * (n - 1))
    return float(hanley), float(unbiased)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tau_standard_errors_match_singlecasees_variance_test(seed: int) -> None:
    # test-Tau-variance-estimator.R draws A ~ Poisson(10) (10 points), B ~ Poisson(12) (12)
    rng = np.random.default_rng(seed)
    a, b = rng.poisson(10, 10).astype(float), rng.poisson(12, 12).astype(float)
    hanley, unbiased = _tau_variances(a, b)
    assert tau(a, b, se_method="hanley").se == pytest.approx(math.sqrt(hanley), rel=1e-12)
    assert tau(a, b).se == pytest.approx(math.sqrt(unbiased), rel=1e-12)


def test_confidence_level_sets_every_interval() -> None:
    z90, z99 = NormalDist().inv_cdf(0.95), NormalDist().inv_cdf(0.995)
    result = nap(DOC_A, DOC_B, confidence=0.90)
    assert result.ci95 is None and result.ci is not None
    # each limit solves Newcombe's score equation at z = qnorm(0.95) (calc_NAP's f)
    m, n, h = 6, 7, 5.5
    for x in result.ci:
        f = m * n * (result.estimate - x) ** 2 * (2 - x) * (1 + x) - z90**2 * x * (1 - x) * (
            2 + h + (1 + 2 * h) * x * (1 - x)
        )
        assert abs(f) < 1e-9
    # narrower than the 95% interval, which is unchanged
    lower95, upper95 = nap(DOC_A, DOC_B).ci95 or (0, 0)
    assert lower95 < result.ci[0] and result.ci[1] < upper95
    # Wald intervals: estimate -/+ qnorm(0.995) SE at 99%
    d99 = smd(DOC_A, DOC_B, confidence=0.99)
    assert d99.ci == pytest.approx((d99.estimate - z99 * d99.se, d99.estimate + z99 * d99.se))
    assert d99.to_json()["confidence"] == 0.99 and "ci95" not in d99.to_json()
    assert lrri(DOC_A, DOC_B, confidence=0.99).confidence == 0.99
    with pytest.raises(InputError, match="confidence"):
        nap(DOC_A, DOC_B, confidence=95)


# ----------------------------------------------------------------------------- Tau-BC


def test_tarlow_2017_linear_series() -> None:
    # test-tarlow-2017.R: A = 1..5, B = 6..10. Tau = 1, Tau-U = 0.6, Tau-BC = 0 (the trend
    # explains it all), with and without Kendall; the Kendall SE differs from Tau's
    a, b = [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]
    assert tau(a, b).estimate == 1
    assert tau_u(a, b).estimate == pytest.approx(0.6)
    plain, kendall = tau_bc(a, b), tau_bc(a, b, kendall=True)
    assert plain.effect.estimate == pytest.approx(0, abs=1e-12)
    assert kendall.effect.estimate == pytest.approx(0, abs=1e-12)
    assert (plain.slope, plain.intercept) == (1.0, 0.0)
    assert kendall.effect.se == pytest.approx(math.sqrt(2 / 10))  # sqrt(2 (1 - 0) / (m + n))
    assert kendall.effect.se != pytest.approx(plain.effect.se)


def test_tarlow_2017_pretest_trend() -> None:
    # test-tarlow-2017.R, "Tau-BC is correct regarding pretest_trend argument"
    a, b = [1, 1, 3, 3, 5, 5], [5, 6, 4, 8, 9]
    at_05 = tau_bc(a, b, pretest_trend=0.05)
    assert at_05.trend_p_value is not None and at_05.trend_p_value < 0.05 and at_05.corrected
    at_01 = tau_bc(a, b, pretest_trend=0.01)
    assert at_01.trend_p_value is not None and at_01.trend_p_value > 0.01
    assert not at_01.corrected and at_01.effect == tau(a, b)
    # Kendall::Kendall(A, 1:6)$sl by hand: S = 12, var(S) = (6*5*17 - 3*2*1*9)/18, continuity 1
    assert at_05.trend_p_value == pytest.approx(math.erfc(11 / math.sqrt(456 / 18) / math.sqrt(2)))
    for kendall in (False, True):
        up = tau_bc(a, b, "increase", kendall=kendall, pretest_trend=0.01)
        down = tau_bc(a, b, "decrease", kendall=kendall, pretest_trend=0.01)
        assert up.effect.estimate == pytest.approx(-down.effect.estimate)
        assert up.effect.se == pytest.approx(down.effect.se)
        assert up.effect.ci is not None and down.effect.ci is not None
        assert up.effect.ci[0] == pytest.approx(-down.effect.ci[1])
        assert up.effect.ci[1] == pytest.approx(-down.effect.ci[0])
    # the help-page example has no significant baseline trend: with the pretest Tau-BC is Tau,
    # without it the trend is removed anyway and Tau-BC differs
    assert tau_bc(DOC_A, DOC_B, pretest_trend=0.05).effect == tau(DOC_A, DOC_B)
    assert tau_bc(DOC_A, DOC_B).effect.estimate != pytest.approx(tau(DOC_A, DOC_B).estimate)
    with pytest.raises(InputError, match="tau_bc_pretest"):
        tau_bc(a, b, pretest_trend=1.5)


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b over all pairs (Kendall, 1970, ch. 3), as Kendall::Kendall(x, y)$tau."""
    i, j = np.triu_indices(x.size, 1)
    s = np.sum(np.sign(x[j] - x[i]) * np.sign(y[j] - y[i]))
    pairs = x.size * (x.size - 1) / 2
    untied_x = pairs - np.sum(x[j] == x[i])
    untied_y = pairs - np.sum(y[j] == y[i])
    return float(s / math.sqrt(untied_x * untied_y))


def test_tarlow_2017_worked_example() -> None:
    # test-tarlow-2017.R, "Tau-BC works on an example": Tarlow's bctau data. The Kendall
    # variant is Kendall's tau-b of the corrected series against the phase dummy, the plain
    # variant is Tau (and its SE and interval) of the corrected series.
    a = np.array([33, 25, 17, 25, 19, 21, 19, 14, 19, 17], dtype=float)
    b = np.array([14, 15, 15, 9, 12, 7, 10, 6, 5, 2, 2, 3, 5, 4], dtype=float)
    m, n = a.size, b.size
    result = tau_bc(a, b, kendall=True)
    slopes = [(a[k] - a[i]) / (k - i) for i in range(m) for k in range(i + 1, m)]
    assert result.slope == float(np.median(slopes))
    assert result.intercept == float(np.median(a - np.arange(1, m + 1) * result.slope))
    a_fit = a - result.intercept - result.slope * np.arange(1, m + 1)
    b_fit = b - result.intercept - result.slope * np.arange(m + 1, m + n + 1)
    dummy = np.r_[np.zeros(m), np.ones(n)]
    tau_b = _kendall_tau_b(np.r_[a_fit, b_fit], dummy)
    assert result.effect.estimate == pytest.approx(tau_b, abs=1e-12)
    assert result.effect.se == pytest.approx(math.sqrt(2 / (m + n) * (1 - tau_b**2)))
    assert tau_bc(a, b).effect == tau(a_fit, b_fit)


def test_tau_bc_limits_and_json() -> None:
    result = tau_bc(DOC_A, DOC_B, pretest_trend=0.05).to_json()
    assert set(result) >= {"estimate", "se", "ci95", "slope", "intercept", "trendPValue"}
    assert result["trendCorrected"] is False and result["kendall"] is False
    with pytest.raises(InputError, match="at most 3000"):
        tau_bc(np.arange(3001.0), [1.0, 2.0])


# ----------------------------------------------------------------------------- LOR


def test_lor_vignette_examples() -> None:
    # vignettes/Using-SingleCaseES.Rmd, "Further options for LOR()"
    a_pct = [20, 20, 25, 25, 20, 25]
    b_pct = [30, 25, 25, 25, 35, 30, 25]
    pct = lor(a_pct, b_pct, scale="percentage")
    prop = lor([v / 100 for v in a_pct], [v / 100 for v in b_pct], scale="proportion")
    assert pct.estimate == pytest.approx(prop.estimate) and pct.se == pytest.approx(prop.se)
    # by hand: bias-corrected logits (Pustejovsky, 2015)
    logits = []
    for values in (np.array(a_pct) / 100, np.array(b_pct) / 100):
        p, v, k = values.mean(), values.var(ddof=1), values.size
        logits.append(math.log(p / (1 - p)) - (2 * p - 1) * v / (2 * k * p**2 * (1 - p) ** 2))
    assert pct.estimate == pytest.approx(logits[1] - logits[0], rel=1e-12)
    # the direction only flips the sign
    assert lor(a_pct, b_pct, "decrease", "percentage").estimate == pytest.approx(-pct.estimate)
    # "LOR can only be calculated for proportions or percentages" (test-LOR-design.R)
    with pytest.raises(InputError, match="scale"):
        lor(a_pct, b_pct, scale="count")
    with pytest.raises(InputError, match="between 0 and 1"):
        lor(a_pct, b_pct, scale="proportion")
    # a zero baseline needs the number of intervals (20 here) to truncate its mean
    with pytest.raises(InputError, match="intervals"):
        lor([0, 0, 0], b_pct, scale="percentage")
    truncated = lor([0, 0, 0], b_pct, scale="percentage", intervals=20)
    p_a, v_a = 1 / (2 * 20 * 3), 1 / (20**2 * 3**3)  # truncated mean and variance
    logit_a = math.log(p_a / (1 - p_a)) - (2 * p_a - 1) * v_a / (2 * 3 * p_a**2 * (1 - p_a) ** 2)
    assert truncated.estimate == pytest.approx(logits[1] - logit_a, rel=1e-12)


# ----------------------------------------------------------------------------- LRM


def _ci_median_bs(y1: list[float], y2: list[float]) -> tuple[float, float]:
    """test-Bonett-Price-2020.R's `ci_median_bs` (Bonett & Price, 2020): log(median1/median2)
    and its SE from the order statistics of each sample."""
    from scipy import stats

    def log_se(y: list[float]) -> float:
        values = sorted(y)
        k = len(values)
        o1 = max(round(k / 2 - math.sqrt(k)), 1)
        z0 = stats.norm.ppf(1 - stats.binom.cdf(o1 - 1, k, 0.5))
        return (math.log(values[k - o1]) - math.log(values[o1 - 1])) / (2 * z0)

    estimate = math.log(float(np.median(y1)) / float(np.median(y2)))
    return estimate, math.hypot(log_se(y1), log_se(y2))


def test_lrm_bonett_price_2020_example_1() -> None:
    # test-Bonett-Price-2020.R, Example 1 (independent samples)
    a = [21, 14, 11, 27, 19, 32, 21, 23, 18, 26, 24, 23]
    b = [34, 19, 26, 31, 39, 42, 27, 14, 25, 29, 33, 36]
    log_ratio, se = _ci_median_bs(b, a)
    result = lrm(a, b)
    assert result.estimate == pytest.approx(log_ratio, rel=1e-12)
    assert result.se == pytest.approx(se, rel=1e-12)
    z = 1.959963984540054
    assert result.ci95 == pytest.approx((log_ratio - z * se, log_ratio + z * se))
    delta = lrm(a, b, delta_method=True)
    assert delta.estimate == pytest.approx(log_ratio) and delta.se != pytest.approx(se)
    assert lrm(a, b, "decrease").estimate == pytest.approx(-log_ratio)


def test_lrm_long_phases_match_the_formula() -> None:
    # beyond 5,000 observations the binomial tail is summed in floating point, not exactly
    rng = np.random.default_rng(4)
    a, b = list(rng.lognormal(1, 0.5, 6001)), list(rng.lognormal(1.2, 0.5, 300))
    log_ratio, se = _ci_median_bs(b, a)
    result = lrm(a, b)
    assert result.estimate == pytest.approx(log_ratio, rel=1e-12)
    assert result.se == pytest.approx(se, rel=1e-9)


def test_lrm_with_zeros() -> None:
    # test-Bonett-Price-2020.R, "LRM works when data series has zeros": B's median is 1 but its
    # lower order statistic is 0, so the SE is infinite in R: we give the estimate alone
    a = [9, 5, 5, 6, 11, 4, 1, 2, 3, 6, 6]
    b = [0, 3, 0, 1, 4, 2, 4, 0, 3, 2, 1, 0, 0, 0]
    result = lrm(a, b)
    assert result.estimate == pytest.approx(math.log(1 / 5)) and result.se is None
    # C's median is 0: log(0) is -Inf in R, undefined here
    c = [0, 0, 0, 1, 0, 2, 4, 0, 3, 2, 1, 0, 0, 0]
    with pytest.raises(InputError, match="median is zero"):
        lrm(a, c)


# ----------------------------------------------------------------------------- PoGO


def test_pogo_singlecasees_tests() -> None:
    # test-PoGO.R: PoGO = 100 (mean(B) - mean(A)) / (goal - mean(A)), here goal = 25
    mean_a, mean_b = float(np.mean(DOC_A)), float(np.mean(DOC_B))
    result = pogo(DOC_A, DOC_B, goal=25)
    assert result.estimate == pytest.approx(100 * (mean_b - mean_a) / (25 - mean_a), rel=1e-12)
    # SE: SingleCaseES's calc_PoGO formula
    var_a, var_b = float(np.var(DOC_A, ddof=1)), float(np.var(DOC_B, ddof=1))
    se = 100 * math.sqrt(
        (var_a / 6 + var_b / 7 + (result.estimate / 100) ** 2 * var_a / 6) / (25 - mean_a) ** 2
    )
    assert result.se == pytest.approx(se, rel=1e-12)
    # a goal equal to B's mean is 100% obtained; a goal of 0 is minus LRRi's percentage change
    # without bias correction, 100 (exp(LRR) - 1) ("PoGO results are conceptually correct")
    assert pogo(DOC_A, DOC_B, goal=mean_b).estimate == pytest.approx(100)
    assert pogo(DOC_A, DOC_B, goal=0).estimate == pytest.approx(-100 * (mean_b / mean_a - 1))
    with pytest.raises(InputError, match="goal"):
        pogo(DOC_A, DOC_B, goal=mean_a)


# ----------------------------------------------------------------------------- summaries


def test_summary_carries_the_new_indices_and_options() -> None:
    options = EffectSizeOptions(
        confidence=0.9, nap_se="hanley", goal=30, tau_bc_pretest=0.05, tau_bc_kendall=True
    )
    summary = effect_sizes(_phases(DOC_A, DOC_B), DOC_A + DOC_B, options=options)
    assert summary.nap == nap(DOC_A, DOC_B, se_method="hanley", confidence=0.9)
    assert summary.pogo == pogo(DOC_A, DOC_B, 30, confidence=0.9)
    assert summary.lrm == lrm(DOC_A, DOC_B, confidence=0.9)
    assert summary.lor is None  # counts have no log odds ratio
    assert summary.tau_bc == tau_bc(
        DOC_A, DOC_B, kendall=True, pretest_trend=0.05, se_method="hanley", confidence=0.9
    )
    payload = summary.to_json()
    json.dumps(payload, allow_nan=False)
    assert payload["nap"]["confidence"] == 0.9 and "ci95" not in payload["nap"]
    assert payload["options"] == {
        "scale": "count",
        "confidence": 0.9,
        "napSe": "hanley",
        "goal": 30.0,
        "observationLength": None,
        "intervals": None,
        "truncationConstant": None,
        "tauBcPretest": 0.05,
        "tauBcKendall": True,
    }
    # the defaults keep the 95% JSON of CONTRACTS.md; PoGO is left out without a goal
    plain = effect_sizes(_phases(DOC_A, DOC_B), DOC_A + DOC_B).to_json()
    assert "ci95" in plain["nap"] and plain["pogo"] is None and plain["tauBC"] is not None


def test_abab_average_of_new_indices() -> None:
    values = [2, 3, 2, 3, 6, 7, 6, 8, 3, 2, 3, 2, 7, 8, 7, 6]
    phases = ["A"] * 4 + ["B"] * 4 + ["A"] * 4 + ["B"] * 4
    result = abab_effect_sizes(phases, values, options=EffectSizeOptions(goal=8))
    pairs = [pair.summary for pair in result.pairs]
    assert all(isinstance(s.pogo, EffectEstimate) for s in pairs)
    assert result.average.pogo is not None and result.average.tau_bc is not None
    assert result.average.pogo.estimate == pytest.approx(
        np.mean([s.pogo.estimate for s in pairs if s.pogo is not None])
    )
    assert result.average.tau_bc.estimate == pytest.approx(
        np.mean([s.tau_bc.effect.estimate for s in pairs if s.tau_bc is not None])
    )


def test_options_from_the_protocol_file() -> None:
    options = EffectSizeOptions.from_json(
        {"confidence": 0.9, "napSe": "null", "goal": 12, "tauBcPretest": None}, "analyses[1]"
    )
    assert options == EffectSizeOptions(confidence=0.9, nap_se="null", goal=12.0)
    assert options.given() == {"confidence": 0.9, "napSe": "null", "goal": 12.0}
    for raw, where in (
        ({"confidense": 0.9}, "analyses[1].confidense"),
        ({"confidence": 1.5}, "analyses[1].confidence"),
        ({"napSe": "exact"}, "analyses[1].napSe"),
        ({"observationLength": -3}, "analyses[1].observationLength"),
        ({"tauBcKendall": "yes"}, "analyses[1].tauBcKendall"),
        ({"scale": "ratio"}, "analyses[1].scale"),
        ("everything", "analyses[1]"),
    ):
        with pytest.raises(InputError) as error:
            EffectSizeOptions.from_json(raw, "analyses[1]")
        assert error.value.field == where and str(error.value).startswith(where)
