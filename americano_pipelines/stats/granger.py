"""Granger causality F-tests and lagged correlations between daily series.

Granger test (as statsmodels `grangercausalitytests` "ssr_ftest" and R `lmtest::grangertest`)
-----------------------------------------------------------------------------------------------
For each lag order k = 1..max_lag, on the rows t = k..n-1 (the first k rows have no lags):

    restricted:    effect_t = a0 + sum_{i=1..k} a_i effect_{t-i}                     + e_t
    unrestricted:  effect_t = a0 + sum_{i=1..k} a_i effect_{t-i} + sum_i b_i cause_{t-i} + u_t

    F = ((RSS_r - RSS_u) / k) / (RSS_u / (n - k - 2k - 1)),  df = (k, n - 3k - 1)

and the p-value is the upper tail of F(k, n - 3k - 1). `selectedLag` is the order minimising
the BIC (Schwarz) of the unrestricted regression, all orders fitted on the same rows
t = max_lag..n-1 so the criteria are comparable (the same convention as statsmodels'
`VAR.select_order`; BIC = m log(RSS/m) + p log(m) for m rows and p coefficients, up to a
constant). Rows must be consecutive in time: gaps are the caller's to fill or cut.

Lagged correlations
-------------------
`r(predictor, lag)` correlates predictor_{t-lag} with outcome_t (the predictor leads by `lag`
rows) over the pairs where both are present (pairwise deletion, `n` reported), by Spearman,
Pearson or Kendall (scipy.stats). p-values across all (predictor, lag) pairs are adjusted
together with statsmodels' `multipletests` (default Benjamini-Hochberg FDR).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The F distribution's survival function without scipy.stats (its import costs seconds):
# scipy.stats.f.sf is this same function.
from scipy.special import fdtrc

from americano_pipelines.errors import InputError
from americano_pipelines.stats.limits import (
    check_not_all_tiny,
    first_too_large,
    too_large_message,
)

__all__ = [
    "GrangerLag",
    "GrangerResult",
    "LaggedCorrelation",
    "LaggedCorrelationResult",
    "granger_causality",
    "lagged_correlations",
]

SIGNIFICANCE = 0.05
CORRELATION_METHODS = ("spearman", "pearson", "kendall")
CORRECTIONS = (
    "fdr_bh",
    "fdr_by",
    "bonferroni",
    "holm",
    "sidak",
    "holm-sidak",
    "simes-hochberg",
    "hommel",
    "none",
)
MIN_CORRELATION_PAIRS = 3


# ----------------------------------------------------------------------------- columns


def _column_names(data: Any) -> list[str]:
    if isinstance(data, Mapping):
        return [str(name) for name in data]
    columns = getattr(data, "columns", None)
    if columns is None:
        raise InputError(
            "data: expected a DataFrame or a mapping of column name to values", field="data"
        )
    return [str(name) for name in columns]


def _is_missing(value: Any) -> bool:
    """None or a float NaN (pandas' NA and NaT too): an empty cell, not a bad one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _as_number(value: Any) -> float:
    """The value as a float, NaN when it is none (a number written as text counts). Plain
    Python, so this module loads without pandas."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _column(data: Any, name: str, *, allow_missing: bool) -> np.ndarray:
    """A column as float64; non-numbers raise InputError naming the column and row."""
    if not isinstance(name, str) or name not in _column_names(data):
        raise InputError(f"{name}: no such column", field=str(name))
    raw = data[name]
    raw = raw.to_list() if hasattr(raw, "to_list") else list(raw)
    numeric = np.array([_as_number(value) for value in raw], dtype=float)
    missing = np.array([_is_missing(value) for value in raw], dtype=bool)
    bad = (
        np.flatnonzero(~np.isfinite(numeric) & ~missing)
        if allow_missing
        else np.flatnonzero(~np.isfinite(numeric))
    )
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"{name}: row {row + 1} has {raw[row]!r}, which is not a finite number",
            field=name,
        )
    observed = np.where(np.isfinite(numeric), numeric, 0.0)
    beyond = first_too_large(observed)
    if beyond is not None:
        raise InputError(too_large_message(name, f"row {beyond + 1}", numeric[beyond]), field=name)
    check_not_all_tiny(observed, name)
    return numeric


# ----------------------------------------------------------------------------- Granger


@dataclass(frozen=True)
class GrangerLag:
    lag: int
    f_statistic: float
    p_value: float
    df_num: int
    df_denom: int
    bic: float

    def to_json(self) -> dict[str, Any]:
        return {
            "lag": self.lag,
            "fStatistic": float(self.f_statistic),
            "pValue": float(self.p_value),
            "dfNum": self.df_num,
            "dfDenom": self.df_denom,
            "bic": float(self.bic),
        }


@dataclass(frozen=True)
class GrangerResult:
    cause: str
    effect: str
    results: tuple[GrangerLag, ...]
    selected_lag: int
    n_obs: int
    interpretation: str

    def to_json(self) -> dict[str, Any]:
        """CONTRACTS.md section 3 `americano analyze granger`, plus selection details."""
        return {
            "results": [lag.to_json() for lag in self.results],
            "interpretation": self.interpretation,
            "selectedLag": self.selected_lag,
            "selectionCriterion": "bic",
            "cause": self.cause,
            "effect": self.effect,
            "nObs": self.n_obs,
        }


def _lag_matrix(x: np.ndarray, max_lag: int, first_row: int) -> np.ndarray:
    """Columns x_{t-1}..x_{t-max_lag} for rows t = first_row..n-1."""
    n = x.size
    return np.column_stack([x[first_row - i : n - i] for i in range(1, max_lag + 1)])


def _rss(design: np.ndarray, target: np.ndarray) -> float:
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    return float(residual @ residual)


def granger_causality(
    data: Any,  # a DataFrame (pandas or polars) or a mapping of column name to values
    *,
    cause: str,
    effect: str,
    max_lag: int = 7,
) -> GrangerResult:
    """Does the past of `cause` improve prediction of `effect`? F-test per lag 1..max_lag.

    Rows are taken in the order given, as consecutive time points. See the module docstring
    for the definitions (statsmodels `ssr_ftest`, R `lmtest::grangertest`).
    """
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer) or max_lag < 1:
        raise InputError("max_lag: must be a whole number of at least 1", field="max_lag")
    max_lag = int(max_lag)
    effect_values = _column(data, effect, allow_missing=False)
    cause_values = _column(data, cause, allow_missing=False)
    if cause == effect:
        raise InputError("cause: cause and effect are the same column", field="cause")
    n = effect_values.size
    needed = 3 * max_lag + 2  # at least one residual degree of freedom at the largest lag
    if n < needed:
        raise InputError(
            f"max_lag: {n} rows are too few for max_lag {max_lag}; need at least {needed} "
            "(or a smaller max_lag)",
            field="max_lag",
        )
    for name, values in ((effect, effect_values), (cause, cause_values)):
        if np.ptp(values) == 0:
            raise InputError(
                f"{name}: the column is constant, so the test is undefined", field=name
            )

    results = []
    for k in range(1, max_lag + 1):
        target = effect_values[k:]
        own = _lag_matrix(effect_values, k, k)
        other = _lag_matrix(cause_values, k, k)
        ones = np.ones((target.size, 1))
        rss_restricted = _rss(np.hstack([ones, own]), target)
        rss_full = _rss(np.hstack([ones, own, other]), target)
        df_denom = target.size - 2 * k - 1
        if rss_full <= 0:
            raise InputError(
                f"{effect}: the lagged regression fits exactly at lag {k}; the test is undefined",
                field=effect,
            )
        f_stat = max((rss_restricted - rss_full) / k / (rss_full / df_denom), 0.0)
        p_value = float(fdtrc(k, df_denom, f_stat))
        # BIC on the common rows t = max_lag..n-1, so orders are comparable.
        common_target = effect_values[max_lag:]
        m = common_target.size
        common_design = np.hstack(
            [
                np.ones((m, 1)),
                _lag_matrix(effect_values, k, max_lag),
                _lag_matrix(cause_values, k, max_lag),
            ]
        )
        rss_common = max(_rss(common_design, common_target), np.finfo(float).tiny)
        bic = m * math.log(rss_common / m) + (2 * k + 1) * math.log(m)
        results.append(GrangerLag(k, f_stat, p_value, k, df_denom, bic))

    selected = min(results, key=lambda r: r.bic)
    return GrangerResult(
        cause=cause,
        effect=effect,
        results=tuple(results),
        selected_lag=selected.lag,
        n_obs=n,
        interpretation=_granger_interpretation(cause, effect, selected, len(results)),
    )


def _granger_interpretation(cause: str, effect: str, selected: GrangerLag, n_lags: int) -> str:
    verdict = (
        f"past values of {cause} improve the prediction of {effect} beyond {effect}'s own past"
        if selected.p_value < SIGNIFICANCE
        else f"past values of {cause} do not detectably improve the prediction of {effect} "
        f"beyond {effect}'s own past"
    )
    return (
        f"At the BIC-selected lag of {selected.lag} (F = {selected.f_statistic:.3g} on "
        f"{selected.df_num} and {selected.df_denom} df, p = {selected.p_value:.3g}), {verdict} "
        f"at the {SIGNIFICANCE:g} level. {n_lags} lag orders were tested, so read the other "
        "p-values with multiplicity in mind. Granger causality is predictive precedence, not "
        "proof of a causal effect: a common driver or a missing variable can produce it."
    )


# ----------------------------------------------------------------------------- correlations


@dataclass(frozen=True)
class LaggedCorrelation:
    predictor: str
    lag: int
    r: float
    p_value: float
    p_value_adjusted: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor,
            "lag": self.lag,
            "r": float(self.r),
            "pValue": float(self.p_value),
            "pValueAdjusted": float(self.p_value_adjusted),
            "n": self.n,
        }


@dataclass(frozen=True)
class LaggedCorrelationResult:
    outcome: str
    method: str
    correction: str
    results: tuple[LaggedCorrelation, ...]
    interpretation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [row.to_json() for row in self.results],
            "outcome": self.outcome,
            "method": self.method,
            "correction": self.correction,
            "interpretation": self.interpretation,
        }


def _correlate(x: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float]:
    from scipy import stats  # only the correlations need it

    if method == "spearman":
        result = stats.spearmanr(x, y)
    elif method == "pearson":
        result = stats.pearsonr(x, y)
    else:
        result = stats.kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def lagged_correlations(
    data: Any,  # a DataFrame (pandas or polars) or a mapping of column name to values
    *,
    predictors: Sequence[str],
    outcome: str,
    lags: Sequence[int] = (0, 1, 2),
    method: str = "spearman",
    correction: str = "fdr_bh",
) -> LaggedCorrelationResult:
    """Correlation of each predictor, shifted by each lag, with the outcome; adjusted p-values.

    Missing values (None/NaN) are allowed and dropped pairwise; anything else non-numeric is an
    InputError naming the column. Definitions in the module docstring.
    """
    from statsmodels.stats.multitest import multipletests

    if method not in CORRELATION_METHODS:
        raise InputError(
            f"method: unknown method {method!r}; use one of {', '.join(CORRELATION_METHODS)}",
            field="method",
        )
    if correction not in CORRECTIONS:
        raise InputError(
            f"correction: unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}",
            field="correction",
        )
    if isinstance(predictors, str) or len(predictors) == 0:
        raise InputError("predictors: give a list of one or more column names", field="predictors")
    lag_list = list(lags)
    if not lag_list or any(
        isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 0
        for lag in lag_list
    ):
        raise InputError("lags: give one or more whole numbers >= 0", field="lags")
    outcome_values = _column(data, outcome, allow_missing=True)
    n_rows = outcome_values.size

    rows: list[tuple[str, int, float, float, int]] = []
    for predictor in predictors:
        values = _column(data, predictor, allow_missing=True)
        for lag in lag_list:
            lag = int(lag)
            x = values[: n_rows - lag] if lag else values
            y = outcome_values[lag:]
            complete = np.isfinite(x) & np.isfinite(y)
            n_pairs = int(complete.sum())
            if n_pairs < MIN_CORRELATION_PAIRS:
                raise InputError(
                    f"{predictor}: only {n_pairs} complete pairs with {outcome} at lag {lag}; "
                    f"need at least {MIN_CORRELATION_PAIRS}",
                    field=predictor,
                )
            for name, column in ((predictor, x[complete]), (outcome, y[complete])):
                if np.ptp(column) == 0:
                    raise InputError(
                        f"{name}: constant over the pairs at lag {lag}; correlation is undefined",
                        field=name,
                    )
            r, p = _correlate(x[complete], y[complete], method)
            rows.append((predictor, lag, r, p, n_pairs))

    p_values = np.array([row[3] for row in rows])
    adjusted = p_values if correction == "none" else multipletests(p_values, method=correction)[1]
    results = tuple(
        LaggedCorrelation(predictor, lag, r, p, float(p_adj), n)
        for (predictor, lag, r, p, n), p_adj in zip(rows, adjusted, strict=True)
    )
    return LaggedCorrelationResult(
        outcome=outcome,
        method=method,
        correction=correction,
        results=results,
        interpretation=_correlation_interpretation(results, outcome, method, correction),
    )


def _correlation_interpretation(
    results: tuple[LaggedCorrelation, ...], outcome: str, method: str, correction: str
) -> str:
    significant = [row for row in results if row.p_value_adjusted < SIGNIFICANCE]
    adjusted = "unadjusted" if correction == "none" else f"{correction}-adjusted"
    if not significant:
        return (
            f"No {method} correlation with {outcome} is significant at the {SIGNIFICANCE:g} "
            f"level ({adjusted} p-values over {len(results)} predictor-lag pairs)."
        )
    strongest = max(significant, key=lambda row: abs(row.r))
    return (
        f"{len(significant)} of {len(results)} predictor-lag pairs correlate with {outcome} at "
        f"the {SIGNIFICANCE:g} level ({adjusted} p-values); the strongest is {strongest.predictor} "
        f"at lag {strongest.lag} ({method} r = {strongest.r:.3g}, n = {strongest.n}). "
        "Correlation is not causation."
    )
