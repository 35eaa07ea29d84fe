"""Weekly drift reports: one partition per ISO week, every user with days in it.

`drift/weekly_drift` reads each user's days (`tables.drift_days`: the behavioral outcomes, the
context and the wearables' measures) and the baseline phases of their protocols, calls
`reports.drift.week_drift` for the week, writes Evidently's HTML and the JSON to
`reports/drift/<user>/<week>.{html,json}` and the rows of `analyses.drift_columns` (one per
user, week and column) to `<results>/drift_columns/<week>.parquet`. Its check `drift_share`
(a warning) fails when a user's share of drifted columns passes AMERICANO_DRIFT_WARN_SHARE.
"""

import datetime as dt
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

from americano_pipelines.defs.analyses.factory import metadata_without_none, raw_data_version
from americano_pipelines.defs.drift.partitions import iso_weeks
from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.warehouse import tables

GROUP = "drift"
KEY = AssetKey([GROUP, "weekly_drift"])
CHECK = "drift_share"
CODE_VERSION = "1"
INPUTS = (
    AssetKey(["marts", "daily_metrics"]),
    AssetKey(["marts", "wearable_daily"]),
    AssetKey(["staging", "stg_app__context_metadata"]),
    AssetKey(["intermediate", "int_protocol_days"]),
)


def week_of_partition(partition_key: str) -> str:
    """The ISO week (`YYYY-Www`) of a partition, keyed by its Monday."""
    from americano_pipelines.reports.drift import iso_week_of

    return iso_week_of(dt.date.fromisoformat(partition_key))


def _summary(results: list[Any], warn_share: float) -> str:
    lines = [
        "| user | reference | tested | drifted | share | over the warning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        share = r.share_drifted
        lines.append(
            f"| {r.user_id} | {r.reference_kind} {r.reference_start} to {r.reference_end} "
            f"| {len(r.columns)} | {', '.join(c.column for c in r.columns if c.drifted) or '-'} "
            f"| {'-' if share is None else f'{share:.2f}'} "
            f"| {'yes' if share is not None and share > warn_share else 'no'} |"
        )
    return "\n".join(lines)


@asset(
    key=KEY,
    group_name=GROUP,
    partitions_def=iso_weeks,
    deps=list(INPUTS),
    kinds={"python", "evidently", "parquet"},
    owners=[OWNER],
    code_version=CODE_VERSION,
    description="Per user and ISO week, Evidently's DataDriftPreset of the week's days against "
    "the user's reference (the latest protocol baseline that ended before the week, else the "
    "four weeks before): HTML and JSON in reports/drift/<user>/, one row per user, week and "
    "column in analyses.drift_columns.",
    check_specs=[
        AssetCheckSpec(
            CHECK,
            asset=KEY,
            description="No user's share of drifted columns passes AMERICANO_DRIFT_WARN_SHARE "
            "(default 0.5); a warning.",
        )
    ],
)
def weekly_drift(
    context: AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsResource
) -> MaterializeResult:
    from americano_pipelines.reports.drift import (
        BaselinePeriod,
        iso_week_bounds,
        report_paths,
        save_drift_report,
        week_drift,
    )

    current = settings.get()
    warn_share = current.checked_drift_warn_share
    week = week_of_partition(context.partition_key)
    week_start, week_end = iso_week_bounds(week)
    with warehouse.get_connection(read_only=True) as conn:
        users = [
            user
            for user, (first, last) in tables.drift_day_range(conn).items()
            if first <= week_end and last >= week_start
        ]
        baselines: dict[str, list[BaselinePeriod]] = {}
        for user, protocol, start, end in tables.baseline_periods(conn):
            baselines.setdefault(user, []).append(BaselinePeriod(protocol, start, end))
        days = {user: tables.drift_days(conn, user) for user in users}
    results, rows, links = [], [], {}
    for user in users:
        report = week_drift(days[user], user_id=user, week=week, baselines=baselines.get(user, ()))
        html, json_path = report_paths(current.reports_dir, user, week)
        for kind, path in save_drift_report(report, html, json_path).items():
            links[f"{user}_{kind}"] = MetadataValue.path(str(path))
        results.append(report.result)
        rows.extend(report.result.to_rows())
    written = tables.write_week_results(
        current.results_dir,
        tables.DRIFT_COLUMNS,
        week,
        rows,
        data_version=raw_data_version(context),
    )
    over = [r for r in results if r.share_drifted is not None and r.share_drifted > warn_share]
    check = AssetCheckResult(
        check_name=CHECK,
        passed=not over,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "warn_share": warn_share,
            "users_over": MetadataValue.json({r.user_id: r.share_drifted for r in over}),
        },
    )
    version = raw_data_version(context)
    return MaterializeResult(
        # The raw data the week was computed from: a week is current while it is
        # (defs/drift/plan.py), so a second `make demo` recomputes nothing.
        data_version=None if version is None else DataVersion(version),
        metadata={
            "week": week,
            "users": len(results),
            "users_with_dataset_drift": sum(bool(r.dataset_drift) for r in results),
            "users_over_warn_share": len(over),
            "summary": MetadataValue.md(_summary(results, warn_share)),
            "rows_written": written,
            "table": tables.DRIFT_COLUMNS.qualified_name,
            "result_file": MetadataValue.path(
                str(tables.result_path(current.results_dir, tables.DRIFT_COLUMNS, week))
            ),
            **links,
            **metadata_without_none(data_version=version),
        },
        check_results=[check],
    )


drift_assets = [weekly_drift]
