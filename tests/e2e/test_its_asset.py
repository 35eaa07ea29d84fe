"""The ITS posterior asset and the provenance of every analysis, on a one-protocol demo study.

The base graph is built with `materialize_all`; then the `analyses` group is materialized for
the protocol's partition with tiny ITS sampler settings (2 chains x 20 draws: the
`its_converged` check must fail), and `analyses/its_posterior` again with the defaults (2 x 1000:
it must pass). Every analysis records an `analysis_runs` row and an MLflow run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import arviz as az
import duckdb
import psycopg
import pytest
from dagster import AssetCheckSeverity, AssetKey, AssetSelection, materialize
from typer.testing import CliRunner

from americano_pipelines.cli.materialize import materialize_all, prepare_dagster_home
from americano_pipelines.cli.runs import runs_app
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.analyses.partitions import register_protocol_partitions
from americano_pipelines.defs.resources import WarehouseResource
from americano_pipelines.errors import InputError
from americano_pipelines.provenance.data_version import code_version
from americano_pipelines.provenance.runs import list_analysis_runs
from americano_pipelines.synth.demo_study import generate_demo_study

# Analyses over a demo study: they read the warehouse, and PostgreSQL only through the
# extraction that tests/e2e/test_demo_graph.py runs against both servers, so CI runs them once.
pytestmark = pytest.mark.once

BASE_GROUPS = ("extract", "seeds", "staging", "intermediate", "marts", "results")
ITS_KEY = AssetKey(["analyses", "its_posterior"])
TINY = {"draws": 20, "tune": 20, "chains": 2}
ANALYSIS_TYPES = {
    "analyses/sced_randomization_test": "abab_randomization",
    "analyses/change_points": "change_points",
    "analyses/sequential_monitoring": "sequential_monitoring",
    "analyses/its_posterior": "bayesian_its",
    "analyses/wearable_links": "wearable_links",
}
# Materialized as not run, without a run: the demo protocols do not register it
# (tests/e2e/test_causal_assets.py and test_series_asset.py run them).
NOT_REGISTERED = {"analyses/synthetic_control", "analyses/series_of_n1"}


def _run_config(its: dict | None = None) -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if its is not None:
        config["ops"] = {"analyses__its_posterior": {"config": its}}
    return config


@pytest.fixture(scope="module")
def analysed(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("its")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.setenv("DAGSTER_HOME", str(root / "unused"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = generate_demo_study(users=1, days=63, seed=11, start_date=dt.date(2025, 9, 1))
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    base = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert base.failed_checks == []

    from americano_pipelines.definitions import defs

    instance = prepare_dagster_home(settings)
    resources = {
        **(defs.resources or {}),
        "warehouse": WarehouseResource(database=settings.duckdb_path),
    }
    (protocol_id,) = register_protocol_partitions(instance, settings.duckdb_path)
    assets = list(defs.assets or [])
    tiny = materialize(
        assets,
        selection=AssetSelection.groups("analyses"),
        partition_key=protocol_id,
        instance=instance,
        resources=resources,
        run_config=_run_config(TINY),
    )
    tiny_table = _its_row(settings, protocol_id)
    adequate = materialize(
        assets,
        selection=AssetSelection.assets(ITS_KEY),
        partition_key=protocol_id,
        instance=instance,
        resources=resources,
        run_config=_run_config(),
    )
    yield {
        "settings": settings,
        "study": study,
        "instance": instance,
        "protocol_id": protocol_id,
        "tiny": tiny,
        "tiny_table": tiny_table,
        "adequate": adequate,
    }
    patch.undo()


def _its_row(settings, protocol_id: str) -> dict:
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        cursor = wh.execute(
            "SELECT * FROM analyses.its_effects WHERE protocol_id = ?", [protocol_id]
        )
        rows = cursor.fetchall()
        names = [column[0] for column in cursor.description]
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def _metadata(result, key: AssetKey) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def _check(result):
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _dvc_hash(instance) -> str:
    event = instance.get_latest_materialization_event(AssetKey(["raw", "data_version"]))
    return event.asset_materialization.metadata["dvc_hash"].value


def test_both_runs_materialize_every_analysis(analysed) -> None:
    protocol_id = analysed["protocol_id"]
    assert analysed["tiny"].success and analysed["adequate"].success
    assert {
        (e.asset_key.to_user_string(), e.partition)
        for e in analysed["tiny"].get_asset_materialization_events()
    } == {(key, protocol_id) for key in (*ANALYSIS_TYPES, *NOT_REGISTERED)}


def test_tiny_sampler_settings_fail_the_convergence_check(analysed) -> None:
    evaluation = _check(analysed["tiny"])
    assert (evaluation.asset_key, evaluation.check_name) == (ITS_KEY, "its_converged")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    values = {name: value.value for name, value in evaluation.metadata.items()}
    # 2 chains x 20 draws = 40 draws in all: the ESS cannot reach 400
    assert min(values["ess_bulk"], values["ess_tail"]) < 400
    assert (values["rhat_max"], values["ess_min"]) == (1.01, 400)
    assert values["protocol_id"] == analysed["protocol_id"]
    assert analysed["tiny_table"]["converged"] is False
    assert analysed["tiny_table"]["draws"] == 20


def test_default_sampler_settings_pass_the_convergence_check(analysed) -> None:
    evaluation = _check(analysed["adequate"])
    assert evaluation.passed
    values = {name: value.value for name, value in evaluation.metadata.items()}
    assert values["rhat"] < 1.01
    assert min(values["ess_bulk"], values["ess_tail"]) >= 400


def test_the_posterior_is_saved_as_netcdf(analysed) -> None:
    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    path = settings.home / "posteriors" / protocol_id / "its.nc"
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["its.nc"]  # no temporary file left
    idata = az.from_netcdf(path)
    effect = idata.posterior["causal_effect"]
    assert effect.sizes == {"chain": 2, "draw": 1000}  # the second (default) run's draws
    metadata = _metadata(analysed["adequate"], ITS_KEY)
    assert float(effect.mean()) == pytest.approx(metadata["effect_mean"], rel=1e-9)
    assert "counterfactual" in idata.posterior and "observed_data" in idata.groups()
    assert metadata["posterior_netcdf"] == str(path)


def test_the_warehouse_row_and_the_windows(analysed) -> None:
    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    row = _its_row(settings, protocol_id)
    metadata = _metadata(analysed["adequate"], ITS_KEY)
    (truth,) = analysed["study"].ground_truth["protocols"]
    first_b, second_a = (dt.date.fromisoformat(d) for d in truth["phaseChangeDates"][:2])
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        intervention = wh.execute(
            "SELECT first_intervention_date FROM marts.protocols WHERE protocol_id = ?",
            [protocol_id],
        ).fetchone()[0]
        observed_b = wh.execute(
            "SELECT count(*) FROM marts.phase_observations WHERE protocol_id = ? "
            "AND phase_label = 'intervention_1'",
            [protocol_id],
        ).fetchone()[0]
    assert row["status"] == "ok" and row["converged"] is True
    assert row["intervention_date"] == intervention == first_b
    # the post period is the first intervention phase: it ends before the reversal to baseline
    assert row["post_window"] == "first_phase" and row["post_phase_label"] == "intervention_1"
    assert row["post_end_date"] < second_a
    assert row["n_post"] == observed_b
    # the pre-period includes the run-in before the protocol started
    assert row["pre_start_date"] < dt.date.fromisoformat(truth["phaseChangeDates"][0])
    assert row["pre_start_date"] == dt.date(2025, 9, 1) or row["n_pre"] > 21
    assert row["effect_mean"] == pytest.approx(metadata["effect_mean"])
    assert row["data_version"] == _dvc_hash(analysed["instance"])
    assert row["posterior_path"] == str(settings.home / "posteriors" / protocol_id / "its.nc")
    # the demo's true effect is +8 in every intervention phase
    assert row["effect_hdi95_low"] < truth["trueEffect"] < row["effect_hdi95_high"]
    assert json.loads(row["result_json"])["result"]["causalEffect"]["mean"] == pytest.approx(
        row["effect_mean"]
    )


def test_metadata_has_the_effect_diagnostics_plots_and_data_version(analysed) -> None:
    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    metadata = _metadata(analysed["adequate"], ITS_KEY)
    for key in (
        "effect_mean",
        "effect_sd",
        "effect_hdi95",
        "probability_positive",
        "rhat",
        "ess_bulk",
        "ess_tail",
        "counterfactual_plot",
        "posterior_plot",
        "data_version",
        "interpretation",
        "post_window_note",
        "analysis_run_id",
        "mlflow_run_id",
    ):
        assert key in metadata, key
    low, high = metadata["effect_hdi95"]
    assert low < metadata["effect_mean"] < high
    assert 0.0 <= metadata["probability_positive"] <= 1.0
    assert metadata["data_version"] == _dvc_hash(analysed["instance"])
    assert "first intervention phase" in metadata["post_window_note"]
    assert "reversals" in metadata["interpretation"]
    for name in ("counterfactual_plot", "posterior_plot"):
        assert metadata[name].startswith("![") and "data:image/png;base64," in metadata[name]
        path = Path(metadata[f"{name}_path"])
        assert path.parent == settings.reports_dir / protocol_id
        assert path.read_bytes().startswith(b"\x89PNG")


def _runs(settings, protocol_id: str) -> list[dict]:
    result = CliRunner().invoke(runs_app, ["list", "--protocol", protocol_id])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_analysis_recorded_its_run_with_the_dvc_hash(analysed) -> None:
    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    runs = _runs(settings, protocol_id)
    dvc_hash = _dvc_hash(analysed["instance"])
    # every analysis in the first run, the ITS again in the second: newest first
    assert [run["analysisType"] for run in runs][0] == "bayesian_its"
    assert sorted(run["analysisType"] for run in runs) == sorted(
        [*ANALYSIS_TYPES.values(), "bayesian_its"]
    )
    for run in runs:
        assert run["dataVersionHash"] == dvc_hash
        assert run["codeCommitHash"] == code_version()
        assert run["protocolId"] == protocol_id
        assert run["runName"].endswith("— Reward probability 15% vs 20%")
        assert run["mlflowRunId"]
    its_runs = [run for run in runs if run["analysisType"] == "bayesian_its"]
    assert [run["inputParams"]["draws"] for run in its_runs] == [1000, 20]
    assert [run["resultsSummary"]["converged"] for run in its_runs] == [True, False]
    latest = its_runs[0]
    assert str(settings.home / "posteriors" / protocol_id / "its.nc") in latest["artifactPaths"]
    assert latest["resultsSummary"]["causalEffect"]["mean"] == pytest.approx(
        _metadata(analysed["adequate"], ITS_KEY)["effect_mean"]
    )
    test = next(run for run in runs if run["analysisType"] == "abab_randomization")
    assert 0 < test["resultsSummary"]["pValue"] <= 1
    # written as the protocol's user: row-level security shows them to that user
    (truth,) = analysed["study"].ground_truth["protocols"]
    as_user = list_analysis_runs(settings.database_url, protocol_id, user_id=truth["userId"])
    assert [run.id for run in as_user] == [run["id"] for run in runs]
    assert all(run.integrity.verified for run in as_user)
    with pytest.raises(InputError, match="^userId: no user"):  # no session for a non-user
        list_analysis_runs(settings.database_url, protocol_id, user_id="nobody")


def test_every_run_has_its_mlflow_run(analysed) -> None:
    from mlflow.tracking import MlflowClient

    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    dvc_hash = _dvc_hash(analysed["instance"])
    for run in _runs(settings, protocol_id):
        mlflow_run = client.get_run(run["mlflowRunId"])
        assert mlflow_run.info.status == "FINISHED"
        assert client.get_experiment(mlflow_run.info.experiment_id).name == (
            f"protocol/{protocol_id}"
        )
        assert mlflow_run.data.tags["americano.data_version"] == dvc_hash
        assert mlflow_run.data.tags["americano.analysis_run_id"] == run["id"]
        top = {a.path for a in client.list_artifacts(run["mlflowRunId"])}
        assert {"input_params.json", "results_summary.json", "result.json"} <= top
        whole = client.download_artifacts(
            run["mlflowRunId"], "result.json", str(settings.home / "mlflow-downloads" / run["id"])
        )
        assert json.loads(Path(whole).read_text())["status"] == run["resultsSummary"]["status"]
        if run["analysisType"] == "bayesian_its":
            assert mlflow_run.data.params["draws"] in ("20", "1000")
            assert "causalEffect.mean" in mlflow_run.data.metrics
            plots = {a.path for a in client.list_artifacts(run["mlflowRunId"], "plots")}
            assert plots == {"plots/its_counterfactual.png", "plots/its_posterior.png"}
        if run["analysisType"] == "abab_randomization":
            assert "pValue" in mlflow_run.data.metrics
            plots = {a.path for a in client.list_artifacts(run["mlflowRunId"], "plots")}
            assert plots == {"plots/sced_randomization_test.png"}


def test_the_cli_gives_the_assets_answer(analysed, tmp_path: Path) -> None:
    """`americano analyze its` on the asset's window, with the asset's settings, gives the
    asset's effect: CLI, library and asset are one computation."""
    from americano_pipelines.cli.app import app

    row = _its_row(analysed["settings"], analysed["protocol_id"])
    with duckdb.connect(analysed["settings"].duckdb_path, read_only=True) as wh:
        series = wh.execute(
            "SELECT metric_date, value FROM marts.daily_metrics WHERE user_id = ? AND metric = ? "
            "AND value IS NOT NULL AND metric_date BETWEEN ? AND ? ORDER BY metric_date",
            [row["user_id"], row["metric"], row["pre_start_date"], row["post_end_date"]],
        ).fetchall()
    csv = tmp_path / "series.csv"
    csv.write_text("date,value\n" + "".join(f"{d.isoformat()},{v}\n" for d, v in series))
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "its",
            "--input",
            str(csv),
            "--intervention-date",
            row["intervention_date"].isoformat(),
            "--seed",
            str(row["seed"]),
            "--draws",
            str(row["draws"]),
            "--tune",
            str(row["tune"]),
            "--chains",
            str(row["chains"]),
            "--sampler",
            row["sampler"],
        ],
    )
    assert result.exit_code == 0, result.output
    effect = json.loads(result.stdout)["causalEffect"]
    assert len(series) == row["n_pre"] + row["n_post"]
    assert effect["mean"] == pytest.approx(row["effect_mean"], rel=1e-6)
    assert effect["hdi95"] == pytest.approx(
        [row["effect_hdi95_low"], row["effect_hdi95_high"]], rel=1e-6
    )


def _reproduce(run_id: str, *extra: str):
    return CliRunner().invoke(runs_app, ["reproduce", run_id, *extra])


def test_every_run_reproduces_from_its_data_version(analysed, tmp_path: Path) -> None:
    """The first run of each analysis type, recomputed from its DVC data version (checked out
    into a temporary folder) with its recorded parameters and seed, gives its recorded
    numbers; the project's own data tree and DVC lock are left as they were."""
    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    raw_files = sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*"))
    lock = (settings.data_dir.parent / "dvc.lock").read_text()
    # newest first: the oldest run of a type is the one left in the mapping
    first = {run["analysisType"]: run for run in _runs(settings, protocol_id)}
    assert set(first) == set(ANALYSIS_TYPES.values())
    assert first["bayesian_its"]["inputParams"]["draws"] == TINY["draws"]
    for analysis_type, run in first.items():
        kept = tmp_path / analysis_type
        result = _reproduce(run["id"], "--keep", str(kept))
        assert result.exit_code == 0, (analysis_type, result.output)
        report = json.loads(result.stdout)
        assert report["matched"] is True and report["mismatches"] == 0
        assert report["dataVersionHash"] == run["dataVersionHash"]
        assert report["codeCommit"]["same"] is True
        names = {value["name"] for value in report["values"]}
        assert "status" in names and len(names) > 3, names
        assert (kept / "raw" / "experiment_protocols").is_dir()
        assert (kept / "warehouse.duckdb").exists()
    assert sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*")) == raw_files
    assert (settings.data_dir.parent / "dvc.lock").read_text() == lock


def test_reproduce_refuses_an_unknown_run(analysed) -> None:
    result = _reproduce("no-such-run")
    assert result.exit_code == 2
    assert "RUN_ID: no analysis run 'no-such-run'" in result.output


def test_changed_data_do_not_reproduce_the_run(analysed, tmp_path: Path) -> None:
    """The same run against the data after the scores of the protocol's first five sessions
    changed (a new data version): the recomputed test differs, and the mismatches are named. Last in the module: it
    changes the study."""
    from dataclasses import replace

    from americano_pipelines.cli.runs import _reproduce as reproduce

    settings, protocol_id = analysed["settings"], analysed["protocol_id"]
    (record,) = [
        run
        for run in list_analysis_runs(settings.database_url, protocol_id)
        if run.analysis_type == "abab_randomization"
    ]
    with psycopg.connect(settings.database_url) as pg:
        pg.execute(
            "UPDATE behavioral_events SET session_performance_score = "
            "(coalesce(session_performance_score, 0) + 40) %% 101 WHERE id IN ("
            "SELECT e.id FROM behavioral_events e JOIN experiment_protocols p "
            "ON p.user_id = e.user_id WHERE p.id = %s AND e.event_type = 'SESSION_ENDED' "
            'AND e."timestamp" >= p.start_date ORDER BY e."timestamp" LIMIT 5)',
            (protocol_id,),
        )
    changed = materialize_all(settings, log=lambda _: None, groups=("extract",))
    assert changed.failed_checks == []
    new_version = _dvc_hash(analysed["instance"])
    assert new_version != record.data_version_hash
    comparisons = reproduce(
        replace(record, data_version_hash=new_version), settings, tmp_path / "work"
    )
    mismatched = {item.name for item in comparisons if not item.match}
    assert mismatched & {"observedEffect", "pValue", "nap"}, mismatched
