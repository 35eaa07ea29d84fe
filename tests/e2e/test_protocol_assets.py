"""The per-protocol analysis assets on a small demo study: partitions, tables, metadata, reruns.

The base graph is built with `materialize_all`, then the steps the runner takes for the
analyses are taken here directly: register the protocol partitions, then materialize the
`analyses` group once per protocol partition.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    SensorResult,
    build_sensor_context,
    materialize,
)

from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.analyses.assets import (
    CHANGE_POINTS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
)
from americano_pipelines.defs.analyses.partitions import protocols, register_protocol_partitions
from americano_pipelines.defs.refresh.sensors import new_protocols_sensor
from americano_pipelines.defs.reports.assets import CENT_REPORT
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.stats.sced import abab_randomization_test
from americano_pipelines.synth.demo_study import generate_demo_study

BASE_GROUPS = ("extract", "seeds", "staging", "intermediate", "marts", "results")
# The three analyses this module materializes, and their tables, as the definitions state them.
SPECS = (RANDOMIZATION_TEST, CHANGE_POINTS, SEQUENTIAL_MONITORING)
ANALYSES = tuple(spec.name for spec in SPECS)
TABLES = {spec.name: spec.table.qualified_name for spec in SPECS}
# Materialized by their own e2e modules (test_its_asset.py, test_causal_assets.py,
# test_series_asset.py).
OTHERS = ("its_posterior", "synthetic_control", "wearable_links", "series_of_n1")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# CI runs this module once: the protocols' partitions and sensor over a demo study: they read the warehouse, and
# PostgreSQL only through the extraction that tests/e2e/test_demo_graph.py runs against both servers.
pytestmark = pytest.mark.once


def _materialize_protocols(protocol_ids, instance, resources):
    from americano_pipelines.definitions import defs

    return {
        protocol_id: materialize(
            list(defs.assets or []),
            selection=AssetSelection.assets(*(spec.key for spec in SPECS)),
            partition_key=protocol_id,
            instance=instance,
            resources=resources,
            run_config=QUIET,
        )
        for protocol_id in protocol_ids
    }


def _counts(settings) -> dict[str, dict[str, int]]:
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        return {
            name: dict(
                wh.execute(f"SELECT protocol_id, count(*) FROM {table} GROUP BY 1").fetchall()
            )
            for name, table in TABLES.items()
        }


@pytest.fixture(scope="module")
def analysed(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("protocols")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.setenv("DAGSTER_HOME", str(root / "unused"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    study = generate_demo_study(users=2, days=63, seed=11, start_date=dt.date(2025, 9, 1))
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    base = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert base.failed_checks == []

    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    # The definitions may have been loaded under another AMERICANO_HOME: point the warehouse
    # resource at this one (the other resources read the settings when a run starts).
    warehouse = WarehouseResource(database=settings.duckdb_path)
    resources = {**(defs.resources or {}), "warehouse": warehouse}

    def sensor():
        return new_protocols_sensor(
            build_sensor_context(
                instance=instance, resources={"warehouse": warehouse}, definitions=defs
            )
        )

    sensor_before = sensor()
    protocol_ids = register_protocol_partitions(instance, settings.duckdb_path)
    first = _materialize_protocols(protocol_ids, instance, resources)
    sensor_after = sensor()
    yield {
        "settings": settings,
        "study": study,
        "instance": instance,
        "resources": resources,
        "protocol_ids": protocol_ids,
        "first": first,
        "sensor_before": sensor_before,
        "sensor_after": sensor_after,
    }
    patch.undo()


def _metadata(result, name: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["analyses", name])
    ]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def _raw_data_version(instance) -> str:
    event = instance.get_latest_materialization_event(AssetKey(["raw", "data_version"]))
    return event.asset_materialization.metadata["dvc_hash"].value


def test_a_partition_is_registered_for_every_protocol(analysed) -> None:
    truth = sorted(p["protocolId"] for p in analysed["study"].ground_truth["protocols"])
    assert analysed["protocol_ids"] == truth
    instance = analysed["instance"]
    assert sorted(instance.get_dynamic_partitions(protocols.name)) == truth
    # registering again adds nothing
    assert register_protocol_partitions(instance, analysed["settings"].duckdb_path) == truth
    assert sorted(instance.get_dynamic_partitions(protocols.name)) == truth


def test_the_sensor_adds_new_protocols_and_then_runs_only_what_is_out_of_date(analysed) -> None:
    before, after = analysed["sensor_before"], analysed["sensor_after"]
    truth = analysed["protocol_ids"]
    assert isinstance(before, SensorResult)
    (request,) = before.dynamic_partitions_requests
    assert sorted(request.partition_keys) == truth
    assert sorted(r.partition_key for r in before.run_requests) == truth
    # every analysis, and the CENT report that follows them
    every = {AssetKey(["analyses", name]) for name in (*ANALYSES, *OTHERS)} | {CENT_REPORT}
    assert all(set(r.asset_selection) == every for r in before.run_requests)
    # the three analyses are current now: only those this module does not run are due, and the
    # report, never written
    assert isinstance(after, SensorResult)
    assert after.dynamic_partitions_requests == []
    assert sorted(r.partition_key for r in after.run_requests) == truth
    others = {AssetKey(["analyses", name]) for name in OTHERS} | {CENT_REPORT}
    assert all(set(r.asset_selection) == others for r in after.run_requests)


def test_every_protocol_partition_materializes_all_three_analyses(analysed) -> None:
    for protocol_id, result in analysed["first"].items():
        assert result.success
        keys = {
            (e.asset_key.to_user_string(), e.partition)
            for e in result.get_asset_materialization_events()
        }
        assert keys == {(f"analyses/{name}", protocol_id) for name in ANALYSES}


def test_warehouse_tables_hold_the_rows(analysed) -> None:
    settings, protocol_ids = analysed["settings"], analysed["protocol_ids"]
    counts = _counts(settings)
    assert counts["sced_randomization_test"] == {pid: 1 for pid in protocol_ids}
    # two interim looks plus the final analysis
    assert counts["sequential_monitoring"] == {pid: 3 for pid in protocol_ids}
    data_version = _raw_data_version(analysed["instance"])
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        tests = wh.execute(
            "SELECT protocol_id, status, design, statistic, p_value, n_assignments, exact, nap, "
            "smd, rating, data_version FROM analyses.sced_randomization_test ORDER BY 1"
        ).fetchall()
        looks = wh.execute(
            "SELECT protocol_id, look, reached, n_a, n_b, z_statistic, critical_value, decision "
            "FROM analyses.sequential_monitoring ORDER BY 1, 2"
        ).fetchall()
        versions = {
            row[0]
            for table in TABLES.values()
            for row in wh.execute(f"SELECT DISTINCT data_version FROM {table}").fetchall()
        }
    for _, status, design, statistic, p_value, n_assignments, exact, nap, smd, rating, _ in tests:
        assert (status, design, statistic) == ("ok", "ABAB", "B-A")
        assert 0 < p_value <= 1 and n_assignments > 1 and exact
        assert 0 <= nap <= 1 and smd is not None
        assert rating in ("meets", "meets_with_reservations", "does_not_meet")
    # the demo protocols are complete, so every look took place; z is defined once both
    # conditions have two observations
    for _, _, reached, n_a, n_b, z, critical_value, decision in looks:
        assert reached and critical_value > 0
        assert (z is not None) == (n_a >= 2 and n_b >= 2)
        assert decision in ("stop_efficacy", "stop_final")
    assert versions == {data_version}


def test_metadata_carries_the_numbers_the_plot_and_the_data_version(analysed) -> None:
    data_version = _raw_data_version(analysed["instance"])
    reports = analysed["settings"].reports_dir
    for protocol_id, result in analysed["first"].items():
        test = _metadata(result, "sced_randomization_test")
        for key in ("p_value", "effect_size", "nap", "rating", "n_assignments"):
            assert test[key] is not None, key
        assert test["data_version"] == data_version
        assert test["plot"].startswith("![") and "data:image/png;base64," in test["plot"]
        plot_path = Path(test["plot_path"])
        assert plot_path.is_file() and plot_path.parent == reports / protocol_id
        assert plot_path.read_bytes().startswith(b"\x89PNG")
        points = _metadata(result, "change_points")
        assert Path(points["plot_path"]).is_file()
        assert points["n_change_points"] == _counts(analysed["settings"])["change_points"].get(
            protocol_id, 0
        )
        monitoring = _metadata(result, "sequential_monitoring")
        assert monitoring["decision"] in ("stop_efficacy", "stop_final")
        assert monitoring["looks_reached"] == 3


def test_warehouse_p_value_equals_the_library_and_the_cli(analysed, tmp_path: Path) -> None:
    settings = analysed["settings"]
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        for protocol_id in analysed["protocol_ids"]:
            p_value, used, result_json = wh.execute(
                "SELECT p_value, min_phase_length_used, result_json "
                "FROM analyses.sced_randomization_test WHERE protocol_id = ?",
                [protocol_id],
            ).fetchone()
            rows = wh.execute(
                "SELECT condition, value, observation_date FROM marts.phase_observations "
                "WHERE protocol_id = ? ORDER BY observation_index",
                [protocol_id],
            ).fetchall()
            conditions = [row[0] for row in rows]
            values = [row[1] for row in rows]
            direct = abab_randomization_test(conditions, values, min_phase_length=used)
            assert p_value == direct.p_value
            assert json.loads(result_json)["test"]["pValue"] == direct.p_value

            table = tmp_path / f"{protocol_id}.csv"
            with table.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["phase", "value", "date"])
                writer.writerows(
                    [condition, repr(value), day.isoformat()] for condition, value, day in rows
                )
            cli = Path(sys.executable).parent / "americano"
            completed = subprocess.run(
                [
                    str(cli),
                    "analyze",
                    "abab",
                    "--input",
                    str(table),
                    "--min-phase-length",
                    str(used),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            assert json.loads(completed.stdout)["pValue"] == pytest.approx(p_value, rel=1e-12)


def test_rerunning_a_partition_replaces_its_rows(analysed) -> None:
    settings = analysed["settings"]
    before = _counts(settings)
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        stamp = wh.execute(
            "SELECT max(computed_at) FROM analyses.sced_randomization_test"
        ).fetchone()[0]
    again = _materialize_protocols(
        analysed["protocol_ids"], analysed["instance"], analysed["resources"]
    )
    assert all(result.success for result in again.values())
    assert _counts(settings) == before
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        stamps = wh.execute(
            "SELECT min(computed_at) FROM analyses.sced_randomization_test"
        ).fetchone()[0]
    assert stamps > stamp
