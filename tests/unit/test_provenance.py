"""Provenance: `record_analysis_run` writes an `analysis_runs` row as the protocol's user (RLS)
and an MLflow run (params, metrics, plots, tags); `americano runs list` prints the rows with the
guide's AnalysisRun field names, newest first. Real PostgreSQL (conftest), MLflow on a
temporary sqlite store under AMERICANO_HOME."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from americano_pipelines.cli.runs import runs_app
from americano_pipelines.config import get_settings
from americano_pipelines.protocol_analyses.change_points import change_points_for_protocol
from americano_pipelines.protocol_analyses.its import its_for_protocol
from americano_pipelines.protocol_analyses.randomization_test import (
    randomization_test_for_protocol,
)
from americano_pipelines.protocol_analyses.sequential_monitoring import (
    sequential_monitoring_for_protocol,
)
from americano_pipelines.provenance.data_version import code_version
from americano_pipelines.provenance.runs import (
    UNKNOWN_DATA_VERSION,
    describe,
    experiment_name,
    flatten,
    list_analysis_runs,
    plain_json,
    record_analysis_run,
)

# The guide's AnalysisRun model, in its order (seed/000_13b0253957e1ca28.txt, "AnalysisRun").
ANALYSIS_RUN_KEYS = [
    "id",
    "protocolId",
    "runName",
    "analysisType",
    "codeCommitHash",
    "dataVersionHash",
    "inputParams",
    "mlflowRunId",
    "artifactPaths",
    "resultsSummary",
    "startedAt",
    "completedAt",
]
T0 = dt.datetime(2025, 11, 3, 9, 0, tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- pure helpers


def test_plain_json_makes_numpy_nan_dates_and_tuples_plain() -> None:
    value = {
        "p": np.float64(0.25),
        "n": np.int64(7),
        "ok": np.bool_(True),
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "day": dt.date(2025, 1, 2),
        "pair": (1.5, np.float32(2.5)),
        3: Path("/tmp/x.png"),
    }
    plain = plain_json(value)
    assert plain == {
        "p": 0.25,
        "n": 7,
        "ok": True,
        "nan": None,
        "inf": None,
        "day": "2025-01-02",
        "pair": [1.5, 2.5],
        "3": "/tmp/x.png",
    }
    assert type(plain["n"]) is int and type(plain["ok"]) is bool
    json.dumps(plain, allow_nan=False)


def test_flatten_gives_dotted_leaves() -> None:
    assert list(flatten({"a": {"b": [1, {"c": 2}]}, "d": None})) == [
        ("a.b.0", 1),
        ("a.b.1.c", 2),
        ("d", None),
    ]


def _abab_frame(effect: float = 10.0) -> pd.DataFrame:
    """20 days, phases of 5: A B A B; B = A + effect (hand-checkable, noise-free)."""
    conditions = ["A"] * 5 + ["B"] * 5 + ["A"] * 5 + ["B"] * 5
    labels = ["baseline_1"] * 5 + ["intervention_1"] * 5 + ["baseline_2"] * 5
    labels += ["intervention_2"] * 5
    values = [50.0 + (effect if c == "B" else 0.0) + (i % 3) for i, c in enumerate(conditions)]
    return pd.DataFrame(
        {
            "observation_date": pd.date_range("2025-01-01", periods=20, freq="D"),
            "observation_index": range(1, 21),
            "condition": conditions,
            "phase_label": labels,
            "value": values,
        }
    )


def _row(**changes) -> dict:
    row = {
        "protocol_id": "p_describe",
        "user_id": "u1",
        "protocol_name": "Reward probability 15% vs 20%",
        "design_type": "ABAB",
        "primary_outcome": "engagement_score",
        "analysis_plan": "Randomization test of B-A",
        "min_phase_length": 3,
        "alpha": 0.05,
        "interim_looks": 0,
        "first_intervention_date": None,
    }
    row.update(changes)
    return row


def test_describe_randomization_test_names_the_design_and_keeps_the_findings() -> None:
    result = randomization_test_for_protocol(_row(), _abab_frame())
    described = describe(result, _row())
    assert described.run_name == "ABAB randomization test — Reward probability 15% vs 20%"
    assert described.analysis_type == "abab_randomization"
    summary = described.results_summary
    assert summary["pValue"] == result.test.p_value
    assert summary["observedEffect"] == pytest.approx(result.test.observed_effect)
    assert summary["nap"] == result.nap.estimate and summary["rating"] == result.standards.rating
    assert described.input_params["statistic"] == "B-A"
    assert described.input_params["minPhaseLength"] == 3
    json.dumps([described.input_params, summary], allow_nan=False)
    multiple = describe(
        randomization_test_for_protocol(_row(design_type="MULTIPLE_BASELINE"), _abab_frame()),
        _row(design_type="MULTIPLE_BASELINE"),
    )
    assert multiple.analysis_type == "multiple_baseline_randomization"


def test_describe_change_points_sequential_and_its() -> None:
    frame = _abab_frame()
    points = change_points_for_protocol(_row(), frame)
    described = describe(points, _row())
    assert (described.run_name, described.analysis_type) == (
        "Change points — Reward probability 15% vs 20%",
        "change_points",
    )
    assert described.results_summary["nChangePoints"] == len(points.change_point_dates)
    assert [p["date"] for p in described.results_summary["changePoints"]] == [
        d.isoformat() for d in points.change_point_dates
    ]
    monitoring = sequential_monitoring_for_protocol(_row(), frame)
    described = describe(monitoring, _row())
    assert described.analysis_type == "sequential_monitoring"
    assert described.results_summary["status"] == "skipped"  # no interim looks planned
    its = its_for_protocol(_row(), {"metric_date": [], "value": []})
    described = describe(its, _row(protocol_name=None))
    assert (described.run_name, described.analysis_type) == (
        "Bayesian ITS — p_describe",
        "bayesian_its",
    )
    assert described.input_params["draws"] == 1000
    assert described.results_summary["status"] == "skipped"


# ----------------------------------------------------------------------------- PostgreSQL + MLflow


def _png(path: Path) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


@pytest.fixture(scope="module")
def recorded(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    """Two users with a protocol each; three runs of the first protocol's user, one of the
    second's (without a data version)."""
    root = tmp_path_factory.mktemp("provenance")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with psycopg.connect(migrated_database) as conn:
        for user, protocol in (("prov_u1", "prov_p1"), ("prov_u2", "prov_p2")):
            conn.execute(
                "INSERT INTO users (id, email) VALUES (%s, %s)", (user, f"{user}@example.org")
            )
            conn.execute(
                "INSERT INTO experiment_protocols (id, user_id, protocol_name, hypothesis, "
                "start_date, design_type, primary_outcome, sample_size_target, analysis_plan, "
                "registered_at) VALUES (%s, %s, 'p', 'h', '2025-01-01', 'ABAB', "
                "'engagement_score', 40, 'plan', '2024-12-31T12:00Z')",
                (protocol, user),
            )
    settings = get_settings()
    plot = _png(root / "reports" / "prov_p1" / "plot.png")
    posterior = root / "posteriors" / "its.nc"
    posterior.parent.mkdir(parents=True)
    posterior.write_bytes(b"CDF\x01")
    common = {
        "run_name": "ABAB randomization test — p",
        "analysis_type": "abab_randomization",
        "input_params": {
            "statistic": "B-A",
            "permutations": np.int64(1000),
            "plan": {"alpha": 0.05},
            "empty": [],
        },
        "results_summary": {
            "pValue": np.float64(0.03),
            "significant": True,
            "effect": {"hdi95": [1.0, 2.0]},
            "undefined": float("nan"),
            "rating": "meets",
        },
        "artifact_paths": [plot, posterior],
    }
    older = record_analysis_run(
        protocol_id="prov_p1",
        user_id="prov_u1",
        data_version_hash="abc123",
        started_at=T0,
        completed_at=T0 + dt.timedelta(seconds=5),
        **common,
    )
    newer = record_analysis_run(
        protocol_id="prov_p1",
        user_id="prov_u1",
        data_version_hash="abc123",
        started_at=T0 + dt.timedelta(hours=1),
        **common,
    )
    other = record_analysis_run(
        protocol_id="prov_p2",
        user_id="prov_u2",
        run_name="Change points — p",
        analysis_type="change_points",
        input_params={},
        results_summary={"nChangePoints": 0},
        data_version_hash=None,
        started_at=T0 + dt.timedelta(minutes=30),
    )
    yield {
        "settings": settings,
        "url": migrated_database,
        "older": older,
        "newer": newer,
        "other": other,
        "plot": plot,
        "posterior": posterior,
    }
    patch.undo()


def _client(settings):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


@pytest.mark.integration
def test_the_row_holds_the_provenance(recorded) -> None:
    run = recorded["older"]
    assert {
        key: value
        for key, value in run.to_json().items()
        if key not in ("integrity", "exploratory")
    } == {
        "id": run.id,
        "protocolId": "prov_p1",
        "runName": "ABAB randomization test — p",
        "analysisType": "abab_randomization",
        "codeCommitHash": code_version(),
        "dataVersionHash": "abc123",
        "inputParams": {
            "statistic": "B-A",
            "permutations": 1000,
            "plan": {"alpha": 0.05},
            "empty": [],
        },
        "mlflowRunId": run.mlflow_run_id,
        "artifactPaths": [str(recorded["plot"]), str(recorded["posterior"])],
        "resultsSummary": {
            "pValue": 0.03,
            "significant": True,
            "effect": {"hdi95": [1.0, 2.0]},
            "undefined": None,
            "rating": "meets",
        },
        "startedAt": "2025-11-03T09:00:00+00:00",
        "completedAt": "2025-11-03T09:00:05+00:00",
    }
    assert list(run.to_json()) == [*ANALYSIS_RUN_KEYS, "exploratory", "integrity"]
    assert run.to_json()["exploratory"] is False  # no input parameter says otherwise
    assert run.integrity.chain_index == 1 and run.integrity.previous_hash is None
    assert recorded["newer"].integrity.previous_hash == run.integrity.row_hash
    assert recorded["other"].data_version_hash == UNKNOWN_DATA_VERSION
    # the default completion time is when the run was recorded
    assert recorded["newer"].completed_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)


@pytest.mark.integration
def test_the_mlflow_run_has_params_metrics_artifacts_and_tags(recorded) -> None:
    run, settings = recorded["older"], recorded["settings"]
    client = _client(settings)
    mlflow_run = client.get_run(run.mlflow_run_id)
    experiment = client.get_experiment(mlflow_run.info.experiment_id)
    assert experiment.name == experiment_name("prov_p1") == "protocol/prov_p1"
    # artifacts stay under AMERICANO_HOME, not ./mlruns in the working directory
    assert experiment.artifact_location.startswith((settings.home / "mlflow-artifacts").as_uri())
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.info.run_name == run.run_name
    assert mlflow_run.info.start_time == int(T0.timestamp() * 1000)
    assert mlflow_run.data.params == {
        "statistic": "B-A",
        "permutations": "1000",
        "plan.alpha": "0.05",
        "empty": "[]",
    }
    # numeric findings only (booleans as 0/1); NaN and text are not metrics
    assert mlflow_run.data.metrics == {
        "pValue": 0.03,
        "significant": 1.0,
        "effect.hdi95.0": 1.0,
        "effect.hdi95.1": 2.0,
    }
    tags = mlflow_run.data.tags
    assert tags["americano.code_commit"] == run.code_commit_hash == code_version()
    assert tags["mlflow.source.git.commit"] == code_version().removesuffix("-dirty")
    assert tags["americano.data_version"] == "abc123"
    assert tags["americano.analysis_run_id"] == run.id
    assert tags["americano.analysis_type"] == "abab_randomization"
    top = {item.path for item in client.list_artifacts(run.mlflow_run_id)}
    assert top == {"plots", "input_params.json", "results_summary.json"}
    # the plots are logged; the posterior file is referenced by path only
    assert [item.path for item in client.list_artifacts(run.mlflow_run_id, "plots")] == [
        "plots/plot.png"
    ]
    local = client.download_artifacts(
        run.mlflow_run_id, "results_summary.json", str(settings.home / "downloaded")
    )
    assert json.loads(Path(local).read_text())["pValue"] == 0.03


@pytest.mark.integration
def test_rows_are_written_and_read_as_the_protocols_user(recorded) -> None:
    url = recorded["url"]
    mine = list_analysis_runs(url, user_id="prov_u1")
    theirs = list_analysis_runs(url, user_id="prov_u2")
    both = list_analysis_runs(url)  # the read-everything extraction role
    assert [run.id for run in mine] == [recorded["newer"].id, recorded["older"].id]
    assert [run.id for run in theirs] == [recorded["other"].id]
    assert {run.id for run in both} >= {run.id for run in mine + theirs}


@pytest.mark.integration
def test_a_run_for_another_users_protocol_is_refused_and_its_mlflow_run_failed(
    recorded,
) -> None:
    settings = recorded["settings"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        record_analysis_run(
            protocol_id="prov_p1",
            user_id="prov_u2",
            run_name="not theirs",
            analysis_type="change_points",
            input_params={},
            results_summary={},
            data_version_hash="abc123",
            started_at=T0,
            settings=settings,
        )
    client = _client(settings)
    experiment = client.get_experiment_by_name("protocol/prov_p1")
    failed = client.search_runs([experiment.experiment_id], "attributes.status = 'FAILED'")
    assert [run.info.run_name for run in failed] == ["not theirs"]
    names = {run.run_name for run in list_analysis_runs(recorded["url"], "prov_p1")}
    assert "not theirs" not in names


def _runs_list(*args: str) -> list[dict]:
    result = CliRunner().invoke(runs_app, ["list", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.integration
def test_runs_list_prints_the_guides_fields_newest_first(recorded) -> None:
    runs = _runs_list("--protocol", "prov_p1")
    assert [run["id"] for run in runs] == [recorded["newer"].id, recorded["older"].id]
    for run in runs:
        assert list(run) == [*ANALYSIS_RUN_KEYS, "exploratory", "integrity"]
        assert run["exploratory"] is False
        assert run["integrity"]["verified"] is True
    assert runs[1] == recorded["older"].to_json()
    everything = _runs_list()
    ids = [run["id"] for run in everything]
    assert ids.index(recorded["newer"].id) < ids.index(recorded["other"].id)
    assert ids.index(recorded["other"].id) < ids.index(recorded["older"].id)
    started = [dt.datetime.fromisoformat(run["startedAt"]) for run in everything]
    assert started == sorted(started, reverse=True)
    assert all(not math.isnan(v) for r in everything for v in _numbers(r["resultsSummary"]))


@pytest.mark.integration
def test_runs_list_of_an_unknown_protocol_is_an_empty_array(recorded) -> None:
    assert _runs_list("--protocol", "no_such_protocol") == []


def _numbers(value) -> list[float]:
    return [v for _, v in flatten(value) if isinstance(v, float)]
