"""The synthetic control and wearable links assets on a small demo study: tables, plots,
provenance, metadata, dbt's tests of their tables, and reruns when (and only when) what they
read changes.

Three users, two of them running a protocol (the demo generator's `protocol_users`) that
registers the demo's analyses and the synthetic control: the third user is an unexposed donor
all along, and each protocol user is a donor of the other protocol except on its own
intervention days. The base graph is built with `materialize_all`; then the two assets, with
the dbt tests of their tables, are materialized once per protocol partition, with the default
run config (what scheduled runs use).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest
from dagster import AssetKey, AssetSelection, materialize
from typer.testing import CliRunner

from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
from americano_pipelines.cli.runs import runs_app
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.analyses.causal import SYNTHETIC_CONTROL, WEARABLE_LINKS
from americano_pipelines.defs.analyses.checks import analyses_checks
from americano_pipelines.defs.analyses.factory import analysis_data_version
from americano_pipelines.defs.analyses.jobs import ANALYSES
from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
from americano_pipelines.defs.analyses.plan import InputFingerprints, stale_protocols
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.registration.analyses import AnalysisList, SyntheticControl
from americano_pipelines.synth.demo_study import DEMO_ANALYSES, generate_demo_study
from americano_pipelines.warehouse import tables

# Analyses over a demo study: they read the warehouse, and PostgreSQL only through the
# extraction that tests/e2e/test_demo_graph.py runs against both servers, so CI runs them once.
pytestmark = pytest.mark.once

BASE_GROUPS = ("extract", "seeds", "staging", "intermediate", "marts", "results")
SPECS = (SYNTHETIC_CONTROL, WEARABLE_LINKS)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
PREDICTORS = ("sleep_hours", "hrv_rmssd_ms", "resting_heart_rate_bpm")


@pytest.fixture(scope="module")
def analysed(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("causal")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.setenv("DAGSTER_HOME", str(root / "unused"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = generate_demo_study(
        users=3, days=63, seed=11, start_date=dt.date(2025, 9, 1), protocol_users=2
    )
    registered = AnalysisList((*DEMO_ANALYSES.analyses, SyntheticControl()))
    protocols = study.tables["experiment_protocols"].with_columns(
        analyses=pl.lit(json.dumps(registered.to_json()))
    )
    study.tables["experiment_protocols"] = protocols
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    base = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert base.failed_checks == []

    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    warehouse = WarehouseResource(database=settings.duckdb_path)
    resources = {**(defs.resources or {}), "warehouse": warehouse}
    protocol_ids = register_protocol_partitions(instance, settings.duckdb_path)
    results = {
        protocol_id: materialize(
            [*(defs.assets or []), *analyses_checks],
            selection=AssetSelection.assets(*(spec.key for spec in SPECS)),
            partition_key=protocol_id,
            instance=instance,
            resources=resources,
            run_config=QUIET,
        )
        for protocol_id in protocol_ids
    }
    yield {
        "settings": settings,
        "study": study,
        "instance": instance,
        "protocol_ids": protocol_ids,
        "results": results,
    }
    patch.undo()


def _metadata(result, spec) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == spec.key]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def _rows(settings, table: tables.Table, protocol_id: str) -> list[dict]:
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        cursor = wh.execute(
            f"SELECT * FROM {table.qualified_name} WHERE protocol_id = ? ORDER BY ALL",
            [protocol_id],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _dvc_hash(instance) -> str:
    event = instance.get_latest_materialization_event(AssetKey(["raw", "data_version"]))
    return event.asset_materialization.metadata["dvc_hash"].value


def _truth(study, protocol_id: str) -> dict:
    return next(p for p in study.ground_truth["protocols"] if p["protocolId"] == protocol_id)


def test_both_assets_materialize_for_every_protocol_and_pass_dbts_tests(analysed) -> None:
    assert analysed["protocol_ids"] == ["protocol_001", "protocol_002"]
    for protocol_id, result in analysed["results"].items():
        assert result.success
        assert {(e.asset_key, e.partition) for e in result.get_asset_materialization_events()} == {
            (spec.key, protocol_id) for spec in SPECS
        }
        checks = {
            (e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()
        }
        assert checks == {(spec.key, "dbt_source_tests"): True for spec in SPECS}


def test_the_synthetic_control_is_fitted_on_unexposed_donor_days_and_refused_for_its_fit(
    analysed,
) -> None:
    """The demo's users share nothing but the weekday rhythm: no weighted sum of the others
    tracks a user's noisy daily score, so the fit is kept and the effect refused."""
    settings, study = analysed["settings"], analysed["study"]
    (row,) = _rows(settings, tables.SYNTHETIC_CONTROL, "protocol_001")
    truth = _truth(study, "protocol_001")
    first_b, second_a = (dt.date.fromisoformat(d) for d in truth["phaseChangeDates"][:2])
    assert row["status"] == "skipped"
    assert row["skip_reason"].startswith("pre_fit: the synthetic control (user_003")
    assert (row["donor_kind"], row["donors"], row["n_donors"]) == ("users", "user_002,user_003", 2)
    assert row["scaling"] == "treated_sd"
    # the post period is protocol_001's first intervention phase ...
    assert row["intervention_date"] == first_b
    assert first_b <= row["post_end_date"] < second_a
    # ... in which user_002 is, for a while, in its own intervention phase: those days are out
    assert row["n_exposed_donor_days"] > 0
    assert 3 <= row["n_post"] <= (second_a - first_b).days - row["n_exposed_donor_days"]
    assert row["n_pre"] >= 8 and row["pre_start_date"] == dt.date(2025, 9, 1)
    assert row["pre_fit_rmse_to_sd"] > 0.5 and row["convex_hull_violations"] > 0
    assert row["effect_mean"] is None and row["probability_positive"] is None
    assert sum(json.loads(row["donor_weights"]).values()) == pytest.approx(1.0)
    assert row["rhat"] < 1.01 and row["converged"] is True
    assert (row["draws"], row["tune"], row["chains"]) == (1000, 1000, 2)
    assert row["data_version"] == _dvc_hash(analysed["instance"])
    payload = json.loads(row["result_json"])
    assert payload["result"]["preFitRmseToSd"] == pytest.approx(row["pre_fit_rmse_to_sd"])
    assert payload["nExposedDonorDays"] == row["n_exposed_donor_days"]
    assert "donor-days in the window left out" in row["notes"]
    metadata = _metadata(analysed["results"]["protocol_001"], SYNTHETIC_CONTROL)
    assert metadata["status"] == "skipped" and metadata["reason"] == row["skip_reason"]
    assert metadata["pre_fit_rmse_to_sd"] == pytest.approx(row["pre_fit_rmse_to_sd"])
    assert "effect_mean" not in metadata and "user_003" in metadata["donor_weights"]


def test_every_protocol_has_its_row_ok_or_skipped_saying_why(analysed) -> None:
    settings = analysed["settings"]
    for protocol_id in analysed["protocol_ids"]:
        (row,) = _rows(settings, tables.SYNTHETIC_CONTROL, protocol_id)
        metadata = _metadata(analysed["results"][protocol_id], SYNTHETIC_CONTROL)
        assert metadata["status"] == row["status"]
        if row["status"] == "skipped":
            assert row["skip_reason"] and metadata["reason"] == row["skip_reason"]
            assert row["effect_mean"] is None
            # the plot shows a fit that was made, and is not there when none was
            assert ("counterfactual_plot" in metadata) == (row["pre_fit_rmse"] is not None)
        else:
            assert row["effect_mean"] is not None and row["skip_reason"] is None


def test_wearable_links_find_last_nights_sleep(analysed) -> None:
    settings = analysed["settings"]
    for protocol_id in analysed["protocol_ids"]:
        rows = _rows(settings, tables.WEARABLE_LINKS, protocol_id)
        assert {row["status"] for row in rows} == {"ok"}
        # three measures x the correlation lags 0-2 and the Granger lags 1-3
        assert sorted((row["predictor"], row["lag"]) for row in rows) == sorted(
            (p, lag) for p in PREDICTORS for lag in (0, 1, 2, 3)
        )
        for predictor in PREDICTORS:
            mine = [row for row in rows if row["predictor"] == predictor]
            assert sum(bool(row["granger_selected"]) for row in mine) == 1
            assert all(0 <= row["granger_p"] <= 1 for row in mine if row["lag"] >= 1)
        # the demo's engagement rises 2.5 points per hour of last night's sleep
        sleep = next(r for r in rows if (r["predictor"], r["lag"]) == ("sleep_hours", 1))
        assert sleep["r"] > 0 and sleep["n_pairs"] > 40
        assert sleep["n_days"] == 63
        metadata = _metadata(analysed["results"][protocol_id], WEARABLE_LINKS)
        assert metadata["n_correlations"] == 9
        assert "| sleep_hours | 1 |" in metadata["correlations"]


def test_the_plots_are_in_the_reports_and_the_metadata(analysed) -> None:
    reports = analysed["settings"].reports_dir
    metadata = _metadata(analysed["results"]["protocol_001"], SYNTHETIC_CONTROL)
    for name, file in (
        ("counterfactual_plot", "synthetic_control.png"),
        ("donor_weights_plot", "synthetic_control_weights.png"),
    ):
        assert metadata[name].startswith("![") and "data:image/png;base64," in metadata[name]
        path = Path(metadata[f"{name}_path"])
        assert path == reports / "protocol_001" / file
        assert path.read_bytes().startswith(b"\x89PNG")
    for protocol_id in analysed["protocol_ids"]:
        links = _metadata(analysed["results"][protocol_id], WEARABLE_LINKS)
        path = Path(links["plot_path"])
        assert path == reports / protocol_id / "wearable_links.png"
        assert path.read_bytes().startswith(b"\x89PNG")


def test_every_run_is_recorded_with_its_data_version_and_mlflow_run(analysed) -> None:
    from mlflow.tracking import MlflowClient

    settings, instance = analysed["settings"], analysed["instance"]
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    for protocol_id in analysed["protocol_ids"]:
        result = CliRunner().invoke(runs_app, ["list", "--protocol", protocol_id])
        assert result.exit_code == 0, result.output
        runs = {run["analysisType"]: run for run in json.loads(result.stdout)}
        assert set(runs) == {"synthetic_control", "wearable_links"}
        for spec, run in zip(
            SPECS, (runs["synthetic_control"], runs["wearable_links"]), strict=True
        ):
            assert run["dataVersionHash"] == _dvc_hash(instance)
            assert run["protocolId"] == protocol_id
            assert run["inputParams"]["exploratory"] is False  # both registered
            assert _metadata(analysed["results"][protocol_id], spec)["analysis_run_id"] == run["id"]
            mlflow_run = client.get_run(run["mlflowRunId"])
            assert mlflow_run.info.status == "FINISHED"
            plots = {a.path for a in client.list_artifacts(run["mlflowRunId"], "plots")}
            assert {Path(path).name for path in run["artifactPaths"]} == {
                Path(path).name for path in plots
            }
        assert runs["wearable_links"]["inputParams"]["predictors"] == list(PREDICTORS)
        assert runs["wearable_links"]["resultsSummary"]["nCorrelations"] == 9
    ok = json.loads(CliRunner().invoke(runs_app, ["list", "--protocol", "protocol_001"]).stdout)
    (control,) = [run for run in ok if run["analysisType"] == "synthetic_control"]
    assert control["inputParams"]["donorNames"] == ["user_002", "user_003"]
    assert control["resultsSummary"]["preFitRmseToSd"] > 0.5
    assert "plots/synthetic_control.png" in {
        a.path for a in client.list_artifacts(control["mlflowRunId"], "plots")
    }


def test_the_synthetic_control_run_reproduces_from_its_data_version(analysed) -> None:
    """`americano runs reproduce` recomputes the fit (donors, scaling, sampler and seed as
    recorded) from the run's DVC data version: every headline value as recorded."""
    ok = json.loads(CliRunner().invoke(runs_app, ["list", "--protocol", "protocol_001"]).stdout)
    (control,) = [run for run in ok if run["analysisType"] == "synthetic_control"]
    result = CliRunner().invoke(runs_app, ["reproduce", control["id"]])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["matched"] is True and report["analysisType"] == "synthetic_control"
    assert "preFitRmseToSd" in {value["name"] for value in report["values"]}


def test_their_data_versions_come_from_what_they_read(analysed) -> None:
    settings, instance = analysed["settings"], analysed["instance"]
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        fingerprints = InputFingerprints.read(wh, ANALYSES)
    for protocol_id, result in analysed["results"].items():
        for spec in SPECS:
            (event,) = [
                e for e in result.get_asset_materialization_events() if e.asset_key == spec.key
            ]
            recorded = event.materialization.tags["dagster/data_version"]
            assert recorded == analysis_data_version(
                spec.code_version, fingerprints.of(spec, protocol_id), spec.default_run_config()
            )
    # current: the planner runs neither again
    assert stale_protocols(instance, SPECS, fingerprints) == []


def test_a_change_to_what_they_read_reruns_them_and_nothing_else(analysed) -> None:
    """New wearable days of user_001 make protocol_001's wearable links stale; a new value of the
    donor user_003 (no protocol) makes both synthetic controls stale; the protocols' own inputs,
    which every other analysis reads, do not change. (Runs last: it edits the marts.)"""
    settings, instance = analysed["settings"], analysed["instance"]
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        own = tables.protocol_input_fingerprints(wh)
    with duckdb.connect(settings.duckdb_path) as wh:
        wh.execute(
            "UPDATE marts.wearable_daily SET sleep_hours = sleep_hours + 1 "
            "WHERE user_id = 'user_001' AND wearable_date = DATE '2025-09-10'"
        )
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        fingerprints = InputFingerprints.read(wh, ANALYSES)
    assert fingerprints.by_reads[()] == own
    assert [
        (plan.protocol_id, plan.stale) for plan in stale_protocols(instance, SPECS, fingerprints)
    ] == [("protocol_001", (WEARABLE_LINKS.key,))]
    with duckdb.connect(settings.duckdb_path) as wh:
        wh.execute(
            "UPDATE marts.daily_metrics SET value = value + 1 WHERE user_id = 'user_003' "
            "AND metric = 'engagement_score' AND metric_date = DATE '2025-09-10'"
        )
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        fingerprints = InputFingerprints.read(wh, ANALYSES)
    assert fingerprints.by_reads[()] == own
    assert [
        (plan.protocol_id, plan.stale) for plan in stale_protocols(instance, SPECS, fingerprints)
    ] == [
        ("protocol_001", (SYNTHETIC_CONTROL.key, WEARABLE_LINKS.key)),
        ("protocol_002", (SYNTHETIC_CONTROL.key,)),
    ]
