"""A protocol file's power: its design and registered randomization test, simulated
(`stats.power.simulated_power`), as `americano protocol power` prints it and `americano protocol
register` stores it (`sample_size_justification`).

The test's settings are read by the same rules as the analyses (`inputs.plan_from_analyses`,
or the free-text analysis plan without an `analyses:` list); an alternating design's schedule
cap and randomization are the registration's. The simulation settings: the command line's,
over the file's `power:` mapping, over `PowerSettings`' defaults.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from americano_pipelines.protocol_analyses.inputs import (
    AnalysisPlan,
    parse_analysis_plan,
    plan_from_analyses,
)
from americano_pipelines.registration.analyses import RANDOMIZATION_TEST
from americano_pipelines.registration.power_settings import PowerSettings
from americano_pipelines.registration.protocol_file import ProtocolRegistration
from americano_pipelines.registration.vocabulary import RESTRICTED
from americano_pipelines.stats.power import PowerDesign, simulated_power

__all__ = ["power_design", "protocol_power"]


def _plan(registration: ProtocolRegistration) -> AnalysisPlan:
    if registration.analyses is not None:
        plan = plan_from_analyses(registration.analyses)
    else:
        plan = parse_analysis_plan(registration.analysis_plan)
    if registration.max_consecutive is not None:
        plan = replace(plan, max_consecutive=registration.max_consecutive)
    return plan


def power_design(registration: ProtocolRegistration) -> PowerDesign:
    """The registration's design and randomization test as `stats.power` takes them."""
    plan = _plan(registration)
    return PowerDesign(
        design=registration.design_type,
        n_observations=registration.planned_length,
        min_phase_length=registration.min_phase_length,
        min_b_phase_length=registration.min_b_phase_length,
        n_cases=max(1, len(registration.cases)),
        randomization=registration.randomization or RESTRICTED,
        max_consecutive=plan.max_consecutive,
        statistic=plan.statistic,
        statistic_expression=plan.statistic_expression,
        combine=plan.combine,
        permutations=plan.permutations,
        max_exact=plan.max_exact,
        test_seed=plan.seed,
        alpha=registration.alpha,
        exclude_equal=plan.exclude_equal,
    )


def protocol_power(
    registration: ProtocolRegistration,
    *,
    effect: float | None = None,
    sd: float | None = None,
    autocorrelation: float | None = None,
    simulations: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The simulated power as JSON (`PowerResult.to_json()`, plus the registered test's
    settings under `test`): the given settings over the file's `power:` over the defaults."""
    base = registration.power or PowerSettings()
    given = {
        "effect": effect,
        "sd": sd,
        "autocorrelation": autocorrelation,
        "simulations": simulations,
        "seed": seed,
    }
    settings = replace(base, **{k: v for k, v in given.items() if v is not None})
    design = power_design(registration)
    result = simulated_power(
        design,
        effect=settings.effect_or_default,
        sd=settings.sd,
        autocorrelation=settings.autocorrelation,
        simulations=settings.simulations,
        seed=settings.seed,
    )
    body = result.to_json()
    if registration.analyses is not None and registration.analyses.get(RANDOMIZATION_TEST) is None:
        body["notes"].append(
            "the randomization test is not among the registered analyses: this is the power "
            "of the test with its default settings, which would run as exploratory"
        )
    body["test"] = {
        "plannedLength": design.n_observations,
        "minPhaseLength": design.min_phase_length,
        "minBPhaseLength": design.min_b_phase_length,
        "cases": design.n_cases if design.design == "MULTIPLE_BASELINE" else None,
        "randomization": registration.randomization,
        "maxConsecutive": registration.max_consecutive,
        "statisticExpression": design.statistic_expression,
        "combine": design.combine,
        "permutations": design.permutations,
        "maxExact": design.max_exact,
        "testSeed": design.test_seed,
        "excludeEqual": design.exclude_equal,
    }
    return body
