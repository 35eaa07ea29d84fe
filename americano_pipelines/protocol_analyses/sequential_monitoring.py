"""Group-sequential monitoring of a protocol's primary outcome at its planned interim looks.

`sequential_monitoring_for_protocol` (documented there) builds the Lan-DeMets design of the
protocol (`stats.sequential`) and monitors the Welch z (`stats.sequential.welch_z`) of the
first n observations at each look. Bad or insufficient data never raises: the result says
`status="skipped"` and why. A protocol whose registered analyses do not include the sequential
monitoring gets an `exploratory` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import (
    ObservedSeries,
    Protocol,
    Status,
    observed_series,
)
from americano_pipelines.registration.analyses import SEQUENTIAL_MONITORING, is_registered
from americano_pipelines.stats.sequential import (
    MonitoringDecision,
    SequentialDesign,
    group_sequential_design,
    monitor,
    welch_z,
)

__all__ = [
    "DESIGN_SETTINGS",
    "WELCH_Z_METHOD",
    "ProtocolSequentialMonitoring",
    "SequentialLook",
    "sequential_monitoring_for_protocol",
]

WELCH_Z_METHOD = (
    "Welch z of the B mean minus the A mean over the protocol's first n observations "
    "(sign flipped for an A-B statistic), z = (mean_B - mean_A) / sqrt(s_A^2/n_A + s_B^2/n_B); "
    "information fraction n / n_max with n_max = sample_size_target, or the number of "
    "observations when the protocol ended short of it; a look with fewer than 2 observations "
    "of A or of B has no z and counts as z = 0 (it cannot cross)"
)

# The protocol file's design settings (registration.analyses.SequentialMonitoring) that go to
# `group_sequential_design` as they are; left out, its defaults hold.
DESIGN_SETTINGS = (
    "hsd_gamma",
    "rho",
    "test_type",
    "beta",
    "futility_spending",
    "futility_hsd_gamma",
    "futility_rho",
    "effect",
)


@dataclass(frozen=True)
class SequentialLook:
    """One planned look: what was seen there (when reached) and its boundary.

    `critical_value`/`alpha_spent` are those in force: recomputed from the observed information
    rates for the looks reached (`boundary="observed"`), the design's for the others
    (`boundary="planned"`). `z_statistic` is None when undefined (then z = 0 was used).
    """

    look: int
    planned_n: int
    planned_information_rate: float
    reached: bool
    boundary: str
    critical_value: float
    alpha_spent: float
    nominal_alpha: float
    n_used: int | None = None
    information_rate: float | None = None
    n_a: int | None = None
    n_b: int | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    z_statistic: float | None = None
    crossed: bool | None = None
    futility_bound: float | None = None
    crossed_futility: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "look": self.look,
            "plannedN": self.planned_n,
            "plannedInformationRate": self.planned_information_rate,
            "reached": self.reached,
            "boundary": self.boundary,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
            "n": self.n_used,
            "informationRate": self.information_rate,
            "nA": self.n_a,
            "nB": self.n_b,
            "meanA": self.mean_a,
            "meanB": self.mean_b,
            "zStatistic": self.z_statistic,
            "crossed": self.crossed,
        }
        if self.futility_bound is not None:
            out["futilityBound"] = self.futility_bound
            out["crossedFutility"] = self.crossed_futility
        return out


@dataclass(frozen=True)
class ProtocolSequentialMonitoring:
    """Group-sequential monitoring of the protocol's primary outcome at its planned looks."""

    protocol_id: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    statistic: str | None = None
    sides: int | None = None
    n_observations: int = 0
    max_information_n: int | None = None
    design: SequentialDesign | None = None
    decision: MonitoringDecision | None = None
    looks: tuple[SequentialLook, ...] = ()
    z_method: str = WELCH_Z_METHOD
    notes: tuple[str, ...] = ()
    exploratory: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "statistic": self.statistic,
            "sides": self.sides,
            "nObservations": self.n_observations,
            "maxInformationN": self.max_information_n,
            "design": None if self.design is None else self.design.to_json(),
            "decision": None if self.decision is None else self.decision.to_json(),
            "looks": [look.to_json() for look in self.looks],
            "zMethod": self.z_method,
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    analysis_type: ClassVar[str] = "sequential_monitoring"
    title: ClassVar[str] = "Sequential monitoring"

    def params(self) -> dict[str, Any]:
        """The design (its run's input parameters besides the protocol's)."""
        design = self.design
        return {
            "statistic": self.statistic,
            "sides": self.sides,
            "alpha": None if design is None else design.alpha,
            "spending": None if design is None else design.spending,
            "maxN": None if design is None else design.max_n,
            "looks": len(self.looks),
            "zMethod": self.z_method,
            "exploratory": self.exploratory,
            **(
                {}
                if design is None or not (design.has_futility or design.characteristics)
                else {
                    "testType": design.test_type,
                    "beta": design.beta,
                    "futilitySpending": design.futility_spending,
                    "effect": design.effect,
                }
            ),
        }

    def headline(self) -> dict[str, Any]:
        """The decision at the last look reached (its run's results summary)."""
        decision = self.decision
        return {
            "status": self.status,
            "reason": self.reason,
            "decision": None if decision is None else decision.decision,
            "stoppedAtLook": None if decision is None else decision.stopped_at_look,
            "zStatistic": None if decision is None else decision.z_statistic,
            "criticalValue": None if decision is None else decision.critical_value,
            "looksReached": sum(1 for look in self.looks if look.reached),
            "looksPlanned": len(self.looks),
            "nObservations": self.n_observations,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per planned look for `analyses.sequential_monitoring`."""
        if self.design is None:
            return []
        decision = self.decision
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "look": look.look,
                "planned_n": look.planned_n,
                "planned_information_rate": look.planned_information_rate,
                "reached": look.reached,
                "n_used": look.n_used,
                "information_rate": look.information_rate,
                "n_a": look.n_a,
                "n_b": look.n_b,
                "mean_a": look.mean_a,
                "mean_b": look.mean_b,
                "z_statistic": look.z_statistic,
                "critical_value": look.critical_value,
                "alpha_spent": look.alpha_spent,
                "nominal_alpha": look.nominal_alpha,
                "boundary": look.boundary,
                "crossed": look.crossed,
                "decision": None if decision is None else decision.decision,
                "stopped_at_look": None if decision is None else decision.stopped_at_look,
                "spending": self.design.spending,
                "sides": self.design.sides,
                "alpha": self.design.alpha,
                "max_n": self.design.max_n,
                "statistic": self.statistic,
                "status": self.status,
                "skip_reason": self.reason,
                "z_method": self.z_method,
            }
            for look in self.looks
        ]


def sequential_monitoring_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolSequentialMonitoring:
    """Lan-DeMets monitoring of the primary outcome when the protocol plans interim looks.

    Design: `group_sequential_design(alpha, spending from the plan, max_n = sample_size_target,
    looks = interim_looks + 1)`, one-sided for a directional statistic ("B-A", "PB-PA", "A-B",
    "PA-PB") and two-sided for an absolute one, as the randomization test.

    Looks. Look k takes place once the protocol has its planned n_k observations and uses the
    first n_k (in time order). The final analysis takes place at max_n observations, or when the
    protocol has ended (`status = "completed"`) with fewer, then on all of them; interim looks
    planned at or beyond that number never take place.

    z at a look: `WELCH_Z_METHOD` (conditions A and B; C observations are left out). It treats
    the observations as independent; daily single-case data are often autocorrelated, so it is
    an approximation and the randomization test stays the confirmatory analysis.

    Information fraction: n / n_max, n_max = max_n while the protocol runs, or the number of
    observations of the final analysis (Lan & DeMets 1983 with the realized maximum). When the
    fractions differ from the plan, `monitor` recomputes the boundaries from them and the final
    analysis spends all remaining alpha (rpact's boundary update).

    The item's design settings (`DESIGN_SETTINGS`: testType, beta, futility spending, effect,
    ...) go to the design as they are; with testType 3-6 a look at or below the futility bound
    stops for futility (`decision = "stop_futility"`, the look's `crossedFutility`).
    """
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "exploratory": not is_registered(protocol_row, SEQUENTIAL_MONITORING),
    }
    try:
        protocol = Protocol.from_row(protocol_row)
        base["statistic"] = protocol.plan.statistic
        base["sides"] = protocol.plan.sides
        if protocol.interim_looks <= 0:
            return ProtocolSequentialMonitoring(
                status="skipped", reason="interim_looks: no interim looks planned", **base
            )
        if protocol.sample_size_target is None:
            raise InputError(
                "sample_size_target: needed as the maximum sample size of the sequential design",
                field="sample_size_target",
            )
        series = observed_series(observations, identity.protocol_id)
        base["n_observations"] = series.n
        settings = {
            name: getattr(protocol.plan, name)
            for name in DESIGN_SETTINGS
            if getattr(protocol.plan, name) is not None
        }
        design = group_sequential_design(
            alpha=protocol.alpha,
            spending=protocol.plan.spending,
            max_n=protocol.sample_size_target,
            looks=protocol.interim_looks + 1,
            sides=protocol.plan.sides,
            **settings,
        )
        return _monitor(protocol, series, design, base)
    except InputError as error:
        return ProtocolSequentialMonitoring(status="skipped", reason=str(error), **base)


def _planned_look(boundary: Any) -> SequentialLook:
    return SequentialLook(
        look=boundary.look,
        planned_n=boundary.n,
        planned_information_rate=boundary.information_rate,
        reached=False,
        boundary="planned",
        critical_value=boundary.critical_value,
        alpha_spent=boundary.alpha_spent,
        nominal_alpha=boundary.nominal_alpha,
        futility_bound=boundary.futility_bound,
    )


def _monitor(
    protocol: Protocol,
    series: ObservedSeries,
    design: SequentialDesign,
    base: dict[str, Any],
) -> ProtocolSequentialMonitoring:
    planned = design.boundaries
    n_observed = series.n
    if n_observed >= design.max_n:
        final_n: int | None = design.max_n
    elif protocol.status == "completed" and n_observed > 0:
        final_n = n_observed
    else:
        final_n = None
    taken = [
        boundary
        for boundary in planned[:-1]
        if boundary.n <= n_observed and (final_n is None or boundary.n < final_n)
    ]
    sizes = [boundary.n for boundary in taken]
    if final_n is not None:
        taken.append(planned[-1])
        sizes.append(final_n)
    if not taken:
        return ProtocolSequentialMonitoring(
            status="skipped",
            reason=f"no look reached yet: the first look is at {planned[0].n} observations, "
            f"{n_observed} so far",
            max_information_n=design.max_n,
            design=design,
            looks=tuple(_planned_look(boundary) for boundary in planned),
            **base,
        )
    max_information_n = final_n or design.max_n
    values = np.asarray(series.values)
    conditions = np.asarray(series.conditions)
    orientation = protocol.plan.orientation
    notes: list[str] = []
    if final_n is not None and final_n < design.max_n:
        notes.append(
            f"the protocol ended with {final_n} of the {design.max_n} planned observations: the "
            "final analysis uses them all and information fractions are relative to them"
        )
    if "C" in set(series.conditions):
        notes.append("condition C observations are left out of the A-B z-statistics")
    seen: list[dict[str, Any]] = []
    for boundary, n in zip(taken, sizes, strict=True):
        a = values[:n][conditions[:n] == "A"]
        b = values[:n][conditions[:n] == "B"]
        z = welch_z(a, b)
        if z is None:
            notes.append(f"look {boundary.look}: fewer than 2 observations of A or B; z = 0 used")
        seen.append(
            {
                "boundary": boundary,
                "n": n,
                "n_a": int(a.size),
                "n_b": int(b.size),
                "mean_a": float(a.mean()) if a.size else None,
                "mean_b": float(b.mean()) if b.size else None,
                "z": None if z is None else orientation * z,
            }
        )
    rates = [look["n"] / max_information_n for look in seen]
    decision = monitor(
        design,
        [0.0 if look["z"] is None else look["z"] for look in seen],
        information_rates_observed=rates,
    )
    looks: dict[int, SequentialLook] = {b.look: _planned_look(b) for b in planned}
    for look, rate, in_force in zip(seen, rates, decision.boundaries, strict=True):
        z_used = 0.0 if look["z"] is None else look["z"]
        crossed = z_used >= in_force.critical_value or (
            design.sides == 2 and z_used <= -in_force.critical_value
        )
        futility = in_force.futility_bound
        final = in_force.look == decision.boundaries[-1].look and not decision.remaining_boundaries
        number = look["boundary"].look
        looks[number] = SequentialLook(
            look=number,
            planned_n=look["boundary"].n,
            planned_information_rate=look["boundary"].information_rate,
            reached=True,
            boundary="observed",
            critical_value=in_force.critical_value,
            alpha_spent=in_force.alpha_spent,
            nominal_alpha=in_force.nominal_alpha,
            n_used=look["n"],
            information_rate=rate,
            n_a=look["n_a"],
            n_b=look["n_b"],
            mean_a=look["mean_a"],
            mean_b=look["mean_b"],
            z_statistic=look["z"],
            crossed=bool(crossed),
            futility_bound=futility,
            crossed_futility=(
                None if futility is None else bool(not crossed and not final and z_used <= futility)
            ),
        )
    return ProtocolSequentialMonitoring(
        status="ok",
        max_information_n=max_information_n,
        design=design,
        decision=decision,
        looks=tuple(looks[number] for number in sorted(looks)),
        notes=tuple(notes),
        **base,
    )
