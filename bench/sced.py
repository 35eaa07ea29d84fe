"""Benchmark: ABAB randomization test, vectorized prefix sums vs a per-assignment Python loop.

Two cases, each timed in this run for both implementations (best of several repeats):
- exact: n = 60, minimum phase 5, all C(43, 3) = 12,341 admissible assignments;
- Monte Carlo: n = 120, minimum phase 5, 10,000 assignments (observed included).

The baseline is the straightforward implementation: a Python loop over assignments that slices
the series and takes numpy means per assignment (Monte Carlo draws by rejection sampling of three
sorted change points). Both give the same exact p-value, which is checked.

Prints human-readable lines, then one JSON object as the last line (CONTRACTS.md §6).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from itertools import combinations

import numpy as np

from americano_pipelines.stats.sced import abab_randomization_test, draw_abab_schedule

MIN_PHASE = 5
PERMUTATIONS = 10_000


def _series(n: int, seed: int) -> tuple[list[str], np.ndarray, tuple[int, int, int]]:
    changes = draw_abab_schedule(n, MIN_PHASE, seed=seed)
    edges = (0, *changes, n)
    labels: list[str] = []
    for i in range(4):
        labels += ["AB"[i % 2]] * (edges[i + 1] - edges[i])
    rng = np.random.default_rng(seed)
    values = rng.normal(50, 10, size=n) + 4.0 * np.array([label == "B" for label in labels])
    return labels, values, changes


def _loop_statistic(x: np.ndarray, c1: int, c2: int, c3: int) -> float:
    a = np.concatenate((x[:c1], x[c2:c3]))
    b = np.concatenate((x[c1:c2], x[c3:]))
    return float(np.mean(b) - np.mean(a))


def python_loop_exact(x: np.ndarray, observed: tuple[int, int, int], k: int) -> tuple[float, int]:
    """Every admissible schedule, one at a time."""
    n = x.size
    observed_stat = _loop_statistic(x, *observed)
    distribution = []
    for c1, c2, c3 in combinations(range(1, n), 3):
        if c1 >= k and c2 - c1 >= k and c3 - c2 >= k and n - c3 >= k:
            distribution.append(_loop_statistic(x, c1, c2, c3))
    values = np.array(distribution)
    return float(np.mean(values >= observed_stat - 1e-9)), len(distribution)


def python_loop_monte_carlo(
    x: np.ndarray, observed: tuple[int, int, int], k: int, permutations: int, seed: int
) -> float:
    """The observed schedule plus permutations - 1 admissible schedules drawn by rejection."""
    n = x.size
    rng = np.random.default_rng(seed)
    observed_stat = _loop_statistic(x, *observed)
    distribution = [observed_stat]
    while len(distribution) < permutations:
        c1, c2, c3 = sorted(rng.choice(np.arange(1, n), size=3, replace=False).tolist())
        if c1 >= k and c2 - c1 >= k and c3 - c2 >= k and n - c3 >= k:
            distribution.append(_loop_statistic(x, c1, c2, c3))
    values = np.array(distribution)
    return float(np.mean(values >= observed_stat - 1e-9))


def best_ms(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def main() -> None:
    labels60, x60, changes60 = _series(60, seed=1)
    labels120, x120, changes120 = _series(120, seed=2)

    ours_exact = abab_randomization_test(labels60, x60, min_phase_length=MIN_PHASE)
    loop_exact_p, loop_exact_count = python_loop_exact(x60, changes60, MIN_PHASE)
    assert ours_exact.exact and ours_exact.n_assignments == loop_exact_count == 12_341
    assert abs(ours_exact.p_value - loop_exact_p) < 1e-12, (ours_exact.p_value, loop_exact_p)
    ours_mc = abab_randomization_test(
        labels120, x120, min_phase_length=MIN_PHASE, permutations=PERMUTATIONS, seed=0
    )
    assert not ours_mc.exact and ours_mc.n_assignments == PERMUTATIONS
    loop_mc_p = python_loop_monte_carlo(x120, changes120, MIN_PHASE, PERMUTATIONS, seed=0)

    exact_ms = best_ms(
        lambda: abab_randomization_test(labels60, x60, min_phase_length=MIN_PHASE), repeats=20
    )
    mc_ms = best_ms(
        lambda: abab_randomization_test(
            labels120, x120, min_phase_length=MIN_PHASE, permutations=PERMUTATIONS, seed=0
        ),
        repeats=20,
    )
    loop_exact_ms = best_ms(lambda: python_loop_exact(x60, changes60, MIN_PHASE), repeats=3)
    loop_mc_ms = best_ms(
        lambda: python_loop_monte_carlo(x120, changes120, MIN_PHASE, PERMUTATIONS, seed=0),
        repeats=3,
    )

    ratio_exact = loop_exact_ms / exact_ms
    ratio_mc = loop_mc_ms / mc_ms
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"exact ABAB n=60, min phase {MIN_PHASE}: {ours_exact.n_assignments:,} assignments, "
        f"p = {ours_exact.p_value:.4f} (loop {loop_exact_p:.4f})"
    )
    print(f"  ours {exact_ms:8.2f} ms   python loop {loop_exact_ms:9.1f} ms   x{ratio_exact:.0f}")
    print(
        f"Monte Carlo ABAB n=120: {PERMUTATIONS:,} of {ours_mc.n_admissible:,} admissible, "
        f"p = {ours_mc.p_value:.4f} (loop {loop_mc_p:.4f}, different draws)"
    )
    print(f"  ours {mc_ms:8.2f} ms   python loop {loop_mc_ms:9.1f} ms   x{ratio_mc:.0f}")
    print(f"peak RSS {peak_rss_mb:.0f} MB; python {sys.version.split()[0]}, numpy {np.__version__}")
    print(
        json.dumps(
            {
                "bench": "sced",
                "exact_n60_ms": round(exact_ms, 3),
                "mc_n120_ms": round(mc_ms, 3),
                "python_loop_exact_n60_ms": round(loop_exact_ms, 1),
                "python_loop_mc_n120_ms": round(loop_mc_ms, 1),
                "ratio_vs_python_loop": round(ratio_exact, 1),
                "ratio_exact_n60_vs_python_loop": round(ratio_exact, 1),
                "ratio_mc_n120_vs_python_loop": round(ratio_mc, 1),
                "n_assignments_exact_n60": ours_exact.n_assignments,
                "n_assignments_mc_n120": ours_mc.n_assignments,
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
