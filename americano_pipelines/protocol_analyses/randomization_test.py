"""A protocol's single-case randomization test, its effect sizes and WWC standards rating.

What runs, by `design_type` (the statistics are those of `americano_pipelines.stats`):

- ABAB: `abab_randomization_test` with the plan's statistic (default "B-A") and the protocol's
  `min_phase_length`; `abab_effect_sizes` (NAP and SMD: the equally weighted average of the two
  A-B pairs, as SingleCaseES `batch_calc_ES(aggregate = phase_pair)`); the WWC standards rating
  the test carries (`reversal_design_standards`).
- MULTIPLE_BASELINE: `multiple_baseline_test` over the cases of the frame's optional `case`
  column (one A-then-B series per case); without that column the protocol's series is the only
  case. Effect sizes per case (`effect_sizes`), NAP/SMD averaged with equal weights
  (`equal_weight_average`).
- ALTERNATING: drawn `restricted`, `alternating_treatments_test` (the protocol's
  `max_consecutive`, default 2 as SCRT "ATD"); drawn in `blocks`, `randomized_block_test`
  (SCRT "RBD") over the blocks whose two sessions were both observed (a session's observations
  averaged). NAP and SMD of condition B against condition A.
- CHANGING_CRITERION: no randomization test is defined; only the WWC rating is reported.

The effect sizes follow the item's `effectSizes:` settings (`plan.effect_sizes`: SingleCaseES's
scale, confidence, NAP SE, PoGO goal, truncation constants and Tau-BC's trend pretest).

Minimum phase length. The schedule was randomized over calendar days with phases at least
`min_phase_length` days long, but `phase_observations` holds only the days with a measurement, so
a phase may have fewer observations than that. The observed assignment must be admissible in the
randomization distribution, so the test then uses the shortest observed phase as its minimum
(a larger reference set that still contains the observed schedule) and says so in `notes`.

Bad or insufficient data never raises: the result says `status="skipped"` and why. A protocol
whose registered analyses do not include the randomization test gets an `exploratory` result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import (
    ObservedSeries,
    Protocol,
    Status,
    observed_series,
)
from americano_pipelines.registration.analyses import RANDOMIZATION_TEST, is_registered
from americano_pipelines.registration.vocabulary import (
    ABAB,
    ALTERNATING,
    BLOCKS,
    CHANGING_CRITERION,
    DESIGN_TYPES,
    MULTIPLE_BASELINE,
)
from americano_pipelines.stats.effect_sizes import (
    ABABEffectSizes,
    EffectEstimate,
    EffectSizeSummary,
    abab_effect_sizes,
    effect_sizes,
    equal_weight_average,
    nap,
    smd,
)
from americano_pipelines.stats.sced import (
    RandomizationTestResult,
    abab_randomization_test,
    alternating_treatments_test,
    multiple_baseline_test,
    randomized_block_test,
)
from americano_pipelines.stats.sced_standards import StandardsRating, changing_criterion_standards

__all__ = ["ANALYSIS_TYPES", "TITLES", "ProtocolTestResult", "randomization_test_for_protocol"]

# The analysis type of a result for a design the test does not know (skipped, saying why).
UNKNOWN_DESIGN_TYPE = "randomization_test"
ANALYSIS_TYPES = {
    ABAB: "abab_randomization",
    MULTIPLE_BASELINE: "multiple_baseline_randomization",
    ALTERNATING: "alternating_treatments_randomization",
    CHANGING_CRITERION: "changing_criterion_standards",
}
"""The `analysis_type` of a protocol's run, by design type."""
TITLES = {
    ABAB: "ABAB randomization test",
    MULTIPLE_BASELINE: "Multiple-baseline randomization test",
    ALTERNATING: "Alternating-treatments randomization test",
    CHANGING_CRITERION: "Changing-criterion standards rating",
}
"""The name of a protocol's run, by design type."""


def _condition_runs(conditions: Sequence[str]) -> list[tuple[str, int]]:
    """The runs of equal conditions (the blocks the phase-design tests see): (condition,
    length) in time order."""
    return [(condition, len(list(run))) for condition, run in groupby(conditions)]


def _min_phase_length_used(
    registered: int, run_lengths: Sequence[int], name: str = "min_phase_length"
) -> tuple[int, str | None]:
    """The registered minimum, or the shortest observed phase when missing days made a phase
    shorter (the observed schedule must stay admissible; see the module docstring)."""
    shortest = min(run_lengths) if run_lengths else registered
    if shortest >= registered:
        return registered, None
    used = max(1, shortest)
    return used, (
        f"{name} {registered} (registered, in days) lowered to {used} for the test: "
        f"days without an observation leave a phase with only {shortest} observation"
        f"{'s' if shortest != 1 else ''}"
    )


def _minima_used(
    protocol: Protocol, runs: Sequence[tuple[str, int]]
) -> tuple[int, int | None, list[str]]:
    """The minimum phase lengths the test uses, the A phases' and (when the protocol has one)
    the B phases' own, each lowered as `_min_phase_length_used` says, and the notes why."""
    if protocol.min_b_phase_length is None:
        used, note = _min_phase_length_used(protocol.min_phase_length, [n for _, n in runs])
        return used, None, [note] if note else []
    used, note = _min_phase_length_used(
        protocol.min_phase_length, [n for condition, n in runs if condition != "B"]
    )
    used_b, note_b = _min_phase_length_used(
        protocol.min_b_phase_length,
        [n for condition, n in runs if condition == "B"],
        "min_b_phase_length",
    )
    return used, used_b, [n for n in (note, note_b) if n]


def _estimate_json(estimate: EffectEstimate | None) -> dict[str, Any] | None:
    return None if estimate is None else estimate.to_json()


@dataclass(frozen=True)
class ProtocolTestResult:
    """The protocol's randomization test, effect sizes and WWC standards rating.

    `test` is the stats result (None when skipped). `nap` and `smd` are the headline indices
    (see the module docstring for which average); `effect_sizes` holds every index: an
    `ABABEffectSizes`, an `EffectSizeSummary`, or (multiple baseline) per-case summaries.
    `exploratory`: the protocol did not register this analysis.
    """

    protocol_id: str
    design: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    statistic: str | None = None
    min_phase_length: int | None = None
    min_phase_length_used: int | None = None
    min_b_phase_length: int | None = None
    min_b_phase_length_used: int | None = None
    n_observations: int = 0
    permutations: int | None = None
    seed: int | None = None
    test: RandomizationTestResult | None = None
    effect_sizes: (
        ABABEffectSizes | EffectSizeSummary | tuple[tuple[str, EffectSizeSummary], ...] | None
    ) = None
    nap: EffectEstimate | None = None
    smd: EffectEstimate | None = None
    standards: StandardsRating | None = None
    notes: tuple[str, ...] = ()
    exploratory: bool = False
    series: ObservedSeries | None = field(default=None, repr=False, compare=False)

    @property
    def p_value(self) -> float | None:
        return None if self.test is None else self.test.p_value

    @property
    def effect_size(self) -> float | None:
        return None if self.test is None else self.test.effect_size

    def _effect_sizes_json(self) -> Any:
        if self.effect_sizes is None:
            return None
        if isinstance(self.effect_sizes, tuple):
            return {case: summary.to_json() for case, summary in self.effect_sizes}
        return self.effect_sizes.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "design": self.design,
            "status": self.status,
            "reason": self.reason,
            "statistic": self.statistic,
            "minPhaseLength": self.min_phase_length,
            "minPhaseLengthUsed": self.min_phase_length_used,
            "minBPhaseLength": self.min_b_phase_length,
            "minBPhaseLengthUsed": self.min_b_phase_length_used,
            "nObservations": self.n_observations,
            "test": None if self.test is None else self.test.to_json(),
            "nap": _estimate_json(self.nap),
            "smd": _estimate_json(self.smd),
            "effectSizes": self._effect_sizes_json(),
            "sced_standards": None if self.standards is None else self.standards.to_json(),
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    @property
    def analysis_type(self) -> str:
        return ANALYSIS_TYPES.get(self.design, UNKNOWN_DESIGN_TYPE)

    @property
    def title(self) -> str:
        return TITLES.get(self.design, "Randomization test")

    def params(self) -> dict[str, Any]:
        """The test's settings (its run's input parameters besides the protocol's)."""
        return {
            "statistic": self.statistic,
            "minPhaseLength": self.min_phase_length,
            "minPhaseLengthUsed": self.min_phase_length_used,
            "minBPhaseLength": self.min_b_phase_length,
            "minBPhaseLengthUsed": self.min_b_phase_length_used,
            "permutations": self.permutations,
            "seed": self.seed,
            "alpha": None if self.test is None else self.test.alpha,
            "nObservations": self.n_observations,
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        """The p-value, effect sizes and WWC rating (its run's results summary)."""
        test, standards = self.test, self.standards
        return {
            "status": self.status,
            "reason": self.reason,
            "pValue": None if test is None else test.p_value,
            "observedEffect": None if test is None else test.observed_effect,
            "effectSize": None if test is None else test.effect_size,
            "significant": None if test is None else test.significant,
            "nAssignments": None if test is None else test.n_assignments,
            "exact": None if test is None else test.exact,
            "nap": None if self.nap is None else self.nap.estimate,
            "smd": None if self.smd is None else self.smd.estimate,
            "rating": None if standards is None else standards.rating,
            "passesSCEDStandards": None if standards is None else standards.passes,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row for `analyses.sced_randomization_test` (without data_version/computed_at)."""
        test = self.test
        standards = self.standards
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "design": self.design,
                "status": self.status,
                "skip_reason": self.reason,
                "statistic": self.statistic,
                "observed_effect": None if test is None else test.observed_effect,
                "p_value": None if test is None else test.p_value,
                "n_assignments": None if test is None else test.n_assignments,
                # HUGEINT holds counts below 2^127; larger ones stay in result_json.
                "n_admissible": None
                if test is None or test.n_admissible >= 2**127
                else test.n_admissible,
                "exact": None if test is None else test.exact,
                "alpha": None if test is None else test.alpha,
                "significant": None if test is None else test.significant,
                "effect_size": None if test is None else test.effect_size,
                "nap": None if self.nap is None else self.nap.estimate,
                "nap_se": None if self.nap is None else self.nap.se,
                "smd": None if self.smd is None else self.smd.estimate,
                "smd_se": None if self.smd is None else self.smd.se,
                "rating": None if standards is None else standards.rating,
                "passes": None if standards is None else standards.passes,
                "standards_reasons": None if standards is None else "; ".join(standards.reasons),
                "min_phase_length": self.min_phase_length,
                "min_phase_length_used": self.min_phase_length_used,
                "n_observations": self.n_observations,
                "permutations": self.permutations,
                "seed": self.seed,
                "interpretation": None if test is None else test.interpretation,
                "notes": "; ".join(self.notes) or None,
                "result_json": json.dumps(self.to_json()),
            }
        ]


def randomization_test_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolTestResult:
    """The randomization test of the protocol's design, its effect sizes and standards rating,
    on the protocol's observations of the primary outcome. Skipped (never raised) when the plan
    or the data do not allow it."""
    identity = Protocol.identity(protocol_row)
    exploratory = not is_registered(protocol_row, RANDOMIZATION_TEST)
    series: ObservedSeries | None = None
    try:
        protocol = Protocol.from_row(protocol_row)
        series = observed_series(observations, identity.protocol_id)
        return replace(_randomization_test(protocol, series), exploratory=exploratory)
    except InputError as error:
        return ProtocolTestResult(
            protocol_id=identity.protocol_id,
            design=identity.design_type,
            status="skipped",
            reason=str(error),
            user_id=identity.user_id,
            n_observations=0 if series is None else series.n,
            exploratory=exploratory,
            series=series,
        )


def _randomization_test(protocol: Protocol, series: ObservedSeries) -> ProtocolTestResult:
    plan = protocol.plan
    base = {
        "protocol_id": protocol.protocol_id,
        "design": protocol.design_type,
        "user_id": protocol.user_id,
        "statistic": plan.statistic,
        "min_phase_length": protocol.min_phase_length,
        "min_b_phase_length": protocol.min_b_phase_length,
        "n_observations": series.n,
        "series": series,
    }
    if series.n == 0:
        return ProtocolTestResult(
            status="skipped", reason="no observations of the primary outcome yet", **base
        )
    options = {
        "statistic": plan.statistic,
        "permutations": plan.permutations,
        "seed": plan.seed,
        "max_exact": plan.max_exact,
        "alpha": protocol.alpha,
        "exclude_equal": plan.exclude_equal,
    }
    if plan.statistic_expression is not None:  # registration kept it off ALTERNATING designs
        options["statistic_expression"] = plan.statistic_expression
    notes: list[str] = []
    improvement = plan.improvement
    used: int | None = None
    used_b: int | None = None
    all_sizes: Any = None
    nap_estimate: EffectEstimate | None = None
    smd_estimate: EffectEstimate | None = None

    if protocol.design_type == ABAB:
        used, used_b, minima_notes = _minima_used(protocol, _condition_runs(series.conditions))
        notes += minima_notes
        test = abab_randomization_test(
            series.conditions,
            series.values,
            min_phase_length=used,
            min_b_phase_length=used_b,
            **options,
        )
        try:
            all_sizes = abab_effect_sizes(
                series.conditions, series.values, improvement, options=plan.effect_sizes
            )
            nap_estimate, smd_estimate = all_sizes.average.nap, all_sizes.average.smd
        except InputError as error:
            notes.append(f"effect sizes not computed: {error}")
    elif protocol.design_type == MULTIPLE_BASELINE:
        cases = series.case_series()
        named = {(case or protocol.user_id or protocol.protocol_id): s for case, s in cases.items()}
        runs = [run for s in named.values() for run in _condition_runs(s.conditions)]
        used, used_b, minima_notes = _minima_used(protocol, runs)
        notes += minima_notes
        if len(named) == 1:
            notes.append("one series only: the multiple baseline test reduces to an AB test")
        test = multiple_baseline_test(
            {case: (s.conditions, s.values) for case, s in named.items()},
            min_phase_length=used,
            min_b_phase_length=used_b,
            min_cases=1,  # a one-series protocol reduces to an AB test (noted above)
            combine=plan.combine,
            **options,
        )
        per_case: list[tuple[str, EffectSizeSummary]] = []
        for case, case_series in named.items():
            try:
                per_case.append(
                    (
                        case,
                        effect_sizes(
                            case_series.conditions,
                            case_series.values,
                            improvement,
                            options=plan.effect_sizes,
                        ),
                    )
                )
            except InputError as error:
                notes.append(f"effect sizes of case {case} not computed: {error}")
        if per_case and len(per_case) == len(named):
            all_sizes = tuple(per_case)
            nap_estimate = equal_weight_average([summary.nap for _, summary in per_case])
            smd_estimate = equal_weight_average([summary.smd for _, summary in per_case])
    elif protocol.design_type == ALTERNATING:
        if protocol.randomization == BLOCKS:
            conditions, values, note = _observed_blocks(series)
            notes += [note] if note else []
            test = randomized_block_test(conditions, values, **options)
        else:
            conditions, values = series.conditions, series.values
            test = alternating_treatments_test(
                conditions, values, max_consecutive=plan.max_consecutive, **options
            )
        x = np.asarray(values)
        is_b = np.asarray(conditions) == "B"
        a_values, b_values = x[~is_b], x[is_b]
        try:
            sizes = plan.effect_sizes
            nap_estimate = nap(a_values, b_values, improvement, sizes.nap_se, sizes.confidence)
            smd_estimate = smd(a_values, b_values, improvement, "baseline", sizes.confidence)
        except InputError as error:
            notes.append(f"effect sizes not computed: {error}")
    elif protocol.design_type == CHANGING_CRITERION:
        standards = changing_criterion_standards([block.n for block in series.phase_blocks()])
        return ProtocolTestResult(
            status="skipped",
            reason="design: no randomization test is defined for a changing criterion design; "
            "only the WWC rating is reported",
            standards=standards,
            **base,
        )
    else:
        return ProtocolTestResult(
            status="skipped",
            reason=f"design: unknown design type {protocol.design_type!r}; expected one of "
            f"{', '.join(DESIGN_TYPES)}",
            **base,
        )
    return ProtocolTestResult(
        status="ok",
        min_phase_length_used=used,
        min_b_phase_length_used=used_b,
        permutations=plan.permutations,
        seed=plan.seed,
        test=test,
        effect_sizes=all_sizes,
        nap=nap_estimate,
        smd=smd_estimate,
        standards=test.sced_standards,
        notes=tuple(notes),
        **base,
    )


_SESSION_LABEL = re.compile(r"session_([0-9]+)_")


def _observed_blocks(series: ObservedSeries) -> tuple[list[str], list[float], str | None]:
    """One value per session (its observations' mean) of the blocks whose two sessions both
    have one: the randomized block test needs every block whole. Sessions are numbered in
    their phase labels (`session_<n>_<condition>`, 1-based), and block k holds sessions 2k-1
    and 2k. The note says what was left out."""
    sessions: dict[int, tuple[str, list[float]]] = {}
    for label, condition, value in zip(
        series.phase_labels, series.conditions, series.values, strict=True
    ):
        match = _SESSION_LABEL.match(label)
        if match is None:
            raise InputError(
                f"phase_label: {label!r} is not a session of an alternating schedule",
                field="phase_label",
            )
        sessions.setdefault(int(match.group(1)), (condition, []))[1].append(value)
    blocks = sorted({(number - 1) // 2 for number in sessions})
    whole = [k for k in blocks if 2 * k + 1 in sessions and 2 * k + 2 in sessions]
    conditions: list[str] = []
    values: list[float] = []
    for k in whole:
        for number in (2 * k + 1, 2 * k + 2):
            condition, observed = sessions[number]
            conditions.append(condition)
            values.append(float(np.mean(observed)))
    notes = []
    if len(whole) < len(blocks):
        notes.append(
            f"{len(blocks) - len(whole)} of {len(blocks)} blocks left out: one of their two "
            "sessions has no observation"
        )
    if len(sessions) < series.n:
        notes.append("sessions with several observations enter with their mean")
    return conditions, values, "; ".join(notes) or None
