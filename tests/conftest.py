"""Shared fixtures: a real PostgreSQL (the server at AMERICANO_DATABASE_URL when set, otherwise
the embedded one the platform starts by default), a fresh migrated database per test module,
and isolated state directories, the registry of homes included."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[1]
# Keep PyTensor's compile cache warm across test runs, whatever AMERICANO_HOME a test uses.
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={REPO_ROOT / '.americano' / 'pytensor'}")


@pytest.fixture(scope="session")
def refdata() -> Path:
    """The published reference data, ../shared/refdata (its README gives each source; never
    copied into the project): beside the checkout, or where AMERICANO_REFDATA says. A checkout
    without it skips the tests that reproduce published results, and says why."""
    for candidate in (
        os.environ.get("AMERICANO_REFDATA"),
        REPO_ROOT.parent / "shared" / "refdata",
        "/work/shared/refdata",
    ):
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    pytest.skip("no ../shared/refdata beside the checkout; set AMERICANO_REFDATA to it")


def pytest_configure(config: pytest.Config) -> None:
    """The definitions read the dbt manifest when imported: `make install` prepares it, and so
    does this, for a run after the dbt project changed."""
    from americano_pipelines.defs.transform.project import prepare_manifest

    prepare_manifest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers from where a test lives and what it touches: `integration`, `e2e` and `browser` by
    folder,
    `database` for every test that reaches PostgreSQL (CI's pass against the server runs only
    those: `-m database`)."""
    for item in items:
        folder = Path(str(item.path)).parent.name
        if folder in ("integration", "e2e", "browser"):
            item.add_marker(folder)
        if "server_url" in getattr(item, "fixturenames", ()):
            item.add_marker("database")


@pytest.fixture(scope="session", autouse=True)
def state_dir() -> Iterator[Path]:
    """XDG_STATE_HOME for the session: the registry of homes that held a cluster
    (americano_pipelines/db/home.py) is the session's own, never the developer's. Set in the
    environment, so the CLI subprocesses that tests start use it too."""
    state = Path(tempfile.mkdtemp(prefix="americano-state-"))
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_STATE_HOME", str(state))
    yield state
    patch.undo()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def session_home() -> Iterator[Path]:
    """AMERICANO_HOME for the session: tests never touch the developer's own state.

    Not under pytest's basetemp: the embedded server runs as another OS user when we are root,
    and a concurrent pytest session resets basetemp's permissions to 0700."""
    home = Path(tempfile.mkdtemp(prefix="americano-test-"))
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_HOME", str(home))
    patch.setenv("AMERICANO_DATA_DIR", str(home / "project" / "data"))
    yield home
    patch.undo()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url(session_home: Path) -> Iterator[str]:
    """Admin URL of the PostgreSQL server under test."""
    configured = os.environ.get("AMERICANO_DATABASE_URL")
    if configured:
        yield configured
        return
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import database_url

    settings = get_settings()
    yield database_url(settings)  # starts the embedded server, as the platform does
    _stop_embedded(settings.embedded_pg_dir)


def _stop_embedded(pgdata: Path) -> None:
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def database_url_for(server: str, dbname: str) -> str:
    return make_conninfo(server, dbname=dbname)


@pytest.fixture(scope="module")
def empty_database(server_url: str) -> Iterator[str]:
    """A brand-new database on the server (no migrations), dropped afterwards."""
    name = f"americano_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url_for(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def migrated_database(empty_database: str) -> str:
    from americano_pipelines.db.migrate import migrate

    with psycopg.connect(empty_database) as conn:
        migrate(conn)
    return empty_database


@pytest.fixture
def platform_env(migrated_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the platform at the test database and a private state directory; return it."""
    monkeypatch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AMERICANO_DATA_DIR", str(tmp_path / "project" / "data"))
    monkeypatch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    return tmp_path


BASE_GROUPS = ("extract", "seeds", "staging", "quarantine", "intermediate", "marts", "results")


def build_demo_study(patch: pytest.MonkeyPatch, root: Path, database_url: str, **study_options):
    """Point the platform at `database_url` and a state under `root`, load a demo study
    (`generate_demo_study(**study_options)`) and build the graph up to the marts; return the
    study and the settings."""
    from americano_pipelines.cli.materialize import materialize_all
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.load import load_tables
    from americano_pipelines.synth.demo_study import generate_demo_study

    patch.setenv("AMERICANO_DATABASE_URL", database_url)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = generate_demo_study(**study_options)
    with psycopg.connect(database_url) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    base = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    assert base.failed_checks == []
    return study, settings


@pytest.fixture(scope="module")
def module_platform(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """For a module's fixtures: the platform on the module's database with all its state under
    a folder of its own (returned), Dagster's home included as the CLI sets it."""
    root = tmp_path_factory.mktemp("platform")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.setenv("DAGSTER_HOME", str(root / "unused"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    yield root
    patch.undo()


@pytest.fixture(scope="module")
def api_study(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One per module: a two-user demo study built up to the marts, an API token per user, and
    `create_app` on a real uvicorn (tests/integration/api_server.py): what the API's tests and
    the screens' browser tests share. Yields `settings`, `tokens` (user -> token), `url`,
    `root` and `database` (the owner's URL)."""
    from tests.integration.api_server import DAYS, START, issue_tokens, running_api

    patch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("api")
    _, settings = build_demo_study(
        patch, root, migrated_database, users=2, days=DAYS, seed=7, start_date=START
    )
    tokens = issue_tokens(migrated_database)
    with running_api(settings) as url:
        yield {
            "settings": settings,
            "tokens": tokens,
            "url": url,
            "root": root,
            "database": migrated_database,
        }
    patch.undo()


@pytest.fixture
def protocol_cli():
    """Run `americano protocol …` in process; return (exit code, stdout, stderr)."""
    import typer
    from typer.testing import CliRunner

    from americano_pipelines.cli.protocol import protocol_app

    app = typer.Typer()
    app.add_typer(protocol_app, name="protocol")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["protocol", *args])
        return result.exit_code, result.stdout, result.stderr

    return run
