"""State is never silently replaced: a home whose cluster is gone gets no new empty one, a home
that cannot hold state is one line, one command changes a home at a time, and Ctrl-C is one
line that leaves the next run correct.

Every test drives the `americano` console script in subprocesses, on a home of its own with
its own embedded PostgreSQL: copies of one migrated cluster, so initdb runs once per module.
The records are read where docs/contracts-additions.md puts them: the marker
`$AMERICANO_HOME/cluster.json` and the registry `$XDG_STATE_HOME/americano/homes.json` (the
session's own: tests/conftest.py sets XDG_STATE_HOME)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from americano_pipelines.config import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
AMERICANO = Path(sys.executable).with_name("americano")
SMALL_DEMO = ("--users", "1", "--days", "49")
FRESH_START = "americano home forget"
MARKER = "cluster.json"


def env_for(home: Path, *, own_compile_cache: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a command on `home` and its embedded PostgreSQL. PyTensor's compile
    cache stays the suite's (tests/conftest.py), since a cold cache costs each demo 20-30 s,
    except with `own_compile_cache`: the home's, as a user has it (`americano analyze its`
    needs the home only for that cache)."""
    dropped = ("AMERICANO_DATABASE_URL", "AMERICANO_DUCKDB_PATH")
    if own_compile_cache:
        dropped += ("PYTENSOR_FLAGS",)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(AMERICANO_HOME=str(home), AMERICANO_DATA_DIR=str(home.parent / "data"))
    # One drift week per demo (default 4): this module is about the home, not the drift, which
    # tests/e2e/test_commands.py's demo and test_drift_demo_week.py cover.
    env.setdefault("AMERICANO_DEMO_DRIFT_WEEKS", "1")
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str], timeout: float = 900, **kwargs):
    return subprocess.run(
        [str(AMERICANO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def one_line(completed: subprocess.CompletedProcess[str]) -> str:
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr[-3000:]
    return lines[0]


def stop_server(home: Path) -> None:
    pgdata = home / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR
        from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def registry() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "americano" / "homes.json"


def recorded_id(home: Path) -> int | None:
    """The system identifier the registry holds for `home`."""
    try:
        entry = json.loads(registry().read_text())["homes"].get(str(home))
    except FileNotFoundError:
        return None
    return int(entry["systemIdentifier"]) if entry else None


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """A home with a migrated cluster, stopped. Not under pytest's basetemp, for the reason
    tests/conftest.py::session_home gives."""
    root = Path(tempfile.mkdtemp(prefix="americano-template-"))
    home = root / "home"
    completed = run("db", "migrate", env=env_for(home))
    assert completed.returncode == 0, completed.stderr
    stop_server(home)
    yield home
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="americano-state-test-"))
    path.chmod(0o755)  # the embedded server, or `nobody`, must reach what is inside
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home(template: Path, root: Path) -> Iterator[Path]:
    """A stopped copy of the template: the same cluster at another path, known to the
    registry under that path once a command has run on it."""
    copy = root / "home"
    subprocess.run(["cp", "-a", str(template), str(copy)], check=True)  # keeps pgdata's owner
    completed = run("db", "migrate", env=env_for(copy))
    assert completed.returncode == 0, completed.stderr
    stop_server(copy)
    yield copy
    stop_server(copy)


# ----------------------------------------------------------------------------- the cluster


@pytest.mark.parametrize("kept", ["marker", "registry"])
def test_a_home_whose_pgdata_is_gone_gets_no_new_cluster(home: Path, kept: str) -> None:
    # Either record alone is enough.
    if kept == "marker" and registry().exists():
        data = json.loads(registry().read_text())
        data["homes"].pop(str(home), None)
        registry().write_text(json.dumps(data))
    if kept == "registry":
        (home / MARKER).unlink(missing_ok=True)
    shutil.rmtree(home / "pgdata")

    completed = run("seed-demo", *SMALL_DEMO, env=env_for(home))

    assert completed.returncode == 2, completed.stderr
    line = one_line(completed)
    assert line.startswith("error: AMERICANO_HOME: ") and FRESH_START in line
    assert not (home / "pgdata").exists()


@pytest.mark.parametrize("left_behind", ["an empty directory", "nothing"])
def test_a_home_on_a_disk_that_is_gone_gets_no_new_cluster(home: Path, left_behind: str) -> None:
    disk = home.with_name("disk")
    home.rename(disk)  # the disk is unmounted
    if left_behind == "an empty directory":
        home.mkdir()  # the mount point

    for command in (("seed-demo", *SMALL_DEMO), ("db", "migrate"), ("demo", *SMALL_DEMO)):
        completed = run(*command, env=env_for(home))
        assert completed.returncode == 2, completed.stderr
        assert FRESH_START in one_line(completed)
    if left_behind == "nothing":
        assert not home.exists()
    else:
        assert list(home.iterdir()) == []
        home.rmdir()

    disk.rename(home)  # mounted again: its own cluster is welcome
    completed = run("db", "migrate", env=env_for(home))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "database is up to date"


def test_forget_is_the_way_to_a_fresh_cluster_and_guards_the_new_one(home: Path) -> None:
    old = recorded_id(home)
    shutil.rmtree(home / "pgdata")
    assert run("db", "migrate", env=env_for(home)).returncode == 2
    stale_marker = (home / MARKER).read_text()

    forgot = run("home", "forget", str(home), env=env_for(home))
    assert forgot.returncode == 0, forgot.stderr
    assert str(old) in forgot.stdout
    fresh = run("db", "migrate", env=env_for(home))
    assert fresh.returncode == 0, fresh.stderr
    assert "applied" in fresh.stdout
    new = recorded_id(home)
    assert new is not None and new != old

    # A marker naming another cluster than the one in pgdata: refused too.
    stop_server(home)
    (home / MARKER).write_text(stale_marker)
    completed = run("db", "migrate", env=env_for(home))
    assert completed.returncode == 2, completed.stderr
    line = one_line(completed)
    assert f"holds PostgreSQL cluster {new}, not cluster {old}" in line


def test_missing_parents_of_the_home_are_not_created(root: Path) -> None:
    home = root / "unmounted" / "americano"
    try:
        completed = run("db", "migrate", env=env_for(home, AMERICANO_DATA_DIR=str(root / "data")))
    finally:
        stop_server(home)  # had one been made
    assert completed.returncode == 2, completed.stderr
    assert one_line(completed).startswith("error: AMERICANO_HOME: ")
    assert not (root / "unmounted").exists()


def test_make_clean_forgets_the_home_so_make_demo_starts_afresh(template: Path, root: Path) -> None:
    project = root / "project"
    project.mkdir()
    home = project / ".americano"
    subprocess.run(["cp", "-a", str(template), str(home)], check=True)
    try:
        assert run("db", "migrate", env=env_for(home)).returncode == 0
        stop_server(home)
        assert recorded_id(home) is not None

        cleaned = subprocess.run(
            ["make", "-f", str(REPO_ROOT / "Makefile"), "clean", f"BIN={AMERICANO.parent}"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert cleaned.returncode == 0, cleaned.stderr
        assert not home.exists() and recorded_id(home) is None
        fresh = run("db", "migrate", env=env_for(home))
        assert fresh.returncode == 0, fresh.stderr
    finally:
        stop_server(home)


# ----------------------------------------------------------------------------- unusable homes

COMMANDS = {
    "seed-demo": ("seed-demo", *SMALL_DEMO),
    "db migrate": ("db", "migrate"),
    "extract": ("extract",),
    "demo": ("demo", *SMALL_DEMO),
    "analyze its": ("analyze", "its", "--intervention-date", "2025-01-21", "--chains", "1"),
    "runs list": ("runs", "list"),
}


def its_csv(root: Path) -> Path:
    path = root / "series.csv"
    days = [f"2025-01-{day:02d},{10 + (day >= 21) * 5 + day % 3}" for day in range(1, 32)]
    path.write_text("date,value\n" + "\n".join(days) + "\n")
    path.chmod(0o644)
    return path


def command_args(name: str, root: Path) -> tuple[str, ...]:
    args = COMMANDS[name]
    return (*args, "--input", str(its_csv(root))) if name == "analyze its" else args


@pytest.mark.parametrize("name", COMMANDS)
def test_a_home_under_a_file_is_one_line(name: str, root: Path) -> None:
    file = root / "file"
    file.write_text("not a directory\n")
    env = env_for(file / "home", own_compile_cache=True, AMERICANO_DATA_DIR=str(root / "data"))

    completed = run(*command_args(name, root), env=env)

    assert completed.returncode == 2, completed.stderr[-3000:]
    line = one_line(completed)
    assert line.startswith("error: AMERICANO_HOME: ") and f"under {file}" in line


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make `directory` read-only: by its mode, or, for root (whom modes do not stop), by
    mounting a read-only file system on it, as a read-only disk would be."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"root without the right to mount a read-only file system: {mounted.stderr}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_read_only_home_is_one_line(name: str, root: Path) -> None:
    home = root / "home"
    home.mkdir()
    env = env_for(home, own_compile_cache=True, AMERICANO_DATA_DIR=str(root / "data"))
    args = command_args(name, root)

    with read_only(home):
        completed = run(*args, env=env)

    assert completed.returncode == 2, completed.stderr[-3000:]
    line = one_line(completed)
    assert line.startswith(f"error: AMERICANO_HOME: {home} is not writable"), line


# ----------------------------------------------------------------------------- one at a time


def read_until(process: subprocess.Popen[str], text: str) -> None:
    """Read the process's stdout up to a line containing `text` (it prints as it goes)."""
    for line in process.stdout:
        if text in line:
            return
    pytest.fail(f"exited ({process.wait()}) before printing {text!r}: {process.stderr.read()}")


def start_demo(home: Path) -> subprocess.Popen[str]:
    # Its own process group, which the test signals as a terminal's Ctrl-C does.
    return subprocess.Popen(
        [str(AMERICANO), "demo", *SMALL_DEMO],
        env=env_for(home, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_second_command_on_a_busy_home_exits_1_naming_the_holder(home: Path) -> None:
    first = start_demo(home)
    try:
        read_until(first, "migrations:")  # it holds the lock and its database is up
        for command in (("demo", *SMALL_DEMO), ("seed-demo", *SMALL_DEMO), ("extract",)):
            completed = run(*command, env=env_for(home))
            assert completed.returncode == 1, completed.stderr[-3000:]
            line = one_line(completed)
            assert f"in use by `americano demo` (pid {first.pid}," in line, line
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=900)


def wait_for_step(home: Path, step: str, demo: subprocess.Popen[str]) -> None:
    """Until a run of the demo's Dagster instance has started `step`: Dagster is executing our
    code, where most of a demo's time goes."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        while not any(
            entry.step_key == step
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
        ):
            assert demo.poll() is None, demo.stderr.read()
            time.sleep(0.2)


@pytest.mark.slow
def test_ctrl_c_during_demo_is_one_line_and_the_next_demo_completes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = start_demo(home)
    read_until(demo, "extracting")  # seeded, and the Dagster instance is there
    # The dbt build: the interrupt reaches Dagster, dagster-dbt and dbt's own process.
    wait_for_step(home, "warehouse_models", demo)
    os.killpg(demo.pid, signal.SIGINT)
    _, stderr = demo.communicate(timeout=900)
    assert demo.returncode == 130, stderr[-3000:]
    assert stderr.splitlines() == ["interrupted: run `americano demo` again to finish"]

    again = run("demo", *SMALL_DEMO, env=env_for(home), timeout=3600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "failed checks" not in again.stdout
    assert_warehouse_complete(home, monkeypatch)


def assert_warehouse_complete(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL = Parquet table by table, every mart built, every protocol analysed."""
    import duckdb
    import psycopg
    import pyarrow.dataset as ds

    from americano_pipelines.cli.demo import MARTS
    from americano_pipelines.db import extract, schema
    from americano_pipelines.db.connection import database_url

    for name, value in env_for(home).items():
        if name.startswith("AMERICANO_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AMERICANO_DATABASE_URL", raising=False)
    monkeypatch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    settings = get_settings()
    with psycopg.connect(database_url(settings)) as pg:
        postgres = {
            table: pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in schema.EXTRACTED_TABLES
        }
        protocols = {row[0] for row in pg.execute("SELECT id FROM experiment_protocols")}
    parquet = {
        table: ds.dataset(
            extract.table_dir(
                table, raw_dir=settings.raw_dir, provenance_dir=settings.provenance_dir
            ),
            format="parquet",
        ).count_rows()
        for table in schema.EXTRACTED_TABLES
    }
    assert parquet == postgres
    assert postgres["behavioral_events"] > 0 and protocols
    with duckdb.connect(settings.duckdb_path, read_only=True) as warehouse:
        for mart in MARTS:
            assert warehouse.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0
        analysed = {
            row[0]
            for row in warehouse.execute(
                "SELECT protocol_id FROM analyses.sced_randomization_test"
            ).fetchall()
        }
    assert analysed == protocols
