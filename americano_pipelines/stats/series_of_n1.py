"""A series of N-of-1 trials: one intervention, many persons, one Bayesian hierarchical model.

Each person ran their own A/B experiment (a protocol) of the same intervention on the same
outcome. The model pools them partially, as the aggregated N-of-1 literature does (Zucker,
Schmid, McIntosh, D'Agostino, Selker & Lau 1997, "Combining single patient (N-of-1) trials to
estimate population treatment effects and to evaluate individual patient responses to
treatment", J Clin Epidemiol 50, 401-410; Zucker, Ruthazer & Schmid 2010, "Individual (N-of-1)
trials can be combined to give population comparative treatment effect estimates:
methodologic considerations", J Clin Epidemiol 63, 1312-1323; and StudyU, Konigorski et al.
2022, "StudyU: a platform for designing and conducting innovative digital N-of-1 trials",
J Med Internet Res 24, e35884, whose aggregated analysis fits a mixed model of this form).

Model (PyMC; outcome standardized by the grand mean `c` and SD `s` of all observations)
------------------------------------------------------------------------------------
For person i and observation j, with `B_ij` = 1 under condition B (the intervention), 0 under
A (the baseline)::

    y_ij    ~ Normal(mu_i + theta_i * B_ij, sigma_i)      (sigma_i = sigma with noise="pooled")
    mu_i    = mu_pop + sigma_mu * z_mu_i,       z_mu_i    ~ Normal(0, 1)
    theta_i = theta_pop + tau * z_theta_i,      z_theta_i ~ Normal(0, 1)

so theta_i ~ Normal(theta_pop, tau) and mu_i ~ Normal(mu_pop, sigma_mu). Written non-centred
(the z's are the free parameters), the model samples well when a person's own data say little
against the spread between persons (few observations, tau small: the centred posterior is then
Neal's funnel; Betancourt & Girolami 2015); when each person's data pin them down, the centred
form (theta_i, mu_i themselves free) mixes far better. `parameterization="auto"` (default)
chooses per hierarchy: centred only when the between-person SD that the persons' raw estimates
(mean difference; A-phase mean) imply is at least 3 times their median standard error, else
non-centred; `non_centred` and `centred` force one. Both are the same model and posterior.
Weakly informative priors, in units of `s`: mu_pop, theta_pop ~ Normal(0, 2.5);
sigma_mu ~ HalfNormal(2.5); tau ~ HalfNormal(1); sigma_i (or sigma) ~ HalfNormal(1).
Everything is reported back in the outcome's units.

What is reported
----------------
- `populationEffect`: theta_pop, the average effect of B over A in the population of persons
  (posterior mean, SD, 95% HDI, P(> 0));
- `tau`: the between-person SD of the effect (how much persons differ);
- `predictedEffect`: the effect in a new person of the same population (its posterior
  predictive distribution), theta_new ~ Normal(theta_pop, tau) drawn once per posterior draw;
- per person: the shrunken effect theta_i (mean, SD, 95% HDI, P(> 0)) beside the raw mean
  difference mean(B) - mean(A) and the person's own single-case randomization test
  (`stats.sced`), which assumes nothing about the model: a person whose rows carry `block`
  labels is tested as a randomized block design (SCRT "RBD": each block, a randomized pair of
  periods, reduced to its A and B means); otherwise the person's condition sequence decides: two
  to four phases starting with A are an AB, ABA or ABAB phase design (`min_phase_length`), any
  other sequence an alternating treatments design (`max_consecutive`). A person whose sequence
  is not admissible under that design (a phase shorter than the minimum, more consecutive
  sessions than the cap) gets no p-value and the reason;
- diagnostics: the worst r-hat, the smallest bulk and tail ESS over the model's parameters, and
  the divergent transitions.

Sampling: nutpie on PyTensor's C backend when installed (`sampler="auto"`; its compiled modules
are cached on disk under AMERICANO_HOME, `stats.nutpie_model`), else PyMC's NUTS, seeded.
Importing this module loads nothing heavy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.stats.defaults import (
    DEFAULT_MAX_EXACT,
    DEFAULT_MIN_PHASE_LENGTH,
    DEFAULT_PERMUTATIONS,
)
from americano_pipelines.stats.its import (
    CausalEffect,
    ITSDiagnostics,
    posterior_diagnostics,
    posterior_summary,
    probability_in_words,
    quiet_pymc,
    resolve_sampler,
    sampler_warnings,
)
from americano_pipelines.stats.limits import check_not_all_tiny, first_too_large, too_large_message
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    PYMC_CORES,
    check_sampler_settings,
)

__all__ = [
    "NOISE_MODELS",
    "PersonEffect",
    "PosteriorSummary",
    "SeriesOfN1Result",
    "series_of_n1",
]

Noise = Literal["person", "pooled"]
NOISE_MODELS: tuple[str, ...] = ("person", "pooled")
MIN_PERSONS = 2
"""One person is an N-of-1 trial, not a series: nothing to pool."""
MIN_PER_CONDITION = 2
"""Each person needs this many observations under each condition (a noise scale of their own)."""

# Prior scales in units of the outcome's SD over all observations.
_LEVEL_SD = 2.5
_EFFECT_TAU_SD = 1.0
_NOISE_SD = 1.0
_PARAMETERS = ("mu_pop", "sigma_mu", "theta_pop", "tau", "mu", "theta", "sigma")
PARAMETERIZATIONS: tuple[str, ...] = ("auto", "non_centred", "centred")
_CONDITION = re.compile(r"^([AB])\d*$")
_CENTRED_RATIO = 3.0
"""`parameterization="auto"` samples a hierarchy centred when the between-person SD is at least
this many standard errors of a person's own estimate (`_weakly_identified`)."""
_DESIGN_FIELDS = frozenset({"phase", "condition", "value"})
"""Fields of the errors that say a person's own data do not fit the design (no p-value, a
reason); any other error of a test is a bad option (an InputError of the whole call)."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PosteriorSummary:
    """Posterior mean, SD and 95% HDI of a scale parameter (tau, between-person spreads)."""

    mean: float
    sd: float
    hdi95: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": float(self.mean),
            "sd": float(self.sd),
            "hdi95": [float(self.hdi95[0]), float(self.hdi95[1])],
        }


@dataclass(frozen=True)
class PersonEffect:
    """One person's shrunken effect beside their own data and their own randomization test."""

    person: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    effect: CausalEffect  # theta_i, shrunken toward the population
    design: str | None  # the randomization test's design, None when untested
    p_value: float | None
    observed_statistic: float | None
    n_assignments: int | None
    exact: bool | None
    test_skip_reason: str | None

    @property
    def raw_difference(self) -> float:
        return self.mean_b - self.mean_a

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "nA": self.n_a,
            "nB": self.n_b,
            "meanA": float(self.mean_a),
            "meanB": float(self.mean_b),
            "rawMeanDifference": float(self.raw_difference),
            "shrunkenEffect": self.effect.to_json(),
            "randomizationTest": None
            if self.p_value is None
            else {
                "design": self.design,
                "pValue": float(self.p_value),
                "observedStatistic": self.observed_statistic,
                "nAssignments": self.n_assignments,
                "exact": self.exact,
            },
            "randomizationTestSkipReason": self.test_skip_reason,
        }


@dataclass(frozen=True)
class SeriesOfN1Result:
    """The fitted hierarchical model of a series of N-of-1 trials (see the module docstring).
    `idata` (ArviZ InferenceData) holds the posterior in the outcome's units: `theta_pop`,
    `tau`, `mu_pop`, `sigma_mu`, `theta` and `mu` (per person), `sigma`."""

    population_effect: CausalEffect
    tau: PosteriorSummary
    predicted_effect: CausalEffect
    population_baseline: PosteriorSummary
    baseline_sd: PosteriorSummary
    persons: tuple[PersonEffect, ...]
    diagnostics: ITSDiagnostics
    interpretation: str
    warnings: tuple[str, ...]
    noise: str
    parameterization: dict[str, str]
    statistic: str
    n_observations: int
    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int
    idata: Any = field(default=None, repr=False, compare=False)

    def person(self, name: str) -> PersonEffect:
        for person in self.persons:
            if person.person == name:
                return person
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "populationEffect": self.population_effect.to_json(),
            "tau": self.tau.to_json(),
            "predictedEffect": self.predicted_effect.to_json(),
            "populationBaseline": self.population_baseline.to_json(),
            "baselineSd": self.baseline_sd.to_json(),
            "persons": [person.to_json() for person in self.persons],
            "diagnostics": self.diagnostics.to_json(),
            "interpretation": self.interpretation,
            "warnings": list(self.warnings),
            "nPersons": len(self.persons),
            "nObservations": self.n_observations,
            "model": {
                "form": "y_ij ~ Normal(mu_i + theta_i * B_ij, sigma_i); theta_i ~ Normal("
                "theta_pop, tau); mu_i ~ Normal(mu_pop, sigma_mu)",
                "noise": self.noise,
                "parameterization": dict(self.parameterization),
                "priors": "in units of the outcome's SD: mu_pop, theta_pop ~ Normal(0, 2.5); "
                "sigma_mu ~ HalfNormal(2.5); tau ~ HalfNormal(1); sigma ~ HalfNormal(1)",
                "randomizationStatistic": self.statistic,
            },
            "sampler": {
                "name": self.sampler,
                "draws": self.draws,
                "tune": self.tune,
                "chains": self.chains,
                "seed": self.seed,
            },
        }


# ----------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class _Person:
    name: str
    conditions: tuple[str, ...]  # "A"/"B" in time order
    values: np.ndarray
    blocks: tuple[str, ...] | None


def _labels(raw: Sequence[Any], name: str, n: int) -> list[str]:
    labels = [str(label).strip() if label is not None else "" for label in raw]
    if len(labels) != n:
        raise InputError(
            f"{name}: {len(labels)} labels for {n} values; give one per observation", field=name
        )
    for row, label in enumerate(labels, start=1):
        if not label:
            raise InputError(f"{name}: row {row} is empty", field=name)
    return labels


def _numbers(raw: Sequence[Any]) -> np.ndarray:
    cells = list(raw)
    values = np.empty(len(cells))
    for row, cell in enumerate(cells, start=1):
        try:
            number = float(cell)
        except (TypeError, ValueError):
            raise InputError(f"value: row {row} is not a number: {cell!r}", field="value") from None
        if isinstance(cell, bool) or not math.isfinite(number):
            raise InputError(f"value: row {row} is not a finite number: {cell!r}", field="value")
        values[row - 1] = number
    beyond = first_too_large(values)
    if beyond is not None:
        raise InputError(
            too_large_message("value", f"row {beyond + 1}", values[beyond]), field="value"
        )
    check_not_all_tiny(values, "value")
    return values


def _persons(
    persons: Sequence[Any],
    conditions: Sequence[Any],
    values: Sequence[Any],
    blocks: Sequence[Any] | None,
) -> tuple[_Person, ...]:
    numbers = _numbers(values)
    n = numbers.size
    names = _labels(persons, "person", n)
    labels = _labels(conditions, "condition", n)
    condition = []
    for row, label in enumerate(labels, start=1):
        match = _CONDITION.match(label.upper())
        if match is None:
            raise InputError(
                f"condition: row {row} has {label!r}; use A (baseline) or B (intervention), "
                "optionally numbered (A1, B2)",
                field="condition",
            )
        condition.append(match.group(1))
    block_labels = None if blocks is None else _labels(blocks, "block", n)
    order = list(dict.fromkeys(names))
    if len(order) < MIN_PERSONS:
        raise InputError(
            f"person: {len(order)} person in the data; a series of N-of-1 trials needs at least "
            f"{MIN_PERSONS} (one person's trial is `americano analyze ab`, `abab`, ...)",
            field="person",
        )
    rows_of: dict[str, list[int]] = {name: [] for name in order}
    for row, name in enumerate(names):
        rows_of[name].append(row)
    out = []
    for name in order:
        rows = rows_of[name]
        own = tuple(condition[row] for row in rows)
        for label in "AB":
            if own.count(label) < MIN_PER_CONDITION:
                raise InputError(
                    f"condition: person {name!r} has {own.count(label)} observation(s) under "
                    f"{label}; each person needs at least {MIN_PER_CONDITION} under A and under B",
                    field="condition",
                )
        out.append(
            _Person(
                name=name,
                conditions=own,
                values=numbers[rows],
                blocks=None if block_labels is None else tuple(block_labels[row] for row in rows),
            )
        )
    if np.ptp(numbers) == 0:
        raise InputError(
            "value: every observation has the same value; there is no effect to estimate",
            field="value",
        )
    return tuple(out)


# ----------------------------------------------------------------------------- each person's test


@dataclass(frozen=True)
class _Test:
    design: str | None
    result: Any
    skip_reason: str | None


def _runs(conditions: Sequence[str]) -> list[str]:
    runs: list[str] = []
    for label in conditions:
        if not runs or runs[-1] != label:
            runs.append(label)
    return runs


def _block_sessions(person: _Person) -> tuple[list[str], list[float]] | str:
    """Each block as two sessions (its A and B means, in the order the block ran them), or the
    reason the person's blocks do not form a randomized block design."""
    assert person.blocks is not None
    conditions: list[str] = []
    values: list[float] = []
    for block in dict.fromkeys(person.blocks):
        rows = [i for i, label in enumerate(person.blocks) if label == block]
        own = [person.conditions[i] for i in rows]
        if set(own) != {"A", "B"}:
            return f"block {block!r} holds only condition {own[0]}; each block needs A and B"
        for label in dict.fromkeys(own):
            conditions.append(label)
            values.append(
                float(np.mean([person.values[i] for i in rows if person.conditions[i] == label]))
            )
    return conditions, values


def _person_test(
    person: _Person,
    *,
    statistic: str,
    min_phase_length: int,
    max_consecutive: int | None,
    permutations: int,
    max_exact: int,
    alpha: float,
    seed: int,
) -> _Test:
    from americano_pipelines.stats import sced

    common = {"permutations": permutations, "seed": seed, "max_exact": max_exact, "alpha": alpha}
    if person.blocks is not None:
        sessions = _block_sessions(person)
        if isinstance(sessions, str):
            return _Test("randomized_block", None, sessions)
        design, run = (
            "randomized_block",
            lambda: sced.randomized_block_test(
                sessions[0], sessions[1], statistic=statistic, **common
            ),
        )
    else:
        runs = _runs(person.conditions)
        phase_tests = {
            2: ("AB", sced.ab_randomization_test),
            3: ("ABA", sced.aba_randomization_test),
            4: ("ABAB", sced.abab_randomization_test),
        }
        if runs[0] == "A" and len(runs) in phase_tests:
            design, test = phase_tests[len(runs)]

            def run() -> Any:
                return test(
                    list(person.conditions),
                    person.values.tolist(),
                    min_phase_length=min_phase_length,
                    statistic=statistic,
                    **common,
                )
        else:
            design = "alternating_treatments"

            def run() -> Any:
                return sced.alternating_treatments_test(
                    list(person.conditions),
                    person.values.tolist(),
                    max_consecutive=max_consecutive,
                    statistic=statistic,
                    **common,
                )

    try:
        return _Test(design, run(), None)
    except InputError as error:
        if error.field not in _DESIGN_FIELDS:
            raise
        return _Test(design, None, str(error))  # not admissible under the design


def _per_person(value: Any, persons: Sequence[_Person], option: str) -> dict[str, Any]:
    """A test option as each person's own: one value for all, or a mapping naming everyone."""
    if not isinstance(value, Mapping):
        return {person.name: value for person in persons}
    missing = [person.name for person in persons if person.name not in value]
    if missing:
        raise InputError(f"{option}: no value for person {missing[0]!r}", field=option)
    return {person.name: value[person.name] for person in persons}


def _check_test_options(statistic: Any, minima: Mapping[str, Any], caps: Mapping[str, Any]) -> str:
    """The statistic (one every design defines: B-A, A-B, |A-B|), the phase minima and the
    caps on consecutive sessions; the tests check the rest of their options."""
    from americano_pipelines.stats import sced

    name = sced.statistic_named(str(statistic))
    if name not in sced.CONDITION_STATISTICS:
        raise InputError(
            f"statistic: {statistic!r} is not one of {', '.join(sced.CONDITION_STATISTICS)}, the "
            "statistics every person's design defines",
            field="statistic",
        )
    for option, values, allowed_none in (
        ("min_phase_length", minima, False),
        ("max_consecutive", caps, True),
    ):
        for value in values.values():
            if value is None and allowed_none:
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InputError(f"{option}: must be a whole number of at least 1", field=option)
    return name


# ----------------------------------------------------------------------------- the model


def _weakly_identified(estimates: np.ndarray, errors: np.ndarray) -> bool:
    """False only when each person's data pin them down far better than persons differ: the
    between-person SD their raw estimates imply (method of moments: the estimates' variance less
    their mean squared standard error, as DerSimonian & Laird 1986) is at least
    `_CENTRED_RATIO` times their median standard error. The centred form then mixes far better;
    anywhere nearer, the posterior of the spread reaches down to where a centred hierarchy is a
    funnel (divergences), which the non-centred form samples safely (Papaspiliopoulos, Roberts
    & Skold 2007; Betancourt & Girolami 2015). Measured (2 x 300 draws): 8 simulated ABAB persons
    of 40 days at ratio 2.1, ESS of theta_pop 79 non-centred, 736 centred; 8 demo users of 56
    days at ratio 1.4, centred: 55 divergences, r-hat 1.12."""
    between = float(np.var(estimates, ddof=1)) - float(np.mean(errors**2))
    return between < (_CENTRED_RATIO * float(np.median(errors))) ** 2


def _parameterizations(persons: Sequence[_Person], choice: str) -> dict[str, str]:
    """The form of each hierarchy: `effects` (theta_i) and `baselines` (mu_i)."""
    if choice != "auto":
        return {"effects": choice, "baselines": choice}
    differences, difference_errors, levels, level_errors = [], [], [], []
    for person in persons:
        is_b = np.asarray([label == "B" for label in person.conditions])
        a, b = person.values[~is_b], person.values[is_b]
        differences.append(b.mean() - a.mean())
        difference_errors.append(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
        levels.append(a.mean())
        level_errors.append(np.sqrt(a.var(ddof=1) / a.size))

    def form(estimates: list[float], errors: list[float]) -> str:
        weak = _weakly_identified(np.asarray(estimates), np.asarray(errors))
        return "non_centred" if weak else "centred"

    return {
        "effects": form(differences, difference_errors),
        "baselines": form(levels, level_errors),
    }


def _build_model(
    index: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    n: int,
    noise: str,
    forms: dict[str, str],
) -> Any:
    import pymc as pm

    def hierarchy(name: str, centre: Any, spread: Any, form: str) -> Any:
        if form == "centred":
            return pm.Normal(name, centre, spread, dims="person")
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims="person")
        return pm.Deterministic(name, centre + spread * z, dims="person")

    with pm.Model(coords={"person": np.arange(n)}) as model:
        mu_pop = pm.Normal("mu_pop", 0.0, _LEVEL_SD)
        sigma_mu = pm.HalfNormal("sigma_mu", _LEVEL_SD)
        theta_pop = pm.Normal("theta_pop", 0.0, _LEVEL_SD)
        tau = pm.HalfNormal("tau", _EFFECT_TAU_SD)
        mu = hierarchy("mu", mu_pop, sigma_mu, forms["baselines"])
        theta = hierarchy("theta", theta_pop, tau, forms["effects"])
        if noise == "person":
            sigma = pm.HalfNormal("sigma", _NOISE_SD, dims="person")
            scale = sigma[index]
        else:
            scale = pm.HalfNormal("sigma", _NOISE_SD)
        pm.Normal("y", mu[index] + theta[index] * treated, scale, observed=y)
    return model


def _sample(model: Any, sampler: str, draws: int, tune: int, chains: int, seed: int) -> Any:
    if sampler == "nutpie":
        import os

        import nutpie

        from americano_pipelines.stats.nutpie_model import compile_for_nutpie

        return nutpie.sample(
            compile_for_nutpie(model),
            draws=draws,
            tune=tune,
            chains=chains,
            cores=max(1, min(chains, os.cpu_count() or 1)),
            seed=seed,
            progress_bar=False,
            save_warmup=False,
        )
    import pymc as pm

    with quiet_pymc(), model:
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=PYMC_CORES,
            random_seed=seed,
            target_accept=0.9,
            progressbar=False,
            compute_convergence_checks=False,
        )


def _summary(draws: np.ndarray) -> PosteriorSummary:
    effect = posterior_summary(draws)
    return PosteriorSummary(mean=effect.mean, sd=effect.sd, hdi95=effect.hdi95)


def _interpretation(
    population: CausalEffect, tau: PosteriorSummary, persons: Sequence[PersonEffect], alpha: float
) -> str:
    lo, hi = population.hdi95
    direction = "raises" if population.mean >= 0 else "lowers"
    text = (
        f"Across {len(persons)} persons, B {direction} the outcome by {abs(population.mean):.3g} "
        f"on average (posterior mean {population.mean:.3g}; 95% HDI {lo:.3g} to {hi:.3g}); the "
        f"posterior probability that the population effect is positive is "
        f"{probability_in_words(population.probability_positive)}. Persons' effects spread with "
        f"an SD of {tau.mean:.3g} (95% HDI {tau.hdi95[0]:.3g} to {tau.hdi95[1]:.3g})."
    )
    positive = sum(1 for person in persons if person.effect.hdi95[0] > 0)
    negative = sum(1 for person in persons if person.effect.hdi95[1] < 0)
    tested = [person for person in persons if person.p_value is not None]
    significant = sum(1 for person in tested if person.p_value <= alpha)
    text += (
        f" {positive} person(s) have a shrunken effect whose 95% HDI lies above zero, "
        f"{negative} below; {significant} of {len(tested)} tested person(s) have a "
        f"randomization test p <= {alpha:g}."
    )
    return text


# ----------------------------------------------------------------------------- entry point


def series_of_n1(
    persons: Sequence[Any],
    conditions: Sequence[Any],
    values: Sequence[Any],
    *,
    blocks: Sequence[Any] | None = None,
    noise: Noise | str = "person",
    parameterization: str = "auto",
    statistic: str = "B-A",
    min_phase_length: int | Mapping[str, int] = DEFAULT_MIN_PHASE_LENGTH,
    max_consecutive: int | None | Mapping[str, int | None] = 2,
    permutations: int = DEFAULT_PERMUTATIONS,
    max_exact: int = DEFAULT_MAX_EXACT,
    alpha: float = 0.05,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    sampler: str = "auto",
) -> SeriesOfN1Result:
    """The hierarchical model of a series of N-of-1 trials (see the module docstring).

    One entry per observation: `persons` (who), `conditions` (`A` baseline, `B` intervention;
    `A1`, `B2` accepted), `values`; rows in time order within each person (persons may be
    interleaved; they are reported in order of first appearance). `blocks` (optional) labels
    each observation's randomized block (a pair of periods, one A and one B, in random order):
    the persons' randomization tests are then randomized block tests. `noise`: a noise SD per
    person (`person`) or one for all (`pooled`). `statistic`, `min_phase_length`,
    `max_consecutive`, `permutations`, `max_exact`, `alpha`, `seed`: the persons'
    randomization tests (`stats.sced`; `seed` seeds the sampler too); `min_phase_length` and
    `max_consecutive` may map each person to their own (their protocol's design). Raises `InputError` naming
    the field for bad input, before any sampling.
    """
    if noise not in NOISE_MODELS:
        raise InputError(
            f"noise: unknown option {noise!r}; use one of {', '.join(NOISE_MODELS)}", field="noise"
        )
    if parameterization not in PARAMETERIZATIONS:
        raise InputError(
            f"parameterization: unknown option {parameterization!r}; use one of "
            f"{', '.join(PARAMETERIZATIONS)}",
            field="parameterization",
        )
    check_sampler_settings(seed=seed, draws=draws, tune=tune, chains=chains, sampler=sampler)
    sampler_name = resolve_sampler(sampler)
    checked = _persons(persons, conditions, values, blocks)
    minima = _per_person(min_phase_length, checked, "min_phase_length")
    caps = _per_person(max_consecutive, checked, "max_consecutive")
    statistic_name = _check_test_options(statistic, minima, caps)
    tests = [
        _person_test(
            person,
            statistic=statistic_name,
            min_phase_length=minima[person.name],
            max_consecutive=caps[person.name],
            permutations=permutations,
            max_exact=max_exact,
            alpha=alpha,
            seed=seed,
        )
        for person in checked
    ]

    y = np.concatenate([person.values for person in checked])
    index = np.concatenate([np.full(person.values.size, i) for i, person in enumerate(checked)])
    treated = np.concatenate(
        [np.asarray([label == "B" for label in person.conditions], float) for person in checked]
    )
    center, scale = float(y.mean()), float(y.std(ddof=1))
    forms = _parameterizations(checked, str(parameterization))
    model = _build_model(index, treated, (y - center) / scale, len(checked), str(noise), forms)
    idata = _sample(model, sampler_name, int(draws), int(tune), int(chains), int(seed))
    return _summarize(
        idata,
        checked,
        tests,
        center,
        scale,
        noise=str(noise),
        forms=forms,
        statistic=statistic_name,
        alpha=float(alpha),
        sampler=sampler_name,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        seed=int(seed),
    )


def _summarize(
    idata: Any,
    persons: Sequence[_Person],
    tests: Sequence[_Test],
    center: float,
    scale: float,
    *,
    noise: str,
    forms: dict[str, str],
    statistic: str,
    alpha: float,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> SeriesOfN1Result:
    import xarray as xr

    # nutpie also stores the unconstrained values (sigma_log__, ...): not for users.
    idata.posterior = idata.posterior.drop_vars(
        [name for name in idata.posterior.data_vars if str(name).endswith("__")]
    )
    diagnostics = posterior_diagnostics(idata, list(_PARAMETERS))
    posterior = idata.posterior
    names = [person.name for person in persons]
    # The posterior in the outcome's units, persons by name.
    posterior = posterior.assign_coords(person=names)
    for name in ("theta_pop", "tau", "sigma_mu", "theta", "sigma"):
        posterior[name] = posterior[name] * scale
    posterior["mu_pop"] = center + posterior["mu_pop"] * scale
    posterior["mu"] = center + posterior["mu"] * scale
    theta_pop = np.asarray(posterior["theta_pop"].values, float)
    tau = np.asarray(posterior["tau"].values, float)
    generator = np.random.default_rng(seed)
    predicted = theta_pop + tau * generator.standard_normal(theta_pop.shape)
    posterior["theta_new"] = xr.DataArray(predicted, dims=("chain", "draw"))
    idata.posterior = posterior

    theta = np.asarray(posterior["theta"].values, float)  # (chain, draw, person)
    effects = []
    for i, (person, test) in enumerate(zip(persons, tests, strict=True)):
        is_b = np.asarray([label == "B" for label in person.conditions])
        result = test.result
        effects.append(
            PersonEffect(
                person=person.name,
                n_a=int((~is_b).sum()),
                n_b=int(is_b.sum()),
                mean_a=float(person.values[~is_b].mean()),
                mean_b=float(person.values[is_b].mean()),
                effect=posterior_summary(theta[:, :, i]),
                design=test.design,
                p_value=None if result is None else float(result.p_value),
                observed_statistic=None if result is None else float(result.observed_effect),
                n_assignments=None if result is None else int(result.n_assignments),
                exact=None if result is None else bool(result.exact),
                test_skip_reason=test.skip_reason,
            )
        )
    population = posterior_summary(theta_pop)
    spread = _summary(tau)
    notes = sampler_warnings(diagnostics)
    if len(persons) < 5:
        notes.append(
            f"only {len(persons)} persons; the between-person SD (tau) rests largely on its prior."
        )
    text = _interpretation(population, spread, effects, alpha)
    if notes:
        text += " " + " ".join(f"Warning: {note}" for note in notes)
    return SeriesOfN1Result(
        population_effect=population,
        tau=spread,
        predicted_effect=posterior_summary(predicted),
        population_baseline=_summary(np.asarray(posterior["mu_pop"].values, float)),
        baseline_sd=_summary(np.asarray(posterior["sigma_mu"].values, float)),
        persons=tuple(effects),
        diagnostics=diagnostics,
        interpretation=text,
        warnings=tuple(notes),
        noise=noise,
        parameterization=forms,
        statistic=statistic,
        n_observations=int(sum(person.values.size for person in persons)),
        sampler=sampler,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        idata=idata,
    )
