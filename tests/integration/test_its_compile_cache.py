"""The first ITS of a process loads its compiled model from the disk cache under AMERICANO_HOME
(PyTensor's compile directory, `stats.nutpie_model`) instead of compiling it again: a second
process on the same home compiles nothing new, and answers the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GOLDEN_INPUTS = Path(__file__).resolve().parents[1] / "golden" / "inputs"
AMERICANO = Path(sys.executable).parent / "americano"
ITS = ["analyze", "its", "--input", str(GOLDEN_INPUTS / "its.csv"),
       "--intervention-date", "2025-02-15", "--draws", "200", "--tune", "200", "--seed", "5"]  # fmt: skip


def _compiled_modules(compiledir: Path) -> set[Path]:
    """PyTensor's compiled C modules (one folder per module, a shared library in each)."""
    return {path.parent for path in compiledir.rglob("*.so")}


def test_a_new_process_reuses_the_compiled_model_of_an_earlier_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}  # the home's own cache
    env["AMERICANO_HOME"] = str(home)

    def its() -> dict:
        done = subprocess.run(
            [str(AMERICANO), *ITS], env=env, capture_output=True, text=True, timeout=1200
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # no compiler or BLAS warnings on the way
        return json.loads(done.stdout)

    first = its()
    compiledir = home / "pytensor"
    after_first = _compiled_modules(compiledir)
    assert after_first, f"nothing compiled under {compiledir}"

    second = its()
    assert _compiled_modules(compiledir) == after_first  # loaded, not compiled again
    assert second == first
