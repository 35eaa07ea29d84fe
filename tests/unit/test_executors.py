"""Beyond one machine, without a machine: the executor, broker and storage settings, the celery
config both sides share, the instance's dagster.yaml, and the cluster document's YAML."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    execute_job,
    in_process_executor,
    job,
    multiprocess_executor,
    op,
    reconstructable,
)
from dagster._config import process_config, validate_config
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.instance.config import dagster_instance_config_schema
from dagster._core.test_utils import instance_for_test
from dagster_celery import celery_executor
from dagster_postgres import DagsterPostgresStorage

from americano_pipelines.config import get_settings
from americano_pipelines.defs.analyses.jobs import protocol_analyses_job
from americano_pipelines.defs.executors import (
    STEP_PRELOAD,
    celery_config,
    chosen_executor,
    protocol_analyses_executor,
)
from americano_pipelines.defs.instance import instance_config, storage_url
from americano_pipelines.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "AMERICANO_EXECUTOR",
        "AMERICANO_CELERY_BROKER",
        "AMERICANO_CELERY_QUEUE",
        "AMERICANO_DAGSTER_STORAGE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_defaults_are_the_contracts(env) -> None:
    settings = get_settings()
    assert settings.analyses_executor == "multiprocess"
    assert settings.checked_celery_broker == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.celery_queue == "dagster"
    assert settings.dagster_storage_backend == "sqlite"
    # as many step processes as cores, each a fork of a server that imported what steps use
    definition, config = chosen_executor(settings)
    assert definition is multiprocess_executor
    assert config["max_concurrent"] == os.cpu_count()
    preload = config["start_method"]["forkserver"]["preload_modules"]
    assert preload == list(STEP_PRELOAD)
    assert "americano_pipelines.definitions" in preload


def test_every_module_the_forkserver_preloads_exists() -> None:
    for name in STEP_PRELOAD:
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.parametrize(
    ("value", "definition"),
    [("in_process", in_process_executor), ("multiprocess", multiprocess_executor)],
)
def test_the_setting_names_the_executor(env, value, definition) -> None:
    env.setenv("AMERICANO_EXECUTOR", value)
    assert chosen_executor(get_settings())[0] is definition


def test_celery_gets_the_broker_queue_and_a_result_backend_that_fits(env) -> None:
    env.setenv("AMERICANO_EXECUTOR", "celery")
    env.setenv("AMERICANO_CELERY_QUEUE", "analyses")
    definition, config = chosen_executor(get_settings())
    assert definition is celery_executor
    assert config["broker"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert config["backend"] == "rpc://"
    assert config["config_source"]["task_default_queue"] == "analyses"
    assert process_config(celery_executor.config_schema.config_type, config).success
    env.setenv("AMERICANO_CELERY_BROKER", "redis://127.0.0.1:6379/3")
    config = celery_config(get_settings())
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("AMERICANO_EXECUTOR", "k8s", lambda s: s.analyses_executor),
        ("AMERICANO_EXECUTOR", "Celery", lambda s: s.analyses_executor),
        ("AMERICANO_DAGSTER_STORAGE", "mysql", lambda s: s.dagster_storage_backend),
        ("AMERICANO_CELERY_BROKER", "http://127.0.0.1:15672", lambda s: s.checked_celery_broker),
        ("AMERICANO_CELERY_BROKER", "127.0.0.1:5672", lambda s: s.checked_celery_broker),
    ],
)
def test_a_bad_value_is_an_input_error_naming_the_variable(env, variable, value, read) -> None:
    env.setenv(variable, value)
    settings = get_settings()  # reading the settings never fails on them
    with pytest.raises(InputError, match=f"^{variable}: .*{re.escape(value)}") as raised:
        read(settings)
    assert raised.value.field == variable


@op
def one_step() -> int:
    return 1


@job(executor_def=protocol_analyses_executor)
def one_step_job() -> None:
    one_step()


def _engine_messages(instance, run_id: str) -> list[str]:
    return [
        entry.message
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type in (DagsterEventType.ENGINE_EVENT,)
    ]


@pytest.mark.parametrize(
    ("value", "says"),
    [("in_process", "Executing steps in process"), ("multiprocess", "multiprocess executor")],
)
def test_the_executor_is_the_one_named_when_the_run_starts(env, value, says) -> None:
    assert protocol_analyses_job.executor_def is protocol_analyses_executor
    env.setenv("AMERICANO_EXECUTOR", value)
    with instance_for_test() as instance:
        # by file: a multiprocess step's process loads the job from this file
        job = ReconstructableJob.for_file(__file__, "one_step_job")
        result = execute_job(job, instance=instance)
        assert result.success
        assert any(says in message for message in _engine_messages(instance, result.run_id))


def test_a_bad_executor_fails_the_run_naming_the_variable(env) -> None:
    env.setenv("AMERICANO_EXECUTOR", "kubernetes")
    with instance_for_test() as instance:
        with pytest.raises(InputError, match="^AMERICANO_EXECUTOR: unknown value 'kubernetes'"):
            execute_job(reconstructable(one_step_job), instance=instance)
        (run,) = instance.get_runs()  # the run exists and never started
        assert run.status == DagsterRunStatus.NOT_STARTED


@pytest.mark.parametrize(
    ("conninfo", "url"),
    [
        (
            "host=127.0.0.1 port=5432 user=postgres dbname=test",
            "postgresql+psycopg2://postgres@127.0.0.1:5432/test?options=-csearch_path%3Ddagster",
        ),
        (
            "postgresql://ame:p%40ss@db.internal/americano?sslmode=require",
            "postgresql+psycopg2://ame:p%40ss@db.internal/americano"
            "?options=-csearch_path%3Ddagster&sslmode=require",
        ),
        (  # the embedded server: a Unix socket folder
            "postgresql://postgres:@/postgres?host=/home/a/.americano/pgdata",
            "postgresql+psycopg2://postgres@/postgres"
            "?host=%2Fhome%2Fa%2F.americano%2Fpgdata&options=-csearch_path%3Ddagster",
        ),
    ],
)
def test_the_storage_url_keeps_the_connection_and_puts_dagster_first(conninfo, url) -> None:
    assert storage_url(conninfo) == url


def test_sqlite_storage_leaves_the_repo_dagster_yaml_as_it_is(env) -> None:
    config = instance_config(get_settings())
    assert config == yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert "storage" not in config
    assert validate_config(dagster_instance_config_schema(), config).success


def _yaml_blocks(path: Path) -> list:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S)]


def test_the_cluster_document_gives_a_valid_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/cluster.md's dagster.yaml is a valid instance config with a valid dagster-postgres
    storage (its K8sRunLauncher block was checked against dagster-k8s 0.29.27, which the
    platform does not install)."""
    instance, settings, worker = _yaml_blocks(REPO_ROOT / "docs" / "cluster.md")
    assert validate_config(dagster_instance_config_schema(), instance).success
    monkeypatch.setenv("AMERICANO_PGPASSWORD", "secret")
    storage = process_config(DagsterPostgresStorage.config_type(), instance["storage"]["postgres"])
    assert storage.success, storage.errors
    assert instance["run_launcher"]["class"] == "K8sRunLauncher"
    assert settings["AMERICANO_DUCKDB_PATH"].startswith("md:")
    (container,) = worker["containers"]
    assert container["command"][:3] == ["americano", "workers", "start"]


def test_the_forkserver_preload_leaves_a_step_what_it_would_load(tmp_path: Path) -> None:
    """Imported as the forkserver imports it: the instance's storage modules (and Alembic,
    which they import), MLflow's store and the default ITS model are loaded once, so no step
    loads them again."""
    script = (
        "import json, sys\n"
        "from americano_pipelines.cli.materialize import prepare_dagster_home\n"
        "from americano_pipelines.config import get_settings\n"
        "prepare_dagster_home(get_settings())\n"
        "import americano_pipelines.defs.step_preload\n"
        "from americano_pipelines.defs.analyses.its import model_cache\n"
        "wanted = ['dagster._core.storage.sqlite_storage', 'alembic',"
        " 'mlflow.store.tracking.sqlalchemy_store']\n"
        "print(json.dumps({'missing': [m for m in wanted if m not in sys.modules],"
        " 'models': [list(k) for k in model_cache()._entries]}))\n"
    )
    env = {
        **os.environ,
        "AMERICANO_HOME": str(tmp_path / "home"),
        "AMERICANO_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("AMERICANO_DAGSTER_STORAGE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"missing": [], "models": [["none", False, "nutpie", "pre_period"]]}


def test_the_dbt_version_given_to_dagster_dbt_is_what_dbt_says() -> None:
    """The version of the dbt-core package stands in for `dbt --version`'s (one process less
    per dbt step); both name the dbt beside this interpreter."""
    from americano_pipelines.defs.transform.project import DBT_EXECUTABLE, dbt_cli

    said = subprocess.run(
        [DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"{dbt_cli()._cli_version}" in said


def test_a_preload_that_fails_leaves_the_forkserver_up(tmp_path: Path) -> None:
    """An unreadable dagster.yaml stops the storage warm-up, not the import: the forkserver
    lives on, and the step that opens the instance reports the error."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("storage: [unclosed\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "AMERICANO_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", "import americano_pipelines.defs.step_preload"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


_PROBE = '''
import multiprocessing, os
from pathlib import Path


def _write_parent(path):
    Path(path).write_text(str(os.getppid()))


def parents(path):
    """This process's parent, and the parent of a process it starts as the executor does."""
    child = multiprocessing.get_context("forkserver").Process(target=_write_parent, args=(path,))
    child.start()
    child.join()
    return os.getppid(), int(Path(path).read_text())
'''


def test_a_run_process_forks_its_steps_from_the_server_that_forked_it(tmp_path: Path) -> None:
    """How `launch_all` hosts its runs: a process forked by a forkserver starts its own
    processes from that same server (which imported STEP_PRELOAD), not from a new one; without
    `fork_steps_from_parent_forkserver` it would start a server of its own."""
    (tmp_path / "probe.py").write_text(_PROBE)
    script = (
        "import json, multiprocessing, sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "import probe\n"
        "from americano_pipelines.defs.executors import fork_steps_from_parent_forkserver\n"
        "server = multiprocessing.get_context('forkserver')\n"
        "server.set_forkserver_preload(['probe'])\n"
        "for n, initializer in enumerate((None, fork_steps_from_parent_forkserver)):\n"
        "    with ProcessPoolExecutor(1, mp_context=server, initializer=initializer) as pool:\n"
        "        print(json.dumps(pool.submit(probe.parents, sys.argv[1] + str(n)).result()))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "parent")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (server_a, own_server), (server_b, same_server) = (
        json.loads(line) for line in done.stdout.strip().splitlines()
    )
    assert server_a == server_b  # both workers are forks of the one server
    assert own_server != server_a
    assert same_server == server_b
