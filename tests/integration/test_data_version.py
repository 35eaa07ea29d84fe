"""The data version counts the Parquet tree and nothing else: no extraction's temporary files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from americano_pipelines.config import REPO_ROOT, get_settings
from americano_pipelines.db import extract, schema
from americano_pipelines.provenance.data_version import commit_data_version


def test_a_temporary_file_is_not_in_the_data_version(
    migrated_database: str, platform_env: Path
) -> None:
    """A live extraction's temporary file (which the next run must leave alone) changes neither
    the file count nor the hash; a killed one's is removed by the next extraction."""
    settings = get_settings()
    with extract.extract_connection(migrated_database) as conn:
        for table in schema.SNAPSHOT_TABLES:
            extract.extract_snapshot(conn, table, settings.raw_dir)
    clean = commit_data_version(settings)
    assert clean.files == len(list(settings.raw_dir.rglob("*.parquet")))

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.kill()
    killed.wait(timeout=30)
    try:
        in_progress = settings.raw_dir / "users" / f".users.parquet.{live.pid}.tmp"
        left_over = settings.raw_dir / "users" / f".users.parquet.{killed.pid}.tmp"
        in_progress.write_bytes(b"PAR1 half a file")
        left_over.write_bytes(b"PAR1 half a file")
        with_temporaries = commit_data_version(settings)
        assert (with_temporaries.files, with_temporaries.hash) == (clean.files, clean.hash)

        with extract.extract_connection(migrated_database) as conn:
            extract.extract_snapshot(conn, "users", settings.raw_dir)
        assert in_progress.exists() and not left_over.exists()
        assert commit_data_version(settings).hash == clean.hash
    finally:
        live.kill()
        live.wait(timeout=30)


def test_the_repository_ignores_extractions_temporary_files() -> None:
    """The repository's own DVC project (data/raw by default) ignores them, by DVC's matching."""
    from dvc.ignore import DvcIgnorePatterns

    root = str(REPO_ROOT)
    patterns = DvcIgnorePatterns((REPO_ROOT / ".dvcignore").read_text().splitlines(), root, "/")
    day = f"{root}/data/raw/behavioral_events/day=2025-01-01"
    assert patterns.matches(day, f".behavioral_events.parquet.{os.getpid()}.tmp")
    assert not patterns.matches(day, "behavioral_events.parquet")
