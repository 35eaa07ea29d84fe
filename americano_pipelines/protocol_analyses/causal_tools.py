"""Observational causal tools on the warehouse marts: a protocol's synthetic control, and the
links between a user's wearable metrics and a study outcome.

Pure: a protocol row (a mapping with the columns of `marts.protocols`) and frames with the
columns of `marts.daily_metrics` (`user_id`, `metric`, `metric_date`, `value`, and optionally
`protocol_id`, `phase_label`) and `marts.wearable_daily` (`user_id`, `wearable_date`, the
wearable measures) go in; results with `to_json()` come out. Nothing is read or written here.
Frames may be pandas or polars, or mappings of column name to values.

Synthetic control (`synthetic_control_for_protocol`)
----------------------------------------------------
The treated series is the protocol user's `primary_outcome`; the donors are either

- `donors="users"` (default): the same metric of every other user in `daily_metrics`, one donor
  per user, named by its user id. An exposed donor is no control: a donor user's days in an
  intervention phase of its own protocol (when the frame has `phase_type`, as
  `marts.daily_metrics` does: one of `INTERVENTION_PHASE_TYPES`) count as missing, so their
  dates drop out (see Dates), and their number is reported. A donor exposed to something else
  that moves the metric, outside any protocol, cannot be seen here: filter such users out of the
  frame. Scaling `"treated_sd"` (all series share a unit).
- `donors="metrics"`: the protocol user's other metrics (`donor_metrics`, default every metric of
  that user except the outcome). Scaling `"zscore"`, since the units differ. A donor metric must
  be unaffected by the intervention: a metric the intervention also moves (e.g. `study_minutes`
  when the outcome is `engagement_score` and the intervention adds a study session) carries the
  effect into the counterfactual and biases the estimate towards zero; pass `donor_metrics` to
  keep only metrics the intervention cannot plausibly touch.

Dates. The frame becomes one row per calendar date, one column per series; only dates on which
every series has a value are kept (a synthetic control needs every donor on every date), and the
number of dates dropped is reported in the result's `warnings`. Fewer than 8 complete dates
before the intervention, or none after it, is an `InputError` with `field="metric_date"`.
The protocol user's days under another protocol (a non-null `protocol_id` other than this one)
are left out, as in the ITS (they may carry that protocol's intervention).

Windows. Intervention date: `first_intervention_date` (the first day of the first intervention
phase; it belongs to the post period). Pre-period: every complete date before it. Post period:
from the intervention date to `post_end` if given; otherwise, when the frame has `phase_label`,
to the end of the first intervention phase (the protocol user's observed days, from the
intervention date on, that carry this protocol's id and the first such day's phase label, up to
the first day that does not; later reversals to baseline are left out, as in
`its_analysis.its_window(post_window="first_phase")`); otherwise to the last date of the frame.

The model, the sampler and the definitions of the effect are those of
`americano_pipelines.stats.synthetic_control.synthetic_control` (CausalPy 0.7
`WeightedSumFitter`; Abadie, Diamond & Hainmueller 2010). `**sampler_kwargs` go to it (`seed`,
`draws`, `tune`, `chains`, `target_accept`, `init`, and `scaling` to override the default).

Wearable links (`wearable_outcome_links`)
-----------------------------------------
The user's wearable days and outcome days are aligned on calendar date over one daily index
from the first to the last date either frame has; a day missing from one side is NaN there.

- Lagged correlations (`stats.granger.lagged_correlations`): `r(predictor, lag)` correlates the
  predictor on day t - lag with the outcome on day t (lag 1 = the wearable night before the
  study day), pairwise over the days where both are present; p-values over all
  (predictor, lag) pairs adjusted together (default Benjamini-Hochberg FDR, statsmodels
  `multipletests`). Because the index is the calendar, a lag is always a number of days, never a
  number of rows skipping a gap.
- Granger causality (`stats.granger.granger_causality`, BIC lag selection up to `max_lag`): lags
  need consecutive days, and dropping missing rows would make "the previous row" a day several
  days earlier. So each predictor is tested on the longest run of consecutive calendar days on
  which both it and the outcome are present (the earliest run if two are equally long); the run
  used is reported in `grangerWindows`. A run too short for `max_lag` (fewer than
  3 * max_lag + 2 days) is an `InputError` naming the predictor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import present
from americano_pipelines.registration.analyses import (
    DEFAULT_PREDICTORS,
    DEFAULT_SCALING,
    DONOR_KINDS,
)
from americano_pipelines.registration.vocabulary import INTERVENTION_PHASE_TYPES
from americano_pipelines.stats.granger import (
    GrangerResult,
    LaggedCorrelationResult,
    granger_causality,
    lagged_correlations,
)
from americano_pipelines.stats.synthetic_control import (
    MIN_PRE_POINTS,
    SyntheticControlResult,
    synthetic_control,
)

__all__ = [
    "DEFAULT_PREDICTORS",
    "DONOR_KINDS",
    "GrangerWindow",
    "SyntheticControlPanel",
    "WearableLinks",
    "synthetic_control_for_protocol",
    "synthetic_control_on_panel",
    "synthetic_control_panel",
    "wearable_outcome_links",
]

DonorKind = Literal["metrics", "users"]
_DATE = "metric_date"
# Set by this module from the protocol; not accepted in **sampler_kwargs.
_FIXED_ARGUMENTS = ("data", "date_column", "treated", "donors", "intervention_date")


# ----------------------------------------------------------------------------- frames


def _as_frame(data: Any, name: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if type(data).__module__.split(".")[0] == "polars":
        return pd.DataFrame(data.to_dict(as_series=False))
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(key): list(values) for key, values in data.items()})
        except ValueError:
            raise InputError(f"{name}: the columns differ in length", field=name) from None
    raise InputError(
        f"{name}: expected a pandas or polars DataFrame or a mapping of columns", field=name
    )


def _require(frame: pd.DataFrame, columns: Sequence[str], frame_name: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise InputError(f"{column}: {frame_name} has no {column} column", field=column)


def _dates(raw: pd.Series, name: str) -> pd.Series:
    """Calendar days (datetime64, midnight); an unparseable cell is an InputError naming it."""
    parsed = pd.to_datetime(raw.astype(object), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"{name}: row {row + 1} has {raw.iloc[row]!r}, which is not a date", field=name
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize()


def _values(raw: pd.Series, name: str) -> np.ndarray:
    """Floats; None/NaN are missing (NaN), anything else non-numeric is an InputError."""
    cells = raw.astype(object)
    numeric = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(numeric) & ~cells.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"{name}: row {row + 1} has {cells.iloc[row]!r}, which is not a finite number",
            field=name,
        )
    return numeric


def _day(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):  # also pandas Timestamp
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return dt.date.fromisoformat(str(value.astype("datetime64[D]")))
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"{name}: {value!r} is not a date (use YYYY-MM-DD)", field=name) from None


def _unique_dates(frame: pd.DataFrame, keys: Sequence[str], date_column: str, what: str) -> None:
    repeated = frame.duplicated(subset=list(keys), keep=False).to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        day = pd.Timestamp(frame[date_column].iloc[row]).date()
        raise InputError(
            f"{date_column}: {what} has more than one row on {day}; one row per day",
            field=date_column,
        )


# ----------------------------------------------------------------------------- synthetic control


@dataclass(frozen=True)
class SyntheticControlPanel:
    """The wide frame a protocol's synthetic control is fitted on, and how it was cut.

    `frame` has a `metric_date` column (datetime64) and one column per series: `treated`, then
    `donors`, on the complete dates of the window only (sorted)."""

    frame: pd.DataFrame
    treated: str
    donors: tuple[str, ...]
    donor_kind: str
    scaling: str
    intervention_date: dt.date
    post_end: dt.date
    post_window: str
    n_pre: int
    n_post: int
    n_dropped_incomplete: int
    n_left_out_other_protocol: int
    n_exposed_donor_days: int = 0

    @property
    def notes(self) -> tuple[str, ...]:
        notes = []
        if self.n_dropped_incomplete:
            notes.append(
                f"{self.n_dropped_incomplete} date{'s' if self.n_dropped_incomplete != 1 else ''}"
                " in the window dropped because the treated series or a donor had no value"
            )
        if self.n_left_out_other_protocol:
            n = self.n_left_out_other_protocol
            notes.append(
                f"{n} day{'s' if n != 1 else ''} under another protocol left out of the window"
            )
        if self.n_exposed_donor_days:
            notes.append(_exposed_note(self.n_exposed_donor_days))
        return tuple(notes)


def _exposed_note(n: int) -> str:
    return (
        f"{n} donor-day{'s' if n != 1 else ''} in the window left out because the donor was in "
        "an intervention phase of its own protocol (an exposed donor is no control)"
    )


def _post_end(
    user_rows: pd.DataFrame,
    protocol_id: str | None,
    intervention: pd.Timestamp,
    post_end: Any,
) -> tuple[pd.Timestamp | None, str]:
    """(last post-period day or None for the frame's end, the window's description)."""
    if post_end is not None:
        end = pd.Timestamp(_day(post_end, "post_end"))
        if end < intervention:
            raise InputError(
                f"post_end: {end.date()} is before the intervention date {intervention.date()}",
                field="post_end",
            )
        return end, f"intervention date to post_end ({end.date()})"
    if "phase_label" not in user_rows.columns or "protocol_id" not in user_rows.columns:
        return None, "intervention date to the last date of the data"
    days = (
        user_rows.loc[user_rows[_DATE] >= intervention, [_DATE, "protocol_id", "phase_label"]]
        .drop_duplicates(subset=[_DATE])
        .sort_values(_DATE)
    )
    owners = days["protocol_id"].map(lambda v: str(v) if present(v) else None).to_numpy()
    labels = days["phase_label"].map(lambda v: str(v) if present(v) else None).to_numpy()
    if days.empty or owners[0] != protocol_id or labels[0] is None:
        raise InputError(
            f"first_intervention_date: no observation in the first intervention phase "
            f"(from {intervention.date()})",
            field="first_intervention_date",
        )
    in_phase = (owners == protocol_id) & (labels == labels[0])
    # The phase ends at the first observed day that is not in it.
    n_in = int(np.argmin(in_phase)) if not in_phase.all() else in_phase.size
    end = pd.Timestamp(days[_DATE].iloc[n_in - 1])
    return end, f"first intervention phase ({labels[0]}, {intervention.date()} to {end.date()})"


def synthetic_control_panel(
    protocol_row: Mapping[str, Any],
    daily_metrics: Any,
    *,
    donors: DonorKind | str = "users",
    donor_metrics: Sequence[str] | None = None,
    post_end: dt.date | None = None,
) -> SyntheticControlPanel:
    """The complete-date wide frame, donors and windows of `synthetic_control_for_protocol`
    (module docstring), without fitting anything. Raises InputError naming the field."""
    if donors not in DONOR_KINDS:
        raise InputError(
            f"donors: unknown option {donors!r}; use one of {', '.join(DONOR_KINDS)}",
            field="donors",
        )
    if donor_metrics is not None and donors != "metrics":
        raise InputError(
            'donor_metrics: only used with donors="metrics"; filter the users in '
            "daily_metrics to choose donor users",
            field="donor_metrics",
        )
    for key in ("user_id", "primary_outcome", "first_intervention_date"):
        if not present(protocol_row.get(key)):
            raise InputError(f"{key}: the protocol row has no {key}", field=key)
    user = str(protocol_row["user_id"])
    outcome = str(protocol_row["primary_outcome"])
    raw_protocol_id = protocol_row.get("protocol_id")
    protocol_id = str(raw_protocol_id) if present(raw_protocol_id) else None
    intervention = pd.Timestamp(
        _day(protocol_row["first_intervention_date"], "first_intervention_date")
    )

    frame = _as_frame(daily_metrics, "daily_metrics")
    _require(frame, ("user_id", "metric", _DATE, "value"), "daily_metrics")
    frame = frame.assign(
        user_id=frame["user_id"].map(str),
        metric=frame["metric"].map(str),
        metric_date=_dates(frame[_DATE], _DATE),
        value=_values(frame["value"], "value"),
    )
    _unique_dates(frame, ("user_id", "metric", _DATE), _DATE, "a user's metric")
    user_rows = frame[frame["user_id"] == user]
    if not ((user_rows["metric"] == outcome) & user_rows["value"].notna()).any():
        raise InputError(
            f"primary_outcome: daily_metrics has no {outcome!r} value for user {user}",
            field="primary_outcome",
        )

    # A donor user's days in an intervention phase of its own protocol: missing.
    exposed = pd.Series(False, index=frame.index)
    if donors == "users" and "phase_type" in frame.columns:
        exposed = (
            (frame["user_id"] != user)
            & (frame["metric"] == outcome)
            & frame["phase_type"].isin(INTERVENTION_PHASE_TYPES)
            & frame["value"].notna()
        )
        frame = frame.assign(value=frame["value"].mask(exposed))
    exposed_dates = frame.loc[exposed, _DATE]

    # The user's days under another protocol may carry its intervention: left out.
    other_days: pd.Index = pd.Index([], dtype="datetime64[ns]")
    if "protocol_id" in frame.columns:
        owner = user_rows["protocol_id"].map(lambda v: str(v) if present(v) else None)
        other_days = pd.Index(user_rows.loc[owner.notna() & (owner != protocol_id), _DATE].unique())

    if donors == "users":
        rows = frame[frame["metric"] == outcome]
        wide = rows.pivot(index=_DATE, columns="user_id", values="value")
        treated = user
        donor_names = tuple(sorted(str(c) for c in wide.columns if str(c) != user))
    else:
        wide = user_rows.pivot(index=_DATE, columns="metric", values="value")
        treated = outcome
        available = [str(c) for c in wide.columns if str(c) != outcome]
        if donor_metrics is None:
            donor_names = tuple(sorted(available))
        else:
            if isinstance(donor_metrics, str | bytes):
                raise InputError(
                    "donor_metrics: give a list of metric names, not one string",
                    field="donor_metrics",
                )
            donor_names = tuple(str(name) for name in donor_metrics)
            for name in donor_names:
                if name == outcome:
                    raise InputError(
                        f"donor_metrics: {name!r} is the primary outcome; it cannot be its own "
                        "donor",
                        field="donor_metrics",
                    )
                if name not in available:
                    raise InputError(
                        f"donor_metrics: user {user} has no metric {name!r}; metrics found: "
                        f"{', '.join(available) or 'none'}",
                        field="donor_metrics",
                    )
    if not donor_names:
        source = "no other user has" if donors == "users" else f"user {user} has no metric but"
        raise InputError(f"donors: no donor series ({source} {outcome!r})", field="donors")

    end, post_window = _post_end(user_rows, protocol_id, intervention, post_end)
    wide = wide[[treated, *donor_names]].sort_index()
    in_window = wide.index <= end if end is not None else np.ones(len(wide), dtype=bool)
    elsewhere = wide.index.isin(other_days)
    window = wide[in_window & ~elsewhere]
    complete = window.notna().all(axis=1).to_numpy()
    kept = window[complete]
    n_pre = int((kept.index < intervention).sum())
    n_post = len(kept) - n_pre
    n_exposed = int(exposed_dates.isin(window.index).sum())
    if n_pre < MIN_PRE_POINTS or n_post < 1:
        missing = window.isna().sum().sort_values(ascending=False)
        worst = (
            f"; most often missing: {missing.index[0]} ({int(missing.iloc[0])} dates)"
            if int(missing.iloc[0])
            else ""
        )
        exposure = f" ({_exposed_note(n_exposed)})" if n_exposed else ""
        raise InputError(
            f"{_DATE}: {n_pre} complete dates before the intervention ({intervention.date()}) "
            f"and {n_post} from it on, after dropping {int((~complete).sum())} dates where the "
            f"treated series or a donor had no value{worst}{exposure}; need at least "
            f"{MIN_PRE_POINTS} before and 1 after",
            field=_DATE,
        )
    out = kept.reset_index()
    out.columns = [_DATE, treated, *donor_names]
    return SyntheticControlPanel(
        frame=out,
        treated=treated,
        donors=donor_names,
        donor_kind=str(donors),
        scaling=DEFAULT_SCALING[str(donors)],
        intervention_date=intervention.date(),
        post_end=pd.Timestamp(out[_DATE].iloc[-1]).date(),
        post_window=post_window,
        n_pre=n_pre,
        n_post=n_post,
        n_dropped_incomplete=int((~complete).sum()),
        n_left_out_other_protocol=int((in_window & elsewhere).sum()),
        n_exposed_donor_days=n_exposed,
    )


def _check_sampler_kwargs(sampler_kwargs: Mapping[str, Any]) -> None:
    fixed = sorted(set(sampler_kwargs) & set(_FIXED_ARGUMENTS))
    if fixed:
        raise InputError(
            f"{fixed[0]}: set from the protocol and daily_metrics; it cannot be passed here",
            field=fixed[0],
        )


def synthetic_control_for_protocol(
    protocol_row: Mapping[str, Any],
    daily_metrics: Any,
    *,
    donors: DonorKind | str = "users",
    donor_metrics: Sequence[str] | None = None,
    post_end: dt.date | None = None,
    **sampler_kwargs: Any,
) -> SyntheticControlResult:
    """Bayesian synthetic control of the protocol user's `primary_outcome` (module docstring).

    `donors="users"`: the same metric of the other users in `daily_metrics`;
    `donors="metrics"`: the user's other metrics (`donor_metrics`, default all but the outcome;
    each must be unaffected by the intervention). `**sampler_kwargs` go to
    `stats.synthetic_control.synthetic_control` (`seed`, `draws`, `tune`, `chains`,
    `target_accept`, `init`, `scaling`). The dates dropped and the post window are reported in
    the result's `warnings` and `interpretation`. Raises InputError naming the field."""
    _check_sampler_kwargs(sampler_kwargs)
    panel = synthetic_control_panel(
        protocol_row,
        daily_metrics,
        donors=donors,
        donor_metrics=donor_metrics,
        post_end=post_end,
    )
    return synthetic_control_on_panel(panel, **sampler_kwargs)


def synthetic_control_on_panel(
    panel: SyntheticControlPanel, **sampler_kwargs: Any
) -> SyntheticControlResult:
    """The synthetic control fitted on a panel of `synthetic_control_panel`, with the panel's
    scaling unless `scaling` is given; its notes and post window join the result's `warnings`
    and `interpretation`. `**sampler_kwargs` as in `synthetic_control_for_protocol`."""
    _check_sampler_kwargs(sampler_kwargs)
    options = {"scaling": panel.scaling, **sampler_kwargs}
    result = synthetic_control(
        panel.frame,
        date_column=_DATE,
        treated=panel.treated,
        donors=list(panel.donors),
        intervention_date=panel.intervention_date,
        **options,
    )
    donor_words = "other users" if panel.donor_kind == "users" else "the user's other metrics"
    return replace(
        result,
        warnings=(*result.warnings, *panel.notes),
        interpretation=(
            f"{result.interpretation} Donors: {donor_words}. Post period: {panel.post_window}."
        ),
    )


# ----------------------------------------------------------------------------- wearable links


@dataclass(frozen=True)
class GrangerWindow:
    """The run of consecutive complete days one predictor's Granger test used."""

    predictor: str
    start: dt.date
    end: dt.date
    n_days: int

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "nDays": self.n_days}


@dataclass(frozen=True)
class WearableLinks:
    """Lagged correlations and Granger tests between wearable measures and one outcome."""

    user_id: str
    outcome: str
    lagged: LaggedCorrelationResult
    granger: tuple[GrangerResult, ...]
    granger_windows: tuple[GrangerWindow, ...]
    start: dt.date
    end: dt.date
    n_days: int

    def to_json(self) -> dict[str, Any]:
        return {
            "lagged": self.lagged.to_json(),
            "granger": {result.cause: result.to_json() for result in self.granger},
            "grangerWindows": {w.predictor: w.to_json() for w in self.granger_windows},
            "userId": self.user_id,
            "outcome": self.outcome,
            "calendar": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "nDays": self.n_days,
            },
        }


def _longest_run(complete: np.ndarray) -> tuple[int, int]:
    """(start, stop) of the longest run of True (the earliest of equal runs); (0, 0) if none."""
    padded = np.concatenate(([False], complete, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    if starts.size == 0:
        return 0, 0
    best = int(np.argmax(stops - starts))
    return int(starts[best]), int(stops[best])


def wearable_outcome_links(
    wearable_daily: Any,
    daily_metrics: Any,
    *,
    user_id: Any,
    outcome: str = "engagement_score",
    predictors: Sequence[str] = DEFAULT_PREDICTORS,
    max_lag: int = 3,
    lags: Sequence[int] = (0, 1, 2),
    method: str = "spearman",
    correction: str = "fdr_bh",
) -> WearableLinks:
    """Lagged correlations (predictor on day t - lag vs outcome on day t, `correction`-adjusted
    over all pairs) and Granger tests (BIC lag selection up to `max_lag`) of each wearable
    `predictor` against the user's daily `outcome` (module docstring for the alignment).
    Raises InputError naming the field."""
    if isinstance(predictors, str) or len(predictors) == 0:
        raise InputError("predictors: give a list of one or more column names", field="predictors")
    predictors = [str(name) for name in predictors]
    if outcome in predictors:
        raise InputError(f"predictors: {outcome!r} is the outcome", field="predictors")
    user = str(user_id)

    wearables = _as_frame(wearable_daily, "wearable_daily")
    _require(wearables, ("user_id", "wearable_date", *predictors), "wearable_daily")
    wearables = wearables[wearables["user_id"].map(str) == user]
    wearables = wearables.assign(wearable_date=_dates(wearables["wearable_date"], "wearable_date"))
    _unique_dates(wearables, ("wearable_date",), "wearable_date", f"user {user}'s wearable data")
    wearable_values = pd.DataFrame(
        {name: _values(wearables[name], name) for name in predictors},
        index=pd.DatetimeIndex(wearables["wearable_date"]),
    )

    metrics = _as_frame(daily_metrics, "daily_metrics")
    _require(metrics, ("user_id", "metric", _DATE, "value"), "daily_metrics")
    metrics = metrics[
        (metrics["user_id"].map(str) == user) & (metrics["metric"].map(str) == outcome)
    ]
    metrics = metrics.assign(metric_date=_dates(metrics[_DATE], _DATE))
    _unique_dates(metrics, (_DATE,), _DATE, f"user {user}'s {outcome}")
    outcome_values = pd.Series(
        _values(metrics["value"], "value"), index=pd.DatetimeIndex(metrics[_DATE])
    )

    if wearable_values.dropna(how="all").empty:
        raise InputError(
            f"wearable_daily: no wearable values for user {user}", field="wearable_daily"
        )
    if outcome_values.dropna().empty:
        raise InputError(
            f"outcome: daily_metrics has no {outcome!r} value for user {user}", field="outcome"
        )
    # One calendar index: a lag is a number of days, never rows skipping a gap.
    first = min(wearable_values.index.min(), outcome_values.index.min())
    last = max(wearable_values.index.max(), outcome_values.index.max())
    calendar = pd.date_range(first, last, freq="D")
    aligned = wearable_values.reindex(calendar)
    aligned[outcome] = outcome_values.reindex(calendar)
    columns = {name: aligned[name].to_numpy() for name in aligned.columns}

    lagged = lagged_correlations(
        columns,
        predictors=predictors,
        outcome=outcome,
        lags=lags,
        method=method,
        correction=correction,
    )

    needed = 3 * int(max_lag) + 2 if isinstance(max_lag, int) and max_lag >= 1 else 0
    granger: list[GrangerResult] = []
    windows: list[GrangerWindow] = []
    for name in predictors:
        complete = np.isfinite(columns[name]) & np.isfinite(columns[outcome])
        start, stop = _longest_run(complete)
        if stop - start < needed:
            raise InputError(
                f"{name}: the longest run of consecutive days with both {name} and {outcome} is "
                f"{stop - start} days; Granger with max_lag {max_lag} needs at least {needed}",
                field=name,
            )
        result = granger_causality(
            {name: columns[name][start:stop], outcome: columns[outcome][start:stop]},
            cause=name,
            effect=outcome,
            max_lag=max_lag,
        )
        granger.append(result)
        windows.append(
            GrangerWindow(name, calendar[start].date(), calendar[stop - 1].date(), stop - start)
        )

    return WearableLinks(
        user_id=user,
        outcome=outcome,
        lagged=lagged,
        granger=tuple(granger),
        granger_windows=tuple(windows),
        start=calendar[0].date(),
        end=calendar[-1].date(),
        n_days=len(calendar),
    )
