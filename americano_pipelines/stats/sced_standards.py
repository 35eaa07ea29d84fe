"""What Works Clearinghouse (WWC) design standards for single-case designs.

Only the design-structure criteria that can be read off the data series are checked: the number
of phases (attempts to demonstrate an effect), the number of data points per phase or condition,
the staggering of a multiple baseline and the alternation of an alternating treatments design.
The other WWC criteria (the independent variable is systematically manipulated; the outcome is
measured by more than one assessor with inter-assessor agreement on at least 20% of the points in
each condition) describe how the study was run and cannot be judged from the numbers, so they
are assumed met and left to the reviewer.

Sources and thresholds:

- Kratochwill, T. R., Hitchcock, J., Horner, R. H., Levin, J. R., Odom, S. L., Rindskopf, D. M.
  & Shadish, W. R. (2010). *Single-case designs technical documentation* (WWC pilot standards,
  version 1.0), published as Kratochwill et al. (2013), *Remedial and Special Education* 34(1),
  26-38. Quoted: "The study must include at least three attempts to demonstrate an intervention
  effect at three different points in time or with three different phase repetitions ...
  Examples of designs not meeting this standard include AB, ABA, and BAB designs." and "To Meet
  Standards a reversal/withdrawal (e.g., ABAB) design must have a minimum of four phases per case
  with at least 5 data points per phase" (at least 3 data points per phase: Meets Standards with
  Reservations); a multiple baseline design needs at least six phases (three tiers of A and B)
  with the same 5 / 3 points per phase; an alternating treatments design needs five repetitions
  of the alternating sequence (four: with reservations).
- What Works Clearinghouse (2020). *Standards Handbook, Version 4.1*, single-case design
  standards: the same phase and data-point thresholds, alternating treatments designs with at
  least five data points per condition (four: with reservations) and at most two consecutive
  data points of the same condition, and changing criterion designs with at least three
  criterion changes (four phases) and 5 / 3 points per phase.

Ratings: "meets" (WWC: Meets Standards Without Reservations), "meets_with_reservations",
"does_not_meet". Every rating carries plain-English reasons; a failing rating names each
criterion that fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from americano_pipelines.errors import InputError

__all__ = [
    "Rating",
    "StandardsRating",
    "alternating_treatments_standards",
    "changing_criterion_standards",
    "multiple_baseline_standards",
    "reversal_design_standards",
    "sced_standards",
]

Rating = Literal["meets", "meets_with_reservations", "does_not_meet"]

# Thresholds (Kratochwill et al. 2010; WWC Standards Handbook 4.1).
MIN_PHASES_REVERSAL = 4  # ABAB: three attempts to demonstrate the effect
MIN_TIERS_MULTIPLE_BASELINE = 3  # three A-B tiers = six phases
MIN_CHANGING_CRITERION_PHASES = 4  # baseline + three criterion phases = three criterion changes
POINTS_PER_PHASE_MEETS = 5
POINTS_PER_PHASE_RESERVATIONS = 3
ATD_POINTS_PER_CONDITION_MEETS = 5
ATD_POINTS_PER_CONDITION_RESERVATIONS = 4
ATD_MAX_CONSECUTIVE = 2


@dataclass(frozen=True)
class StandardsRating:
    """A WWC design-standards rating and the plain-English reasons for it."""

    rating: Rating
    reasons: tuple[str, ...]

    @property
    def passes(self) -> bool:
        """True when the design meets the standards, with or without reservations."""
        return self.rating != "does_not_meet"

    def to_json(self) -> dict[str, Any]:
        return {"rating": self.rating, "reasons": list(self.reasons)}


# ----------------------------------------------------------------------------- helpers


def _lengths(phase_lengths: Sequence[int], field: str) -> list[int]:
    try:
        lengths = [int(n) for n in phase_lengths]
    except (TypeError, ValueError):
        raise InputError(f"{field}: phase lengths must be whole numbers", field=field) from None
    if any(n < 0 for n in lengths):
        raise InputError(f"{field}: a phase length cannot be negative", field=field)
    return lengths


def _points_rating(
    named_lengths: Sequence[tuple[str, int]],
    *,
    meets: int,
    reservations: int,
    unit: str,
    design_ok_reason: str,
) -> StandardsRating:
    """Rate by the smallest number of data points: >= meets, >= reservations, or fail."""
    too_few = [(name, n) for name, n in named_lengths if n < reservations]
    if too_few:
        return StandardsRating(
            "does_not_meet",
            tuple(
                f"{name} has {n} data point{'s' if n != 1 else ''}; at least {reservations} "
                f"per {unit} are needed to meet standards even with reservations"
                for name, n in too_few
            ),
        )
    short = [(name, n) for name, n in named_lengths if n < meets]
    if short:
        return StandardsRating(
            "meets_with_reservations",
            tuple(
                f"{name} has {n} data points; {meets} per {unit} are needed to meet standards "
                "without reservations"
                for name, n in short
            ),
        )
    return StandardsRating(
        "meets", (f"{design_ok_reason}, each with at least {meets} data points",)
    )


def _longest_runs(conditions: Sequence[str]) -> dict[str, int]:
    runs: dict[str, int] = {}
    for label, group in groupby(conditions):
        runs[label] = max(runs.get(label, 0), sum(1 for _ in group))
    return runs


# ----------------------------------------------------------------------------- designs


def reversal_design_standards(
    phase_lengths: Sequence[int], phase_labels: Sequence[str] | None = None
) -> StandardsRating:
    """WWC standard for reversal/withdrawal designs (ABAB and longer).

    At least four phases alternating A and B (three attempts to demonstrate the effect; AB and
    ABA designs do not meet the standard), each with at least 5 data points to meet standards
    without reservations, or at least 3 to meet them with reservations (Kratochwill et al. 2010;
    WWC Standards Handbook 4.1).

    `phase_lengths` are the number of data points in each phase in time order; `phase_labels`
    (e.g. ["A", "B", "A", "B"]) name them in the reasons and are checked to alternate.
    """
    lengths = _lengths(phase_lengths, "phase")
    if phase_labels is None:
        labels = [f"{'AB'[i % 2]}{i // 2 + 1}" for i in range(len(lengths))]  # A1, B1, A2, B2, ...
    else:
        labels = [str(label) for label in phase_labels]
        if len(labels) != len(lengths):
            raise InputError(
                f"phase: {len(labels)} phase labels for {len(lengths)} phase lengths",
                field="phase",
            )
    failures: list[str] = []
    if len(lengths) < MIN_PHASES_REVERSAL:
        pattern = "".join(label[:1] for label in labels) or "no phases"
        failures.append(
            f"only {len(lengths)} phase{'s' if len(lengths) != 1 else ''} ({pattern}); a reversal "
            f"design needs at least {MIN_PHASES_REVERSAL} phases (e.g. ABAB) to give three "
            "attempts to demonstrate the effect"
        )
    letters = [label[:1].upper() for label in labels]
    if any(a == b for a, b in zip(letters, letters[1:], strict=False)):
        failures.append("phases do not alternate between A and B")
    if failures:
        return StandardsRating("does_not_meet", tuple(failures))
    return _points_rating(
        [(f"phase {label}", n) for label, n in zip(labels, lengths, strict=True)],
        meets=POINTS_PER_PHASE_MEETS,
        reservations=POINTS_PER_PHASE_RESERVATIONS,
        unit="phase",
        design_ok_reason=f"{len(lengths)} alternating phases (at least {MIN_PHASES_REVERSAL} needed)",
    )


def multiple_baseline_standards(
    case_phase_lengths: Mapping[str, Sequence[int]] | Sequence[Sequence[int]],
    intervention_starts: Sequence[int] | None = None,
) -> StandardsRating:
    """WWC standard for multiple baseline designs (across cases, behaviors or settings).

    At least three tiers, each an A (baseline) then a B (intervention) phase, i.e. at least six
    phases, with at least 5 data points per phase to meet standards without reservations or 3 to
    meet them with reservations (Kratochwill et al. 2010; WWC Standards Handbook 4.1). The
    intervention must start at three different points in time: when `intervention_starts`
    (the measurement occasion of each tier's first B observation, on a common time axis) is
    given, fewer than three distinct start times fail the standard.
    """
    if isinstance(case_phase_lengths, Mapping):
        tiers = [
            (str(name), _lengths(lengths, "phase")) for name, lengths in case_phase_lengths.items()
        ]
    else:
        tiers = [
            (str(i + 1), _lengths(lengths, "phase")) for i, lengths in enumerate(case_phase_lengths)
        ]
    failures: list[str] = []
    if len(tiers) < MIN_TIERS_MULTIPLE_BASELINE:
        failures.append(
            f"only {len(tiers)} tier{'s' if len(tiers) != 1 else ''} (cases); a multiple baseline "
            f"design needs at least {MIN_TIERS_MULTIPLE_BASELINE} tiers, i.e. "
            f"{2 * MIN_TIERS_MULTIPLE_BASELINE} phases, to give three attempts to demonstrate "
            "the effect"
        )
    for name, lengths in tiers:
        if len(lengths) != 2:
            failures.append(
                f"case {name} has {len(lengths)} phases; each tier needs one A and one B phase"
            )
    if intervention_starts is not None:
        distinct = len(set(int(s) for s in intervention_starts))
        if distinct < MIN_TIERS_MULTIPLE_BASELINE:
            failures.append(
                f"the intervention starts at only {distinct} distinct time"
                f"{'s' if distinct != 1 else ''}; staggered starts at three different points in "
                "time are needed"
            )
    if failures:
        return StandardsRating("does_not_meet", tuple(failures))
    named = [
        (f"case {name} phase {phase}", n)
        for name, lengths in tiers
        for phase, n in zip("AB", lengths, strict=True)
    ]
    return _points_rating(
        named,
        meets=POINTS_PER_PHASE_MEETS,
        reservations=POINTS_PER_PHASE_RESERVATIONS,
        unit="phase",
        design_ok_reason=(
            f"{len(tiers)} tiers ({2 * len(tiers)} phases; at least "
            f"{2 * MIN_TIERS_MULTIPLE_BASELINE} needed)"
        ),
    )


def alternating_treatments_standards(conditions: Sequence[str]) -> StandardsRating:
    """WWC standard for alternating treatments designs.

    At least two conditions, each with at least 5 data points to meet standards without
    reservations or 4 to meet them with reservations, and never more than two consecutive
    sessions of the same condition (Kratochwill et al. 2010: five repetitions of the alternating
    sequence; WWC Standards Handbook 4.1).
    """
    labels = [str(c) for c in conditions]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    failures: list[str] = []
    if len(counts) < 2:
        failures.append(
            f"only {len(counts)} condition{'s' if len(counts) != 1 else ''}; an alternating "
            "treatments design compares at least two"
        )
    for label, run in sorted(_longest_runs(labels).items()):
        if run > ATD_MAX_CONSECUTIVE:
            failures.append(
                f"condition {label} runs {run} sessions in a row; at most {ATD_MAX_CONSECUTIVE} "
                "consecutive sessions of one condition are allowed"
            )
    if failures:
        return StandardsRating("does_not_meet", tuple(failures))
    return _points_rating(
        [(f"condition {label}", n) for label, n in sorted(counts.items())],
        meets=ATD_POINTS_PER_CONDITION_MEETS,
        reservations=ATD_POINTS_PER_CONDITION_RESERVATIONS,
        unit="condition",
        design_ok_reason=(
            f"{len(counts)} conditions alternating with at most {ATD_MAX_CONSECUTIVE} "
            "consecutive sessions of one condition"
        ),
    )


def changing_criterion_standards(phase_lengths: Sequence[int]) -> StandardsRating:
    """WWC standard for changing criterion designs.

    A baseline then at least three criterion phases (three criterion changes, four phases), each
    with at least 5 data points to meet standards without reservations or 3 to meet them with
    reservations (WWC Standards Handbook 4.1).
    """
    lengths = _lengths(phase_lengths, "phase")
    if len(lengths) < MIN_CHANGING_CRITERION_PHASES:
        changes = max(len(lengths) - 1, 0)
        return StandardsRating(
            "does_not_meet",
            (
                f"only {changes} criterion change{'s' if changes != 1 else ''} "
                f"({len(lengths)} phases); a changing criterion design needs at least "
                f"{MIN_CHANGING_CRITERION_PHASES - 1} changes ({MIN_CHANGING_CRITERION_PHASES} "
                "phases)",
            ),
        )
    names = ["baseline"] + [f"criterion phase {i}" for i in range(1, len(lengths))]
    return _points_rating(
        list(zip(names, lengths, strict=True)),
        meets=POINTS_PER_PHASE_MEETS,
        reservations=POINTS_PER_PHASE_RESERVATIONS,
        unit="phase",
        design_ok_reason=(
            f"{len(lengths) - 1} criterion changes (at least "
            f"{MIN_CHANGING_CRITERION_PHASES - 1} needed)"
        ),
    )


_DESIGN_ALIASES = {
    "abab": "reversal",
    "ab": "reversal",
    "aba": "reversal",
    "reversal": "reversal",
    "withdrawal": "reversal",
    "multiple_baseline": "multiple_baseline",
    "mbd": "multiple_baseline",
    "alternating_treatments": "alternating_treatments",
    "alternating": "alternating_treatments",
    "atd": "alternating_treatments",
    "changing_criterion": "changing_criterion",
    "ccd": "changing_criterion",
}


def sced_standards(
    design: str,
    phase_lengths: Sequence[int]
    | Sequence[Sequence[int]]
    | Mapping[str, Sequence[int]]
    | None = None,
    *,
    phase_labels: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    intervention_starts: Sequence[int] | None = None,
) -> StandardsRating:
    """Rate a design against the WWC single-case design standards.

    `design`: "abab"/"reversal"/"withdrawal" (also "ab", "aba", which fail), "multiple_baseline",
    "alternating_treatments" or "changing_criterion". Phase designs take `phase_lengths` in time
    order (for a multiple baseline: one [A, B] pair per case, as a list or a mapping from case
    name); an alternating treatments design takes the `conditions` sequence instead.
    """
    key = str(design).strip().lower().replace("-", "_").replace(" ", "_")
    kind = _DESIGN_ALIASES.get(key)
    if kind is None:
        raise InputError(
            f"design: unknown design {design!r}; expected one of abab, multiple_baseline, "
            "alternating_treatments, changing_criterion",
            field="design",
        )
    if kind == "alternating_treatments":
        if conditions is None:
            raise InputError(
                "condition: an alternating treatments design is rated from its conditions",
                field="condition",
            )
        return alternating_treatments_standards(conditions)
    if phase_lengths is None:
        raise InputError(f"phase: the {kind} design is rated from its phase lengths", field="phase")
    if kind == "multiple_baseline":
        return multiple_baseline_standards(phase_lengths, intervention_starts)  # type: ignore[arg-type]
    if kind == "changing_criterion":
        return changing_criterion_standards(phase_lengths)  # type: ignore[arg-type]
    return reversal_design_standards(phase_lengths, phase_labels)  # type: ignore[arg-type]
