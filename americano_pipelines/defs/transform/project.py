"""The one DbtProject. Its manifest is prepared by `make install` (`python -m` this module), by
the CLI before it loads the definitions, and under `dagster dev` (as `prepare_if_dev` would):
never as a side effect of importing the definitions elsewhere."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from americano_pipelines.config import DBT_PROJECT_DIR

# The dbt installed beside this interpreter, so nothing depends on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)


class LocalDbtCliResource(DbtCliResource):
    """dagster-dbt's resource for the dbt beside this interpreter, whose version is that of the
    dbt-core package installed here: dagster-dbt would otherwise run `dbt --version`, a whole
    dbt start-up (4-13 s of CPU under load, py-spy), in every step before its command."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))


def dbt_cli() -> DbtCliResource:
    return LocalDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


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


# What `DbtProject.prepare_if_dev()` does, with the dbt beside this interpreter (its own looks on
# PATH): under `dagster dev` (make ui), parse a stale manifest; a no-op everywhere else.
if os.environ.get("DAGSTER_IS_DEV_CLI"):
    prepare_manifest()

if __name__ == "__main__":
    prepare_manifest()
