"""Reproduce a recorded analysis run from its data version, away from the working tree.

`americano runs reproduce RUN_ID` (cli/runs.py) takes what this module gives it:

1. `restore_raw_tree`: the raw Parquet tree of the run's data version (its DVC hash), checked
   out from the DVC cache into a temporary folder; objects the cache lost come back from the
   project's remote first. The project's own `data/raw` and `dvc.lock` are not touched.
2. `build_warehouse`: dbt builds the seeds and models from that tree into a warehouse of its
   own in the same folder (dbt's target and logs too), exactly as the `transform` assets do.
3. The analysis runs again on that warehouse with the recorded parameters and seed (the CLI
   picks the analysis's spec, as `americano analyze protocol` does).
4. `compare_headlines`: every number and word of the recorded results summary against the
   recomputed one.

No Dagster here: the CLI passes the analysis in.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from americano_pipelines.config import DBT_PROJECT_DIR, Settings, dbt_environment
from americano_pipelines.errors import InputError
from americano_pipelines.provenance.data_version import dvc_root
from americano_pipelines.provenance.runs import UNKNOWN_DATA_VERSION, flatten, plain_json

__all__ = [
    "HeadlineComparison",
    "build_warehouse",
    "compare_headlines",
    "restore_raw_tree",
    "run_config_from_params",
]

# Floats recomputed by the same code on the same data agree to the last bits; the tolerance only
# absorbs the order of floating-point sums across library builds (BLAS, SIMD).
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12


def restore_raw_tree(settings: Settings, data_version: str, destination: Path) -> Path:
    """Check out the raw tree whose DVC hash is `data_version` into `destination` (created;
    it must not exist yet) and return it. InputError when the version is unknown or neither the
    cache nor the remote holds it."""
    from dvc.repo import Repo
    from dvc_data.hashfile.checkout import checkout
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree
    from dvc_objects.fs.local import LocalFileSystem

    if not data_version or data_version == UNKNOWN_DATA_VERSION:
        raise InputError(
            "RUN_ID: the run recorded no data version (its raw data were never committed to "
            "DVC), so there is nothing to reproduce it from",
            field="RUN_ID",
        )
    root = dvc_root(settings)
    if not (root / ".dvc").is_dir():
        raise InputError(
            f"RUN_ID: no DVC project at {root}: the data versions live there", field="RUN_ID"
        )
    tree_id = HashInfo("md5", f"{data_version}.dir")
    repo = Repo(str(root))
    try:
        cache = repo.cache.local
        if not _tree_in(cache, tree_id):
            try:
                repo.cloud.pull([tree_id])
            except Exception as error:  # DVC raises its own errors for every remote failure
                raise InputError(
                    f"RUN_ID: data version {data_version} is in neither the DVC cache nor the "
                    f"remote: {' '.join(str(error).split())}",
                    field="RUN_ID",
                ) from None
            if not _tree_in(cache, tree_id):
                raise InputError(
                    f"RUN_ID: data version {data_version} is in neither the DVC cache nor the "
                    "remote",
                    field="RUN_ID",
                )
        tree = Tree.load(cache, tree_id)
        destination.mkdir(parents=True)
        checkout(str(destination), LocalFileSystem(), tree, cache, quiet=True)
    finally:
        repo.close()
    return destination


def _tree_in(cache: Any, tree_id: Any) -> bool:
    """Whether the cache holds the tree and every file of it."""
    from dvc_data.hashfile.tree import Tree

    if not cache.exists(tree_id.value):
        return False
    tree = Tree.load(cache, tree_id)
    return all(cache.exists(entry.value) for _, _, entry in tree)


def build_warehouse(settings: Settings, raw_dir: Path, work_dir: Path) -> str:
    """Build the marts (and the seeds and models under them) over `raw_dir` into
    `work_dir/warehouse.duckdb` with dbt (its target and logs under `work_dir`); return the
    warehouse's path. The dbt tests are the data's checks and already ran when the run did."""
    warehouse = work_dir / "warehouse.duckdb"
    environment = {
        **os.environ,
        **dbt_environment(settings),
        "AMERICANO_DUCKDB_PATH": str(warehouse),
        "AMERICANO_RAW_DIR": str(raw_dir),
        "AMERICANO_RESULTS_DIR": str(work_dir / "results"),
        "DBT_TARGET_PATH": str(work_dir / "dbt-target"),
        "DBT_LOG_PATH": str(work_dir / "dbt-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt),
        "build",
        "--select",
        "+marts",  # what the analyses read, with the seeds and models under it
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--quiet",
    ]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join((done.stdout + done.stderr).split())[-600:]
        raise InputError(
            f"RUN_ID: dbt could not build the warehouse of the recorded data version: {tail}",
            field="RUN_ID",
        )
    return str(warehouse)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def run_config_from_params(fields: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A run config (snake_case `fields` of the analysis's config class) from the recorded
    input parameters (camelCase): what the run was given, the rest left at their defaults."""
    config: dict[str, Any] = {}
    for name in fields:
        value = params.get(_camel(name))
        if value is not None:
            config[name] = value
    return config


@dataclass(frozen=True)
class HeadlineComparison:
    """One headline value of a run: as recorded, as recomputed, and whether they agree."""

    name: str
    recorded: Any
    recomputed: Any
    match: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "recorded": self.recorded,
            "recomputed": self.recomputed,
            "match": self.match,
        }


def _same(recorded: Any, recomputed: Any) -> bool:
    if isinstance(recorded, bool) or isinstance(recomputed, bool):  # bool is an int
        return type(recorded) is type(recomputed) and recorded == recomputed
    if isinstance(recorded, int | float) and isinstance(recomputed, int | float):
        if math.isnan(recorded) or math.isnan(recomputed):
            return math.isnan(recorded) and math.isnan(recomputed)
        return math.isclose(
            recorded, recomputed, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE
        )
    return recorded == recomputed


def compare_headlines(
    recorded: Mapping[str, Any], recomputed: Mapping[str, Any]
) -> list[HeadlineComparison]:
    """Every leaf of the two results summaries (flattened as `a.b`, lists by index), in the
    recorded order and then those only the recomputed one has."""
    before = dict(flatten(plain_json(recorded)))
    after = dict(flatten(plain_json(recomputed)))
    names = [*before, *(name for name in after if name not in before)]
    return [
        HeadlineComparison(
            name=name,
            recorded=before.get(name),
            recomputed=after.get(name),
            match=name in before and name in after and _same(before[name], after[name]),
        )
        for name in names
    ]
