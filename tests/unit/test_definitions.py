"""The Dagster graph loads and its asset keys and lineage stay what users see in the UI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dagster import AssetKey, DynamicPartitionsDefinition

from americano_pipelines.definitions import defs

RAW = {
    "raw/behavioral_events",
    "raw/users",
    "raw/context_metadata",
    "raw/experiment_protocols",
    "raw/phase_assignments",
    "provenance/analysis_runs",
    "raw/wearable_records",
    "raw/apple_health_records",
    "raw/data_version",
}
SEEDS = {"seeds/phase_conditions", "seeds/design_types", "seeds/alternating_randomizations"}
STAGING = {
    "staging/stg_app__users",
    "staging/stg_app__behavioral_events",
    "staging/stg_app__context_metadata",
    "staging/stg_app__experiment_protocols",
    "staging/stg_app__phase_assignments",
    "staging/stg_app__wearable_records",
    "staging/stg_app__apple_health_records",
}
# Views over the rows the quality gates refused (dbt_project/models/quarantine).
QUARANTINE = {
    "quarantine/behavioral_events",
    "quarantine/users",
    "quarantine/context_metadata",
    "quarantine/experiment_protocols",
    "quarantine/phase_assignments",
    "quarantine/wearable_records",
    "quarantine/apple_health_records",
}
INTERMEDIATE = {
    "intermediate/int_protocol_days",
    "intermediate/int_user_daily_activity",
    "intermediate/int_user_day_phases",
}
MARTS = {
    "marts/daily_metrics",
    "marts/phase_observations",
    "marts/protocols",
    "marts/wearable_daily",
    "marts/wearable_provider_daily",
}
# Daily-partitioned provider syncs into wearable_records (defs/wearables).
WEARABLES = {"wearables/oura_records", "wearables/whoop_records"}
ANALYSES = {
    "analyses/sced_randomization_test",
    "analyses/change_points",
    "analyses/sequential_monitoring",
}
ITS_ANALYSES = {"analyses/its_posterior"}
# Analyses that read other protocols' or users' data besides their own.
CAUSAL_ANALYSES = {
    "analyses/synthetic_control",
    "analyses/wearable_links",
    "analyses/series_of_n1",
}
DRIFT = {"drift/weekly_drift"}
# Each protocol's CENT report, after its analyses (defs/reports/).
REPORTS = {"reports/cent_report"}
# Views over the analyses' result files (dbt_project/models/results).
RESULTS = {
    "results/sced_randomization_test",
    "results/change_points",
    "results/sequential_monitoring",
    "results/its_effects",
    "results/synthetic_control",
    "results/wearable_links",
    "results/drift_columns",
    "results/series_of_n1",
}


def _graph():
    return defs.resolve_asset_graph()


def _dbt_keys() -> set[str]:
    """Every key of the dbt assets, with the sources they read."""
    from americano_pipelines.defs.transform.assets import warehouse_models

    graph = _graph()
    own = set(warehouse_models.keys)
    upstream = {parent for key in own for parent in graph.get(key).parent_keys}
    return {key.to_user_string() for key in own | upstream}


def test_asset_keys_are_pinned() -> None:
    keys = {key.to_user_string() for key in _graph().get_all_asset_keys()}
    assert (
        keys
        == (
            RAW | SEEDS | STAGING | INTERMEDIATE | MARTS | ANALYSES | ITS_ANALYSES | CAUSAL_ANALYSES
        )
        | RESULTS
        | DRIFT
        | QUARANTINE
        | REPORTS
        | WEARABLES
    )


def test_every_asset_says_what_it_is_and_who_owns_it() -> None:
    # What the UI shows on each asset (docs/img/): dbt's models included.
    graph = _graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.code_version, key
        assert node.owners == ["team:americano"], key
        assert node.description and len(node.description) > 20, key
        assert node.kinds, key
        layer = "extract" if key.path[0] in ("raw", "provenance") else key.path[0]
        assert node.group_name == layer, key


def test_the_results_views_read_what_each_analysis_writes() -> None:
    graph = _graph()
    writers = {
        "results/sced_randomization_test": "analyses/sced_randomization_test",
        "results/change_points": "analyses/change_points",
        "results/sequential_monitoring": "analyses/sequential_monitoring",
        "results/its_effects": "analyses/its_posterior",
        "results/synthetic_control": "analyses/synthetic_control",
        "results/wearable_links": "analyses/wearable_links",
        "results/drift_columns": "drift/weekly_drift",
    }
    for view, writer in writers.items():
        node = graph.get(AssetKey.from_user_string(view))
        assert node.parent_keys == {AssetKey.from_user_string(writer)}
        assert node.group_name == "results"


def test_seeds_are_dbt_assets_upstream_of_the_models_that_join_them() -> None:
    graph = _graph()
    for key in SEEDS:
        assert graph.get(AssetKey.from_user_string(key)).group_name == "seeds"
    conditions = AssetKey(["seeds", "phase_conditions"])
    assert conditions in graph.get(AssetKey(["intermediate", "int_protocol_days"])).parent_keys
    assert conditions in graph.get(AssetKey(["marts", "protocols"])).parent_keys


def test_every_analyses_table_has_its_dbt_tests_as_a_check() -> None:
    check_keys = {(key.asset_key.to_user_string(), key.name) for key in _graph().asset_check_keys}
    for key in ANALYSES | ITS_ANALYSES | CAUSAL_ANALYSES | DRIFT:
        assert (key, "dbt_source_tests") in check_keys
    # the dbt build leaves the analyses' tables alone: no dbt source of theirs is an asset of it
    assert not any(key.startswith("analyses/") for key in _dbt_keys())


def test_lineage_runs_from_extraction_through_staging_to_marts() -> None:
    graph = _graph()
    assert graph.get(AssetKey(["staging", "stg_app__behavioral_events"])).parent_keys == {
        AssetKey(["raw", "behavioral_events"])
    }
    phase_observations = graph.get(AssetKey(["marts", "phase_observations"]))
    assert AssetKey(["marts", "daily_metrics"]) in phase_observations.parent_keys
    upstream = graph.get(AssetKey(["marts", "phase_observations"]))
    ancestors = set()
    frontier = set(upstream.parent_keys)
    while frontier:
        key = frontier.pop()
        ancestors.add(key)
        frontier |= set(graph.get(key).parent_keys) - ancestors
    assert AssetKey(["raw", "behavioral_events"]) in ancestors
    assert AssetKey(["raw", "phase_assignments"]) in ancestors


def test_events_are_partitioned_by_day_and_groups_name_layers() -> None:
    graph = _graph()
    events = graph.get(AssetKey(["raw", "behavioral_events"]))
    assert events.partitions_def is not None
    assert graph.get(AssetKey(["marts", "daily_metrics"])).group_name == "marts"
    assert graph.get(AssetKey(["raw", "users"])).group_name == "extract"


def test_every_raw_table_has_a_row_conservation_check() -> None:
    check_keys = {(key.asset_key.to_user_string(), key.name) for key in _graph().asset_check_keys}
    for table in ("behavioral_events", "users", "wearable_records", "apple_health_records"):
        assert (f"raw/{table}", "rows_match_postgres") in check_keys


def test_protocol_analyses_are_pinned_partitioned_by_protocol_and_read_the_marts() -> None:
    graph = _graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert ANALYSES <= keys
    marts = {AssetKey(["marts", "phase_observations"]), AssetKey(["marts", "protocols"])}
    for key in ANALYSES:
        node = graph.get(AssetKey.from_user_string(key))
        assert node.group_name == "analyses"
        assert isinstance(node.partitions_def, DynamicPartitionsDefinition)
        assert node.partitions_def.name == "protocols"
        assert marts <= node.parent_keys
    # the test's plot marks the change points, so they come first
    assert (
        AssetKey(["analyses", "change_points"])
        in graph.get(AssetKey(["analyses", "sced_randomization_test"])).parent_keys
    )
    assert defs.resolve_sensor_def("new_protocols").name == "new_protocols"
    assert defs.resolve_job_def("protocol_analyses").partitions_def.name == "protocols"


def test_the_cent_report_follows_every_analysis_and_the_drift_in_the_protocols_job() -> None:
    from dagster import AllPartitionMapping

    from americano_pipelines.defs.analyses.jobs import ANALYSES as SPECS

    graph = _graph()
    node = graph.get(AssetKey(["reports", "cent_report"]))
    assert node.group_name == "reports"
    assert isinstance(node.partitions_def, DynamicPartitionsDefinition)
    assert node.partitions_def.name == "protocols"
    analyses = {spec.key for spec in SPECS}
    assert node.parent_keys == analyses | {AssetKey(["drift", "weekly_drift"])}
    mapping = graph.get_partition_mapping(node.key, AssetKey(["drift", "weekly_drift"]))
    assert isinstance(mapping, AllPartitionMapping)
    # it runs with the analyses (sensors, demo), never with the warehouse's refresh
    job = defs.resolve_job_def("protocol_analyses")
    assert {node.key, *analyses} <= job.asset_layer.selected_asset_keys
    refresh = defs.resolve_job_def("refresh_warehouse")
    assert node.key not in refresh.asset_layer.selected_asset_keys


def test_the_its_posterior_is_pinned_partitioned_by_protocol_with_its_convergence_check() -> None:
    graph = _graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert ITS_ANALYSES <= keys
    node = graph.get(AssetKey(["analyses", "its_posterior"]))
    assert node.group_name == "analyses"
    assert isinstance(node.partitions_def, DynamicPartitionsDefinition)
    assert node.partitions_def.name == "protocols"
    assert {AssetKey(["marts", "daily_metrics"]), AssetKey(["marts", "protocols"])} <= (
        node.parent_keys
    )
    check_keys = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert ("analyses/its_posterior", "its_converged") in check_keys
    # the partitioned job of every protocol analysis runs it too
    job = defs.resolve_job_def("protocol_analyses")
    assert AssetKey(["analyses", "its_posterior"]) in job.asset_layer.selected_asset_keys


def test_the_causal_analyses_are_partitioned_by_protocol_and_read_what_they_use() -> None:
    graph = _graph()
    parents = {
        "analyses/synthetic_control": {"marts/protocols", "marts/daily_metrics"},
        "analyses/wearable_links": {
            "marts/protocols",
            "marts/daily_metrics",
            "marts/wearable_daily",
        },
    }
    job = defs.resolve_job_def("protocol_analyses")
    for key, expected in parents.items():
        node = graph.get(AssetKey.from_user_string(key))
        assert node.group_name == "analyses"
        assert isinstance(node.partitions_def, DynamicPartitionsDefinition)
        assert node.partitions_def.name == "protocols"
        assert {parent.to_user_string() for parent in node.parent_keys} == expected
        assert node.key in job.asset_layer.selected_asset_keys
    # the planner, the sensor and the demo see them, with the inputs they read besides
    from americano_pipelines.defs.analyses.jobs import ANALYSES as SPECS

    reads = {spec.key.to_user_string(): spec.reads for spec in SPECS}
    assert reads["analyses/synthetic_control"] == ("donors",)
    assert reads["analyses/wearable_links"] == ("wearables",)
    assert reads["analyses/series_of_n1"] == ("series",)
    assert all(reads[key] == () for key in ANALYSES | ITS_ANALYSES)


# Loaded when an analysis runs, never with the definitions (start-up time of `make ui`).
HEAVY_MODULES = (
    "pymc",
    "pytensor",
    "causalpy",
    "ruptures",
    "statsmodels",
    "scipy.stats",
    "matplotlib",
    "pandas",
)


def test_loading_the_definitions_imports_no_statistics_plotting_or_pandas() -> None:
    # A fresh interpreter: this test process has imported most of them already.
    code = (
        "import json, sys\n"
        "import americano_pipelines.definitions\n"
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


def test_asset_metadata_are_the_results_params_and_headline_in_snake_case() -> None:
    from americano_pipelines.defs.analyses.factory import result_metadata, snake_case

    assert [snake_case(k) for k in ("pValue", "passesSCEDStandards", "maxN", "nPre")] == [
        "p_value",
        "passes_sced_standards",
        "max_n",
        "n_pre",
    ]

    class Result:
        notes = ("one", "two")

        def params(self) -> dict:
            return {"minPhaseLength": 3, "seed": None}

        def headline(self) -> dict:
            return {"pValue": 0.03, "changePoints": [{"index": 4}], "nested": {"a": 1}}

    assert result_metadata(Result()) == {
        "min_phase_length": 3,
        "p_value": 0.03,
        "notes": "one; two",
    }


OUR_CHECKS = {
    *((key, "rows_match_postgres") for key in RAW - {"raw/data_version"}),
    *(
        (key, "quarantine_within_share")
        for key in RAW - {"raw/data_version"}
        if key.startswith("raw/")
    ),
    *((key, "dbt_source_tests") for key in ANALYSES | ITS_ANALYSES | CAUSAL_ANALYSES),
    ("analyses/its_posterior", "its_converged"),
    ("drift/weekly_drift", "drift_share"),
    ("drift/weekly_drift", "dbt_source_tests"),
    *((key, "freshness_check") for key in MARTS | ANALYSES | ITS_ANALYSES | CAUSAL_ANALYSES),
}


def _dbt_test_checks() -> set[tuple[str, str]]:
    """Every dbt data test on one model or seed, as dagster-dbt names its check."""
    from americano_pipelines.defs.transform.project import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text())
    nodes = manifest["nodes"]
    checks = set()
    for node in nodes.values():
        if node["resource_type"] != "test" or not node.get("attached_node"):
            continue
        parent = nodes[node["attached_node"]]
        if parent["resource_type"] in ("model", "seed"):
            checks.add((f"{parent['schema']}/{parent['name']}", node["name"]))
    return checks


def test_checks_are_pinned() -> None:
    """Every check, exactly: ours by name, dbt's one per test of a model or seed."""
    checks = {(k.asset_key.to_user_string(), k.name) for k in _graph().asset_check_keys}
    assert checks == OUR_CHECKS | _dbt_test_checks()
    assert len(_dbt_test_checks()) > 50


def test_the_weekly_drift_is_partitioned_by_iso_week_and_reads_days_and_baselines() -> None:
    from dagster import WeeklyPartitionsDefinition

    node = _graph().get(AssetKey(["drift", "weekly_drift"]))
    partitions = node.partitions_def
    assert isinstance(partitions, WeeklyPartitionsDefinition)
    assert partitions.get_first_partition_key() == "2024-01-01"  # a Monday: ISO weeks
    assert {key.to_user_string() for key in node.parent_keys} == {
        "marts/daily_metrics",
        "marts/wearable_daily",
        "staging/stg_app__context_metadata",
        "intermediate/int_protocol_days",
    }


def test_jobs_sensors_and_schedules_are_pinned() -> None:
    """CONTRACTS.md §5b: the names, each running by default when the daemon runs."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    assert {job.name for job in defs.resolve_all_job_defs()} == {
        "__ASSET_JOB",
        "protocol_analyses",
        "refresh_warehouse",
        "weekly_drift",
        "wearables_daily_sync",
    }
    sensors = {sensor.name: sensor for sensor in defs.sensors or []}
    assert set(sensors) == {"new_protocols", "protocol_phase_end", "freshness_checks"}
    for sensor in sensors.values():
        assert sensor.default_status == DefaultSensorStatus.RUNNING
    schedules = {schedule.name: schedule for schedule in defs.schedules or []}
    assert set(schedules) == {"nightly_refresh", "weekly_drift", "wearables_daily_sync"}
    nightly = schedules["nightly_refresh"]
    assert nightly.default_status == DefaultScheduleStatus.RUNNING
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 2 * * *", "UTC")
    assert nightly.job_name == "refresh_warehouse"
    weekly = schedules["weekly_drift"]
    assert weekly.default_status == DefaultScheduleStatus.RUNNING
    assert (weekly.cron_schedule, weekly.job_name) == ("0 3 * * 1", "weekly_drift")
    wearables = schedules["wearables_daily_sync"]
    assert wearables.default_status == DefaultScheduleStatus.RUNNING
    assert wearables.job_name == "wearables_daily_sync"


def test_wearable_syncs_are_daily_partitioned_and_feed_the_wearable_marts() -> None:
    from dagster import DailyPartitionsDefinition

    graph = _graph()
    raw = AssetKey(["raw", "wearable_records"])
    for key in WEARABLES:
        node = graph.get(AssetKey.from_user_string(key))
        assert isinstance(node.partitions_def, DailyPartitionsDefinition)
        assert raw in node.child_keys
    staged = AssetKey(["staging", "stg_app__wearable_records"])
    assert raw in graph.get(staged).parent_keys
    provider_daily = AssetKey(["marts", "wearable_provider_daily"])
    assert staged in graph.get(provider_daily).parent_keys
    assert provider_daily in graph.get(AssetKey(["marts", "wearable_daily"])).parent_keys


def test_apple_health_records_are_extracted_gated_staged_and_versioned() -> None:
    graph = _graph()
    raw = AssetKey(["raw", "apple_health_records"])
    assert raw in graph.get(AssetKey(["staging", "stg_app__apple_health_records"])).parent_keys
    assert raw in graph.get(AssetKey(["quarantine", "apple_health_records"])).parent_keys
    assert raw in graph.get(AssetKey(["raw", "data_version"])).parent_keys


def test_the_nightly_cron_and_timezone_come_from_the_environment(monkeypatch) -> None:
    from americano_pipelines.defs.refresh.schedules import nightly_refresh_schedule
    from americano_pipelines.errors import InputError

    monkeypatch.setenv("AMERICANO_NIGHTLY_CRON", "30 4 * * 1-5")
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Europe/Berlin")
    schedule = nightly_refresh_schedule()
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "30 4 * * 1-5",
        "Europe/Berlin",
    )
    monkeypatch.setenv("AMERICANO_NIGHTLY_CRON", "every night")
    with pytest.raises(InputError, match="AMERICANO_NIGHTLY_CRON"):
        nightly_refresh_schedule()
    monkeypatch.setenv("AMERICANO_NIGHTLY_CRON", "0 2 * * *")
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Mars/Olympus")
    with pytest.raises(InputError, match="AMERICANO_TIMEZONE"):
        nightly_refresh_schedule()


def test_the_refresh_job_runs_in_process_and_the_analyses_where_americano_executor_says() -> None:
    refresh = defs.resolve_job_def("refresh_warehouse")
    analyses = defs.resolve_job_def("protocol_analyses")
    assert refresh.executor_def.name == "in_process"
    # AMERICANO_EXECUTOR's choice when a run starts, multiprocess by default (test_executors.py)
    assert analyses.executor_def.name == "americano"
    assert not any(k.path[0] == "analyses" for k in refresh.asset_layer.selected_asset_keys)


def test_freshness_allows_the_longest_gap_between_nightly_ticks_plus_grace() -> None:
    import datetime as dt

    from americano_pipelines.defs.freshness import GRACE, allowed_age

    assert allowed_age("0 2 * * *", "UTC") == dt.timedelta(days=1) + GRACE
    # weekdays only: Friday to Monday is the longest gap
    assert allowed_age("30 4 * * 1-5", "Europe/Berlin") == dt.timedelta(days=3) + GRACE
