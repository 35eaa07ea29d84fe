"""Bayesian synthetic control for one protocol outcome against a pool of donor series.

Use case: the treated series is a protocol's primary outcome; the donors are series the
protocol should not touch (unaffected metrics of the same user, or the same metric of other
users) observed on the same dates; the intervention date is the protocol's first phase change.
The synthetic control is the weighted sum of the donors that tracks the treated series before
the intervention; after it, that sum is the counterfactual (Abadie, Diamond & Hainmueller 2010,
JASA 105, 493-505).

Model (CausalPy 0.7.0 `causalpy.pymc_models.WeightedSumFitter`, fitted on the pre-period only)
--------------------------------------------------------------------------------------------
With `x_t` the donors and `y_t` the treated series, both as scaled below::

    beta  ~ Dirichlet(1, ..., 1)       (non-negative weights that sum to one)
    sigma ~ HalfNormal(1)
    y_t   ~ Normal(x_t . beta, sigma)  for t before the intervention date

The model object is CausalPy's own (its priors and `build_model`), and the posterior is drawn
with `pymc.sample` exactly as `WeightedSumFitter.fit` draws it, so for the same data and seed
the weights are CausalPy's draws, bit for bit. CausalPy's `SyntheticControl` experiment then
runs prior- and posterior-predictive passes to get `mu`; `mu = x_t . beta` is deterministic, so
it is computed here from the weight draws with numpy instead (same numbers, a fraction of the
time).

Scaling (`scaling=`), applied before the fit and undone after it
----------------------------------------------------------------
- `"treated_sd"` (default): every series divided by one constant, the treated series'
  pre-period SD. The weights keep their meaning (the synthetic control is a convex combination
  of the donors in their own units) and equal CausalPy's on raw data up to the scale of the
  HalfNormal(1) prior on sigma, which this makes unit-free (raw step counts would otherwise
  face a prior that insists the residual SD is about 1 step).
- `"zscore"`: each series centred and scaled by its own pre-period mean and SD, so the treated
  z-score is a convex combination of donor z-scores (the demeaned synthetic control of Ferman &
  Pinto 2021, Quantitative Economics 12, 1197-1221, on standardized series). Use it when the
  donors are other metrics on other scales (sleep hours, resting heart rate, ...).
- `"none"`: the raw data, CausalPy's `SyntheticControl` as is.

Counterfactual and causal effect (the exact definitions reported)
-----------------------------------------------------------------
For each posterior draw s, `cf_t(s) = x_t . beta(s)` mapped back to the treated series' units,
for every date (pre-period: the fit; post-period: the counterfactual). The causal effect of draw
s is `delta(s) = mean over post-period dates of (y_t - cf_t(s))`, as in CausalPy's
`calculate_impact` (observed minus the posterior expectation `mu`, no observation noise),
averaged over the post period as in the ITS contract. `causalEffect` reports the posterior mean,
SD, 95% HDI (ArviZ `hdi`) and P(delta > 0); the counterfactual band is the per-date 95% HDI of
`cf_t`. `donorWeights` are the posterior means of `beta` (weights on the scaled donors; with
`"treated_sd"` and `"none"` these are the weights on the raw donors). `preFitRmse` is the
root mean square over the pre-period of observed minus the posterior-mean counterfactual, in
the treated series' units.

Sampler
-------
PyMC's NUTS with a dense mass matrix (`init="jitter+adapt_full"`) and `target_accept=0.95`
(CausalPy's documented example uses 0.95). Donor series are strongly correlated and weights sit
near the simplex's edges, so PyMC's default diagonal adaptation at 0.8 mixes slowly and
diverges; measured on this project's 2-core machine (2 chains x 1000 tune + 1000 draws, 4-8
donors, 10-60 pre-period points) the dense setting gave minimum ESS 440-760 with no divergences
in 3-8 s, against ESS 160-680, some divergences and 6-15 s for PyMC's defaults. Pass the same
`init`/`target_accept` in CausalPy's `sample_kwargs` to reproduce these draws there.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from americano_pipelines.errors import InputError
from americano_pipelines.stats.its import (
    CausalEffect,
    Counterfactual,
    ITSDiagnostics,
    parse_day,
    posterior_diagnostics,
    probability_in_words,
    sampler_warnings,
)
from americano_pipelines.stats.limits import (
    check_not_all_tiny,
    first_too_large,
    too_large_message,
)
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    PYMC_CORES,
    check_sampler_settings,
)

__all__ = [
    "DonorWeight",
    "SyntheticControlResult",
    "synthetic_control",
]

Scaling = Literal["treated_sd", "zscore", "none"]
SCALINGS: tuple[str, ...] = ("treated_sd", "zscore", "none")

NUTS_INITS: tuple[str, ...] = (
    "jitter+adapt_full",
    "adapt_full",
    "jitter+adapt_diag",
    "adapt_diag",
    "jitter+adapt_diag_grad",
    "auto",
)
MIN_PRE_POINTS = 8
"""Fewer pre-period points than this is an input error: the weights cannot be learned."""
MIN_DONORS = 2
POOR_FIT_RATIO = 0.5
"""Pre-period RMSE above this share of the treated series' pre-period SD (the synthetic control
explains less than 1 - 0.5^2 = 75% of the pre-period variance) is a warning: the counterfactual
does not track the treated series."""
_LISTED_WEIGHT = 0.05
"""Donors whose mean weight reaches this are named in the interpretation."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DonorWeight:
    """Posterior of one donor's weight (a component of the Dirichlet `beta`)."""

    donor: str
    mean: float
    sd: float
    hdi95: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": float(self.mean),
            "sd": float(self.sd),
            "hdi95": [float(self.hdi95[0]), float(self.hdi95[1])],
        }


@dataclass(frozen=True)
class SyntheticControlResult:
    """A fitted Bayesian synthetic control. `idata` (ArviZ InferenceData) is kept for NetCDF and
    plots: `beta` (weights), `y_hat_sigma` (residual SD in the treated series' units),
    `causal_effect` and `counterfactual` (per date, treated series' units)."""

    causal_effect: CausalEffect
    counterfactual: Counterfactual
    donor_weights: tuple[DonorWeight, ...]
    pre_fit_rmse: float
    pre_fit_rmse_to_sd: float
    diagnostics: ITSDiagnostics
    interpretation: str
    warnings: tuple[str, ...]
    treated: str
    intervention_date: str
    n_pre: int
    n_post: int
    hull_violations: int
    ignored_columns: tuple[str, ...]
    scaling: str
    draws: int
    tune: int
    chains: int
    seed: int
    target_accept: float
    init: str
    idata: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The ITS contract's keys (CONTRACTS.md section 3, `its`) where they apply, plus
        `donorWeights` and `preFitRmse` (docs/contracts-additions.md)."""
        return {
            "causalEffect": self.causal_effect.to_json(),
            "counterfactual": self.counterfactual.to_json(),
            "donorWeights": {weight.donor: float(weight.mean) for weight in self.donor_weights},
            "donorWeightPosteriors": {
                weight.donor: weight.to_json() for weight in self.donor_weights
            },
            "preFitRmse": float(self.pre_fit_rmse),
            "preFitRmseToSd": float(self.pre_fit_rmse_to_sd),
            "diagnostics": self.diagnostics.to_json(),
            "interpretation": self.interpretation,
            "warnings": list(self.warnings),
            "treated": self.treated,
            "donors": [weight.donor for weight in self.donor_weights],
            "ignoredColumns": list(self.ignored_columns),
            "interventionDate": self.intervention_date,
            "nPre": int(self.n_pre),
            "nPost": int(self.n_post),
            "convexHullViolations": int(self.hull_violations),
            "model": {
                "scaling": self.scaling,
                "weightsPrior": "Dirichlet(1, ..., 1)",
                "implementation": "causalpy.pymc_models.WeightedSumFitter",
                "effectDefinition": "mean over post-period dates of observed minus counterfactual",
            },
            "sampler": {
                "name": "pymc",
                "draws": int(self.draws),
                "tune": int(self.tune),
                "chains": int(self.chains),
                "seed": int(self.seed),
                "targetAccept": float(self.target_accept),
                "init": self.init,
            },
        }


# ----------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class _Panel:
    """The checked input: dates sorted, the treated series and the donors, split at the
    intervention."""

    dates: np.ndarray  # datetime64[D], increasing
    treated: np.ndarray  # (n,)
    donors: np.ndarray  # (n, k)
    treated_name: str
    donor_names: tuple[str, ...]
    ignored: tuple[str, ...]
    n_pre: int
    intervention: np.datetime64

    @property
    def n_post(self) -> int:
        return len(self.dates) - self.n_pre


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if type(data).__module__.split(".")[0] == "polars":
        data = data.to_dict(as_series=False)
    if not isinstance(data, Mapping):
        raise InputError(
            "data: expected a pandas or polars DataFrame or a mapping of column name to values",
            field="data",
        )
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{name!r}: {len(values)}" for name, values in data.items())
        raise InputError(f"data: the columns differ in length ({shown})", field="data")
    return pd.DataFrame({str(name): list(values) for name, values in data.items()})


def _column(frame: pd.DataFrame, name: str, role: str) -> pd.Series:
    columns = [str(column) for column in frame.columns]
    if columns.count(name) == 0:
        shown = ", ".join(repr(column) for column in columns[:12]) or "none"
        raise InputError(
            f"{role}: the data has no column {name!r}; columns found: {shown}", field=role
        )
    if columns.count(name) > 1:
        raise InputError(f"{role}: the data has more than one column {name!r}", field=role)
    return frame.iloc[:, columns.index(name)]


def _parse_dates(raw: pd.Series, name: str) -> np.ndarray:
    cells = raw.astype(object)
    parsed = pd.to_datetime(cells, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        cell = cells.iloc[row]
        problem = "is missing" if _is_missing(cell) else f"has {cell!r}, which is not a date"
        raise InputError(f"{name}: row {row + 1} {problem} (use YYYY-MM-DD)", field=name)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy().astype("datetime64[D]")


def _is_missing(cell: Any) -> bool:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return True
    try:
        return bool(pd.isna(cell))
    except (TypeError, ValueError):
        return False


def _is_numeric_column(column: pd.Series) -> bool:
    """A default donor: a numeric column, or a text column holding at least one number (so a
    typo in a numeric column is reported, not the column silently left out). Label, boolean
    and date columns are not donors."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    cells = column.astype(object)
    cells = cells[[not isinstance(cell, bool | np.bool_) for cell in cells]]
    return bool(pd.to_numeric(cells, errors="coerce").notna().any())


def _numbers(raw: pd.Series, name: str, dates: np.ndarray) -> np.ndarray:
    """A column as finite floats; the error names the column, the 1-based row and its date."""
    cells = raw.astype(object)
    numeric = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    if pd.api.types.is_bool_dtype(raw):
        numeric[:] = np.nan
    bad = np.flatnonzero(~np.isfinite(numeric))
    if bad.size:
        row = int(bad[0])
        cell = cells.iloc[row]
        where = f"row {row + 1} ({dates[row]})"
        if _is_missing(cell):
            raise InputError(
                f"{name}: {where} is missing; every column needs a value on every date "
                "(fill or drop that date)",
                field=name,
            )
        kind = "not a finite number" if np.isinf(numeric[row]) else "not a number"
        raise InputError(f"{name}: {where} has {cell!r}, which is {kind}", field=name)
    beyond = first_too_large(numeric)
    if beyond is not None:
        where = f"row {beyond + 1} ({dates[beyond]})"
        raise InputError(too_large_message(name, where, numeric[beyond]), field=name)
    check_not_all_tiny(numeric, name)
    return numeric


def _donor_names(
    frame: pd.DataFrame, date_column: str, treated: str, donors: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(donors, ignored columns): the given donors, or every other numeric column."""
    others = [str(column) for column in frame.columns if str(column) not in (date_column, treated)]
    if donors is None:
        chosen = tuple(name for name in others if _is_numeric_column(_column(frame, name, name)))
        ignored = tuple(name for name in others if name not in chosen)
    else:
        if isinstance(donors, str | bytes):
            raise InputError("donors: give a list of column names, not one string", field="donors")
        chosen = tuple(str(name) for name in donors)
        repeated = sorted({name for name in chosen if chosen.count(name) > 1})
        if repeated:
            raise InputError(f"donors: {repeated[0]!r} is listed more than once", field="donors")
        if treated in chosen:
            raise InputError(
                f"donors: {treated!r} is the treated series; it cannot be its own donor",
                field="donors",
            )
        if date_column in chosen:
            raise InputError(f"donors: {date_column!r} is the date column", field="donors")
        for name in chosen:
            _column(frame, name, "donors")
        ignored = tuple(name for name in others if name not in chosen)
    if len(chosen) < MIN_DONORS:
        found = ", ".join(repr(name) for name in chosen) or "none"
        raise InputError(
            f"donors: {len(chosen)} donor series ({found}); a synthetic control needs at least "
            f"{MIN_DONORS}",
            field="donors",
        )
    return chosen, ignored


def _prepare_panel(
    data: Any,
    date_column: str,
    treated: str,
    donors: Sequence[str] | None,
    intervention_date: Any,
) -> _Panel:
    frame = _as_frame(data)
    if not isinstance(treated, str) or not treated:
        raise InputError("treated: give the treated series' column name", field="treated")
    if treated == date_column:
        raise InputError(f"treated: {treated!r} is the date column", field="treated")
    dates = _parse_dates(_column(frame, date_column, date_column), date_column)
    treated_raw = _column(frame, treated, "treated")
    donor_names, ignored = _donor_names(frame, date_column, treated, donors)
    treated_values = _numbers(treated_raw, treated, dates)
    donor_values = np.column_stack(
        [_numbers(_column(frame, name, name), name, dates) for name in donor_names]
    )

    order = np.argsort(dates, kind="stable")
    sorted_dates = dates[order]
    repeated = np.flatnonzero(sorted_dates[1:] == sorted_dates[:-1])
    if repeated.size:
        first, second = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
        raise InputError(
            f"{date_column}: {sorted_dates[repeated[0]]} appears twice (rows {first + 1} and "
            f"{second + 1}); one row per date",
            field=date_column,
        )
    intervention = parse_day(intervention_date, "intervention_date")
    if intervention <= sorted_dates[0] or intervention > sorted_dates[-1]:
        raise InputError(
            f"intervention_date: {intervention} is outside the series ({sorted_dates[0]} to "
            f"{sorted_dates[-1]}); it must be after the first date and on or before the last",
            field="intervention_date",
        )
    n_pre = int(np.searchsorted(sorted_dates, intervention, side="left"))
    if n_pre < MIN_PRE_POINTS:
        raise InputError(
            f"intervention_date: {n_pre} pre-period observations before {intervention}; "
            f"need at least {MIN_PRE_POINTS}",
            field="intervention_date",
        )
    return _Panel(
        dates=sorted_dates,
        treated=treated_values[order],
        donors=donor_values[order],
        treated_name=treated,
        donor_names=donor_names,
        ignored=ignored,
        n_pre=n_pre,
        intervention=intervention,
    )


def _check_sampler_settings(
    seed: int, draws: int, tune: int, chains: int, target_accept: float, init: str
) -> None:
    check_sampler_settings(seed=seed, draws=draws, tune=tune, chains=chains)
    if (
        isinstance(target_accept, bool)
        or not isinstance(target_accept, int | float | np.floating)
        or not 0 < target_accept < 1
    ):
        raise InputError("target_accept: must be a number between 0 and 1", field="target_accept")
    if init not in NUTS_INITS:
        raise InputError(
            f"init: unknown NUTS initialization {init!r}; use one of {', '.join(NUTS_INITS)}",
            field="init",
        )


# ----------------------------------------------------------------------------- scaling


@dataclass(frozen=True)
class _Scaled:
    """The series as the model sees them, and the map back to the treated series' units:
    raw = location + scale * modeled."""

    treated: np.ndarray
    donors: np.ndarray
    location: float
    scale: float


def _scale(panel: _Panel, scaling: str) -> _Scaled:
    pre = slice(0, panel.n_pre)
    treated_sd = float(np.std(panel.treated[pre], ddof=1))
    if scaling == "none":
        return _Scaled(panel.treated, panel.donors, 0.0, 1.0)
    if not treated_sd > 0:
        raise InputError(
            f"{panel.treated_name}: constant over the pre-period; there is nothing for a synthetic "
            "control to track (use scaling='none' to fit it anyway)",
            field=panel.treated_name,
        )
    if scaling == "treated_sd":
        return _Scaled(panel.treated / treated_sd, panel.donors / treated_sd, 0.0, treated_sd)
    donor_mean = panel.donors[pre].mean(axis=0)
    donor_sd = panel.donors[pre].std(axis=0, ddof=1)
    flat = np.flatnonzero(~(donor_sd > 0))
    if flat.size:
        name = panel.donor_names[int(flat[0])]
        raise InputError(
            f"{name}: constant over the pre-period, so it cannot be standardized "
            "(scaling='zscore'); drop it from the donors",
            field=name,
        )
    treated_mean = float(panel.treated[pre].mean())
    return _Scaled(
        (panel.treated - treated_mean) / treated_sd,
        (panel.donors - donor_mean) / donor_sd,
        treated_mean,
        treated_sd,
    )


# ----------------------------------------------------------------------------- sampling


@contextmanager
def _quiet(logger_name: str, level: int) -> Iterator[None]:
    """PyMC logs sampler progress at INFO and ArviZ warns of one-chain shapes; a library call
    should not print: what matters is in the result's diagnostics and warnings."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _sample_weights(
    scaled: _Scaled,
    panel: _Panel,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float,
    init: str,
) -> Any:
    """Posterior (ArviZ InferenceData) of CausalPy's WeightedSumFitter on the pre-period.

    Mirrors `WeightedSumFitter.fit` (data-driven Dirichlet prior, `build_model`, `pm.sample`)
    without its prior- and posterior-predictive passes, which the counterfactual does not need.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time notices of causalpy's dependencies
        import pymc as pm
        import xarray as xr
        from causalpy.pymc_models import WeightedSumFitter

    pre = slice(0, panel.n_pre)
    obs_ind = np.arange(panel.n_pre)
    coords = {
        "coeffs": list(panel.donor_names),
        "treated_units": [panel.treated_name],
        "obs_ind": obs_ind,
    }
    # Column-major, as pandas hands CausalPy a float frame's values: BLAS sums in a
    # layout-dependent order and NUTS trajectories amplify last-bit differences, so this layout
    # is what reproduces CausalPy's draws for the same data and seed.
    donors = xr.DataArray(
        np.asfortranarray(scaled.donors[pre]),
        dims=["obs_ind", "coeffs"],
        coords={"obs_ind": obs_ind, "coeffs": coords["coeffs"]},
    )
    treated = xr.DataArray(
        scaled.treated[pre, None],
        dims=["obs_ind", "treated_units"],
        coords={"obs_ind": obs_ind, "treated_units": coords["treated_units"]},
    )
    model = WeightedSumFitter()
    model.priors = {**model.priors_from_data(donors, treated), **model.priors}
    model.build_model(donors, treated, coords)
    with _quiet("pymc", logging.WARNING), warnings.catch_warnings(), model:
        warnings.simplefilter("ignore", UserWarning)  # e.g. "run at least 4 chains"
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=PYMC_CORES,
            random_seed=seed,
            target_accept=target_accept,
            init=init,
            progressbar=False,
            quiet=True,  # our diagnostics and warnings say it once, in the result
            compute_convergence_checks=False,
        )


# ----------------------------------------------------------------------------- summaries


def _diagnostics(idata: Any) -> ITSDiagnostics:
    return posterior_diagnostics(idata, ["beta", "y_hat_sigma"])


def _warnings(
    diagnostics: ITSDiagnostics,
    panel: _Panel,
    rmse_to_sd: float,
    hull_violations: int,
    scaling: str,
) -> list[str]:
    out: list[str] = []
    if rmse_to_sd > POOR_FIT_RATIO:
        out.append(
            f"the synthetic control tracks {panel.treated_name} poorly before the intervention "
            f"(pre-period RMSE is {rmse_to_sd:.2f} times its pre-period SD, above "
            f"{POOR_FIT_RATIO}); the counterfactual is unreliable."
        )
    if hull_violations:
        hint = " or scaling='zscore'" if scaling != "zscore" else ""
        out.append(
            f"{hull_violations} of {panel.n_pre} pre-period points of {panel.treated_name} lie "
            "outside the range of the donors, which no convex combination can reach (CausalPy's "
            f"convex hull check); consider other donors{hint}."
        )
    if panel.n_pre < len(panel.donor_names):
        out.append(
            f"fewer pre-period points ({panel.n_pre}) than donors ({len(panel.donor_names)}); "
            "the weights rest largely on their prior."
        )
    return [*out, *sampler_warnings(diagnostics)]


def _interpretation(
    effect: CausalEffect,
    panel: _Panel,
    weights: tuple[DonorWeight, ...],
    rmse: float,
    rmse_to_sd: float,
    notes: list[str],
) -> str:
    lo, hi = effect.hdi95
    first_post, last_post = panel.dates[panel.n_pre], panel.dates[-1]
    direction = "higher" if effect.mean >= 0 else "lower"
    listed = sorted(
        (weight for weight in weights if weight.mean >= _LISTED_WEIGHT),
        key=lambda weight: -weight.mean,
    )
    recipe = ", ".join(f"{weight.donor} {weight.mean:.2f}" for weight in listed)
    text = (
        f"Over the {panel.n_post} post-intervention observations ({first_post} to {last_post}), "
        f"{panel.treated_name} was on average {abs(effect.mean):.3g} {direction} than its "
        f"synthetic control (posterior mean {effect.mean:.3g}; 95% HDI {lo:.3g} to {hi:.3g}). "
        f"The posterior probability that the effect is positive is "
        f"{probability_in_words(effect.probability_positive)}."
    )
    if lo > 0 or hi < 0:
        text += " The 95% HDI excludes zero."
    else:
        text += " The 95% HDI includes zero, so the data are compatible with no effect."
    text += (
        f" Synthetic control weights: {recipe or 'spread thinly over every donor'}; pre-period "
        f"RMSE {rmse:.3g} ({rmse_to_sd:.2f} of the pre-period SD)."
    )
    if notes:
        text += " " + " ".join(f"Warning: {note}" for note in notes)
    return text


def _summarize(
    idata: Any,
    panel: _Panel,
    scaled: _Scaled,
    scaling: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float,
    init: str,
) -> SyntheticControlResult:
    import arviz as az
    import xarray as xr

    diagnostics = _diagnostics(idata)
    posterior = idata.posterior
    beta = np.asarray(posterior["beta"].values, dtype=float)[:, :, 0, :]  # (chain, draw, k)
    cf = scaled.location + scaled.scale * np.einsum("cdk,nk->cdn", beta, scaled.donors)
    n_pre = panel.n_pre
    effect_draws = (panel.treated[None, None, n_pre:] - cf[:, :, n_pre:]).mean(axis=2)

    effect_hdi = np.asarray(az.hdi(effect_draws.ravel(), hdi_prob=0.95), dtype=float)
    effect = CausalEffect(
        mean=float(effect_draws.mean()),
        sd=float(effect_draws.std(ddof=1)),
        hdi95=(float(effect_hdi[0]), float(effect_hdi[1])),
        probability_positive=float((effect_draws > 0).mean()),
    )
    predicted = cf.mean(axis=(0, 1))
    band = np.asarray(az.hdi(cf, hdi_prob=0.95), dtype=float)  # (n, 2)
    dates = tuple(str(day) for day in panel.dates)
    counterfactual = Counterfactual(
        dates=dates,
        predicted=tuple(predicted.tolist()),
        observed=tuple(panel.treated.tolist()),
        lower95=tuple(band[:, 0].tolist()),
        upper95=tuple(band[:, 1].tolist()),
        period=tuple(["pre"] * n_pre + ["post"] * panel.n_post),
    )
    flat_beta = beta.reshape(-1, beta.shape[-1])
    weight_hdi = np.asarray(az.hdi(beta, hdi_prob=0.95), dtype=float)  # (k, 2)
    weights = tuple(
        DonorWeight(
            donor=name,
            mean=float(flat_beta[:, index].mean()),
            sd=float(flat_beta[:, index].std(ddof=1)),
            hdi95=(float(weight_hdi[index, 0]), float(weight_hdi[index, 1])),
        )
        for index, name in enumerate(panel.donor_names)
    )
    residual = panel.treated[:n_pre] - predicted[:n_pre]
    rmse = float(np.sqrt(np.mean(residual**2)))
    treated_sd = float(np.std(panel.treated[:n_pre], ddof=1))
    rmse_to_sd = rmse / treated_sd if treated_sd > 0 else float("inf")
    # CausalPy's convex hull check, on the series as the model sees them.
    pre_donors, pre_treated = scaled.donors[:n_pre], scaled.treated[:n_pre]
    hull_violations = int(
        np.sum((pre_treated > pre_donors.max(axis=1)) | (pre_treated < pre_donors.min(axis=1)))
    )
    notes = _warnings(diagnostics, panel, rmse_to_sd, hull_violations, scaling)

    # The posterior as users read it: drop `mu` (scaled units, pre-period only); report sigma
    # in the treated series' units; add the effect and the counterfactual per date.
    date_index = pd.DatetimeIndex(panel.dates)
    idata.posterior = posterior.drop_vars(["mu"], errors="ignore")
    idata.posterior["y_hat_sigma"] = idata.posterior["y_hat_sigma"] * scaled.scale
    idata.posterior["causal_effect"] = xr.DataArray(effect_draws, dims=("chain", "draw"))
    idata.posterior["counterfactual"] = xr.DataArray(
        cf, dims=("chain", "draw", "date"), coords={"date": date_index}
    )
    for group in ("observed_data", "constant_data"):
        if group in idata.groups():
            delattr(idata, group)
    idata.add_groups(
        observed_data=xr.Dataset(
            {
                "treated": xr.DataArray(panel.treated, dims=("date",), coords={"date": date_index}),
                "donors": xr.DataArray(
                    panel.donors,
                    dims=("date", "coeffs"),
                    coords={"date": date_index, "coeffs": list(panel.donor_names)},
                ),
            }
        )
    )
    idata.posterior.attrs["intervention_date"] = str(panel.intervention)
    idata.posterior.attrs["scaling"] = scaling

    return SyntheticControlResult(
        causal_effect=effect,
        counterfactual=counterfactual,
        donor_weights=weights,
        pre_fit_rmse=rmse,
        pre_fit_rmse_to_sd=rmse_to_sd,
        diagnostics=diagnostics,
        interpretation=_interpretation(effect, panel, weights, rmse, rmse_to_sd, notes),
        warnings=tuple(notes),
        treated=panel.treated_name,
        intervention_date=str(panel.intervention),
        n_pre=n_pre,
        n_post=panel.n_post,
        hull_violations=hull_violations,
        ignored_columns=panel.ignored,
        scaling=scaling,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        init=init,
        idata=idata,
    )


# ----------------------------------------------------------------------------- entry point


def synthetic_control(
    data: pd.DataFrame | Mapping[str, Sequence[Any]],
    *,
    date_column: str = "date",
    treated: str,
    donors: Sequence[str] | None = None,
    intervention_date: str | dt.date,
    scaling: Scaling | str = "treated_sd",
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    target_accept: float = 0.95,
    init: str = "jitter+adapt_full",
) -> SyntheticControlResult:
    """Bayesian synthetic control of `treated` from `donors` around `intervention_date`.

    `data`: a pandas or polars DataFrame, or a mapping of column name to values, with one row
    per date (any order; sorted here). `donors` defaults to every other numeric column (a text
    column holding any number counts, so a typo is reported rather than the column dropped);
    the columns not used are listed in `ignoredColumns`. The intervention date belongs to the
    post period. `draws`/`tune` are per chain; `target_accept` and `init` go to `pymc.sample`
    (see "Sampler" in the module docstring). See the module docstring for the model and the
    definitions.
    Raises `InputError` naming the field for bad input, before any sampling.
    """
    if scaling not in SCALINGS:
        raise InputError(
            f"scaling: unknown option {scaling!r}; use one of {', '.join(SCALINGS)}",
            field="scaling",
        )
    _check_sampler_settings(seed, draws, tune, chains, target_accept, init)
    panel = _prepare_panel(data, date_column, treated, donors, intervention_date)
    scaled = _scale(panel, str(scaling))
    idata = _sample_weights(
        scaled,
        panel,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        seed=int(seed),
        target_accept=float(target_accept),
        init=str(init),
    )
    with _quiet("arviz", logging.ERROR):
        return _summarize(
            idata,
            panel,
            scaled,
            str(scaling),
            int(draws),
            int(tune),
            int(chains),
            int(seed),
            float(target_accept),
            str(init),
        )
