"""A protocol's wearable -> outcome links: do its user's sleep, HRV and resting heart rate lead
the protocol's primary outcome?

Pure: a protocol row (a mapping with the columns of `marts.protocols`), the user's wearable days
(a frame with the columns of `marts.wearable_daily`) and the user's daily series of the primary
outcome (`metric_date`, `value`, as `tables.daily_metric_series` reads it) go in;
`ProtocolWearableLinks` comes out, with `to_json()` and `to_rows()` (the rows of
`analyses.wearable_links`). Nothing is read or written here. Bad or insufficient data never
raises: the result says `status="skipped"` and why.

The statistics are `causal_tools.wearable_outcome_links` over the user's whole history (one
calendar index, so a lag is a number of days): lagged correlations (predictor on day t - lag
against the outcome on day t, p-values adjusted together over every predictor and lag) and a
Granger test per predictor (BIC lag selection up to `max_lag`, on the longest run of
consecutive days with both). These are observational links, not the protocol's causal
estimate: the intervention phases move the outcome too, and a common cause can drive both.

A predictor without any value for the user (a measure the user's wearable does not report) is
left out and named in the notes; with none left the analysis is skipped.

Options
-------
`wearable_links_options(protocol_row, **overrides)`: the defaults (predictors `sleep_hours`,
`hrv_rmssd_ms`, `resting_heart_rate_bpm`; lags 0, 1 and 2 days; Granger up to 3 lags; Spearman;
Benjamini-Hochberg FDR), then the settings of the protocol's registered `wearable_links`
(`registration.analyses`: `predictors`, `lags`, `maxLag`, `method`, `correction`), then the
overrides that are not None (a run's configuration). A protocol whose registered analyses do
not include the wearable links gets an `exploratory` result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.causal_tools import (
    WearableLinks,
    wearable_outcome_links,
)
from americano_pipelines.protocol_analyses.inputs import (
    Protocol,
    Status,
    column,
    has_column,
    option_overrides,
    present,
)
from americano_pipelines.registration.analyses import (
    DEFAULT_PREDICTORS,
    WEARABLE_LINKS,
    is_registered,
    registered_analyses,
)
from americano_pipelines.stats.granger import CORRECTIONS, CORRELATION_METHODS, SIGNIFICANCE

__all__ = [
    "ProtocolWearableLinks",
    "WearableLinksOptions",
    "protocol_wearable_links",
    "wearable_links_options",
]


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class WearableLinksOptions:
    """The wearable measures linked to the outcome, the lags and the tests' settings."""

    predictors: tuple[str, ...] = DEFAULT_PREDICTORS
    lags: tuple[int, ...] = (0, 1, 2)
    max_lag: int = 3
    method: str = "spearman"
    correction: str = "fdr_bh"

    def to_json(self) -> dict[str, Any]:
        return {
            "predictors": list(self.predictors),
            "lags": list(self.lags),
            "maxLag": self.max_lag,
            "method": self.method,
            "correction": self.correction,
        }


_OPTION_NAMES = frozenset(f.name for f in fields(WearableLinksOptions))


def _whole_numbers(value: Any, name: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise InputError(f"{name}: give a list of one or more whole numbers", field=name)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise InputError(f"{name}: {item!r} is not a whole number >= {minimum}", field=name)
    return tuple(sorted(set(value)))


def wearable_links_options(
    protocol_row: Mapping[str, Any], **overrides: Any
) -> WearableLinksOptions:
    """Defaults, then the protocol's registered settings, then `overrides` that are not None.

    Raises InputError for an unknown override name, an unreadable list of analyses or an
    invalid option."""
    registered = registered_analyses(protocol_row).get(WEARABLE_LINKS)
    values = {} if registered is None else registered.settings()
    values.update(option_overrides(overrides, _OPTION_NAMES, "a wearable links"))
    if "predictors" in values:
        predictors = values["predictors"]
        if isinstance(predictors, str | bytes) or not predictors:
            raise InputError(
                "predictors: give a list of one or more column names", field="predictors"
            )
        values["predictors"] = tuple(dict.fromkeys(str(name) for name in predictors))
    if "lags" in values:
        values["lags"] = _whole_numbers(values["lags"], "lags", 0)
    if "max_lag" in values:
        (values["max_lag"],) = _whole_numbers([values["max_lag"]], "max_lag", 1)
    options = replace(WearableLinksOptions(), **values)
    for name, value, choices in (
        ("method", options.method, CORRELATION_METHODS),
        ("correction", options.correction, CORRECTIONS),
    ):
        if value not in choices:
            raise InputError(
                f"{name}: unknown option {value!r}; use one of {', '.join(choices)}", field=name
            )
    return options


# ----------------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class ProtocolWearableLinks:
    """Wearable -> outcome links of one protocol's user and primary outcome, or why skipped."""

    protocol_id: str
    status: Status
    options: WearableLinksOptions
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    left_out: tuple[str, ...] = ()
    links: WearableLinks | None = field(default=None, repr=False)
    exploratory: bool = False

    analysis_type: ClassVar[str] = "wearable_links"
    title: ClassVar[str] = "Wearable links"

    @property
    def predictors(self) -> tuple[str, ...]:
        """The predictors tested (the options' less those the user has no value of)."""
        return tuple(name for name in self.options.predictors if name not in self.left_out)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(
            f"{name}: no value for user {self.user_id}; left out" for name in self.left_out
        )

    @property
    def significant(self) -> tuple[Any, ...]:
        """The correlations with an adjusted p-value below 0.05, strongest first."""
        if self.links is None:
            return ()
        rows = [row for row in self.links.lagged.results if row.p_value_adjusted < SIGNIFICANCE]
        return tuple(sorted(rows, key=lambda row: -abs(row.r)))

    @property
    def interpretation(self) -> str | None:
        links = self.links
        if links is None:
            return None
        tests = "; ".join(
            f"{result.cause} at lag {result.selected_lag}, p = {_selected(result).p_value:.3g}"
            for result in links.granger
        )
        return (
            f"{links.lagged.interpretation} Granger tests at the BIC-selected lag: {tests}. "
            "Granger causality is predictive precedence, not proof of a causal effect; the "
            "protocol's intervention phases move the outcome too."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "userId": self.user_id,
            "outcome": self.metric,
            "options": self.options.to_json(),
            "predictors": list(self.predictors),
            "leftOut": list(self.left_out),
            "links": None if self.links is None else self.links.to_json(),
            "interpretation": self.interpretation,
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    def params(self) -> dict[str, Any]:
        """The outcome, the predictors and the tests' settings (its run's input parameters
        besides the protocol's)."""
        return {
            "outcome": self.metric,
            **self.options.to_json(),
            "leftOut": list(self.left_out),
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        """The strongest significant correlation, how many there are, and each predictor's
        Granger test at its selected lag (its run's results summary)."""
        links, significant = self.links, self.significant
        strongest = significant[0] if significant else None
        return {
            "status": self.status,
            "reason": self.reason,
            "nDays": None if links is None else links.n_days,
            "nCorrelations": None if links is None else len(links.lagged.results),
            "nSignificant": None if links is None else len(significant),
            "strongest": None
            if strongest is None
            else {
                "predictor": strongest.predictor,
                "lag": strongest.lag,
                "r": strongest.r,
                "pValueAdjusted": strongest.p_value_adjusted,
            },
            "granger": None
            if links is None
            else {
                result.cause: {
                    "selectedLag": result.selected_lag,
                    "fStatistic": _selected(result).f_statistic,
                    "pValue": _selected(result).p_value,
                }
                for result in links.granger
            },
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Rows for `analyses.wearable_links` (without data_version/computed_at): one per
        predictor and lag in days (the correlations' lags and the Granger lags 1..max_lag; a
        test that does not use a lag leaves its columns null there); a skipped protocol has
        one row without predictor."""
        base = {
            "protocol_id": self.protocol_id,
            "user_id": self.user_id,
            "outcome": self.metric,
            "status": self.status,
            "skip_reason": self.reason,
            "method": self.options.method,
            "correction": self.options.correction,
        }
        links = self.links
        if links is None:
            return [{**base, **dict.fromkeys(_LINK_COLUMNS)}]
        lags = sorted(set(self.options.lags) | set(range(1, self.options.max_lag + 1)))
        granger = {result.cause: result for result in links.granger}
        windows = {window.predictor: window for window in links.granger_windows}
        rows = []
        for predictor in self.predictors:
            correlations = {c.lag: c for c in links.lagged.results if c.predictor == predictor}
            test, window = granger[predictor], windows[predictor]
            by_lag = {lag.lag: lag for lag in test.results}
            for lag in lags:
                c, g = correlations.get(lag), by_lag.get(lag)
                rows.append(
                    {
                        **base,
                        "predictor": predictor,
                        "lag": lag,
                        "r": None if c is None else c.r,
                        "p_value": None if c is None else c.p_value,
                        "p_value_adjusted": None if c is None else c.p_value_adjusted,
                        "n_pairs": None if c is None else c.n,
                        "significant": None if c is None else c.p_value_adjusted < SIGNIFICANCE,
                        "granger_f": None if g is None else g.f_statistic,
                        "granger_p": None if g is None else g.p_value,
                        "granger_df_num": None if g is None else g.df_num,
                        "granger_df_denom": None if g is None else g.df_denom,
                        "granger_selected": None if g is None else lag == test.selected_lag,
                        "granger_start_date": window.start,
                        "granger_end_date": window.end,
                        "granger_n_days": window.n_days,
                        "calendar_start": links.start,
                        "calendar_end": links.end,
                        "n_days": links.n_days,
                    }
                )
        return rows


_LINK_COLUMNS = (
    "predictor",
    "lag",
    "r",
    "p_value",
    "p_value_adjusted",
    "n_pairs",
    "significant",
    "granger_f",
    "granger_p",
    "granger_df_num",
    "granger_df_denom",
    "granger_selected",
    "granger_start_date",
    "granger_end_date",
    "granger_n_days",
    "calendar_start",
    "calendar_end",
    "n_days",
)


def _selected(result: Any) -> Any:
    """The Granger F-test at the BIC-selected lag."""
    return next(lag for lag in result.results if lag.lag == result.selected_lag)


def _without_values(wearable_days: Any, predictors: Sequence[str]) -> tuple[str, ...]:
    """The predictors that are columns of `wearable_days` without a single value."""
    return tuple(
        name
        for name in predictors
        if has_column(wearable_days, name)
        and not any(present(v) for v in column(wearable_days, name))
    )


def protocol_wearable_links(
    protocol_row: Mapping[str, Any],
    wearable_days: Any,
    outcome_series: Any,
    *,
    options: WearableLinksOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ProtocolWearableLinks:
    """Lagged correlations and Granger tests of the user's wearable measures against the
    protocol's primary outcome (module docstring). Skipped (never raised) when the protocol,
    the options or the data do not allow it; `options` default to
    `wearable_links_options(protocol_row, **overrides)`."""
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "metric": identity.primary_outcome,
        "exploratory": not is_registered(protocol_row, WEARABLE_LINKS),
    }
    try:
        if options is None:
            options = wearable_links_options(protocol_row, **dict(overrides or {}))
    except InputError as error:
        return ProtocolWearableLinks(
            status="skipped", reason=str(error), options=WearableLinksOptions(), **base
        )
    left_out = _without_values(wearable_days, options.predictors)
    try:
        for key, value in (
            ("user_id", identity.user_id),
            ("primary_outcome", identity.primary_outcome),
        ):
            if value is None:
                raise InputError(f"{key}: the protocol row has no {key}", field=key)
        predictors = [name for name in options.predictors if name not in left_out]
        if not predictors:
            raise InputError(
                f"wearable_daily: no value of {', '.join(options.predictors)} for user "
                f"{identity.user_id}",
                field="wearable_daily",
            )
        for name in ("metric_date", "value"):
            if not has_column(outcome_series, name):
                raise InputError(f"{name}: the outcome series has no {name} column", field=name)
        dates = column(outcome_series, "metric_date")
        outcome = {
            "user_id": [identity.user_id] * len(dates),
            "metric": [identity.primary_outcome] * len(dates),
            "metric_date": dates,
            "value": column(outcome_series, "value"),
        }
        links = wearable_outcome_links(
            wearable_days,
            outcome,
            user_id=identity.user_id,
            outcome=str(identity.primary_outcome),
            predictors=predictors,
            max_lag=options.max_lag,
            lags=options.lags,
            method=options.method,
            correction=options.correction,
        )
    except InputError as error:
        return ProtocolWearableLinks(
            status="skipped", reason=str(error), options=options, left_out=left_out, **base
        )
    return ProtocolWearableLinks(
        status="ok", options=options, left_out=left_out, links=links, **base
    )
