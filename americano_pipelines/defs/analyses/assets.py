"""Each protocol's pre-registered analyses, one partition per protocol.

Every asset reads the protocol's row of `marts.protocols` and its `marts.phase_observations`,
calls one function of `americano_pipelines.protocol_analyses.protocol_analysis`, replaces the protocol's
rows in its `analyses.*` table, records the run (an `analysis_runs` row written as the
protocol's user and an MLflow run: `americano_pipelines.provenance.runs`) and reports the headline
numbers, the raw data version (the DVC hash of `raw/data_version`), the run's ids and a plot as
materialization metadata.
"""

import base64
import datetime as dt
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.resources import SettingsResource
from americano_pipelines.protocol_analyses.protocol_analysis import (
    ObservedSeries,
    change_points_for_protocol,
    randomization_test_for_protocol,
    sequential_monitoring_for_protocol,
)
from americano_pipelines.provenance.runs import (
    AnalysisRunRecord,
    RunDescription,
    describe_change_points,
    describe_randomization_test,
    describe_sequential_monitoring,
    record_analysis_run,
)
from americano_pipelines.reports.sced_plots import plot_phase_series
from americano_pipelines.warehouse import tables

GROUP = "analyses"
PROTOCOLS = AssetKey(["marts", "protocols"])
PHASE_OBSERVATIONS = AssetKey(["marts", "phase_observations"])
RAW_DATA_VERSION = AssetKey(["raw", "data_version"])
RANDOMIZATION_TEST_KEY = AssetKey([GROUP, "sced_randomization_test"])
CHANGE_POINTS_KEY = AssetKey([GROUP, "change_points"])
SEQUENTIAL_MONITORING_KEY = AssetKey([GROUP, "sequential_monitoring"])


# ----------------------------------------------------------------------------- helpers


def _inputs(warehouse: DuckDBResource, protocol_id: str) -> tuple[dict[str, Any], Any]:
    with warehouse.get_connection() as conn:
        return tables.protocol_row(conn, protocol_id), tables.phase_observations(conn, protocol_id)


def raw_data_version(context: AssetExecutionContext) -> str | None:
    """The DVC hash of the raw data the marts were built from (latest `raw/data_version`)."""
    event = context.instance.get_latest_materialization_event(RAW_DATA_VERSION)
    materialization = None if event is None else event.asset_materialization
    value = None if materialization is None else materialization.metadata.get("dvc_hash")
    return None if value is None else str(value.value)


def _plot_metadata(
    settings: SettingsResource,
    protocol_id: str,
    name: str,
    series: ObservedSeries | None,
    change_point_dates: Sequence[date],
    title: str,
    ylabel: str,
) -> dict[str, Any]:
    """Draw the series to reports/<protocol>/<name>.png; the path and an inline image."""
    if series is None or series.n == 0:
        return {}
    folder = re.sub(r"[^\w.-]", "_", protocol_id)
    path = Path(settings.get().reports_dir) / folder / f"{name}.png"
    png = plot_phase_series(
        series.dates,
        series.values,
        series.conditions,
        phase_labels=series.phase_labels,
        change_point_dates=change_point_dates,
        title=title,
        ylabel=ylabel,
        path=path,
    )
    image = base64.b64encode(png).decode("ascii")
    return {
        "plot": MetadataValue.md(f"![{title}](data:image/png;base64,{image})"),
        "plot_path": MetadataValue.path(str(path)),
    }


def metadata_without_none(**items: Any) -> dict[str, Any]:
    """Metadata without the entries that have no value."""
    return {key: value for key, value in items.items() if value is not None}


def record_run(
    context: AssetExecutionContext,
    settings: SettingsResource,
    protocol_row: dict[str, Any],
    description: RunDescription,
    *,
    data_version: str | None,
    started_at: dt.datetime,
    artifacts: Sequence[str | Path] = (),
) -> AnalysisRunRecord:
    """The run's provenance: an `analysis_runs` row as the protocol's user, and an MLflow run."""
    return record_analysis_run(
        protocol_id=context.partition_key,
        user_id=str(protocol_row.get("user_id") or ""),
        run_name=description.run_name,
        analysis_type=description.analysis_type,
        input_params=description.input_params,
        results_summary=description.results_summary,
        data_version_hash=data_version,
        started_at=started_at,
        completed_at=dt.datetime.now(dt.UTC),
        artifact_paths=artifacts,
        settings=settings.get(),
        tags={"dagster.run_id": context.run_id},
    )


def _plot_paths(plot: dict[str, Any]) -> list[str]:
    return [str(plot["plot_path"].value)] if "plot_path" in plot else []


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


# ----------------------------------------------------------------------------- assets


@asset(
    key=CHANGE_POINTS_KEY,
    group_name=GROUP,
    partitions_def=protocols,
    deps=[PROTOCOLS, PHASE_OBSERVATIONS],
    kinds={"python", "duckdb"},
    description="Change points in the mean of the protocol's primary outcome (ruptures PELT, "
    "bootstrap confidence), one row per change point in analyses.change_points.",
)
def change_points(
    context: AssetExecutionContext, warehouse: DuckDBResource, settings: SettingsResource
) -> MaterializeResult:
    started_at = dt.datetime.now(dt.UTC)
    protocol_id = context.partition_key
    row, observations = _inputs(warehouse, protocol_id)
    result = change_points_for_protocol(row, observations)
    data_version = raw_data_version(context)
    with warehouse.get_connection() as conn:
        written = tables.replace_protocol_rows(
            conn, tables.CHANGE_POINTS, protocol_id, result.to_rows(), data_version=data_version
        )
    dates = result.change_point_dates
    plot = _plot_metadata(
        settings,
        protocol_id,
        "change_points",
        result.series,
        dates,
        f"{protocol_id}: {len(dates)} change point{'s' if len(dates) != 1 else ''} in "
        f"{result.metric or 'the primary outcome'}",
        result.metric or "value",
    )
    run = record_run(
        context,
        settings,
        row,
        describe_change_points(row, result),
        data_version=data_version,
        started_at=started_at,
        artifacts=_plot_paths(plot),
    )
    return MaterializeResult(
        metadata=metadata_without_none(
            status=result.status,
            reason=result.reason,
            n_change_points=len(dates),
            change_point_dates=", ".join(day.isoformat() for day in dates) or "none",
            algorithm=None if result.result is None else result.result.algorithm,
            penalty=None if result.result is None else result.result.penalty,
            rows_written=written,
            table=tables.CHANGE_POINTS.qualified_name,
            data_version=data_version,
            analysis_run_id=run.id,
            mlflow_run_id=run.mlflow_run_id,
            **plot,
        )
    )


@asset(
    key=RANDOMIZATION_TEST_KEY,
    group_name=GROUP,
    partitions_def=protocols,
    # The change points only mark the plot; the test itself reads the marts.
    deps=[PROTOCOLS, PHASE_OBSERVATIONS, CHANGE_POINTS_KEY],
    kinds={"python", "duckdb"},
    description="The protocol's single-case randomization test (SCRT conventions), NAP and SMD "
    "effect sizes and WWC standards rating; one row per protocol in "
    "analyses.sced_randomization_test.",
)
def sced_randomization_test(
    context: AssetExecutionContext, warehouse: DuckDBResource, settings: SettingsResource
) -> MaterializeResult:
    started_at = dt.datetime.now(dt.UTC)
    protocol_id = context.partition_key
    row, observations = _inputs(warehouse, protocol_id)
    result = randomization_test_for_protocol(row, observations)
    data_version = raw_data_version(context)
    with warehouse.get_connection() as conn:
        written = tables.replace_protocol_rows(
            conn,
            tables.RANDOMIZATION_TESTS,
            protocol_id,
            result.to_rows(),
            data_version=data_version,
        )
        marked = tables.change_point_dates(conn, protocol_id)
    test = result.test
    title = (
        f"{protocol_id} ({result.design}): {result.statistic} = "
        f"{_number(test.observed_effect)}, p = {_number(test.p_value)}"
        if test is not None
        else f"{protocol_id} ({result.design}): test skipped"
    )
    plot = _plot_metadata(
        settings,
        protocol_id,
        "sced_randomization_test",
        result.series,
        marked,
        title,
        str(row.get("primary_outcome") or "value"),
    )
    run = record_run(
        context,
        settings,
        row,
        describe_randomization_test(row, result),
        data_version=data_version,
        started_at=started_at,
        artifacts=_plot_paths(plot),
    )
    return MaterializeResult(
        metadata=metadata_without_none(
            status=result.status,
            reason=result.reason,
            design=result.design,
            statistic=result.statistic,
            p_value=None if test is None else test.p_value,
            observed_effect=None if test is None else test.observed_effect,
            effect_size=None if test is None else test.effect_size,
            nap=None if result.nap is None else result.nap.estimate,
            smd=None if result.smd is None else result.smd.estimate,
            rating=None if result.standards is None else result.standards.rating,
            passes_sced_standards=None if result.standards is None else result.standards.passes,
            n_assignments=None if test is None else test.n_assignments,
            exact=None if test is None else test.exact,
            min_phase_length_used=result.min_phase_length_used,
            notes="; ".join(result.notes) or None,
            rows_written=written,
            table=tables.RANDOMIZATION_TESTS.qualified_name,
            data_version=data_version,
            analysis_run_id=run.id,
            mlflow_run_id=run.mlflow_run_id,
            **plot,
        )
    )


def _looks_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| look | n | information | z | critical value | alpha spent | crossed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for look in rows:
        reached = look["reached"]
        lines.append(
            f"| {look['look']} | {look['n_used'] if reached else look['planned_n']} "
            f"| {_number(look['information_rate'] if reached else look['planned_information_rate'], 3)} "
            f"| {_number(look['z_statistic'], 3) if reached else 'not reached'} "
            f"| {_number(look['critical_value'], 4)} | {_number(look['alpha_spent'], 3)} "
            f"| {'yes' if look['crossed'] else 'no' if reached else ''} |"
        )
    return "\n".join(lines)


@asset(
    key=SEQUENTIAL_MONITORING_KEY,
    group_name=GROUP,
    partitions_def=protocols,
    deps=[PROTOCOLS, PHASE_OBSERVATIONS],
    kinds={"python", "duckdb"},
    description="Group-sequential monitoring (Lan-DeMets alpha spending) at the protocol's "
    "planned interim looks; one row per look in analyses.sequential_monitoring.",
)
def sequential_monitoring(
    context: AssetExecutionContext, warehouse: DuckDBResource, settings: SettingsResource
) -> MaterializeResult:
    started_at = dt.datetime.now(dt.UTC)
    protocol_id = context.partition_key
    row, observations = _inputs(warehouse, protocol_id)
    result = sequential_monitoring_for_protocol(row, observations)
    rows = result.to_rows()
    data_version = raw_data_version(context)
    with warehouse.get_connection() as conn:
        written = tables.replace_protocol_rows(
            conn, tables.SEQUENTIAL_LOOKS, protocol_id, rows, data_version=data_version
        )
    decision = result.decision
    run = record_run(
        context,
        settings,
        row,
        describe_sequential_monitoring(row, result),
        data_version=data_version,
        started_at=started_at,
    )
    return MaterializeResult(
        metadata=metadata_without_none(
            status=result.status,
            reason=result.reason,
            decision=None if decision is None else decision.decision,
            message=None if decision is None else decision.message,
            stopped_at_look=None if decision is None else decision.stopped_at_look,
            looks_reached=sum(1 for look in result.looks if look.reached),
            looks_planned=len(result.looks),
            z_statistic=None if decision is None else decision.z_statistic,
            critical_value=None if decision is None else decision.critical_value,
            spending=None if result.design is None else result.design.spending,
            sides=result.sides,
            looks=MetadataValue.md(_looks_markdown(rows)) if rows else None,
            z_method=result.z_method,
            notes="; ".join(result.notes) or None,
            rows_written=written,
            table=tables.SEQUENTIAL_LOOKS.qualified_name,
            data_version=data_version,
            analysis_run_id=run.id,
            mlflow_run_id=run.mlflow_run_id,
        )
    )


protocol_analysis_assets = [change_points, sced_randomization_test, sequential_monitoring]
