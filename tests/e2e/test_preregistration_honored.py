"""Pre-registration honored, end to end: a demo study whose second protocol registered only its
randomization test.

Scheduled runs of that protocol's partition materialize the other analyses as not run
(`registered: false`, no rows, no analysis run); a run tagged exploratory computes one and
marks it `exploratory` in its metadata, its table's JSON and its `analysis_runs.input_params`;
`americano analyze protocol` runs one by hand, prints `"exploratory": true`, and
`americano runs list` says so too. The first protocol registered everything (the demo's list):
nothing of it is exploratory.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest
from dagster import AssetSelection, materialize

from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.analyses.assets import CHANGE_POINTS, SEQUENTIAL_MONITORING
from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
from americano_pipelines.defs.analyses.plan import InputFingerprints, stale_protocols
from americano_pipelines.defs.analyses.registered import EXPLORATORY_TAG
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.synth.demo_study import generate_demo_study

BASE_GROUPS = ("extract", "seeds", "staging", "intermediate", "marts", "results")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FULL, PARTIAL = "protocol_001", "protocol_002"
SPECS = (CHANGE_POINTS, SEQUENTIAL_MONITORING)


# CI runs this module once: registered analyses over a demo study: PostgreSQL's side of pre-registration (its triggers,
# its frozen fields) is tests/integration/test_preregistration.py's, run against both servers.
pytestmark = pytest.mark.once


@pytest.fixture(scope="module")
def study(migrated_database: str, module_platform: Path):
    demo = generate_demo_study(users=2, days=63, seed=11, start_date=dt.date(2025, 9, 1))
    only_the_test = json.dumps([{"analysis": "randomization_test"}])
    protocols = demo.tables["experiment_protocols"].with_columns(
        pl.when(pl.col("id") == PARTIAL)
        .then(pl.lit(only_the_test))
        .otherwise(pl.col("analyses"))
        .alias("analyses")
    )
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, {**demo.tables, "experiment_protocols": protocols})
    settings = get_settings()
    base = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert base.failed_checks == []

    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    resources = {
        **(defs.resources or {}),
        "warehouse": WarehouseResource(database=settings.duckdb_path),
    }
    assert register_protocol_partitions(instance, settings.duckdb_path) == [FULL, PARTIAL]

    def run(protocol_id: str, **tags: str):
        return materialize(
            list(defs.assets or []),
            selection=AssetSelection.assets(*(spec.key for spec in SPECS)),
            partition_key=protocol_id,
            instance=instance,
            resources=resources,
            run_config=QUIET,
            tags=tags or None,
        )

    def due() -> dict[str, list[str]]:
        """What the planner would run next, by protocol (the analyses of this module)."""
        with WarehouseResource(database=settings.duckdb_path).get_connection(
            read_only=True
        ) as conn:
            fingerprints = InputFingerprints.read(conn, SPECS)
        plans = stale_protocols(instance, SPECS, fingerprints)
        return {plan.protocol_id: [key.path[-1] for key in plan.stale] for plan in plans}

    def looks() -> int:
        with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
            return wh.execute(
                "SELECT count(*) FROM analyses.sequential_monitoring WHERE protocol_id = ?",
                [PARTIAL],
            ).fetchone()[0]

    steps: dict = {"scheduled": {protocol_id: run(protocol_id) for protocol_id in (FULL, PARTIAL)}}
    steps["due_after_scheduled"] = due()
    steps["exploratory"] = run(PARTIAL, **{EXPLORATORY_TAG: "true"})
    steps["looks_after_exploratory"] = looks()
    steps["due_after_exploratory"] = due()
    steps["rescheduled"] = run(PARTIAL)
    steps["looks_after_rescheduled"] = looks()
    steps["due_after_rescheduled"] = due()
    yield {"settings": settings, "url": migrated_database, **steps}


def _metadata(result, spec) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == spec.key]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def _runs(url: str, protocol_id: str) -> list[tuple[str, dict]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT analysis_type, input_params FROM analysis_runs WHERE protocol_id = %s "
            "ORDER BY chain_index",
            (protocol_id,),
        ).fetchall()


def _americano(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "americano"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_marts_carry_each_protocols_list(study) -> None:
    with duckdb.connect(study["settings"].duckdb_path, read_only=True) as wh:
        rows = dict(wh.execute("SELECT protocol_id, analyses FROM marts.protocols").fetchall())
    assert json.loads(rows[PARTIAL]) == [{"analysis": "randomization_test"}]
    assert [item["analysis"] for item in json.loads(rows[FULL])] == [
        "randomization_test",
        "its",
        "change_points",
        "sequential_monitoring",
        "wearable_links",
    ]


def test_a_scheduled_run_skips_what_the_protocol_did_not_register(study) -> None:
    result = study["scheduled"][PARTIAL]
    assert result.success
    for spec in SPECS:
        metadata = _metadata(result, spec)
        assert metadata["registered"] is False and metadata["status"] == "skipped"
        assert metadata["registered_analyses"] == "randomization_test"
        assert "rows_written" not in metadata and "analysis_run_id" not in metadata
    # the scheduled run computed and recorded nothing for it (the exploratory run came later)
    scheduled_runs = [
        kind for kind, params in _runs(study["url"], PARTIAL) if not params["exploratory"]
    ]
    assert scheduled_runs == []


def test_registered_analyses_run_and_are_confirmatory(study) -> None:
    result = study["scheduled"][FULL]
    for spec in SPECS:
        metadata = _metadata(result, spec)
        assert metadata["exploratory"] is False and "registered" not in metadata
        assert metadata["analysis_run_id"]
    assert {kind for kind, _ in _runs(study["url"], FULL)} == {
        "change_points",
        "sequential_monitoring",
    }
    assert all(params["exploratory"] is False for _, params in _runs(study["url"], FULL))


def test_a_run_tagged_exploratory_computes_and_marks_it(study) -> None:
    result = study["exploratory"]
    assert result.success
    for spec in SPECS:
        metadata = _metadata(result, spec)
        assert metadata["exploratory"] is True
        assert metadata["analysis_run_id"]
    recorded = _runs(study["url"], PARTIAL)
    assert {kind for kind, _ in recorded} == {"change_points", "sequential_monitoring"}
    assert all(params["exploratory"] is True for _, params in recorded)
    # it wrote its rows (two interim looks and the final analysis) ...
    assert study["looks_after_exploratory"] == 3


def test_the_planner_counts_a_skip_as_current_and_an_exploratory_result_as_not(study) -> None:
    assert study["due_after_scheduled"] == {}  # nothing due: the skips are current
    assert study["due_after_exploratory"] == {PARTIAL: ["change_points", "sequential_monitoring"]}
    # ... and the next scheduled run puts the warehouse back to what was registered
    result = study["rescheduled"]
    assert all(_metadata(result, spec)["registered"] is False for spec in SPECS)
    assert study["looks_after_rescheduled"] == 0
    assert study["due_after_rescheduled"] == {}


def test_analyze_protocol_by_hand_is_exploratory_and_runs_list_says_so(study) -> None:
    completed = _americano(
        "analyze", "protocol", "--protocol", PARTIAL, "--analysis", "change_points"
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    printed = json.loads(completed.stdout)
    assert printed["exploratory"] is True and printed["protocolId"] == PARTIAL
    listed = _americano("runs", "list", "--protocol", PARTIAL)
    assert listed.returncode == 0, listed.stderr[-2000:]
    (run,) = [r for r in json.loads(listed.stdout) if r["id"] == printed["analysisRunId"]]
    assert run["exploratory"] is True and run["inputParams"]["exploratory"] is True
    assert run["mlflowRunId"] == printed["mlflowRunId"]
    assert run["analysisType"] == "change_points"
    # the data version the scheduled runs recorded: the raw tree the warehouse was built from
    with psycopg.connect(study["url"]) as conn:
        versions = conn.execute(
            "SELECT DISTINCT data_version_hash FROM analysis_runs WHERE protocol_id = %s", (FULL,)
        ).fetchall()
    assert [(run["dataVersionHash"],)] == versions and run["dataVersionHash"] != "unknown"

    registered = _americano(
        "analyze", "protocol", "--protocol", PARTIAL, "--analysis", "randomization_test"
    )
    assert registered.returncode == 0, registered.stderr[-2000:]
    assert json.loads(registered.stdout)["exploratory"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--protocol", "no_such_protocol", "--analysis", "its"),
            "error: --protocol: no protocol 'no_such_protocol'",
        ),
        (("--protocol", FULL, "--analysis", "granger"), "error: "),
    ],
)
def test_analyze_protocol_bad_input_is_one_line(study, args, message: str) -> None:
    completed = _americano("analyze", "protocol", *args)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith(message) and completed.stderr.count("\n") == 1
