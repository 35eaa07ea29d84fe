"""Each protocol's pre-registered analyses, one partition per protocol.

The randomization test, the change points and the sequential monitoring read the protocol's
row of `marts.protocols` and its `marts.phase_observations`, call one function of
`americano_pipelines.protocol_analyses` and go through the one factory
(`defs.analyses.factory`); the Bayesian ITS is specified in `defs.analyses.its`. Each runs for
the protocols that registered it (`analysis`, its name in the protocol's `analyses:` list).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue

from americano_pipelines.config import Settings
from americano_pipelines.defs.analyses.factory import (
    GROUP,
    PHASE_OBSERVATIONS,
    PROTOCOLS,
    AnalysisSpec,
    analysis_asset,
)
from americano_pipelines.registration import analyses
from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    from americano_pipelines.protocol_analyses.change_points import ProtocolChangePoints
    from americano_pipelines.protocol_analyses.inputs import ObservedSeries
    from americano_pipelines.protocol_analyses.randomization_test import ProtocolTestResult
    from americano_pipelines.protocol_analyses.sequential_monitoring import (
        ProtocolSequentialMonitoring,
    )

__all__ = [
    "CHANGE_POINTS",
    "GROUP",
    "RANDOMIZATION_TEST",
    "SEQUENTIAL_MONITORING",
    "protocol_analysis_assets",
]


def _phase_observations(conn: Any, protocol_id: str) -> tuple[dict[str, Any], Any]:
    return tables.protocol_row(conn, protocol_id), tables.phase_observations(conn, protocol_id)


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _plot_series(
    series: ObservedSeries | None,
    path: Path,
    change_point_dates: Sequence[date],
    title: str,
    ylabel: str,
) -> dict[str, Path]:
    """The protocol's series with its phases and change points, as `plot` (none when empty)."""
    if series is None or series.n == 0:
        return {}
    from americano_pipelines.reports.sced_plots import plot_phase_series

    plot_phase_series(
        series.dates,
        series.values,
        series.conditions,
        phase_labels=series.phase_labels,
        change_point_dates=change_point_dates,
        title=title,
        ylabel=ylabel,
        path=path,
    )
    return {"plot": path}


# ----------------------------------------------------------------------------- change points


def _change_points(row: dict[str, Any], observations: Any, _: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.change_points import change_points_for_protocol

    return change_points_for_protocol(row, observations)


def _plot_change_points(
    result: ProtocolChangePoints, row: dict[str, Any], folder: Path, settings: Settings
) -> dict[str, Path]:
    dates = result.change_point_dates
    return _plot_series(
        result.series,
        folder / "change_points.png",
        dates,
        f"{result.protocol_id}: {len(dates)} change point{'s' if len(dates) != 1 else ''} in "
        f"{result.metric or 'the primary outcome'}",
        result.metric or "value",
    )


CHANGE_POINTS = AnalysisSpec(
    name="change_points",
    description="Change points in the mean of the protocol's primary outcome (ruptures PELT, "
    "bootstrap confidence), one row per change point in analyses.change_points.",
    inputs=(PROTOCOLS, PHASE_OBSERVATIONS),
    read=_phase_observations,
    compute=_change_points,
    table=tables.CHANGE_POINTS,
    plot=_plot_change_points,
    metadata=lambda result: {
        "change_point_dates": ", ".join(day.isoformat() for day in result.change_point_dates)
        or "none"
    },
    analysis=analyses.CHANGE_POINTS,
)


# ----------------------------------------------------------------------------- randomization test


def _randomization_test(row: dict[str, Any], observations: Any, _: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.randomization_test import (
        randomization_test_for_protocol,
    )

    return randomization_test_for_protocol(row, observations)


def _plot_randomization_test(
    result: ProtocolTestResult, row: dict[str, Any], folder: Path, settings: Settings
) -> dict[str, Path]:
    marked = tables.change_point_dates(settings.results_dir, result.protocol_id)
    test = result.test
    title = (
        f"{result.protocol_id} ({result.design}): {result.statistic} = "
        f"{_number(test.observed_effect)}, p = {_number(test.p_value)}"
        if test is not None
        else f"{result.protocol_id} ({result.design}): test skipped"
    )
    return _plot_series(
        result.series,
        folder / "sced_randomization_test.png",
        marked,
        title,
        str(row.get("primary_outcome") or "value"),
    )


RANDOMIZATION_TEST = AnalysisSpec(
    name="sced_randomization_test",
    description="The protocol's single-case randomization test (SCRT conventions), NAP and SMD "
    "effect sizes and WWC standards rating; one row per protocol in "
    "analyses.sced_randomization_test.",
    # The change points only mark the plot; the test itself reads the marts.
    inputs=(PROTOCOLS, PHASE_OBSERVATIONS, CHANGE_POINTS.key),
    read=_phase_observations,
    compute=_randomization_test,
    table=tables.RANDOMIZATION_TESTS,
    plot=_plot_randomization_test,
    metadata=lambda result: {"design": result.design},
    analysis=analyses.RANDOMIZATION_TEST,
)


# ----------------------------------------------------------------------------- sequential


def _sequential_monitoring(row: dict[str, Any], observations: Any, _: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.sequential_monitoring import (
        sequential_monitoring_for_protocol,
    )

    return sequential_monitoring_for_protocol(row, observations)


def _looks_markdown(result: ProtocolSequentialMonitoring) -> str | None:
    if not result.looks or result.design is None:
        return None
    lines = [
        "| look | n | information | z | critical value | alpha spent | crossed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for look in result.looks:
        reached = look.reached
        information = look.information_rate if reached else look.planned_information_rate
        lines.append(
            f"| {look.look} | {look.n_used if reached else look.planned_n} "
            f"| {_number(information, 3)} "
            f"| {_number(look.z_statistic, 3) if reached else 'not reached'} "
            f"| {_number(look.critical_value, 4)} | {_number(look.alpha_spent, 3)} "
            f"| {'yes' if look.crossed else 'no' if reached else ''} |"
        )
    return "\n".join(lines)


def _sequential_metadata(result: ProtocolSequentialMonitoring) -> dict[str, Any]:
    table = _looks_markdown(result)
    return {
        "message": None if result.decision is None else result.decision.message,
        "looks": None if table is None else MetadataValue.md(table),
    }


SEQUENTIAL_MONITORING = AnalysisSpec(
    name="sequential_monitoring",
    description="Group-sequential monitoring (Lan-DeMets alpha spending) at the protocol's "
    "planned interim looks; one row per look in analyses.sequential_monitoring.",
    inputs=(PROTOCOLS, PHASE_OBSERVATIONS),
    read=_phase_observations,
    compute=_sequential_monitoring,
    table=tables.SEQUENTIAL_LOOKS,
    metadata=_sequential_metadata,
    analysis=analyses.SEQUENTIAL_MONITORING,
)


protocol_analysis_assets = [
    analysis_asset(spec) for spec in (CHANGE_POINTS, RANDOMIZATION_TEST, SEQUENTIAL_MONITORING)
]
