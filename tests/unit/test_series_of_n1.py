"""Tests for americano_pipelines.stats.series_of_n1 (a series of N-of-1 trials, hierarchical).

No reference package publishes numbers for this model (Zucker et al. 1997, 2010; StudyU), so the
check is recovery: seeded generators plant a population effect, a between-person SD and each
person's own effect, written next to the data, and the posterior must find them; the persons'
randomization tests must be exactly the single-case tests of stats.sced on their own data.
Small sampler settings throughout; one fit per fixture.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

import americano_pipelines  # noqa: F401  (routes the PyTensor cache before pymc is imported)
from americano_pipelines.errors import InputError
from americano_pipelines.stats import sced
from americano_pipelines.stats.series_of_n1 import series_of_n1
from americano_pipelines.synth.demo_study import generate_demo_study

SMALL = {"draws": 300, "tune": 300, "chains": 2}
TINY = {"draws": 30, "tune": 30, "chains": 1}


@dataclass(frozen=True)
class Series:
    persons: list[str]
    conditions: list[str]
    values: list[float]
    true_effects: dict[str, float]  # each person's planted effect
    population_effect: float
    tau: float


def abab_series(
    n_persons: int,
    *,
    effect: float,
    tau: float,
    days: int = 40,
    noise: float = 3.0,
    seed: int,
) -> Series:
    """Persons with ABAB schedules drawn as a protocol draws them; person i's effect is
    Normal(effect, tau), their level Normal(50, 3), their noise Normal(0, noise)."""
    rng = np.random.default_rng(seed)
    effects = effect + tau * rng.standard_normal(n_persons)
    levels = 50 + 3 * rng.standard_normal(n_persons)
    persons, conditions, values = [], [], []
    for i in range(n_persons):
        bounds = [0, *sced.draw_abab_schedule(days, 5, seed + i), days]
        for k in range(4):
            for _ in range(bounds[k], bounds[k + 1]):
                condition = "AB"[k % 2]
                persons.append(f"p{i + 1}")
                conditions.append(condition)
                values.append(levels[i] + effects[i] * (condition == "B") + rng.normal(0, noise))
    return Series(
        persons,
        conditions,
        values,
        {f"p{i + 1}": float(e) for i, e in enumerate(effects)},
        effect,
        tau,
    )


@pytest.fixture(scope="module")
def planted() -> Series:
    return abab_series(10, effect=5.0, tau=2.0, seed=11)


@pytest.fixture(scope="module")
def fit(planted: Series):
    return series_of_n1(planted.persons, planted.conditions, planted.values, seed=1, **SMALL)


def inside(value: float, interval: tuple[float, float]) -> bool:
    return interval[0] <= value <= interval[1]


def test_recovers_the_planted_population_effect_and_spread(fit, planted: Series) -> None:
    assert inside(planted.population_effect, fit.population_effect.hdi95)
    assert fit.population_effect.probability_positive > 0.99
    assert inside(planted.tau, fit.tau.hdi95)
    # a new person's effect is wider than the population mean's
    low, high = fit.predicted_effect.hdi95
    assert high - low > fit.population_effect.hdi95[1] - fit.population_effect.hdi95[0]
    assert fit.diagnostics.divergences == 0


def test_recovers_each_persons_planted_effect(fit, planted: Series) -> None:
    covered = [inside(planted.true_effects[p.person], p.effect.hdi95) for p in fit.persons]
    # 95% intervals over 10 persons: at most one miss is the expected run of things
    assert sum(covered) >= 9, covered
    shrunken = np.array([p.effect.mean for p in fit.persons])
    raw = np.array([p.raw_difference for p in fit.persons])
    truth = np.array([planted.true_effects[p.person] for p in fit.persons])
    # partial pooling: pulled toward the population mean, and closer to the truth
    assert np.std(shrunken) < np.std(raw)
    assert np.mean((shrunken - truth) ** 2) < np.mean((raw - truth) ** 2)


def test_raw_differences_and_counts_are_the_persons_own(fit, planted: Series) -> None:
    values = np.asarray(planted.values)
    persons = np.asarray(planted.persons)
    conditions = np.asarray(planted.conditions)
    for person in fit.persons:
        mine = persons == person.person
        a, b = values[mine & (conditions == "A")], values[mine & (conditions == "B")]
        assert (person.n_a, person.n_b) == (a.size, b.size)
        assert person.raw_difference == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert [p.person for p in fit.persons] == [f"p{i}" for i in range(1, 11)]


def test_each_persons_p_value_is_their_own_abab_test(fit, planted: Series) -> None:
    persons = np.asarray(planted.persons)
    for person in fit.persons:
        mine = persons == person.person
        own = sced.abab_randomization_test(
            list(np.asarray(planted.conditions)[mine]),
            list(np.asarray(planted.values)[mine]),
            min_phase_length=3,
        )
        assert person.design == "ABAB"
        assert person.p_value == own.p_value
        assert person.n_assignments == own.n_assignments


def test_json_is_camel_case_and_plain(fit) -> None:
    out = json.loads(json.dumps(fit.to_json()))
    assert set(out) >= {
        "populationEffect",
        "tau",
        "predictedEffect",
        "persons",
        "diagnostics",
        "interpretation",
        "model",
        "sampler",
    }
    assert set(out["populationEffect"]) == {"mean", "sd", "hdi95", "probability_positive"}
    assert set(out["tau"]) == {"mean", "sd", "hdi95"}
    person = out["persons"][0]
    assert set(person) == {
        "person",
        "nA",
        "nB",
        "meanA",
        "meanB",
        "rawMeanDifference",
        "shrunkenEffect",
        "randomizationTest",
        "randomizationTestSkipReason",
    }
    assert set(person["randomizationTest"]) == {
        "design",
        "pValue",
        "observedStatistic",
        "nAssignments",
        "exact",
    }
    assert set(out["diagnostics"]) == {"rhat", "ess_bulk", "ess_tail", "divergences"}
    assert out["nPersons"] == 10
    # persons differ by about 2 standard errors of their own estimates: not enough to be
    # sure of no funnel, so both hierarchies are sampled non-centred
    assert out["model"]["parameterization"] == {
        "effects": "non_centred",
        "baselines": "non_centred",
    }


def test_posterior_is_kept_in_outcome_units(fit, planted: Series) -> None:
    posterior = fit.idata.posterior
    assert list(posterior["theta"].coords["person"].values) == [f"p{i}" for i in range(1, 11)]
    assert float(posterior["theta_pop"].mean()) == pytest.approx(fit.population_effect.mean)
    assert float(posterior["mu_pop"].mean()) == pytest.approx(50, abs=4)
    assert not any(str(name).endswith("__") for name in posterior.data_vars)


def test_well_identified_persons_are_sampled_centred_to_the_same_posterior() -> None:
    """Persons 4 SD apart, each measured to within 0.3: the centred form, which `auto` picks
    here, and the non-centred one give the same answer."""
    data = abab_series(6, effect=5.0, tau=4.0, days=40, noise=1.0, seed=3)
    auto = series_of_n1(data.persons, data.conditions, data.values, seed=2, **SMALL)
    assert auto.parameterization == {"effects": "centred", "baselines": "centred"}
    forced = series_of_n1(
        data.persons, data.conditions, data.values, seed=2, parameterization="non_centred", **SMALL
    )
    assert forced.parameterization["effects"] == "non_centred"
    for mine, other in zip(auto.persons, forced.persons, strict=True):
        assert mine.effect.mean == pytest.approx(other.effect.mean, abs=0.1)
    covered = [inside(data.true_effects[p.person], p.effect.hdi95) for p in auto.persons]
    assert sum(covered) >= 5, covered
    assert inside(5.0, auto.population_effect.hdi95)


def test_designs_follow_each_persons_sequence() -> None:
    """An AB person gets the AB test, an alternating one the alternating treatments test, one
    whose ABAB phase is too short no p-value and the reason; the model uses them all."""
    rng = np.random.default_rng(5)
    ab = ["A"] * 8 + ["B"] * 8
    alternating = list("ABBABAABBAABABBA")
    short = ["A"] * 6 + ["B"] * 6 + ["A"] * 2 + ["B"] * 6
    persons, conditions, values = [], [], []
    for name, sequence in (("ab", ab), ("alt", alternating), ("short", short)):
        for label in sequence:
            persons.append(name)
            conditions.append(label)
            values.append(10 + 2 * (label == "B") + rng.normal())
    result = series_of_n1(persons, conditions, values, seed=0, **TINY)
    by = {p.person: p for p in result.persons}
    own_ab = sced.ab_randomization_test(ab, values[:16], min_phase_length=3)
    assert (by["ab"].design, by["ab"].p_value) == ("AB", own_ab.p_value)
    own_alt = sced.alternating_treatments_test(alternating, values[16:32], max_consecutive=2)
    assert (by["alt"].design, by["alt"].p_value) == ("alternating_treatments", own_alt.p_value)
    assert by["short"].p_value is None
    assert "fewer than min_phase_length = 3" in by["short"].test_skip_reason
    assert by["short"].to_json()["randomizationTest"] is None
    assert result.n_observations == len(values)


def test_blocks_make_each_person_a_randomized_block_design() -> None:
    """Blocks (pairs of periods of 3 days, one A and one B in random order): each person's test
    is the randomized block test over the block means."""
    rng = np.random.default_rng(8)
    persons, conditions, values, blocks = [], [], [], []
    expected = {}
    for person in ("x", "y", "z"):
        sessions, means = [], []
        for block in range(6):
            order = "AB" if rng.random() < 0.5 else "BA"
            for label in order:
                period = [20 + 3 * (label == "B") + rng.normal() for _ in range(3)]
                for value in period:
                    persons.append(person)
                    conditions.append(label)
                    values.append(value)
                    blocks.append(f"{person}{block}")
                sessions.append(label)
                means.append(float(np.mean(period)))
        expected[person] = sced.randomized_block_test(sessions, means).p_value
    result = series_of_n1(persons, conditions, values, blocks=blocks, seed=0, **TINY)
    for person in result.persons:
        assert person.design == "randomized_block"
        assert person.p_value == pytest.approx(expected[person.person], abs=0)


def test_pooled_noise_and_numbered_conditions() -> None:
    data = abab_series(3, effect=4.0, tau=1.0, days=24, seed=9)
    numbered = [f"{label}1" for label in data.conditions]
    result = series_of_n1(data.persons, numbered, data.values, noise="pooled", seed=0, **TINY)
    assert result.noise == "pooled"
    assert result.idata.posterior["sigma"].ndim == 2  # one SD: (chain, draw)
    assert "only 3 persons" in " ".join(result.warnings)


@pytest.mark.parametrize(
    ("persons", "conditions", "values", "options", "field", "message"),
    [
        (["a"] * 4, list("AABB"), [1, 2, 3, 4], {}, "person", "at least 2"),
        (["a"] * 4 + ["b"] * 4, list("AABBAAAB"), list(range(8)), {}, "condition", "'b' has 1"),
        (["a"] * 4 + ["b"] * 4, list("AABBAACB"), list(range(8)), {}, "condition", "row 7"),
        (["a"] * 4 + ["b"] * 4, list("AABBAABB"), [1, 2, 3, "x", 5, 6, 7, 8], {}, "value", "row 4"),
        (["a"] * 4 + ["b"] * 4, list("AABBAABB"), [1.0] * 8, {}, "value", "same value"),
        (["a"] * 4 + ["b"] * 3, list("AABBAABB"), list(range(8)), {}, "person", "7 labels"),
        (["a"] * 4 + ["", "b", "b", "b"], list("AABBAABB"), list(range(8)), {}, "person", "row 5"),
        (["a"] * 4 + ["b"] * 4, list("AABBAABB"), list(range(8)), {"noise": "x"}, "noise", "x"),
        (
            ["a"] * 4 + ["b"] * 4,
            list("AABBAABB"),
            list(range(8)),
            {"statistic": "PB-PA"},
            "statistic",
            "every person's design",
        ),
        (["a"] * 4 + ["b"] * 4, list("AABBAABB"), list(range(8)), {"draws": 2}, "draws", "10"),
        (
            ["a"] * 4 + ["b"] * 4,
            list("AABBAABB"),
            list(range(8)),
            {"parameterization": "funnel"},
            "parameterization",
            "funnel",
        ),
        (
            ["a"] * 4 + ["b"] * 4,
            list("AABBAABB"),
            list(range(8)),
            {"permutations": 0},
            "permutations",
            "at least 1",
        ),
    ],
)
def test_bad_input_names_the_field(persons, conditions, values, options, field, message) -> None:
    with pytest.raises(InputError) as error:
        series_of_n1(persons, conditions, values, **{**TINY, **options})
    assert error.value.field == field
    assert message in str(error.value)


# ----------------------------------------------------------------------------- the demo study


def demo_phase_observations(study) -> tuple[list[str], list[str], list[float]]:
    """Each protocol's daily primary outcome (the mean score of the sessions ended that day, as
    marts.daily_metrics computes it) with its condition, in time order."""
    events = study.tables["behavioral_events"].filter(
        (pl.col("event_type") == "SESSION_ENDED") & pl.col("experiment_phase").is_not_null()
    )
    daily = (
        events.group_by("user_id", pl.col("timestamp").dt.date().alias("day"), "experiment_phase")
        .agg(pl.col("session_performance_score").mean().alias("value"))
        .sort("user_id", "day")
    )
    condition = pl.when(pl.col("experiment_phase").str.starts_with("baseline")).then(pl.lit("A"))
    daily = daily.with_columns(condition.otherwise(pl.lit("B")).alias("condition"))
    return (
        daily["user_id"].to_list(),
        daily["condition"].to_list(),
        daily["value"].to_list(),
    )


def test_recovers_the_demo_studys_planted_population_and_persons() -> None:
    """Eight demo users whose own effects were drawn from Normal(8, 3): the population effect,
    the between-person SD and each user's effect are recovered from their daily scores (weekly
    rhythm, AR(1) noise and sleep effects included, which the model does not know of)."""
    study = generate_demo_study(
        users=8, days=77, seed=21, start_date=dt.date(2025, 1, 6), effect=8.0, effect_sd=3.0
    )
    truth = study.ground_truth
    persons, conditions, values = demo_phase_observations(study)
    result = series_of_n1(persons, conditions, values, seed=0, **SMALL)
    assert inside(truth["effect"], result.population_effect.hdi95)
    assert inside(truth["effectSd"], result.tau.hdi95)
    planted = {p["userId"]: p["trueEffect"] for p in truth["protocols"]}
    covered = [inside(planted[p.person], p.effect.hdi95) for p in result.persons]
    assert sum(covered) >= 7, covered
    assert all(p.design == "ABAB" and p.p_value is not None for p in result.persons)
