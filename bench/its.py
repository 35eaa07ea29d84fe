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

Then, each in a fresh process on CausalPy's own example (`../shared/refdata/causalpy_its.csv`,
`y ~ 1 + t + C(month)`, intervention 2017-01-01; 1000 tune + 1000 draws x 2 chains):

- CausalPy cold: import, build, compile (an empty PyTensor compile directory) and fit;
- our CLI cold: `americano analyze its ... --seasonality month` on a new AMERICANO_HOME (its
  compile cache empty); our CLI warm: the same command again (the cache filled);
- the floor for a warm CLI call: one warm in-process fit of the same series (this process) plus
  the start-up of `python -c "import numpy, scipy.stats"`.

Targets (issue 9): our CLI cold at least 1.5x faster than CausalPy cold
(`cli_cold_vs_causalpy_cold` >= 1.5); our CLI warm within 2x of the floor
(`cli_warm_vs_floor` <= 2).

Usage: `python bench/its.py [--series N]` (default 20). Prints human-readable lines, then one
JSON object as the last line (CONTRACTS.md section 6).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import americano_pipelines  # noqa: F401  (routes the PyTensor compile cache first)
from americano_pipelines.stats.its import ITSModelCache, bayesian_its

EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "refdata" / "causalpy_its.csv"
AMERICANO = str(Path(sys.executable).parent / "americano")
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


# CausalPy on its own example, as its its_pymc notebook fits it.
_CAUSALPY_COLD = """
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, causalpy as cp
frame = pd.read_csv(sys.argv[1], parse_dates=["date"]).rename(columns={"value": "y"})
frame = frame.set_index("date").assign(t=lambda f: np.arange(len(f)), month=lambda f: f.index.month)
model = cp.pymc_models.LinearRegression(
    sample_kwargs={"random_seed": 1, "progressbar": False, "draws": 1000, "tune": 1000, "chains": 2})
cp.InterruptedTimeSeries(frame, pd.Timestamp("2017-01-01"), formula="y ~ 1 + t + C(month)", model=model)
"""

_OUR_CLI = ["analyze", "its", "--input", str(EXAMPLE), "--intervention-date", "2017-01-01",
            "--seasonality", "month", "--seed", "1"]  # fmt: skip


def _seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def process_timings() -> dict[str, float]:
    """Cold and warm processes on CausalPy's example (module docstring)."""
    table = pd.read_csv(EXAMPLE)
    base = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    with tempfile.TemporaryDirectory(prefix="americano_bench_its_") as work:
        causalpy_env = {**base, "PYTENSOR_FLAGS": f"base_compiledir={work}/causalpy"}
        causalpy_cold = _seconds([sys.executable, "-c", _CAUSALPY_COLD, str(EXAMPLE)], causalpy_env)
        ours_env = {**base, "AMERICANO_HOME": f"{work}/home"}  # the home's own compile cache
        cli_cold = _seconds([AMERICANO, *_OUR_CLI], ours_env)
        cli_warm = _seconds([AMERICANO, *_OUR_CLI], ours_env)
    scipy_start = _seconds([sys.executable, "-c", "import numpy, scipy.stats"], base)
    cache = ITSModelCache()
    fits = []
    for _ in range(2):  # the first fit compiles or loads the model; the second is warm
        start = time.perf_counter()
        bayesian_its(
            table["date"].tolist(),
            table["value"].to_numpy(),
            intervention_date="2017-01-01",
            seasonality="month",
            seed=1,
            model_cache=cache,
        )
        fits.append(time.perf_counter() - start)
    floor = fits[-1] + scipy_start
    return {
        "causalpy_cold_process_s": round(causalpy_cold, 2),
        "cli_cold_s": round(cli_cold, 2),
        "cli_warm_s": round(cli_warm, 2),
        "in_process_warm_fit_s": round(fits[-1], 3),
        "scipy_import_s": round(scipy_start, 2),
        "cli_cold_vs_causalpy_cold": round(causalpy_cold / cli_cold, 2),
        "cli_warm_vs_floor": round(cli_warm / floor, 2),
        "meets_targets": causalpy_cold / cli_cold >= 1.5 and cli_warm / floor <= 2.0,
    }


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
        f"ours {ours_times[0]:.2f} s; max |diff| {np.max(rows):.3f} CausalPy SDs",
        flush=True,
    )
    processes = process_timings()
    print(
        f"fresh processes on CausalPy's example: CausalPy cold {processes['causalpy_cold_process_s']}"
        f" s, our CLI cold {processes['cli_cold_s']} s "
        f"({processes['cli_cold_vs_causalpy_cold']}x faster), warm {processes['cli_warm_s']} s "
        f"({processes['cli_warm_vs_floor']}x the floor: warm fit "
        f"{processes['in_process_warm_fit_s']} s + numpy/scipy.stats start-up "
        f"{processes['scipy_import_s']} s)",
        flush=True,
    )
    summary.update(processes)
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
