"""Benchmark: our Bayesian ITS against CausalPy's default `InterruptedTimeSeries`, same data.

The same 20 simulated daily series (60 pre-period days, 30 post-period days; level 50, a small
linear trend, day-of-week effects, Normal noise SD 5, a known level-shift effect drawn from
U(-5, 10); seeded) are fitted in this one run by

- CausalPy 0.7: `InterruptedTimeSeries(df, treatment_time, formula="y ~ 1 + t + C(dow)",
  model=LinearRegression(sample_kwargs={"random_seed": seed, "progressbar": False}))`, i.e. its
  default priors and PyMC's default `pm.sample` settings (1000 tune + 1000 draws per chain,
  2 chains on this 2-core machine), plus the prior/posterior-predictive passes it always runs;
- ours: `bayesian_its(..., seasonality="day_of_week")` with the same 1000 + 1000 x 2 chains,
  vague priors, no AR(1), the default sampler (nutpie, compiled once, data swapped per series).

Reported: wall time of the first series (cold: includes model build and compilation) and the
mean over the remaining series (warm), per method; the effect estimates side by side; and
max |our mean - CausalPy mean| / CausalPy posterior SD. Both effects are the posterior of the
mean over the post period of observed minus counterfactual expectation (CausalPy's `post_impact`
averaged over the post period). Imports are done before timing starts.

Usage: `python bench/its.py [--series N]` (default 20). Prints human-readable lines, then one
JSON object as the last line (CONTRACTS.md section 6).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

import americano_pipelines  # noqa: F401  (routes the PyTensor compile cache first)
from americano_pipelines.stats.its import ITSModelCache, bayesian_its

N_PRE, N_POST = 60, 30
INTERVENTION = pd.Timestamp("2025-03-02")
DRAWS, TUNE, CHAINS = 1000, 1000, 2


def simulated_series(seed: int) -> tuple[pd.DatetimeIndex, np.ndarray, float]:
    """(dates, values, true level-shift effect) for one seeded series."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(INTERVENTION - pd.Timedelta(days=N_PRE), periods=N_PRE + N_POST)
    day = np.arange(N_PRE + N_POST)
    effect = float(rng.uniform(-5.0, 10.0))
    weekly = rng.normal(0.0, 3.0, size=7)
    trend = rng.uniform(-0.1, 0.1)
    values = (
        50.0
        + trend * day
        + weekly[dates.dayofweek]
        + effect * (day >= N_PRE)
        + rng.normal(0.0, 5.0, size=day.size)
    )
    return dates, values, effect


def causalpy_fit(dates: pd.DatetimeIndex, values: np.ndarray, seed: int) -> tuple[float, float]:
    import causalpy as cp

    frame = pd.DataFrame(
        {"y": values, "t": np.arange(values.size, dtype=float), "dow": dates.dayofweek},
        index=dates,
    )
    model = cp.pymc_models.LinearRegression(
        sample_kwargs={
            "random_seed": seed,
            "progressbar": False,
            "draws": DRAWS,
            "tune": TUNE,
            "chains": CHAINS,
        }
    )
    result = cp.InterruptedTimeSeries(
        frame, INTERVENTION, formula="y ~ 1 + t + C(dow)", model=model
    )
    effect = np.asarray(result.post_impact.mean(dim="obs_ind").values, dtype=float)
    return float(effect.mean()), float(effect.std(ddof=1))


def ours_fit(
    dates: pd.DatetimeIndex, values: np.ndarray, seed: int, cache: ITSModelCache
) -> tuple[float, float]:
    result = bayesian_its(
        dates.strftime("%Y-%m-%d").tolist(),
        values,
        intervention_date=INTERVENTION.date(),
        seasonality="day_of_week",
        seed=seed,
        draws=DRAWS,
        tune=TUNE,
        chains=CHAINS,
        model_cache=cache,
    )
    return result.causal_effect.mean, result.causal_effect.sd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    args = parser.parse_args()
    if args.series < 2:
        parser.error("--series must be at least 2 (one cold, one warm)")
    warnings.filterwarnings("ignore")
    import causalpy  # noqa: F401  (import cost is not part of either timing)
    import pymc  # noqa: F401

    # After the import: pymc sets its own logger to INFO when it is first imported.
    logging.getLogger("pymc").setLevel(logging.WARNING)

    cache = ITSModelCache()
    rows = []
    causalpy_times, ours_times = [], []
    for seed in range(args.series):
        dates, values, truth = simulated_series(seed)
        start = time.perf_counter()
        cp_mean, cp_sd = causalpy_fit(dates, values, seed)
        causalpy_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        our_mean, our_sd = ours_fit(dates, values, seed, cache)
        ours_times.append(time.perf_counter() - start)
        diff = abs(our_mean - cp_mean) / cp_sd
        rows.append(diff)
        print(
            f"series {seed:2d}: true {truth:6.2f} | CausalPy {cp_mean:6.2f} (sd {cp_sd:4.2f}, "
            f"{causalpy_times[-1]:5.2f} s) | ours {our_mean:6.2f} (sd {our_sd:4.2f}, "
            f"{ours_times[-1]:5.2f} s) | diff {diff:.3f} sd",
            flush=True,
        )
    causalpy_warm = float(np.mean(causalpy_times[1:]))
    ours_warm = float(np.mean(ours_times[1:]))
    summary = {
        "bench": "its",
        "series": args.series,
        "draws": DRAWS,
        "tune": TUNE,
        "chains": CHAINS,
        "causalpy_warm_s_per_series": round(causalpy_warm, 4),
        "ours_warm_s_per_series": round(ours_warm, 4),
        "causalpy_cold_s": round(causalpy_times[0], 3),
        "ours_cold_s": round(ours_times[0], 3),
        "ratio_vs_causalpy": round(causalpy_warm / ours_warm, 2),
        "max_effect_diff_in_sd": round(float(np.max(rows)), 4),
        "mean_effect_diff_in_sd": round(float(np.mean(rows)), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(
        f"warm s/series: CausalPy {causalpy_warm:.3f}, ours {ours_warm:.3f} "
        f"(ratio {causalpy_warm / ours_warm:.1f}); cold: CausalPy {causalpy_times[0]:.2f} s, "
        f"ours {ours_times[0]:.2f} s; max |diff| {np.max(rows):.3f} CausalPy SDs"
    )
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
