"""The one DbtProject. Its manifest is prepared by `make install` (`python -m` this module), by
the CLI before it loads the definitions, and by `dagster dev` (`prepare_if_dev`): never as a
side effect of importing the definitions."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from americano_pipelines.config import DBT_PROJECT_DIR

# The dbt installed beside this interpreter, so nothing depends on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)
# `dagster dev` (make ui) parses when the manifest is missing; a no-op everywhere else.
dbt_project.prepare_if_dev()


def dbt_cli() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [
        *DBT_PROJECT_DIR.glob("models/**/*"),
        *DBT_PROJECT_DIR.glob("macros/**/*"),
        *DBT_PROJECT_DIR.glob("seeds/**/*"),
        *DBT_PROJECT_DIR.glob("*.yml"),
    ]
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


def prepare_manifest() -> None:
    """Parse the dbt project when its manifest is missing or older than the project's files."""
    if manifest_is_stale():
        dbt_cli().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


if __name__ == "__main__":
    prepare_manifest()
