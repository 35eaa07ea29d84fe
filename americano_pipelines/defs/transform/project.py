"""The one DbtProject, with its manifest prepared when missing or older than the models."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

# The dbt installed beside this interpreter, so nothing depends on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)


def dbt_cli() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [
        *DBT_PROJECT_DIR.glob("models/**/*"),
        *DBT_PROJECT_DIR.glob("macros/**/*"),
        *DBT_PROJECT_DIR.glob("seeds/**/*"),
        DBT_PROJECT_DIR / "dbt_project.yml",
        DBT_PROJECT_DIR / "selectors.yml",
    ]
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


if _manifest_is_stale():
    dbt_cli().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
