"""AMERICANO_HOME: checked before use, never silently replaced, changed by one command at a time.

A home that held the embedded PostgreSQL cluster is remembered by the cluster's system
identifier (the random number initdb gives a cluster, first in `global/pg_control`), twice:

- the marker, `$AMERICANO_HOME/cluster.json`;
- the registry, `<state_dir>/homes.json` (`$XDG_STATE_HOME/americano`, by default
  `~/.local/state/americano`), keyed by the home's absolute path. It lives outside every home
  because a home on a disk that is no longer mounted takes its marker with it, and leaves an
  empty directory, or none, where it was.

Before the cluster starts, `check_cluster` refuses when a record says a cluster lived here and
`pgdata` holds none, or another one: a fresh empty cluster there would silently stand in for
the real data. `ensure_home` creates the home only when a first run needs it: never its missing
parents, never a home the registry knows. `americano home forget` (and `make clean`) drops the
records, for a fresh start on purpose.

`home_lock` holds an flock on `$AMERICANO_HOME/americano.lock` for the whole of a command that
changes state; a second one fails at once naming the holder, so nothing is recorded twice.

Every refusal is an `InputError` naming AMERICANO_HOME, or XDG_STATE_HOME for the registry
(one line, exit 2), except `HomeInUse` (exit 1: nothing is wrong with the input, the home is
busy).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from americano_pipelines.config import Settings
from americano_pipelines.errors import InputError

MARKER_NAME = "cluster.json"
LOCK_NAME = "americano.lock"
REGISTRY_NAME = "homes.json"
FIELD = "AMERICANO_HOME"


@dataclass(frozen=True)
class ClusterRecord:
    """A cluster a home held, as one record (the marker or the registry) has it."""

    home: Path
    system_identifier: int
    recorded_at: str
    source: Path
    """The file the record was read from."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    command: str
    since: str


class HomeInUse(Exception):
    """Another command that changes state holds the home's lock."""

    def __init__(self, home: Path, holder: LockHolder | None) -> None:
        who = (
            f"`americano {holder.command}` (pid {holder.pid}, since {holder.since})"
            if holder
            else "another americano command"
        )
        super().__init__(f"{FIELD}: {home} is in use by {who}; run this again when it has finished")
        self.home = home
        self.holder = holder


def registry_path(settings: Settings) -> Path:
    return settings.state_dir / REGISTRY_NAME


def home_key(path: Path | str) -> Path:
    """The path a home is known by: absolute, symlinks resolved (as `get_settings` does)."""
    return Path(path).expanduser().resolve()


def _refusal(message: str) -> InputError:
    return InputError(f"{FIELD}: {message}", field=FIELD)


def _fresh_start(home: Path) -> str:
    return f"to start afresh on purpose, run `americano home forget {home}`"


# ----------------------------------------------------------------------------- the home itself


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a parent we may not search: home_problem says so
        return False


def home_problem(home: Path) -> str | None:
    """Why `home` cannot hold state (under a file, read-only, parent missing), or None."""
    existing = home
    try:
        while not existing.exists():
            existing = existing.parent
    except OSError as error:  # e.g. a parent we may not search
        return f"{home} cannot be reached ({error.strerror})"
    if not existing.is_dir():
        if existing == home:
            return f"{home} is a file, not a directory"
        return f"{home} lies under {existing}, which is a file, not a directory"
    if existing != home and existing != home.parent:
        # A first run creates the home, not its parents: a missing parent is more likely a
        # disk that is not mounted than a place to build.
        return f"{home} cannot be created: {home.parent} does not exist; create it first"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"{existing} is not writable ({error.strerror})"
    return None


def ensure_home(home: Path, registry: Path) -> None:
    """Check that `home` can hold state and create it when a first run needs it (only it)."""
    missing = not _exists(home)
    known = registry_record(registry, home) if missing else None
    if known:
        raise _refusal(
            f"{home} held PostgreSQL cluster {known.system_identifier} (recorded in {registry}) "
            f"and is gone: is its disk mounted? Refusing to create it; {_fresh_start(home)}"
        )
    problem = home_problem(home)
    if problem:
        raise _refusal(problem)
    if not missing:
        return
    try:
        home.mkdir()
    except FileExistsError:  # a concurrent first run made it
        pass
    except OSError as error:
        raise _refusal(f"cannot create {home} ({error.strerror})") from None


# ----------------------------------------------------------------------------- the cluster


def system_identifier(pgdata: Path) -> int | None:
    """The system identifier of the cluster in `pgdata`; None when it holds none."""
    if not (pgdata / "PG_VERSION").is_file():
        return None
    try:
        # ControlFileData starts with `uint64 system_identifier` (src/include/catalog/
        # pg_control.h), in the machine's byte order; pg_controldata prints the same number.
        with open(pgdata / "global" / "pg_control", "rb") as control:
            head = control.read(8)
    except OSError as error:
        raise _refusal(f"cannot read {pgdata}/global/pg_control ({error.strerror})") from None
    if len(head) != 8:
        raise _refusal(f"{pgdata}/global/pg_control is truncated")
    return int.from_bytes(head, sys.byteorder)


def check_cluster(pgdata: Path, registry: Path) -> ClusterRecord | None:
    """Refuse when the marker or the registry says `pgdata` held a cluster that is not there.

    Returns the record that matched (None on a first run, or in a home made before records
    were kept: `record_cluster` then writes them)."""
    home = pgdata.parent
    records = [r for r in (marker_record(home), registry_record(registry, home)) if r]
    if not records:
        return None
    found = system_identifier(pgdata)
    for record in records:
        if found is None:
            raise _refusal(
                f"{home} held PostgreSQL cluster {record.system_identifier} (recorded in "
                f"{record.source}) but {pgdata} holds none: is its disk mounted? "
                f"Refusing to create an empty one; {_fresh_start(home)}"
            )
        if found != record.system_identifier:
            raise _refusal(
                f"{pgdata} holds PostgreSQL cluster {found}, not cluster "
                f"{record.system_identifier} recorded in {record.source}; "
                f"{_fresh_start(home)}"
            )
    return records[0]


def record_cluster(pgdata: Path, registry: Path) -> ClusterRecord:
    """Write the marker and the registry entry for the cluster now in `pgdata`."""
    home = pgdata.parent
    identifier = system_identifier(pgdata)
    if identifier is None:
        raise _refusal(f"{pgdata} holds no PostgreSQL cluster to record")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    entry = {"systemIdentifier": str(identifier), "recordedAt": now}
    marker = marker_record(home)
    if marker is None or marker.system_identifier != identifier:
        _write_json(home / MARKER_NAME, {"home": str(home), **entry})
    known = registry_record(registry, home)
    if known and known.system_identifier == identifier:
        return known  # the usual case: nothing to write
    with _registry_lock(registry):
        homes = _read_registry(registry)
        homes[str(home)] = entry
        _write_registry(registry, homes)
    return ClusterRecord(home, identifier, now, registry)


def forget(home: Path, registry: Path) -> list[ClusterRecord]:
    """Drop the marker and the registry entry of `home`; return what was forgotten."""
    forgotten = [r for r in (marker_record(home), registry_record(registry, home)) if r]
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (home / MARKER_NAME).unlink()
    if registry.exists():
        with _registry_lock(registry):
            homes = _read_registry(registry)
            if homes.pop(str(home), None) is not None:
                _write_registry(registry, homes)
    return forgotten


def marker_record(home: Path) -> ClusterRecord | None:
    path = home / MARKER_NAME
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as error:
        raise _refusal(f"cannot read {path} ({error}); {_fresh_start(home)}") from None
    identifier = _parse_entry(data)
    if identifier is None:
        raise _refusal(f"{path} names no system identifier; {_fresh_start(home)}")
    return ClusterRecord(home, identifier, str(data.get("recordedAt", "")), path)


def registry_record(registry: Path, home: Path) -> ClusterRecord | None:
    entry = _read_registry(registry).get(str(home))
    identifier = _parse_entry(entry)
    if identifier is None:
        return None
    return ClusterRecord(home, identifier, str(entry.get("recordedAt", "")), registry)


def _parse_entry(entry: object) -> int | None:
    if not isinstance(entry, dict):
        return None
    try:
        return int(entry["systemIdentifier"])
    except (KeyError, TypeError, ValueError):
        return None


def _read_registry(registry: Path) -> dict:
    try:
        data = json.loads(registry.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise InputError(
            f"XDG_STATE_HOME: cannot read the registry of homes {registry} ({error})",
            field="XDG_STATE_HOME",
        ) from None
    homes = data.get("homes") if isinstance(data, dict) else None
    return homes if isinstance(homes, dict) else {}


def _write_registry(registry: Path, homes: dict) -> None:
    _write_json(registry, {"homes": homes})


def _write_json(path: Path, value: dict) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(value, indent=2) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        field = FIELD if path.name == MARKER_NAME else "XDG_STATE_HOME"
        raise InputError(f"{field}: cannot write {path} ({error.strerror})", field=field) from None


@contextlib.contextmanager
def _registry_lock(registry: Path) -> Iterator[None]:
    """Serialize read-modify-write of the registry across processes (many homes, one file)."""
    try:
        registry.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(registry.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise InputError(
            f"XDG_STATE_HOME: cannot keep the registry of homes in {registry.parent} "
            f"({error.strerror}); point XDG_STATE_HOME at a writable directory",
            field="XDG_STATE_HOME",
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def prepare_home(settings: Settings) -> None:
    """What every command that uses the home checks first: the home can hold state, and the
    embedded cluster (when it is the database) is the one recorded."""
    registry = registry_path(settings)
    ensure_home(settings.home, registry)
    if settings.database_url is None:
        check_cluster(settings.embedded_pg_dir, registry)


# ----------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def home_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the home's lock for a command that changes state; HomeInUse when another has it.

    Fail-fast, not wait: a second `demo` behind the first would only redo its work. The lock
    is an flock, so it goes with the process however that ends."""
    prepare_home(settings)
    path = settings.home / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _refusal(f"cannot open {path} ({error.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _refusal(f"cannot lock {path} ({error.strerror})") from None
            raise HomeInUse(settings.home, _read_holder(fd)) from None
        since = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, json.dumps({"pid": os.getpid(), "command": command, "since": since}).encode(), 0
        )
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> LockHolder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return LockHolder(int(data["pid"]), str(data["command"]), str(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # the holder is between taking the lock and writing its name
