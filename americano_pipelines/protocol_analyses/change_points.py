"""Change points (in the mean by default, or the cost the plan names) of a protocol's primary
outcome, set against its phase changes.

`change_points_for_protocol` runs `stats.changepoints.detect_change_points` (ruptures) on the
protocol's observations; each change point is set against the nearest observed phase change
(the first observation of a new phase). Bad or insufficient data never raises: the result says
`status="skipped"` and why. A protocol whose registered analyses do not include the change
points gets an `exploratory` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import (
    ObservedSeries,
    Protocol,
    Status,
    observed_series,
)
from americano_pipelines.registration.analyses import CHANGE_POINTS, is_registered
from americano_pipelines.stats.changepoints import ChangePointResult, detect_change_points

__all__ = ["PhaseChange", "ProtocolChangePoints", "change_points_for_protocol"]


@dataclass(frozen=True)
class PhaseChange:
    """The first observation of a new phase: its row in the series, date and phase label."""

    index: int
    date: date
    label: str


@dataclass(frozen=True)
class ProtocolChangePoints:
    """Change points in the mean of the protocol's primary outcome, each set against the
    nearest observed phase change (the first observation of a new phase)."""

    protocol_id: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    min_segment_length: int | None = None
    result: ChangePointResult | None = None
    phase_changes: tuple[PhaseChange, ...] = ()
    exploratory: bool = False
    series: ObservedSeries | None = field(default=None, repr=False, compare=False)

    @property
    def change_point_dates(self) -> tuple[date, ...]:
        if self.result is None:
            return ()
        return tuple(date.fromisoformat(point.date) for point in self.result.change_points)

    def _nearest_phase_change(self, index: int) -> PhaseChange | None:
        if not self.phase_changes:
            return None
        return min(self.phase_changes, key=lambda change: (abs(change.index - index), change.index))

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "metric": self.metric,
            "minSegmentLength": self.min_segment_length,
            "result": None if self.result is None else self.result.to_json(),
            "phaseChanges": [
                {"index": c.index, "date": c.date.isoformat(), "label": c.label}
                for c in self.phase_changes
            ],
            "exploratory": self.exploratory,
        }

    analysis_type: ClassVar[str] = "change_points"
    title: ClassVar[str] = "Change points"

    def params(self) -> dict[str, Any]:
        """The detector's settings (its run's input parameters besides the protocol's)."""
        found = self.result
        return {
            "metric": self.metric,
            "minSegmentLength": self.min_segment_length,
            "algorithm": None if found is None else found.algorithm,
            "penalty": None if found is None else found.penalty,
            "cost": None if found is None else found.cost,
            "penaltyMethod": None if found is None else found.penalty_method,
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        """Each change point's date and means (its run's results summary)."""
        points = [] if self.result is None else list(self.result.change_points)
        return {
            "status": self.status,
            "reason": self.reason,
            "nChangePoints": len(points),
            "changePoints": [
                {
                    "date": point.date,
                    "index": point.index,
                    "confidence": point.confidence,
                    "beforeMean": point.before_mean,
                    "afterMean": point.after_mean,
                    "percentChange": point.percent_change,
                }
                for point in points
            ],
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per change point for `analyses.change_points`."""
        if self.result is None:
            return []
        rows = []
        for number, point in enumerate(self.result.change_points, start=1):
            nearest = self._nearest_phase_change(point.index)
            rows.append(
                {
                    "protocol_id": self.protocol_id,
                    "user_id": self.user_id,
                    "metric": self.metric,
                    "change_point": number,
                    "observation_index": point.index,
                    "change_date": date.fromisoformat(point.date) if point.date else None,
                    "confidence": point.confidence,
                    "before_mean": point.before_mean,
                    "after_mean": point.after_mean,
                    "percent_change": point.percent_change,
                    "nearest_phase_change_date": None if nearest is None else nearest.date,
                    "nearest_phase_label": None if nearest is None else nearest.label,
                    "offset_observations": None if nearest is None else point.index - nearest.index,
                    "algorithm": self.result.algorithm,
                    "penalty": self.result.penalty,
                    "min_segment_length": self.result.min_segment_length,
                    "n_observations": self.result.n_observations,
                }
            )
        return rows


def change_points_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolChangePoints:
    """`detect_change_points` on the protocol's primary outcome (dates from observation_date),
    every segment at least the plan's `min_segment_length`, else the protocol's
    `min_phase_length`, long; the plan's cost (default mean), algorithm, penalty (default BIC)
    and seed. Skipped when the series is too short or not one series."""
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "metric": identity.primary_outcome,
        "exploratory": not is_registered(protocol_row, CHANGE_POINTS),
    }
    series: ObservedSeries | None = None
    try:
        protocol = Protocol.from_row(protocol_row)
        series = observed_series(observations, identity.protocol_id)
        plan = protocol.plan
        min_segment = plan.min_segment_length or protocol.min_phase_length
        base["min_segment_length"] = min_segment
        if series.cases is not None and len(set(series.cases)) > 1:
            raise InputError(
                f"case: {len(set(series.cases))} cases; change points are found in one series",
                field="case",
            )
        phase_changes = tuple(
            PhaseChange(block.start, block.first_date, block.label)
            for block in series.phase_blocks()[1:]
        )
        result = detect_change_points(
            series.values,
            series.dates,
            min_segment_length=min_segment,
            algorithm=plan.change_point_algorithm,
            penalty=plan.change_point_penalty,
            cost=plan.change_point_cost,
            seed=plan.seed if plan.change_point_seed is None else plan.change_point_seed,
        )
    except InputError as error:
        return ProtocolChangePoints(status="skipped", reason=str(error), series=series, **base)
    return ProtocolChangePoints(
        status="ok", result=result, phase_changes=phase_changes, series=series, **base
    )
