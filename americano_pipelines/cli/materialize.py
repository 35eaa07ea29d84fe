"""Materialize the asset graph in-process, incrementally: what `make demo` and the CLI run.

The same Dagster instance backs `make ui`, so runs started here appear in the UI's history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from americano_pipelines.config import Settings, dagster_home
from americano_pipelines.db import extract, schema
from americano_pipelines.db.connection import database_url
from americano_pipelines.defs.resources import build_resources


def prepare_dagster_home(settings: Settings) -> DagsterInstance:
    """Point DAGSTER_HOME at AMERICANO_HOME/dagster (with the repo's dagster.yaml and the
    storage AMERICANO_DAGSTER_STORAGE names) and open it."""
    from americano_pipelines.db.home import ensure_home, registry_path
    from americano_pipelines.defs.instance import write_instance_yaml

    ensure_home(settings.home, registry_path(settings))  # never a vanished home's mount point
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    write_instance_yaml(settings, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


# Runs log to the instance (the UI shows everything); the terminal gets warnings only.
_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@functools.cache
def _run_log(path: Path) -> TextIO:
    # Kept open for the life of the process: loggers (DVC's) hold on to the stream they were
    # first given, and must not be left writing to a closed file.
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", buffering=1)  # noqa: SIM115


def _materialize(settings: Settings, *args, **kwargs):
    """dagster.materialize, with what dbt and DVC print sent to the run log: the terminal keeps
    our summary, and a command whose stdout is JSON stays JSON."""
    with contextlib.redirect_stdout(_run_log(settings.run_log_path)):
        return materialize(*args, **kwargs)


@dataclass
class MaterializationSummary:
    event_days_extracted: list[dt.date] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    asset_keys: list[str] = field(default_factory=list)
    protocols_analysed: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    evaluated_checks: list[str] = field(default_factory=list)


def materialize_extract(
    settings: Settings, *, log: Callable[[str], None] = print
) -> MaterializationSummary:
    """Only the extract group: new event days, table snapshots and the DVC data version."""
    return materialize_all(settings, log=log, groups=("extract",))


def materialize_all(
    settings: Settings,
    *,
    log: Callable[[str], None] = print,
    groups: tuple[str, ...] | None = None,
) -> MaterializationSummary:
    """Extract what is new, then snapshot the small tables, version the data and build the
    warehouse (or only the asset `groups` named)."""
    from americano_pipelines.defs.transform.project import prepare_manifest

    prepare_manifest()  # the definitions read the dbt manifest when they are imported
    from americano_pipelines.definitions import defs
    from americano_pipelines.defs.analyses.assets import GROUP as ANALYSES_GROUP
    from americano_pipelines.defs.analyses.jobs import execute_protocol_analyses
    from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
    from americano_pipelines.defs.extract.assets import GROUP as EXTRACT_GROUP

    instance = prepare_dagster_home(settings)
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    # Resources are built from the settings of this call, not those of the definitions' import
    # (tests and the CLI may change AMERICANO_HOME or the database after that).
    resources = build_resources(settings)
    analyses = AssetSelection.groups(ANALYSES_GROUP)
    summary = MaterializationSummary()

    with extract.extract_connection(database_url(settings)) as conn:
        stale_days = extract.stale_event_days(conn, settings.raw_dir)
    summary.event_days_extracted = stale_days
    if stale_days:
        log(f"extracting {len(stale_days)} new or changed day(s) of behavioral_events")
    else:
        log("behavioral_events: no new or changed days; nothing to extract")
    events_key = AssetKey(["raw", schema.EVENTS_TABLE])
    for first, last in extract.consecutive_runs(stale_days):
        result = _materialize(
            settings,
            assets,
            selection=AssetSelection.assets(events_key),
            instance=instance,
            resources=resources,
            run_config=_QUIET_RUN_CONFIG,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        summary.runs.append(result.run_id)

    selection = AssetSelection.groups(*groups) if groups else AssetSelection.all()
    keys: set[str] = set()
    # The per-protocol analyses are partitioned: they run below, one run per protocol.
    if groups is None or set(groups) - {ANALYSES_GROUP}:
        rest = selection - AssetSelection.assets(events_key) - analyses
        if groups is None or EXTRACT_GROUP in groups:
            # The events' partition runs above carry no checks: their row check runs here,
            # once over every day.
            rest |= AssetSelection.checks_for_assets(events_key)
        result = _materialize(
            settings,
            [*assets, *checks],
            selection=rest,
            instance=instance,
            resources=resources,
            run_config=_QUIET_RUN_CONFIG,
        )
        summary.runs.append(result.run_id)
        keys |= {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        summary.failed_checks = _failed_checks(result)
        summary.evaluated_checks = _evaluated_checks(result)
    if groups is None or ANALYSES_GROUP in groups:
        protocol_ids = register_protocol_partitions(instance, settings.duckdb_path)
        if protocol_ids:
            log(f"analysing {len(protocol_ids)} protocol(s)")
        for protocol_id in protocol_ids:
            # the `protocol_analyses` job, on the executor AMERICANO_EXECUTOR names
            with contextlib.redirect_stdout(_run_log(settings.run_log_path)):
                result = execute_protocol_analyses(
                    instance, protocol_id, run_config=_QUIET_RUN_CONFIG
                )
            summary.runs.append(result.run_id)
            keys |= {
                e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
            }
            # the analyses' own checks: convergence, and dbt's tests of their tables
            # (one entry per check, however many protocols it ran for)
            summary.failed_checks += sorted(
                set(_failed_checks(result)) - set(summary.failed_checks)
            )
            summary.evaluated_checks += sorted(
                set(_evaluated_checks(result)) - set(summary.evaluated_checks)
            )
        summary.protocols_analysed = protocol_ids
        if protocol_ids:
            # The analyses recorded their runs: snapshot analysis_runs again, so the Parquet
            # snapshot ends the run in step with PostgreSQL.
            provenance = AssetSelection.assets(
                *(AssetKey(["provenance", table]) for table in schema.PROVENANCE_TABLES)
            )
            result = _materialize(
                settings,
                [*assets, *checks],
                selection=provenance.downstream(),
                instance=instance,
                resources=resources,
                run_config=_QUIET_RUN_CONFIG,
            )
            summary.runs.append(result.run_id)
            summary.failed_checks += _failed_checks(result)
            summary.evaluated_checks += _evaluated_checks(result)
    summary.asset_keys = sorted(keys)
    return summary


def _failed_checks(result) -> list[str]:
    return _evaluated_checks(result, failed_only=True)


def _evaluated_checks(result, *, failed_only: bool = False) -> list[str]:
    return [
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        for evaluation in result.get_asset_check_evaluations()
        if not (failed_only and evaluation.passed)
    ]
