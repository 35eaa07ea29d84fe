"""Data versions with DVC, and the code version from git.

The Parquet tree `<data_dir>/raw` is the output of the `extract` stage in `dvc.yaml`, in the DVC
project that holds the data directory (the repository itself by default). Committing the stage
stores the files in the DVC cache, pushes them to the remote, and gives the tree's hash: that
hash is the data version every analysis records. The project's `.dvcignore` keeps extraction's
temporary files out of it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from americano_pipelines.config import REPO_ROOT, Settings

STAGE = "extract"


@dataclass(frozen=True)
class DataVersion:
    hash: str
    """DVC's md5 of the raw Parquet tree (without DVC's `.dir` suffix)."""
    files: int
    bytes: int
    remote: str

    def to_metadata(self) -> dict:
        return {
            "dvc_hash": self.hash,
            "files": self.files,
            "bytes": self.bytes,
            "remote": self.remote,
        }


def dvc_root(settings: Settings) -> Path:
    return settings.data_dir.parent


def ensure_dvc_project(settings: Settings) -> Path:
    """Make the data directory's parent a DVC project with the `extract` stage and a remote.

    The repository is one already; a data directory elsewhere (tests, a shared drive) gets its
    own project, with this repository's `dvc.yaml`. The default remote is a folder under
    AMERICANO_HOME, set at the machine-local config level so no path is committed; a remote the
    user configured is kept.
    """
    from dvc.repo import Repo

    root = dvc_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".dvc").is_dir():
        Repo.init(str(root), no_scm=not (root / ".git").exists())
    if not (root / "dvc.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    _ignore_temporary_files(root)
    repo = Repo(str(root))
    try:
        if not repo.config["core"].get("remote"):
            Path(settings.dvc_remote).mkdir(parents=True, exist_ok=True)
            with repo.config.edit("local") as config:
                config["remote"]["americano"] = {"url": settings.dvc_remote}
                config["core"]["remote"] = "americano"
    finally:
        repo.close()
    return root


def _ignore_temporary_files(root: Path) -> None:
    """Keep extraction's temporary files out of the data version: a live run's work in progress,
    or what a killed run left before the next one cleans it."""
    from americano_pipelines.db.extract import TEMPORARY_FILE_GLOB

    ignore = root / ".dvcignore"
    text = ignore.read_text() if ignore.exists() else ""
    if TEMPORARY_FILE_GLOB in text.splitlines():
        return
    with open(ignore, "a") as handle:
        handle.write(
            ("" if not text or text.endswith("\n") else "\n")
            + "# Extraction's temporary files (americano_pipelines/db/extract.py)\n"
            + f"{TEMPORARY_FILE_GLOB}\n"
        )


def commit_data_version(settings: Settings) -> DataVersion:
    """Record the current raw Parquet tree in DVC (cache, dvc.lock, remote); return its hash."""
    from dvc.repo import Repo

    root = ensure_dvc_project(settings)
    repo = Repo(str(root))
    try:
        # An explicit path: a bare stage name would be looked up from the current directory.
        repo.commit(f"{root / 'dvc.yaml'}:{STAGE}", force=True)
        repo.push()
        remote = repo.config["core"]["remote"]
    finally:
        repo.close()
    out = _locked_output(root)
    return DataVersion(
        hash=out["md5"].removesuffix(".dir"),
        files=int(out.get("nfiles", 0)),
        bytes=int(out.get("size", 0)),
        remote=remote,
    )


def _locked_output(root: Path) -> dict:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return lock["stages"][STAGE]["outs"][0]


def recorded_data_version(settings: Settings) -> str | None:
    """The hash of the raw tree last committed (`dvc.lock`): the data the warehouse was built
    from; None before the first extraction."""
    try:
        return str(_locked_output(dvc_root(settings))["md5"]).removesuffix(".dir")
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def code_version() -> str:
    """The git commit the code runs from, with `-dirty` when the work tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit
