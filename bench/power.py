"""Benchmark: simulated power of an ABAB protocol's test, thresholds vs calling the test.

One design (n = 40 days, minimum phase 5: C(23, 3) = 1,771 admissible schedules, exact B-A
test), 400 simulated studies, timed in this run both ways (`stats.power.simulated_power`,
method "auto" = the thresholds and "per-simulation" = the registered test on every study at
every effect the search visits). Both give the same power at the effect (checked); the
per-simulation minimum detectable effect is bisected, the thresholds' exact.

Prints human-readable lines, then one JSON object as the last line (CONTRACTS.md §6).
"""

from __future__ import annotations

import json
import resource
import time

from americano_pipelines.stats.power import PowerDesign, simulated_power

DESIGN = PowerDesign("ABAB", 40, 5)
SIMULATIONS = 400


def _timed(method: str):
    start = time.perf_counter()
    result = simulated_power(
        DESIGN, effect=1.0, simulations=SIMULATIONS, seed=1, autocorrelation=0.2, method=method
    )
    return result, time.perf_counter() - start


def main() -> None:
    fast, fast_s = _timed("auto")
    slow, slow_s = _timed("per-simulation")
    if fast.power != slow.power:
        raise SystemExit(f"power differs: thresholds {fast.power}, per-simulation {slow.power}")
    ratio = slow_s / fast_s
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"ABAB n=40, min phase 5, {fast.n_admissible:,} schedules, {SIMULATIONS} studies: "
        f"power {fast.power:.3f} ± {fast.mcse:.3f}, MDE {fast.minimum_detectable_effect:.3f} "
        f"(bisected {slow.minimum_detectable_effect:.3f})"
    )
    print(f"  thresholds {fast_s:7.2f} s   per-simulation {slow_s:7.2f} s   x{ratio:.0f}")
    print(
        json.dumps(
            {
                "bench": "power",
                "thresholds_s": round(fast_s, 3),
                "per_simulation_s": round(slow_s, 3),
                "simulations": SIMULATIONS,
                "n_admissible": fast.n_admissible,
                "ratio_vs_per_simulation": round(ratio, 1),
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
