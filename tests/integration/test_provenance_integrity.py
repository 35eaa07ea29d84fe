"""Provenance cannot be edited: analysis_runs is append-only for the application role (no grant,
and a trigger for everyone), each protocol's runs form a hash chain computed by the database,
and the hash is copied to the MLflow run, so `americano runs list` flags a row that a superuser
changed or deleted behind the trigger's back (migration 0004)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import psycopg
import pytest
from typer.testing import CliRunner

from americano_pipelines.cli.runs import runs_app
from americano_pipelines.config import get_settings
from americano_pipelines.db.connection import user_session
from americano_pipelines.provenance.runs import list_analysis_runs, record_analysis_run

USER = "integrity_user"
T0 = dt.datetime(2025, 11, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def platform(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    """One state directory (MLflow store) for the module: its set-up is the slow part."""
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(tmp_path_factory.mktemp("integrity") / "home"))
    yield migrated_database
    patch.undo()


@pytest.fixture
def chain(platform: str) -> dict:
    """A fresh protocol with three recorded runs (rows and MLflow runs)."""
    migrated_database = platform
    protocol_id = f"integrity_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES (%s, 'integrity@example.org') "
            "ON CONFLICT DO NOTHING",
            (USER,),
        )
        conn.execute(
            "INSERT INTO experiment_protocols (id, user_id, protocol_name, hypothesis, "
            "start_date, design_type, primary_outcome, sample_size_target, analysis_plan, "
            "registered_at) VALUES (%s, %s, 'p', 'h', '2025-01-01', 'ABAB', "
            "'engagement_score', 40, 'plan', '2024-12-31T12:00Z')",
            (protocol_id, USER),
        )
    runs = [
        record_analysis_run(
            protocol_id=protocol_id,
            user_id=USER,
            run_name=f"run {i}",
            analysis_type="abab_randomization",
            input_params={"permutations": 1000, "note": 'tab\there, quote " and é'},
            results_summary={"pValue": 0.01 * (i + 1), "tiny": 1.5e-7, "big": 1e300},
            data_version_hash="d" * 32,
            started_at=T0 + dt.timedelta(hours=i),
            settings=get_settings(),
        )
        for i in range(3)
    ]
    return {"url": migrated_database, "protocol_id": protocol_id, "runs": runs}


def _runs_list(*args: str) -> tuple[list[dict], str]:
    result = CliRunner().invoke(runs_app, ["list", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def _problems(runs: list[dict]) -> dict[str, list[str]]:
    return {run["runName"]: run["integrity"]["problems"] for run in runs}


def test_recorded_runs_form_a_verified_chain(chain) -> None:
    first, second, third = chain["runs"]
    assert [r.integrity.chain_index for r in chain["runs"]] == [1, 2, 3]
    assert first.integrity.previous_hash is None
    assert second.integrity.previous_hash == first.integrity.row_hash
    assert third.integrity.previous_hash == second.integrity.row_hash
    runs, stderr = _runs_list("--protocol", chain["protocol_id"], "--verify-mlflow")
    assert all(run["integrity"]["verified"] for run in runs)
    assert stderr == ""


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE analysis_runs SET results_summary = '{\"pValue\": 0.001}', "
        "code_commit_hash = 'fake' WHERE protocol_id = %s",
        "DELETE FROM analysis_runs WHERE protocol_id = %s",
    ],
    ids=["update", "delete"],
)
def test_the_application_role_cannot_edit_or_delete_a_run(chain, statement: str) -> None:
    with user_session(USER, owner_url=chain["url"]) as session:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.execute(statement, (chain["protocol_id"],))
        session.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.execute("TRUNCATE analysis_runs")


def test_the_owner_is_stopped_by_the_trigger(chain) -> None:
    with psycopg.connect(chain["url"]) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute(
                "UPDATE analysis_runs SET results_summary = '{}' WHERE protocol_id = %s",
                (chain["protocol_id"],),
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute(
                "DELETE FROM analysis_runs WHERE protocol_id = %s", (chain["protocol_id"],)
            )


def test_a_writer_cannot_choose_its_place_in_the_chain(chain) -> None:
    with user_session(USER, owner_url=chain["url"]) as session:
        session.execute(
            "INSERT INTO analysis_runs (protocol_id, run_name, analysis_type, code_commit_hash, "
            "data_version_hash, chain_index, previous_hash, row_hash) "
            "VALUES (%s, 'forged', 'its', 'c', 'd', 99, 'fake', 'fake')",
            (chain["protocol_id"],),
        )
        session.commit()
    (forged,) = [
        r for r in list_analysis_runs(chain["url"], chain["protocol_id"]) if r.run_name == "forged"
    ]
    assert forged.integrity.chain_index == 4
    assert forged.integrity.previous_hash == chain["runs"][2].integrity.row_hash
    assert forged.integrity.verified


def _as_superuser_without_triggers(url: str, statement: str, params: tuple) -> None:
    """What a superuser can do: switch triggers off for the session, then edit."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement, params)


def test_runs_list_flags_a_row_a_superuser_edited(chain) -> None:
    _as_superuser_without_triggers(
        chain["url"],
        "UPDATE analysis_runs SET results_summary = '{\"pValue\": 0.001}', "
        "code_commit_hash = 'fake' WHERE id = %s",
        (chain["runs"][1].id,),
    )
    runs, stderr = _runs_list("--protocol", chain["protocol_id"])
    assert _problems(runs) == {
        "run 2": [],
        "run 1": ["row hash does not match the recorded fields"],
        "run 0": [],
    }
    assert stderr.count("\n") == 1
    assert stderr.startswith(f"warning: analysis run {chain['runs'][1].id} does not verify")


def test_runs_list_flags_a_gap_where_a_superuser_deleted_a_run(chain) -> None:
    _as_superuser_without_triggers(
        chain["url"], "DELETE FROM analysis_runs WHERE id = %s", (chain["runs"][1].id,)
    )
    runs, _ = _runs_list("--protocol", chain["protocol_id"])
    assert _problems(runs) == {
        "run 2": [
            "runs 2..2 of this protocol's chain are missing",
            "previous hash does not match the run before it",
        ],
        "run 0": [],
    }


def test_mlflow_catches_a_superuser_who_also_recomputed_the_chain(chain) -> None:
    """Rewriting a row and every hash after it passes the chain check inside PostgreSQL; the
    copy of each hash in MLflow does not move."""
    url, protocol_id = chain["url"], chain["protocol_id"]
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE analysis_runs SET results_summary = '{\"pValue\": 0.001}' WHERE id = %s",
            (chain["runs"][0].id,),
        )
        for index in (1, 2, 3):
            conn.execute(
                """UPDATE analysis_runs r SET
                       previous_hash = (SELECT p.row_hash FROM analysis_runs p
                                         WHERE p.protocol_id = r.protocol_id
                                           AND p.chain_index = r.chain_index - 1)
                    WHERE protocol_id = %s AND chain_index = %s""",
                (protocol_id, index),
            )
            conn.execute(
                "UPDATE analysis_runs r SET row_hash = analysis_run_digest(r) "
                "WHERE protocol_id = %s AND chain_index = %s",
                (protocol_id, index),
            )
    runs, stderr = _runs_list("--protocol", protocol_id)
    assert all(run["integrity"]["verified"] for run in runs) and stderr == ""
    runs, stderr = _runs_list("--protocol", protocol_id, "--verify-mlflow")
    assert _problems(runs) == {
        "run 2": ["row hash differs from its MLflow run's copy"],
        "run 1": ["row hash differs from its MLflow run's copy"],
        "run 0": ["row hash differs from its MLflow run's copy"],
    }
    assert stderr.count("\n") == 3


def test_concurrent_runs_of_one_protocol_do_not_fork_the_chain(chain) -> None:
    url, protocol_id = chain["url"], chain["protocol_id"]
    insert = (
        "INSERT INTO analysis_runs (protocol_id, run_name, analysis_type, code_commit_hash, "
        "data_version_hash) VALUES (%s, %s, 'its', 'c', 'd')"
    )
    with user_session(USER, owner_url=url) as first:
        first.execute(insert, (protocol_id, "first"))  # holds the protocol's chain lock
        errors: list[BaseException] = []

        def second() -> None:
            try:
                with user_session(USER, owner_url=url) as session:
                    session.execute(insert, (protocol_id, "second"))
                    session.commit()
            except BaseException as error:  # reported below
                errors.append(error)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=2)
        assert thread.is_alive()  # waiting for the first writer's lock
        first.commit()
        thread.join(timeout=30)
    assert not errors
    runs = {r.run_name: r for r in list_analysis_runs(url, protocol_id)}
    assert runs["first"].integrity.chain_index == 4
    assert runs["second"].integrity.chain_index == 5
    assert all(run.integrity.verified for run in runs.values())


def test_mlflow_names_the_runs_a_superuser_deleted_from_the_end_of_a_chain(chain) -> None:
    last = chain["runs"][2]
    _as_superuser_without_triggers(
        chain["url"], "DELETE FROM analysis_runs WHERE id = %s", (last.id,)
    )
    runs, stderr = _runs_list("--protocol", chain["protocol_id"])
    assert all(run["integrity"]["verified"] for run in runs) and stderr == ""  # no gap
    _, stderr = _runs_list("--protocol", chain["protocol_id"], "--verify-mlflow")
    assert stderr == (
        f"warning: MLflow run {last.mlflow_run_id} records analysis run {last.id} of protocol "
        f"{chain['protocol_id']}, which analysis_runs no longer holds\n"
    )
