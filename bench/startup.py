"""Start-up cost of the platform's entry points, against baselines measured in the same run.

Two pairs (issue 7):
- `import americano_pipelines.definitions` (what `make ui` and every Dagster process load)
  against `import dagster, dagster_dbt` (the least a Dagster code location can cost);
- `americano --help` and each `americano analyze` subcommand on a small input (all but `its`
  and `synthetic-control`, which sample) against `import numpy, scipy.stats` (the least a
  statistics command can cost); `changepoints` also against `import numpy, scipy.stats,
  ruptures`, the floor its library sets (`cli_vs_library_floor`).

Each command runs in a fresh process, interleaved with its baseline so that load on the
machine falls on both alike; the median of `--repeats` runs is reported. Ratios are ours /
baseline (smaller is better; targets: definitions ≤ 1.3, CLI ≤ 1.0), and, as CONTRACTS.md §6
asks, `ratio_vs_<baseline>` = baseline / ours for the headline pair.

    python bench/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
# These two sample a posterior: their cost is the sampler, not the start-up.
SAMPLED = {"its", "synthetic-control"}
AMERICANO = str(Path(sys.executable).with_name("americano"))
PYTHON = sys.executable

BASELINE_DAGSTER = [PYTHON, "-c", "import dagster, dagster_dbt"]
BASELINE_SCIPY = [PYTHON, "-c", "import numpy, scipy.stats"]
# A subcommand whose own library costs more than numpy + scipy.stats to import cannot start
# within 1.0x of them: ruptures imports scipy.stats, scipy.spatial and scipy.signal up front
# (its __init__ imports every detector and cost). Such a command is also measured against that
# floor, so that what the platform adds on top of the library stays visible.
LIBRARY_FLOORS = {"changepoints": [PYTHON, "-c", "import numpy, scipy.stats, ruptures"]}
DEFINITIONS = [PYTHON, "-c", "import americano_pipelines.definitions"]


def _cli_commands() -> dict[str, list[str]]:
    """`--help`, and the first golden case of each subcommand (tests/golden/cases.json)."""
    cases = json.loads((GOLDEN / "cases.json").read_text())
    commands = {"help": [AMERICANO, "--help"]}
    for args in cases.values():
        subcommand = args[0]
        if subcommand not in SAMPLED and subcommand not in commands:
            inputs = [arg.format(inputs=GOLDEN / "inputs") for arg in args]
            commands[subcommand] = [AMERICANO, "analyze", *inputs]
    return commands


def _seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed


def _pair(ours: list[str], baseline: list[str], repeats: int, env: dict[str, str]) -> dict:
    ours_times, baseline_times = [], []
    for _ in range(repeats):
        baseline_times.append(_seconds(baseline, env))
        ours_times.append(_seconds(ours, env))
    ours_s, baseline_s = statistics.median(ours_times), statistics.median(baseline_times)
    return {"seconds": ours_s, "baseline_seconds": baseline_s, "ratio": ours_s / baseline_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="americano-bench-startup-") as home:
        # A private home: nothing here may touch the developer's state.
        env = {**os.environ, "AMERICANO_HOME": home, "AMERICANO_DATA_DIR": f"{home}/data"}
        _seconds(DEFINITIONS, env)  # warm the file cache and any install-time preparation
        definitions = _pair(DEFINITIONS, BASELINE_DAGSTER, args.repeats, env)
        print(
            f"definitions import {definitions['seconds']:.2f} s vs dagster+dagster_dbt "
            f"{definitions['baseline_seconds']:.2f} s: {definitions['ratio']:.2f}x",
            flush=True,
        )
        cli, over_floor = {}, {}
        for name, command in _cli_commands().items():
            cli[name] = _pair(command, BASELINE_SCIPY, args.repeats, env)
            print(
                f"americano {name}: {cli[name]['seconds']:.2f} s vs numpy+scipy.stats "
                f"{cli[name]['baseline_seconds']:.2f} s: {cli[name]['ratio']:.2f}x",
                flush=True,
            )
            if name in LIBRARY_FLOORS:
                over_floor[name] = _pair(command, LIBRARY_FLOORS[name], args.repeats, env)
                print(
                    f"americano {name}: {over_floor[name]['seconds']:.2f} s vs "
                    f"`{LIBRARY_FLOORS[name][-1]}` {over_floor[name]['baseline_seconds']:.2f} s: "
                    f"{over_floor[name]['ratio']:.2f}x",
                    flush=True,
                )
    worst = max(cli, key=lambda name: cli[name]["ratio"])
    print(
        json.dumps(
            {
                "bench": "startup",
                "definitions_seconds": round(definitions["seconds"], 3),
                "definitions_vs_dagster": round(definitions["ratio"], 3),
                "cli_vs_scipy": {name: round(r["ratio"], 3) for name, r in cli.items()},
                "worst_cli_command": worst,
                "worst_cli_vs_scipy": round(cli[worst]["ratio"], 3),
                "cli_vs_library_floor": {
                    name: round(r["ratio"], 3) for name, r in over_floor.items()
                },
                "meets_targets": definitions["ratio"] <= 1.3
                and all(r["ratio"] <= 1.0 for r in cli.values()),
                "ratio_vs_dagster_import": round(1 / definitions["ratio"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
