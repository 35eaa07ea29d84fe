"""Bayesian interrupted time series (ITS) for one daily series and one intervention date.

Model (PyMC; outcome standardized by the pre-period mean and SD, see `_standardize`)
-----------------------------------------------------------------------------------
With `t` = days since the intervention divided by the pre-period span, `post` = 1 from the
intervention date on (inclusive, as in CausalPy) and `S_t` the seasonal indicators (none, day
of week, or month)::

    baseline_t = intercept + trend * (t - tbar_pre) + (S_t - Sbar_pre) . seasonal
    mu_t       = baseline_t + post_t * (effect + slope_change * (t - tbar_post)
                                        + (S_t - Sbar_post) . seasonal_change)
    y_t        ~ Normal(mu_t, sigma)                  (independent errors), or
    y_t - mu_t = rho^g_t (y_{t-1} - mu_{t-1}) + e_t  (`ar1=True`: stationary AR(1) errors,
                 e_t ~ Normal(0, sigma * sqrt(1 - rho^(2 g_t))), g_t = days since the
                 previous observation, so gaps in the series are handled exactly)

That is the `joint` fit, over both periods. The default `pre_period` fit (CausalPy's
`InterruptedTimeSeries`, CausalImpact) fits the baseline to the pre-period alone,
`y_t ~ Normal(baseline_t, sigma)` for t < 0 (AR(1) alike), and forecasts it into the post period:
sigma (and rho) are then the pre-period's own, not a compromise with a post period whose
residuals may be larger (on CausalPy's example, 2.0 before the intervention against 4.2-4.8
after, which widened the joint fit's effect interval by 40%). An effect prior needs the joint
fit, the only one with an effect parameter: `fit=None` picks `joint` when an effect prior is
given, else `pre_period`.

`trend=False` drops the trend (a level-only baseline). The baseline columns are centred on the
pre-period (`tbar_pre`, `Sbar_pre`) and the post-period terms within the post period
(`tbar_post`, `Sbar_post`), so `effect` is exactly the model's average shift over the post
period and the effect prior `Normal(effect_prior_mean, effect_prior_sd)` sits on the reported
quantity's scale. In the joint fit the post period has its own slope and (centred) seasonal
pattern, so with vague priors the baseline's coefficients are learned from the pre-period alone,
though not its noise scale. When the effect prior is informative and the data are weak, the
post-period data pull the baseline too, which is how the prior moves the estimate.
For sampling, the post-period mean level `post_level = effect + mean_post(baseline)` is the free
parameter (the post data pin it down alone, so it is nearly uncorrelated with the baseline) and
the effect prior enters as a potential on `effect = post_level - mean_post(baseline)`; that
change of variables has unit Jacobian, so the joint density is exactly the model above.

Counterfactual and causal effect (the exact definitions reported)
-----------------------------------------------------------------
For each posterior draw s the counterfactual is the model's expected value with every effect
term zeroed: `cf_t(s) = baseline_t(s)`; with AR(1) errors, post-period dates add the decayed
last pre-period residual, `rho(s)^(d_t - d_T) * (y_T - baseline_T(s))` (T = last pre-period
date), i.e. the expectation of the no-intervention series given the pre-period data. The causal
effect of draw s is the mean over the post-period dates of observed minus counterfactual,
`delta(s) = mean_t in post (y_t - cf_t(s))`, the same definition as CausalPy's ITS impact
(observed minus the posterior expectation `mu`, averaged over the post period). `causalEffect`
reports the posterior mean, SD, 95% HDI (ArviZ `hdi`, narrowest interval) and P(delta > 0);
the counterfactual band is the 95% HDI of `cf_t` per date (parameter uncertainty, no
observation noise, as CausalPy plots it). `ITSResult.idata` holds the posterior of the
parameters in outcome units (`beta`: intercept = pre-period average level, trend per day,
seasonal effects against the reference level; `effect`, `post_level`, `sigma`, `slope_change`
per day, `seasonal_change`, `rho`; coefficients not in the fit are 0) and of `causal_effect`
and `counterfactual` (per date).

Priors, in units of the pre-period SD of the outcome (`sd_pre`) and of the pre-period span:
intercept, trend and seasonal effects Normal(0, 10); slope change Normal(0, 10); seasonal change
Normal(0, 1); sigma HalfNormal(1); rho Uniform(-1, 1); effect Normal(0, 10 sd_pre) unless
`effect_prior_mean`/`effect_prior_sd` are given (raw outcome units). Seasonal indicators: one
column per level (Mon..Sun, Jan..Dec); the first level present in the pre-period is the
reference and levels absent from the pre-period get zero columns (those coefficients are then
drawn from their prior alone and do not enter the counterfactual).

Speed
-----
The model is built and compiled once per `(seasonality, ar1, fit)` per `ITSModelCache` (the data,
including the effect prior's mean and SD, are `pm.Data` containers without fixed shapes, so one
compiled model serves every series length and prior)
and refit by swapping the data: nutpie's `CompiledPyMCModel.with_data` or PyMC's `pm.set_data`.
No posterior-predictive pass is run; the counterfactual is computed from the parameter draws with
numpy. `sampler="auto"` uses nutpie on PyTensor's C backend, whose compiled modules PyTensor
keeps on disk (`stats.nutpie_model` gives the timings); PyMC's NUTS needs 4-5 s for every fit of
a 90-day series (2 chains x 1000 tune + 1000 draws).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import numbers
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from americano_pipelines.errors import InputError
from americano_pipelines.stats.limits import (
    check_not_all_tiny,
    first_too_large,
    too_large_message,
)
from americano_pipelines.stats.nutpie_model import (
    NUTPIE_BACKENDS,
    NutpieBackend,
    compile_for_nutpie,
)
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    ESS_WARNING,
    PYMC_CORES,
    RHAT_WARNING,
    check_sampler_settings,
)

__all__ = [
    "CausalEffect",
    "Counterfactual",
    "EffectBand",
    "ITSDiagnostics",
    "ITSModelCache",
    "ITSResult",
    "bayesian_its",
    "posterior_summary",
    "quiet_pymc",
    "resolve_sampler",
]

Seasonality = Literal["none", "day_of_week", "month"]
Sampler = Literal["auto", "nutpie", "pymc"]
Fit = Literal["pre_period", "joint"]

SEASONALITIES: tuple[str, ...] = ("none", "day_of_week", "month")
FITS: tuple[str, ...] = ("pre_period", "joint")
MIN_PRE_POINTS = 8
# The post period has its own level and slope; one observation cannot tell an effect from a day.
MIN_POST_POINTS = 2
"""Fewer pre-period points than this is an input error: level + trend cannot be learned."""
SHORT_PRE_POINTS = 14
"""Below this the interpretation warns that the counterfactual trend is poorly determined."""

# Prior scales in standardized units (outcome / pre-period SD; time / pre-period span).
_VAGUE_SD = 10.0
_SEASONAL_CHANGE_SD = 1.0
_SIGMA_SCALE = 1.0

_SEASON_LEVELS: dict[str, tuple[str, ...]] = {
    "none": (),
    "day_of_week": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "month": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CausalEffect:
    """Posterior mean, SD, 95% HDI and P(> 0) of an effect (by default the mean over the post
    period of observed minus counterfactual)."""

    mean: float
    sd: float
    hdi95: tuple[float, float]
    probability_positive: float

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": float(self.mean),
            "sd": float(self.sd),
            "hdi95": [float(self.hdi95[0]), float(self.hdi95[1])],
            "probability_positive": float(self.probability_positive),
        }


@dataclass(frozen=True)
class EffectBand:
    """Per post-period date, the posterior mean and 95% HDI of an effect: CausalImpact's
    pointwise effect (observed minus counterfactual) or its cumulative sum."""

    dates: tuple[str, ...]
    mean: tuple[float, ...]
    lower95: tuple[float, ...]
    upper95: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dates": list(self.dates),
            "mean": [float(v) for v in self.mean],
            "lower95": [float(v) for v in self.lower95],
            "upper95": [float(v) for v in self.upper95],
        }


@dataclass(frozen=True)
class Counterfactual:
    """Per date: observed value, counterfactual posterior mean and its 95% HDI.

    Pre-period dates carry the fitted baseline, post-period dates the counterfactual forecast.
    """

    dates: tuple[str, ...]
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    lower95: tuple[float, ...]
    upper95: tuple[float, ...]
    period: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dates": list(self.dates),
            "predicted": [float(v) for v in self.predicted],
            "observed": [float(v) for v in self.observed],
            "lower95": [float(v) for v in self.lower95],
            "upper95": [float(v) for v in self.upper95],
            "period": list(self.period),
        }


@dataclass(frozen=True)
class ITSDiagnostics:
    """Worst convergence figures over the model's parameters and the causal effect.

    NaN (JSON null) only if ArviZ cannot compute a figure at all."""

    rhat: float
    ess_bulk: float
    ess_tail: float
    divergences: int

    def to_json(self) -> dict[str, Any]:
        return {
            "rhat": _finite_or_none(round(self.rhat, 4)),
            "ess_bulk": None if math.isnan(self.ess_bulk) else int(self.ess_bulk),
            "ess_tail": None if math.isnan(self.ess_tail) else int(self.ess_tail),
            "divergences": int(self.divergences),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class ITSResult:
    """A fitted Bayesian ITS. `idata` (ArviZ InferenceData) is kept for NetCDF and plots."""

    causal_effect: CausalEffect
    relative_effect: CausalEffect  # causal effect / mean post-period counterfactual
    pointwise_effect: EffectBand
    cumulative_effect: EffectBand
    counterfactual: Counterfactual
    diagnostics: ITSDiagnostics
    interpretation: str
    warnings: tuple[str, ...]
    intervention_date: str
    n_pre: int
    n_post: int
    n_excluded: int
    seasonality: str
    ar1: bool
    trend: bool
    fit: str
    # None for the pre-period fit, which has no effect parameter to put a prior on
    effect_prior_mean: float | None
    effect_prior_sd: float | None
    effect_prior_default: bool | None
    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int
    idata: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """CONTRACTS.md section 3, `americano analyze its`, plus descriptive extra keys."""
        return {
            "causalEffect": self.causal_effect.to_json(),
            "relativeEffect": self.relative_effect.to_json(),
            "pointwiseEffect": self.pointwise_effect.to_json(),
            "cumulativeEffect": self.cumulative_effect.to_json(),
            "counterfactual": self.counterfactual.to_json(),
            "diagnostics": self.diagnostics.to_json(),
            "interpretation": self.interpretation,
            "warnings": list(self.warnings),
            "interventionDate": self.intervention_date,
            "nPre": int(self.n_pre),
            "nPost": int(self.n_post),
            "nExcluded": int(self.n_excluded),
            "model": {
                "seasonality": self.seasonality,
                "ar1": bool(self.ar1),
                "trend": bool(self.trend),
                "fit": self.fit,
                "effectPrior": None
                if self.effect_prior_mean is None
                else {
                    "mean": float(self.effect_prior_mean),
                    "sd": float(self.effect_prior_sd),
                    "default": bool(self.effect_prior_default),
                },
                "effectDefinition": "mean over post-period dates of observed minus counterfactual",
            },
            "sampler": {
                "name": self.sampler,
                "draws": int(self.draws),
                "tune": int(self.tune),
                "chains": int(self.chains),
                "seed": int(self.seed),
            },
        }


# ----------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class _Series:
    dates: np.ndarray  # datetime64[D], sorted, pre then post
    values: np.ndarray  # float64
    day: np.ndarray  # int64 days since the intervention date
    n_pre: int
    n_post: int
    n_excluded: int
    intervention: np.datetime64


def parse_day(value: Any, field_name: str) -> np.datetime64:
    """A date, datetime or ISO string as a numpy day; InputError naming `field_name` otherwise."""
    if isinstance(value, dt.datetime | pd.Timestamp):
        value = value.date()
    if isinstance(value, dt.date):
        return np.datetime64(value, "D")
    try:
        parsed = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        parsed = pd.NaT
    if pd.isna(parsed):
        raise InputError(
            f"{field_name}: {value!r} is not a date (use YYYY-MM-DD)", field=field_name
        )
    return np.datetime64(parsed.date(), "D")


def _parse_dates(dates: Sequence[Any]) -> np.ndarray:
    raw = pd.Series(list(dates), dtype=object)
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"date: row {row + 1} has {raw.iloc[row]!r}, which is not a date (use YYYY-MM-DD)",
            field="date",
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy().astype("datetime64[D]")


def _parse_values(values: Sequence[Any], dates: np.ndarray) -> np.ndarray:
    raw = pd.Series(list(values), dtype=object)
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(numeric))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"value: row {row + 1} ({dates[row]}) has {raw.iloc[row]!r}, which is not a finite number",
            field="value",
        )
    beyond = first_too_large(numeric)
    if beyond is not None:
        raise InputError(
            too_large_message("value", f"row {beyond + 1} ({dates[beyond]})", numeric[beyond]),
            field="value",
        )
    check_not_all_tiny(numeric, "value")
    return numeric


def _optional_positive_int(value: int | None, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{field_name}: must be a positive whole number of days", field=field_name)
    return int(value)


def _prepare_series(
    dates: Sequence[Any],
    values: Sequence[Any],
    intervention_date: Any,
    pre_period_days: int | None,
    post_period_days: int | None,
) -> _Series:
    if isinstance(dates, str | bytes) or isinstance(values, str | bytes):
        raise InputError("date: dates and values must be sequences", field="date")
    if len(dates) != len(values):
        raise InputError(f"value: {len(values)} values for {len(dates)} dates", field="value")
    day_dates = _parse_dates(dates)
    numbers = _parse_values(values, day_dates)
    order = np.argsort(day_dates, kind="stable")
    day_dates, numbers = day_dates[order], numbers[order]
    repeated = np.flatnonzero(day_dates[1:] == day_dates[:-1])
    if repeated.size:
        raise InputError(f"date: {day_dates[repeated[0]]} appears more than once", field="date")
    intervention = parse_day(intervention_date, "intervention_date")
    pre_days = _optional_positive_int(pre_period_days, "pre_period_days")
    post_days = _optional_positive_int(post_period_days, "post_period_days")
    if day_dates.size == 0 or intervention <= day_dates[0]:
        first = day_dates[0] if day_dates.size else "none"
        raise InputError(
            f"intervention_date: {intervention} is not after the first date ({first}), "
            "so there is no pre-period",
            field="intervention_date",
        )
    if intervention > day_dates[-1]:
        raise InputError(
            f"intervention_date: {intervention} is after the last date ({day_dates[-1]}), "
            "so there is no post-period",
            field="intervention_date",
        )
    day = (day_dates - intervention).astype(np.int64)
    in_pre = day < 0 if pre_days is None else (day < 0) & (day >= -pre_days)
    in_post = day >= 0 if post_days is None else (day >= 0) & (day < post_days)
    n_pre, n_post = int(in_pre.sum()), int(in_post.sum())
    if n_pre < MIN_PRE_POINTS:
        name = "pre_period_days" if pre_days is not None else "intervention_date"
        raise InputError(
            f"{name}: {n_pre} pre-period observations before {intervention}; "
            f"need at least {MIN_PRE_POINTS}",
            field=name,
        )
    if n_post == 0:
        name = "post_period_days" if post_days is not None else "intervention_date"
        raise InputError(f"{name}: no post-period observations from {intervention}", field=name)
    if n_post < MIN_POST_POINTS:
        name = "post_period_days" if post_days is not None else "intervention_date"
        raise InputError(
            f"{name}: {n_post} post-period observation from {intervention} on; need at least "
            f"{MIN_POST_POINTS} (the post period has its own level and slope)",
            field=name,
        )
    keep = in_pre | in_post
    return _Series(
        dates=day_dates[keep],
        values=numbers[keep],
        day=day[keep],
        n_pre=n_pre,
        n_post=n_post,
        n_excluded=int((~keep).sum()),
        intervention=intervention,
    )


def _effect_prior(mean: float | None, sd: float | None, scale: float) -> tuple[float, float, bool]:
    """(mean, sd) in raw units and whether it is the vague default; an SD alone centres at 0."""
    if mean is not None and sd is None:
        raise InputError(
            "effect_prior_sd: effect_prior_mean was given without effect_prior_sd",
            field="effect_prior_sd",
        )
    if sd is None:
        return 0.0, _VAGUE_SD * scale, True
    if isinstance(sd, bool) or not isinstance(sd, numbers.Real) or not math.isfinite(sd) or sd <= 0:
        raise InputError("effect_prior_sd: must be a positive number", field="effect_prior_sd")
    if mean is None:
        mean = 0.0
    if isinstance(mean, bool) or not isinstance(mean, numbers.Real) or not math.isfinite(mean):
        raise InputError("effect_prior_mean: must be a finite number", field="effect_prior_mean")
    return float(mean), float(sd), False


# ----------------------------------------------------------------------------- design


@dataclass(frozen=True)
class _Design:
    """Model inputs in standardized units, plus what is needed to undo the scaling."""

    data: dict[str, np.ndarray]
    baseline_X: np.ndarray  # n x (2 + K): intercept, trend, seasonal indicators
    y_std: np.ndarray
    gap: np.ndarray
    location: float
    scale: float
    pre_span: float  # days in one unit of the model's time axis
    absent_pre_levels: tuple[str, ...]


def _indicator_columns(codes: np.ndarray, rows: np.ndarray, n_levels: int) -> np.ndarray:
    """One column per level; the first level present in `rows` and absent levels are zero."""
    onehot = (codes[:, None] == np.arange(n_levels)[None, :]).astype(float)
    present = onehot[rows].any(axis=0)
    keep = present.copy()
    keep[int(np.argmax(present))] = False
    return onehot * keep[None, :]


def _season_codes(dates: np.ndarray, seasonality: str) -> np.ndarray:
    index = pd.DatetimeIndex(dates)
    if seasonality == "day_of_week":
        return index.dayofweek.to_numpy()
    return index.month.to_numpy() - 1


def _standardize(series: _Series) -> tuple[float, float]:
    """(location, scale): the pre-period mean and SD (a constant pre-period scales by its level)."""
    pre_values = series.values[: series.n_pre]
    location = float(pre_values.mean())
    spread = float(pre_values.std(ddof=1))
    return location, (spread if spread > 0 else max(abs(location), 1.0))


def _build_design(
    series: _Series, seasonality: str, trend: bool, prior_mean: float, prior_sd: float
) -> _Design:
    pre = series.day < 0
    post = ~pre
    location, scale = _standardize(series)
    y_std = (series.values - location) / scale
    pre_span = float(max(-series.day[0], 1))
    t = series.day / pre_span
    post_f = post.astype(float)
    post_time = post_f * (t - t[post].mean())
    # Centring the baseline columns on the pre-period decorrelates intercept, trend and seasonal
    # effects (faster sampling); the model space and the counterfactual are unchanged.
    # Without a trend its column is zero: the coefficient is then drawn from its prior alone
    # and the same compiled model serves both variants.
    trend_column = t - t[pre].mean() if trend else np.zeros_like(t)
    columns = [np.ones_like(t), trend_column]
    data: dict[str, np.ndarray] = {
        "post": post_f,
        "post_time": post_time,
        "y": y_std,
        "effect_prior_mu": np.asarray(prior_mean / scale),
        "effect_prior_sigma": np.asarray(prior_sd / scale),
    }
    absent: tuple[str, ...] = ()
    levels = _SEASON_LEVELS[seasonality]
    if levels:
        codes = _season_codes(series.dates, seasonality)
        seasonal_pre = _indicator_columns(codes, pre, len(levels))
        seasonal_post = _indicator_columns(codes, post, len(levels))
        seasonal_post = post_f[:, None] * (seasonal_post - seasonal_post[post].mean(axis=0))
        columns.extend((seasonal_pre - seasonal_pre[pre].mean(axis=0)).T)
        data["post_season"] = seasonal_post
        seen = set(codes[pre].tolist())
        absent = tuple(levels[c] for c in sorted(set(codes[post].tolist()) - seen))
    baseline_X = np.column_stack(columns)
    data["X"] = baseline_X
    gap = np.diff(series.day, prepend=series.day[0]).astype(float)
    data["gap"] = gap
    return _Design(
        data=data,
        baseline_X=baseline_X,
        y_std=y_std,
        gap=gap,
        location=location,
        scale=scale,
        pre_span=pre_span,
        absent_pre_levels=absent,
    )


# ----------------------------------------------------------------------------- model + cache


def _build_model(seasonality: str, ar1: bool, fit: str) -> Any:
    """The PyMC model for one structure, on placeholder data (shapes are not fixed)."""
    import pymc as pm
    import pytensor.tensor as pt

    levels = _SEASON_LEVELS[seasonality]
    coefficient_names = ["intercept", "trend", *levels]
    coords: dict[str, Any] = {"coefficient": coefficient_names}
    if levels:
        coords["season"] = list(levels)
    n = 4
    with pm.Model(coords=coords) as model:
        X = pm.Data("X", np.zeros((n, len(coefficient_names))))
        y = pm.Data("y", np.zeros(n))
        beta = pm.Normal("beta", 0.0, _VAGUE_SD, dims="coefficient")
        baseline = pt.dot(X, beta)
        if fit == "pre_period":  # the data are the pre-period rows only
            sigma = pm.HalfNormal("sigma", _SIGMA_SCALE)
            _likelihood(baseline, y, sigma, ar1)
            return model
        post = pm.Data("post", np.array([0.0, 0.0, 1.0, 1.0]))
        post_time = pm.Data("post_time", np.zeros(n))
        effect_mu = pm.Data("effect_prior_mu", 0.0)
        effect_sigma = pm.Data("effect_prior_sigma", _VAGUE_SD)
        # Sampled as the post-period mean level, which the post data pin down on their own;
        # effect = level - mean post baseline is a unit-Jacobian shear of (effect, beta), and
        # its Normal prior enters as a potential, so the joint density is the model above.
        post_level = pm.Flat("post_level")
        effect = pm.Deterministic("effect", post_level - pt.sum(baseline * post) / pt.sum(post))
        pm.Potential("effect_prior", pm.logp(pm.Normal.dist(effect_mu, effect_sigma), effect))
        slope_change = pm.Normal("slope_change", 0.0, _VAGUE_SD)
        sigma = pm.HalfNormal("sigma", _SIGMA_SCALE)
        mu = baseline + effect * post + slope_change * post_time
        if levels:
            post_season = pm.Data("post_season", np.zeros((n, len(levels))))
            seasonal_change = pm.Normal("seasonal_change", 0.0, _SEASONAL_CHANGE_SD, dims="season")
            mu = mu + pt.dot(post_season, seasonal_change)
        _likelihood(mu, y, sigma, ar1)
    return model


def _likelihood(mu: Any, y: Any, sigma: Any, ar1: bool) -> None:
    """`y ~ Normal(mu, sigma)`, or with stationary AR(1) errors over the gaps between dates."""
    import pymc as pm
    import pytensor.tensor as pt

    if not ar1:
        pm.Normal("y_obs", mu, sigma, observed=y)
        return
    gap = pm.Data("gap", np.ones(4))
    rho = pm.Uniform("rho", -1.0, 1.0)
    decay = rho ** gap[1:]
    cond_mu = pt.concatenate([mu[:1], mu[1:] + decay * (y[:-1] - mu[:-1])])
    cond_sd = pt.concatenate([pt.reshape(sigma, (1,)), sigma * pt.sqrt(1.0 - decay**2)])
    pm.Normal("y_obs", cond_mu, cond_sd, observed=y)


def _data_names(seasonality: str, ar1: bool, fit: str) -> tuple[str, ...]:
    names = ["X", "y"]
    if fit == "joint":
        names += ["post", "post_time", "effect_prior_mu", "effect_prior_sigma"]
        if _SEASON_LEVELS[seasonality]:
            names.append("post_season")
    if ar1:
        names.append("gap")
    return tuple(names)


def _fit_data(design: _Design, n_pre: int, fit: str) -> dict[str, np.ndarray]:
    """The model's data: every row for the joint fit, the pre-period rows for the other."""
    if fit == "joint":
        return design.data
    return {"X": design.baseline_X[:n_pre], "y": design.y_std[:n_pre], "gap": design.gap[:n_pre]}


def _nutpie_available() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def quiet_pymc() -> Iterator[None]:
    """PyMC logs sampler progress at INFO; a library call should not."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class ITSModelCache:
    """Models built and compiled once per (seasonality, ar1, sampler), refit by swapping data.

    The data containers have no fixed shapes, so one compiled model serves any series length
    and any effect prior (the prior's mean and SD are data too). Thread-safe.

    `nutpie_backend="numba"` suits many fits in one process (`stats.nutpie_model` gives the
    timings); the default C backend suits a process that fits a few series. Keyed by
    (seasonality, ar1, sampler, fit).
    """

    def __init__(self, nutpie_backend: NutpieBackend = "c") -> None:
        if nutpie_backend not in NUTPIE_BACKENDS:
            raise InputError(
                f"nutpie_backend: {nutpie_backend!r} is not one of {NUTPIE_BACKENDS}",
                field="nutpie_backend",
            )
        self.nutpie_backend = nutpie_backend
        self._entries: dict[tuple[str, bool, str, str], Any] = {}
        self._locks: dict[tuple[str, bool, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple[str, bool, str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _entry(self, key: tuple[str, bool, str, str]) -> Any:
        seasonality, ar1, sampler, fit = key
        with self._lock(key):
            if key not in self._entries:
                model = _build_model(seasonality, ar1, fit)
                if sampler == "nutpie":
                    self._entries[key] = compile_for_nutpie(model, self.nutpie_backend)
                else:
                    self._entries[key] = model
            return self._entries[key]

    def warm(
        self,
        *,
        seasonality: str = "none",
        ar1: bool = False,
        sampler: str = "auto",
        fit: str = "pre_period",
    ) -> None:
        """Build and compile the model of these settings now, not at its first fit (a process
        that forks workers compiles once for all of them)."""
        self._entry((seasonality, bool(ar1), resolve_sampler(sampler), fit))

    def sample(
        self,
        *,
        seasonality: str,
        ar1: bool,
        sampler: str,
        fit: str,
        data: dict[str, np.ndarray],
        draws: int,
        tune: int,
        chains: int,
        seed: int,
    ) -> Any:
        """Posterior draws (ArviZ InferenceData) of the model refit on `data`."""
        key = (seasonality, bool(ar1), sampler, fit)
        entry = self._entry(key)
        updates = {name: data[name] for name in _data_names(seasonality, ar1, fit)}
        if sampler == "nutpie":
            import nutpie

            return nutpie.sample(
                entry.with_data(**updates),
                draws=draws,
                tune=tune,
                chains=chains,
                cores=max(1, min(chains, os.cpu_count() or 1)),
                seed=seed,
                progress_bar=False,
                save_warmup=False,
            )
        import pymc as pm

        # set_data mutates the shared model: one fit at a time per structure.
        with self._lock(key), quiet_pymc(), entry:
            pm.set_data(updates)
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=PYMC_CORES,
                random_seed=seed,
                progressbar=False,
                compute_convergence_checks=False,
            )


_DEFAULT_CACHE = ITSModelCache()


def resolve_sampler(sampler: str) -> str:
    check_sampler_settings(sampler=sampler)
    if sampler == "auto":
        return "nutpie" if _nutpie_available() else "pymc"
    if sampler == "nutpie" and not _nutpie_available():
        raise InputError("sampler: nutpie is not installed; use 'pymc'", field="sampler")
    return sampler


# ----------------------------------------------------------------------------- summaries


def _draws(posterior: Any, name: str) -> np.ndarray:
    """(chain, draw, ...) numpy array of one posterior variable."""
    return np.asarray(posterior[name].values, dtype=float)


def _counterfactual_draws(
    posterior: Any, design: _Design, series: _Series, ar1: bool
) -> np.ndarray:
    """(chain, draw, n) counterfactual expected values in raw units."""
    beta = _draws(posterior, "beta")
    cf_std = np.einsum("cdk,nk->cdn", beta, design.baseline_X)
    if ar1:
        last_pre = series.n_pre - 1
        rho = _draws(posterior, "rho")
        residual = design.y_std[last_pre] - cf_std[:, :, last_pre]
        steps = (series.day[series.n_pre :] - series.day[last_pre]).astype(float)
        decay = rho[:, :, None] ** steps[None, None, :]
        cf_std[:, :, series.n_pre :] += decay * residual[:, :, None]
    return design.location + design.scale * cf_std


def _to_outcome_units(posterior: Any, design: _Design) -> None:
    """Report the parameters in outcome units (trend and slope change per day), in place.

    Coefficients whose data column is all zero (the seasonal reference level, levels absent
    from their period, the trend when `trend=False`) were drawn from their prior alone and play
    no part in the fit: they are reported as 0. R-hat and ESS are invariant under these maps."""
    scale, per_day = design.scale, design.scale / design.pre_span

    def used(columns: np.ndarray) -> np.ndarray:
        return np.any(columns != 0, axis=0).astype(float)

    beta = posterior["beta"]
    factors = np.full(beta.sizes["coefficient"], scale)
    factors[1] = per_day
    factors *= used(design.baseline_X)
    offsets = np.zeros_like(factors)
    offsets[0] = design.location
    posterior["beta"] = beta * factors + offsets
    posterior["sigma"] = posterior["sigma"] * scale
    if "effect" not in posterior:  # the pre-period fit has no post-period parameters
        return
    posterior["effect"] = posterior["effect"] * scale
    posterior["post_level"] = design.location + posterior["post_level"] * scale
    posterior["slope_change"] = (
        posterior["slope_change"] * per_day * used(design.data["post_time"][:, None])[0]
    )
    if "seasonal_change" in posterior:
        posterior["seasonal_change"] = (
            posterior["seasonal_change"] * scale * used(design.data["post_season"])
        )


def _diagnostics(idata: Any) -> ITSDiagnostics:
    names = [
        name
        for name in idata.posterior.data_vars
        if not name.endswith("__") and name != "counterfactual"
    ]
    return posterior_diagnostics(idata, names)


def posterior_diagnostics(idata: Any, names: Sequence[str]) -> ITSDiagnostics:
    """Worst r-hat, smallest bulk and tail ESS over the named parameters, and divergences."""
    import arviz as az

    subset = idata.posterior[list(names)]
    # Coefficients reported as a constant 0 (not in the fit) give NaN, dropped below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(subset)
        ess_bulk = az.ess(subset, method="bulk")
        ess_tail = az.ess(subset, method="tail")

    def worst(dataset: Any, reducer: Any) -> float:
        values = np.concatenate([np.ravel(dataset[name].values) for name in names])
        values = values[np.isfinite(values)]
        return float(reducer(values)) if values.size else float("nan")

    divergences = 0
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        divergences = int(np.asarray(idata.sample_stats["diverging"].values).sum())
    return ITSDiagnostics(
        rhat=worst(rhat, np.max),
        ess_bulk=worst(ess_bulk, np.min),
        ess_tail=worst(ess_tail, np.min),
        divergences=divergences,
    )


def probability_in_words(probability: float) -> str:
    """A posterior probability in words; finite draws cannot show certainty."""
    if probability > 0.999:
        return "above 99.9%"
    if probability < 0.001:
        return "below 0.1%"
    return f"{100 * probability:.1f}%"


def _interpretation(
    effect: CausalEffect,
    series: _Series,
    prior: tuple[float, float, bool] | None,
    notes: list[str],
) -> str:
    lo, hi = effect.hdi95
    first_post, last_post = series.dates[series.n_pre], series.dates[-1]
    direction = "higher" if effect.mean >= 0 else "lower"
    text = (
        f"Over the {series.n_post} post-intervention observations ({first_post} to {last_post}), "
        f"the outcome was on average {abs(effect.mean):.3g} {direction} than the counterfactual "
        f"(posterior mean {effect.mean:.3g}; 95% HDI {lo:.3g} to {hi:.3g}). "
        f"The posterior probability that the effect is positive is "
        f"{probability_in_words(effect.probability_positive)}."
    )
    if lo > 0 or hi < 0:
        text += " The 95% HDI excludes zero."
    else:
        text += " The 95% HDI includes zero, so the data are compatible with no effect."
    if prior is not None and not prior[2]:
        text += f" An informative prior on the effect was used (mean {prior[0]:.3g}, SD {prior[1]:.3g})."
    if notes:
        text += " " + " ".join(f"Warning: {note}" for note in notes)
    return text


def sampler_warnings(diagnostics: ITSDiagnostics) -> list[str]:
    """Plain-English warnings when the sampler's diagnostics say not to trust the posterior."""
    out: list[str] = []
    ess = min(diagnostics.ess_bulk, diagnostics.ess_tail)
    if math.isnan(diagnostics.rhat) or math.isnan(ess):
        out.append("convergence diagnostics could not be computed; do not trust the estimate.")
    if diagnostics.rhat >= RHAT_WARNING:
        out.append(
            f"r-hat is {diagnostics.rhat:.3f} (>= {RHAT_WARNING}); the chains disagree, "
            "so sample longer before trusting the estimate."
        )
    if ess < ESS_WARNING:
        out.append(
            f"the effective sample size is {int(ess)} (< {ESS_WARNING}); increase draws for "
            "stable intervals."
        )
    if diagnostics.divergences:
        out.append(f"{diagnostics.divergences} divergent transitions; the posterior may be biased.")
    return out


def _warnings(
    diagnostics: ITSDiagnostics, series: _Series, design: _Design, seasonality: str
) -> list[str]:
    out = sampler_warnings(diagnostics)
    if series.n_pre < SHORT_PRE_POINTS:
        out.append(
            f"only {series.n_pre} pre-period observations (< {SHORT_PRE_POINTS}); the "
            "counterfactual level and trend are poorly determined."
        )
    if design.absent_pre_levels:
        label = "days" if seasonality == "day_of_week" else "months"
        out.append(
            f"{label} {', '.join(design.absent_pre_levels)} occur only after the intervention; "
            "their counterfactual carries no seasonal effect."
        )
    return out


# ----------------------------------------------------------------------------- entry point


def bayesian_its(
    dates: Sequence[Any],
    values: Sequence[float],
    *,
    intervention_date: str | dt.date,
    pre_period_days: int | None = None,
    post_period_days: int | None = None,
    seasonality: Seasonality | str = "none",
    ar1: bool = False,
    trend: bool = True,
    fit: Fit | str | None = None,
    effect_prior_mean: float | None = None,
    effect_prior_sd: float | None = None,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    sampler: Sampler | str = "auto",
    model_cache: ITSModelCache | None = None,
) -> ITSResult:
    """Bayesian ITS of one daily series around `intervention_date` (see the module docstring).

    `dates`/`values` are the CSV's `date`/`value` columns (any order; sorted here). The
    intervention date belongs to the post period. `pre_period_days`/`post_period_days` restrict
    the window to that many calendar days before / from the intervention (rows outside are
    counted in `nExcluded`). `fit`: `pre_period` or `joint` (see the module docstring); None
    picks `joint` when an effect prior is given, else `pre_period`. Raises `InputError` naming
    the field for bad input.
    """
    if seasonality not in SEASONALITIES:
        raise InputError(
            f"seasonality: unknown option {seasonality!r}; use one of {', '.join(SEASONALITIES)}",
            field="seasonality",
        )
    if not isinstance(ar1, bool | np.bool_):
        raise InputError("ar1: must be true or false", field="ar1")
    if not isinstance(trend, bool | np.bool_):
        raise InputError("trend: must be true or false", field="trend")
    check_sampler_settings(seed=seed, draws=draws, tune=tune, chains=chains, sampler=sampler)
    sampler_name = resolve_sampler(sampler)
    series = _prepare_series(dates, values, intervention_date, pre_period_days, post_period_days)
    prior = _effect_prior(effect_prior_mean, effect_prior_sd, _standardize(series)[1])
    fit_name = _resolve_fit(fit, effect_prior_given=not prior[2])
    design = _build_design(series, str(seasonality), bool(trend), prior[0], prior[1])

    cache = model_cache if model_cache is not None else _DEFAULT_CACHE
    idata = cache.sample(
        seasonality=str(seasonality),
        ar1=bool(ar1),
        sampler=sampler_name,
        fit=fit_name,
        data=_fit_data(design, series.n_pre, fit_name),
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        seed=int(seed),
    )
    return _summarize(
        idata,
        series,
        design,
        str(seasonality),
        bool(ar1),
        bool(trend),
        fit_name,
        prior if fit_name == "joint" else None,
        sampler_name,
        int(draws),
        int(tune),
        int(chains),
        int(seed),
    )


def posterior_summary(draws: np.ndarray) -> CausalEffect:
    import arviz as az

    hdi = np.asarray(az.hdi(draws.ravel(), hdi_prob=0.95), dtype=float)
    return CausalEffect(
        mean=float(draws.mean()),
        sd=float(draws.std(ddof=1)),
        hdi95=(float(hdi[0]), float(hdi[1])),
        probability_positive=float((draws > 0).mean()),
    )


def _effect_band(dates: tuple[str, ...], draws: np.ndarray) -> EffectBand:
    """`draws`: (chain, draw, date)."""
    import arviz as az

    hdi = np.asarray(az.hdi(draws, hdi_prob=0.95), dtype=float)  # (date, 2)
    return EffectBand(
        dates=dates,
        mean=tuple(draws.mean(axis=(0, 1)).tolist()),
        lower95=tuple(hdi[:, 0].tolist()),
        upper95=tuple(hdi[:, 1].tolist()),
    )


def _resolve_fit(fit: str | None, *, effect_prior_given: bool) -> str:
    if fit is None:
        return "joint" if effect_prior_given else "pre_period"
    if fit not in FITS:
        raise InputError(f"fit: unknown option {fit!r}; use one of {', '.join(FITS)}", field="fit")
    if fit == "pre_period" and effect_prior_given:
        raise InputError(
            "fit: an effect prior needs fit 'joint' (the pre-period fit has no effect "
            "parameter: its effect is observed minus the forecast)",
            field="fit",
        )
    return str(fit)


def _summarize(
    idata: Any,
    series: _Series,
    design: _Design,
    seasonality: str,
    ar1: bool,
    trend: bool,
    fit: str,
    prior: tuple[float, float, bool] | None,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> ITSResult:
    import arviz as az
    import xarray as xr

    # nutpie also stores the unconstrained values (sigma_log__, ...): not for users.
    idata.posterior = idata.posterior.drop_vars(
        [name for name in idata.posterior.data_vars if str(name).endswith("__")]
    )
    posterior = idata.posterior
    cf = _counterfactual_draws(posterior, design, series, ar1)
    _to_outcome_units(posterior, design)
    observed_post = series.values[series.n_pre :]
    effect_draws = (observed_post[None, None, :] - cf[:, :, series.n_pre :]).mean(axis=2)

    date_index = pd.DatetimeIndex(series.dates)
    posterior["causal_effect"] = xr.DataArray(effect_draws, dims=("chain", "draw"))
    posterior["counterfactual"] = xr.DataArray(
        cf, dims=("chain", "draw", "date"), coords={"date": date_index}
    )
    # PyMC's own data groups hold the standardized internals: replace them with the series.
    for group in ("observed_data", "constant_data"):
        if group in idata.groups():
            delattr(idata, group)
    idata.add_groups(
        observed_data=xr.Dataset(
            {"value": xr.DataArray(series.values, dims=("date",), coords={"date": date_index})}
        )
    )
    idata.posterior.attrs["intervention_date"] = str(series.intervention)

    effect = posterior_summary(effect_draws)
    pointwise = observed_post[None, None, :] - cf[:, :, series.n_pre :]
    post_dates = tuple(str(d) for d in series.dates[series.n_pre :])
    band = np.asarray(az.hdi(cf, hdi_prob=0.95), dtype=float)  # (n, 2)
    counterfactual = Counterfactual(
        dates=tuple(str(d) for d in series.dates),
        predicted=tuple(cf.mean(axis=(0, 1)).tolist()),
        observed=tuple(series.values.tolist()),
        lower95=tuple(band[:, 0].tolist()),
        upper95=tuple(band[:, 1].tolist()),
        period=tuple(["pre"] * series.n_pre + ["post"] * series.n_post),
    )
    diagnostics = _diagnostics(idata)
    notes = _warnings(diagnostics, series, design, seasonality)
    return ITSResult(
        causal_effect=effect,
        relative_effect=posterior_summary(effect_draws / cf[:, :, series.n_pre :].mean(axis=2)),
        pointwise_effect=_effect_band(post_dates, pointwise),
        cumulative_effect=_effect_band(post_dates, pointwise.cumsum(axis=2)),
        counterfactual=counterfactual,
        diagnostics=diagnostics,
        interpretation=_interpretation(effect, series, prior, notes),
        warnings=tuple(notes),
        intervention_date=str(series.intervention),
        n_pre=series.n_pre,
        n_post=series.n_post,
        n_excluded=series.n_excluded,
        seasonality=seasonality,
        ar1=ar1,
        trend=trend,
        fit=fit,
        effect_prior_mean=None if prior is None else prior[0],
        effect_prior_sd=None if prior is None else prior[1],
        effect_prior_default=None if prior is None else prior[2],
        sampler=sampler,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        idata=idata,
    )
