"""The series of N-of-1 trials asset on a small demo study: every protocol's partition writes its
row of analyses.series_of_n1 from the same series, records its run, and passes dbt's tests of
the table.

Three demo users with a protocol each, every protocol registering `series_of_n1`, their own
effects drawn from Normal(8, 3) (`effect_sd`). The base graph is built with `materialize_all`;
then the asset, with the dbt tests of its table, is materialized once per protocol partition
with tiny sampler settings (the posterior is checked in tests/unit/test_series_of_n1.py).
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import psycopg
import pytest
from conftest import build_demo_study
from dagster import AssetSelection, materialize

from americano_pipelines.cli.materialize import prepare_dagster_home
from americano_pipelines.defs.analyses.checks import analyses_checks
from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
from americano_pipelines.defs.analyses.series_of_n1 import SERIES_OF_N1
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.registration.analyses import AnalysisList, SeriesOfN1
from americano_pipelines.synth.demo_study import DEMO_ANALYSES

# Analyses over a demo study: they read the warehouse, and PostgreSQL only through the
# extraction that tests/e2e/test_demo_graph.py runs against both servers, so CI runs them once.
pytestmark = pytest.mark.once

TINY = {"draws": 40, "tune": 40, "chains": 1}
RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    "ops": {"analyses__series_of_n1": {"config": TINY}},
}


@pytest.fixture(scope="module")
def analysed(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    patch = pytest.MonkeyPatch()
    study, settings = build_demo_study(
        patch,
        tmp_path_factory.mktemp("series"),
        migrated_database,
        users=3,
        days=63,
        seed=5,
        start_date=dt.date(2025, 9, 1),
        effect_sd=3.0,
        analyses=AnalysisList((*DEMO_ANALYSES.analyses, SeriesOfN1())),
    )
    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    resources = {
        **(defs.resources or {}),
        "warehouse": WarehouseResource(database=settings.duckdb_path),
    }
    protocol_ids = register_protocol_partitions(instance, settings.duckdb_path)
    results = {
        protocol_id: materialize(
            [*(defs.assets or []), *analyses_checks],
            selection=AssetSelection.assets(SERIES_OF_N1.key),
            partition_key=protocol_id,
            instance=instance,
            resources=resources,
            run_config=RUN_CONFIG,
        )
        for protocol_id in protocol_ids
    }
    yield {"settings": settings, "study": study, "protocol_ids": protocol_ids, "results": results}
    patch.undo()


def _rows(settings) -> list[dict]:
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        cursor = wh.execute(
            f"SELECT * FROM {SERIES_OF_N1.table.qualified_name} ORDER BY protocol_id"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_each_protocol_writes_its_row_of_the_same_series(analysed) -> None:
    rows = _rows(analysed["settings"])
    protocol_ids = analysed["protocol_ids"]
    assert [row["protocol_id"] for row in rows] == protocol_ids
    for row in rows:
        assert row["status"] == "ok", row["skip_reason"]
        assert row["members"] == ",".join(protocol_ids) and row["n_persons"] == 3
        assert row["randomization_design"] == "ABAB" and 0 < row["p_value"] <= 1
        assert row["data_version"] is not None
        person = json.loads(row["result_json"])["person"]
        assert person["person"] == row["protocol_id"]
        assert person["shrunkenEffect"]["mean"] == row["effect_mean"]
    # one model, one seed: every member reports the same population
    populations = {(row["population_effect_mean"], row["tau_mean"]) for row in rows}
    assert len(populations) == 1
    assert len({row["effect_mean"] for row in rows}) == 3


def test_runs_are_recorded_and_the_tables_dbt_tests_pass(analysed) -> None:
    for protocol_id, result in analysed["results"].items():
        assert result.success
        (event,) = [
            e for e in result.get_asset_materialization_events() if e.asset_key == SERIES_OF_N1.key
        ]
        metadata = {key: value.value for key, value in event.materialization.metadata.items()}
        assert metadata["analysis_run_id"] and metadata["mlflow_run_id"]
        assert metadata["n_persons"] == 3 and metadata["status"] == "ok"
        assert "| protocol |" in metadata["persons"]
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["dbt_source_tests"].passed, protocol_id
        assert set(checks) == {"dbt_source_tests"}  # convergence is the row's `converged`
        assert metadata["converged"] in (True, False)
    with psycopg.connect(analysed["settings"].database_url) as pg:
        kinds = pg.execute(
            "SELECT protocol_id FROM analysis_runs WHERE analysis_type = 'series_of_n1' "
            "ORDER BY protocol_id"
        ).fetchall()
    assert [row[0] for row in kinds] == analysed["protocol_ids"]


def test_a_series_run_reproduces_from_its_data_version(analysed) -> None:
    """`americano runs reproduce` refits the series (every protocol of the intervention, from
    the run's DVC data version, with its recorded sampler and seed): the numbers as recorded."""
    from typer.testing import CliRunner

    from americano_pipelines.cli.runs import runs_app

    protocol_id = analysed["protocol_ids"][0]
    with psycopg.connect(analysed["settings"].database_url) as pg:
        (run_id,) = pg.execute(
            "SELECT id FROM analysis_runs WHERE analysis_type = 'series_of_n1' "
            "AND protocol_id = %s",
            (protocol_id,),
        ).fetchone()
    result = CliRunner().invoke(runs_app, ["reproduce", str(run_id)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["matched"] is True and report["analysisType"] == "series_of_n1"
