"""What checking `americano analyze`'s CSV inputs with pandera's polars backend would cost the
CLI's start-up, against what the CLI imports now, measured in the same run (issue 10, item 1).

Each import runs in a fresh process, interleaved so that load on the machine falls on all
alike; the median of `--repeats` runs is reported. `ratio_vs_pandera_polars` = the baseline
(the CLI with pandera.polars) / the CLI as it is, bigger is better (CONTRACTS.md §6): the
start-up that defining the inputs as plain data in quality/inputs.py saves.

    python bench/cli_input_schema.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

IMPORTS = {
    "python": "pass",
    "cli": "import americano_pipelines.cli.app, americano_pipelines.cli.analyze",
    "polars": "import polars",
    "pandera_polars": "import pandera.polars",
    "cli_with_pandera_polars": (
        "import americano_pipelines.cli.app, americano_pipelines.cli.analyze, pandera.polars"
    ),
}


def _seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    times: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(repeats):
        for name, code in IMPORTS.items():
            times[name].append(_seconds(code))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        json.dumps(
            {
                "bench": "cli_input_schema",
                **{f"{name}_import_s": round(value, 3) for name, value in median.items()},
                "ratio_vs_pandera_polars": round(
                    median["cli_with_pandera_polars"] / median["cli"], 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
