"""A protocol's Bayesian interrupted time series (ITS), on its user's daily series.

Pure: a protocol row (a mapping with the columns of `marts.protocols`) and the user's daily
series of the primary outcome (a pandas or polars frame, or a mapping of columns, with the
columns of `marts.daily_metrics`: `metric_date`, `value`, `protocol_id`, `phase_label`,
`phase_type`) go in; `ProtocolITS` comes out, with `to_json()` and `to_rows()` (the row of
`analyses.its_effects`). Nothing is read or written here. Bad or insufficient data never raises:
the result says `status="skipped"` and why, in the words of the `InputError` that stopped it.

The windows
-----------
Intervention date: `first_intervention_date` of `marts.protocols`, the first day of the
protocol's first intervention phase; it belongs to the post period (as in
`americano_pipelines.stats.its`).

Pre-period: every day of the user's series before the intervention date, the run-in before the
protocol included, except days that belong to another protocol (they may carry its
intervention; they are left out and counted). A pre-registered window (`prePeriodDays` in the
analysis plan, or the run's `pre_period_days`) keeps only that many calendar days before the
intervention.

Post period (`post_window`):

- "first_phase" (the default): the protocol's first intervention phase only, from the
  intervention date up to the first observed day in another phase. An ABAB design reverses to
  baseline afterwards; a post period running on through the reversals would average B and A days
  and the ITS counterfactual (a forecast of the baseline) would no longer describe one change.
  So the ITS estimates the first A-to-B change over the first B phase; the randomization test is
  the analysis that uses every phase change.
- "protocol_end": every day of the protocol from the intervention date to its scheduled end
  (`schedule_end_date`, else `end_date`), reversals included; the interpretation says so.

Options
-------
`its_options(protocol_row, **overrides)`: the defaults (those of `americano analyze its`:
no seasonality, independent errors, vague effect prior; sampler draws=1000, tune=1000,
chains=2, the ESS >= 400 the convergence check asks for), then the registered settings of the
protocol's `its` analysis (`protocol_analyses.inputs.analysis_plan_of`: its `analyses:` list,
or without one the ITS keys of its analysis plan, `prePeriodDays`, `postWindow`, `seasonality`,
`ar1`, `effectPriorMean`, `effectPriorSd`, `seed`, at the top level or under `"its"`), then the
overrides that are not None (a run's configuration). Sampler settings are checked by
`stats.sampler.check_sampler_settings`. A protocol whose registered analyses do not include the
ITS gets an `exploratory` result.

Convergence
-----------
`convergence_check`: passes when the worst R-hat is below 1.01 and the smallest bulk and tail
ESS are at least 400 (Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, "Rank-normalization,
folding, and localization: an improved R-hat", Bayesian Analysis 16(2): R-hat < 1.01 and
ESS > 400 for 4 chains; ArviZ's `rhat`/`ess` compute them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import (
    Protocol,
    Status,
    analysis_plan_of,
    as_date,
    column,
    has_column,
    present,
    text_or_none,
)
from americano_pipelines.registration.analyses import ITS, POST_WINDOWS, is_registered
from americano_pipelines.registration.vocabulary import INTERVENTION_PHASE_TYPES
from americano_pipelines.stats.its import (
    FITS,
    SEASONALITIES,
    CausalEffect,
    ITSModelCache,
    ITSResult,
    bayesian_its,
)
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    ESS_WARNING,
    RHAT_WARNING,
    check_sampler_settings,
)

__all__ = [
    "ESS_MIN",
    "POST_WINDOWS",
    "RHAT_MAX",
    "ConvergenceCheck",
    "ITSOptions",
    "ITSWindow",
    "ProtocolITS",
    "convergence_check",
    "convergence_columns",
    "effect_columns",
    "its_for_protocol",
    "its_options",
    "its_window",
]

RHAT_MAX = RHAT_WARNING
"""R-hat at or above this fails the convergence check (Vehtari et al. 2021)."""
ESS_MIN = ESS_WARNING
"""Bulk or tail ESS below this fails the convergence check (Vehtari et al. 2021)."""


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ITSOptions:
    """Model, window and sampler settings of one protocol's ITS."""

    draws: int = DEFAULT_DRAWS
    tune: int = DEFAULT_TUNE
    chains: int = DEFAULT_CHAINS
    seed: int = 0
    sampler: str = "auto"
    seasonality: str = "none"
    ar1: bool = False
    fit: str | None = None  # None: bayesian_its picks (joint with an effect prior)
    pre_period_days: int | None = None
    post_window: str = "first_phase"
    effect_prior_mean: float | None = None
    effect_prior_sd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
            "sampler": self.sampler,
            "seasonality": self.seasonality,
            "ar1": self.ar1,
            "fit": self.fit,
            "prePeriodDays": self.pre_period_days,
            "postWindow": self.post_window,
            "effectPriorMean": self.effect_prior_mean,
            "effectPriorSd": self.effect_prior_sd,
        }


_OPTION_NAMES = frozenset(f.name for f in fields(ITSOptions))


def _checked(options: ITSOptions) -> ITSOptions:
    """Window, model and sampler options (the prior is checked by bayesian_its)."""
    if options.post_window not in POST_WINDOWS:
        raise InputError(
            f"post_window: unknown option {options.post_window!r}; use one of "
            f"{', '.join(POST_WINDOWS)}",
            field="post_window",
        )
    if options.seasonality not in SEASONALITIES:
        raise InputError(
            f"seasonality: unknown option {options.seasonality!r}; use one of "
            f"{', '.join(SEASONALITIES)}",
            field="seasonality",
        )
    check_sampler_settings(
        seed=options.seed,
        draws=options.draws,
        tune=options.tune,
        chains=options.chains,
        sampler=options.sampler,
    )
    if not isinstance(options.ar1, bool):
        raise InputError("ar1: must be true or false", field="ar1")
    if options.fit is not None and options.fit not in FITS:
        raise InputError(
            f"fit: unknown option {options.fit!r}; use one of {', '.join(FITS)}", field="fit"
        )
    return options


def its_options(protocol_row: Mapping[str, Any], **overrides: Any) -> ITSOptions:
    """Defaults, then the analysis plan's ITS keys, then `overrides` that are not None.

    Raises InputError for an unknown override name, an unreadable plan or an invalid option."""
    unknown = sorted(set(overrides) - _OPTION_NAMES)
    if unknown:
        raise InputError(f"{unknown[0]}: not an ITS option", field=unknown[0])
    values = dict(analysis_plan_of(protocol_row).its)
    values.update({key: value for key, value in overrides.items() if value is not None})
    return _checked(replace(ITSOptions(), **values))


# ----------------------------------------------------------------------------- convergence


@dataclass(frozen=True)
class ConvergenceCheck:
    """Whether the posterior may be trusted: worst R-hat and smallest ESS against thresholds."""

    passed: bool
    rhat: float | None
    ess_bulk: float | None
    ess_tail: float | None
    rhat_max: float = RHAT_MAX
    ess_min: float = ESS_MIN
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rhat": self.rhat,
            "essBulk": self.ess_bulk,
            "essTail": self.ess_tail,
            "rhatMax": self.rhat_max,
            "essMin": self.ess_min,
            "reasons": list(self.reasons),
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def convergence_check(
    rhat: float | None,
    ess_bulk: float | None,
    ess_tail: float | None,
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
) -> ConvergenceCheck:
    """Fails when the worst R-hat is >= `rhat_max`, the smallest bulk or tail ESS is below
    `ess_min`, or a figure could not be computed (None or NaN)."""
    rhat, ess_bulk, ess_tail = _finite(rhat), _finite(ess_bulk), _finite(ess_tail)
    reasons: list[str] = []
    if rhat is None:
        reasons.append("r-hat could not be computed")
    elif rhat >= rhat_max:
        reasons.append(f"r-hat {rhat:.4f} >= {rhat_max}")
    for name, ess in (("bulk", ess_bulk), ("tail", ess_tail)):
        if ess is None:
            reasons.append(f"{name} ESS could not be computed")
        elif ess < ess_min:
            reasons.append(f"{name} ESS {ess:.0f} < {ess_min:g}")
    return ConvergenceCheck(
        passed=not reasons,
        rhat=rhat,
        ess_bulk=ess_bulk,
        ess_tail=ess_tail,
        rhat_max=rhat_max,
        ess_min=ess_min,
        reasons=tuple(reasons),
    )


def effect_columns(effect: CausalEffect | None) -> dict[str, Any]:
    """A causal effect's columns of a result row (`its_effects`, `synthetic_control`)."""
    return {
        "effect_mean": None if effect is None else effect.mean,
        "effect_sd": None if effect is None else effect.sd,
        "effect_hdi95_low": None if effect is None else effect.hdi95[0],
        "effect_hdi95_high": None if effect is None else effect.hdi95[1],
        "probability_positive": None if effect is None else effect.probability_positive,
    }


def convergence_columns(check: ConvergenceCheck | None, divergences: int | None) -> dict[str, Any]:
    """A posterior's convergence columns of a result row (`its_effects`,
    `synthetic_control`)."""
    return {
        "rhat": None if check is None else check.rhat,
        "ess_bulk": None if check is None else check.ess_bulk,
        "ess_tail": None if check is None else check.ess_tail,
        "divergences": divergences,
        "converged": None if check is None else check.passed,
    }


# ----------------------------------------------------------------------------- windows


def _column(frame: Any, name: str) -> list[Any]:
    if not has_column(frame, name):
        raise InputError(f"{name}: the daily series has no {name} column", field=name)
    return column(frame, name)


def _optional_column(frame: Any, name: str, n: int) -> list[Any]:
    return column(frame, name) if has_column(frame, name) else [None] * n


@dataclass(frozen=True)
class ITSWindow:
    """The days the ITS uses: the pre-period then the post period, in date order."""

    intervention_date: date
    post_window: str
    post_phase_label: str | None
    post_end_date: date
    dates: tuple[date, ...]
    values: tuple[float, ...]
    n_left_out: int
    notes: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """What the post period is, in words (for the interpretation and the metadata)."""
        if self.post_window == "first_phase":
            return (
                f"The ITS estimates the first change from baseline to intervention: the post "
                f"period is the first intervention phase ({self.post_phase_label}, "
                f"{self.intervention_date} to {self.post_end_date}); the protocol's later phases "
                "(reversals) are left out, and the randomization test is the analysis that "
                "uses them."
            )
        return (
            f"The post period runs from the first intervention ({self.intervention_date}) to "
            f"the protocol's end ({self.post_end_date}) and includes any later reversals to "
            "baseline, so the effect averages intervention and reversal days."
        )


def its_window(
    protocol_row: Mapping[str, Any], daily_series: Any, *, post_window: str = "first_phase"
) -> ITSWindow:
    """The protocol's pre-period and post period in the user's daily series (module docstring).

    Raises InputError naming the field when there is no intervention date, no value, or no
    post-period day."""
    if post_window not in POST_WINDOWS:
        raise InputError(
            f"post_window: unknown option {post_window!r}; use one of {', '.join(POST_WINDOWS)}",
            field="post_window",
        )
    protocol_id = str(protocol_row["protocol_id"])
    raw_intervention = protocol_row.get("first_intervention_date")
    if not present(raw_intervention):
        raise InputError(
            "first_intervention_date: the protocol has no intervention phase, so there is no "
            "intervention date",
            field="first_intervention_date",
        )
    intervention = as_date(raw_intervention, "first_intervention_date")
    raw_dates = _column(daily_series, "metric_date")
    raw_values = _column(daily_series, "value")
    n = len(raw_dates)
    owners = [text_or_none(v) for v in _optional_column(daily_series, "protocol_id", n)]
    labels = [text_or_none(v) for v in _optional_column(daily_series, "phase_label", n)]
    types = [text_or_none(v) for v in _optional_column(daily_series, "phase_type", n)]
    days = [as_date(value, "metric_date") for value in raw_dates]
    rows = sorted((i for i in range(n) if present(raw_values[i])), key=lambda i: (days[i], i))

    pre = [i for i in rows if days[i] < intervention and owners[i] in (None, protocol_id)]
    elsewhere = sum(
        1 for i in rows if days[i] < intervention and owners[i] not in (None, protocol_id)
    )
    notes: list[str] = []
    if elsewhere:
        notes.append(
            f"{elsewhere} day{'s' if elsewhere != 1 else ''} under another protocol before the "
            "intervention left out of the pre-period"
        )
    after = [i for i in rows if days[i] >= intervention]
    label: str | None = None
    if post_window == "first_phase":
        # The first observed day from the intervention date on opens the first intervention
        # phase; when it is in another phase, that phase had no observation at all.
        first = after[0] if after else None
        if (
            first is None
            or owners[first] != protocol_id
            or types[first] not in INTERVENTION_PHASE_TYPES
        ):
            raise InputError(
                f"first_intervention_date: no observation in the first intervention phase "
                f"(from {intervention})",
                field="first_intervention_date",
            )
        label = labels[first]
        post: list[int] = []
        for i in after:
            if owners[i] != protocol_id or labels[i] != label:
                break
            post.append(i)
    else:
        end = protocol_row.get("schedule_end_date")
        end = end if present(end) else protocol_row.get("end_date")
        last = as_date(end, "schedule_end_date") if present(end) else None
        post = [i for i in after if owners[i] == protocol_id and (last is None or days[i] <= last)]
        if not post:
            raise InputError(
                f"first_intervention_date: no observation of the protocol from {intervention}",
                field="first_intervention_date",
            )
    kept = pre + post
    return ITSWindow(
        intervention_date=intervention,
        post_window=post_window,
        post_phase_label=label,
        post_end_date=days[post[-1]],
        dates=tuple(days[i] for i in kept),
        values=tuple(float(raw_values[i]) for i in kept),
        n_left_out=len(rows) - len(kept),
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class ProtocolITS:
    """The Bayesian ITS of one protocol's first intervention, or why it was skipped."""

    protocol_id: str
    status: Status
    options: ITSOptions
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    window: ITSWindow | None = None
    result: ITSResult | None = field(default=None, repr=False)
    convergence: ConvergenceCheck | None = None
    exploratory: bool = False

    @property
    def n_excluded(self) -> int:
        """Days of the user's series not used: outside the windows, or cut by a window length."""
        left_out = 0 if self.window is None else self.window.n_left_out
        return left_out + (0 if self.result is None else self.result.n_excluded)

    @property
    def pre_start_date(self) -> date | None:
        if self.result is None or not self.result.counterfactual.dates:
            return None
        return date.fromisoformat(self.result.counterfactual.dates[0])

    @property
    def interpretation(self) -> str | None:
        if self.result is None:
            return None
        return (
            f"{self.result.interpretation} {self.window.description if self.window else ''}".strip()
        )

    @property
    def notes(self) -> tuple[str, ...]:
        window_notes = () if self.window is None else self.window.notes
        result_notes = () if self.result is None else self.result.warnings
        return (*window_notes, *result_notes)

    def to_json(self) -> dict[str, Any]:
        window = self.window
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "metric": self.metric,
            "interventionDate": None if window is None else window.intervention_date.isoformat(),
            "postWindow": None
            if window is None
            else {
                "kind": window.post_window,
                "phaseLabel": window.post_phase_label,
                "start": window.intervention_date.isoformat(),
                "end": window.post_end_date.isoformat(),
                "description": window.description,
            },
            "nExcluded": self.n_excluded,
            "options": self.options.to_json(),
            "result": None if self.result is None else self.result.to_json(),
            "convergence": None if self.convergence is None else self.convergence.to_json(),
            "interpretation": self.interpretation,
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    analysis_type: ClassVar[str] = "bayesian_its"
    title: ClassVar[str] = "Bayesian ITS"

    def params(self) -> dict[str, Any]:
        """Model, window and sampler settings (its run's input parameters besides the
        protocol's)."""
        window = self.window
        return {
            **self.options.to_json(),
            "interventionDate": None if window is None else window.intervention_date,
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        """The causal effect, its convergence diagnostics and what the post period is (its
        run's results summary)."""
        its, window = self.result, self.window
        return {
            "status": self.status,
            "reason": self.reason,
            "causalEffect": None if its is None else its.causal_effect.to_json(),
            "diagnostics": None if its is None else its.diagnostics.to_json(),
            "converged": None if self.convergence is None else self.convergence.passed,
            "interventionDate": None if window is None else window.intervention_date,
            "postWindow": None if window is None else window.post_window,
            "postPhaseLabel": None if window is None else window.post_phase_label,
            "postEndDate": None if window is None else window.post_end_date,
            "nPre": None if its is None else its.n_pre,
            "nPost": None if its is None else its.n_post,
        }

    def to_rows(self, *, posterior_path: str | None = None) -> list[dict[str, Any]]:
        """One row for `analyses.its_effects` (without data_version/computed_at)."""
        result, window, check = self.result, self.window, self.convergence
        effect = None if result is None else result.causal_effect
        diagnostics = None if result is None else result.diagnostics
        options = self.options
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "metric": self.metric,
                "status": self.status,
                "skip_reason": self.reason,
                "intervention_date": None if window is None else window.intervention_date,
                "post_window": options.post_window,
                "post_phase_label": None if window is None else window.post_phase_label,
                "pre_start_date": self.pre_start_date,
                "post_end_date": None if window is None else window.post_end_date,
                "n_pre": None if result is None else result.n_pre,
                "n_post": None if result is None else result.n_post,
                "n_excluded": None if result is None else self.n_excluded,
                **effect_columns(effect),
                **convergence_columns(
                    check, None if diagnostics is None else diagnostics.divergences
                ),
                "seasonality": options.seasonality,
                "ar1": options.ar1,
                "fit": None if result is None else result.fit,
                "effect_prior_mean": None if result is None else result.effect_prior_mean,
                "effect_prior_sd": None if result is None else result.effect_prior_sd,
                "sampler": None if result is None else result.sampler,
                "draws": options.draws,
                "tune": options.tune,
                "chains": options.chains,
                "seed": options.seed,
                "posterior_path": posterior_path if result is not None else None,
                "interpretation": self.interpretation,
                "result_json": json.dumps(self.to_json(), allow_nan=False),
            }
        ]


def its_for_protocol(
    protocol_row: Mapping[str, Any],
    daily_series: Any,
    *,
    options: ITSOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_cache: ITSModelCache | None = None,
) -> ProtocolITS:
    """`bayesian_its` of the protocol's primary outcome around its first intervention date,
    over the windows of the module docstring. Skipped (never raised) when the protocol, its
    plan or the data do not allow it; `options` default to
    `its_options(protocol_row, **overrides)`."""
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "metric": identity.primary_outcome,
        "exploratory": not is_registered(protocol_row, ITS),
    }
    window: ITSWindow | None = None
    try:
        if options is None:
            options = its_options(protocol_row, **dict(overrides or {}))
    except InputError as error:
        return ProtocolITS(status="skipped", reason=str(error), options=ITSOptions(), **base)
    try:
        window = its_window(protocol_row, daily_series, post_window=options.post_window)
        result = bayesian_its(
            [day.isoformat() for day in window.dates],
            window.values,
            intervention_date=window.intervention_date,
            pre_period_days=options.pre_period_days,
            seasonality=options.seasonality,
            ar1=options.ar1,
            fit=options.fit,
            effect_prior_mean=options.effect_prior_mean,
            effect_prior_sd=options.effect_prior_sd,
            seed=options.seed,
            draws=options.draws,
            tune=options.tune,
            chains=options.chains,
            sampler=options.sampler,
            model_cache=model_cache,
        )
    except InputError as error:
        return ProtocolITS(
            status="skipped", reason=str(error), options=options, window=window, **base
        )
    diagnostics = result.diagnostics
    return ProtocolITS(
        status="ok",
        options=options,
        window=window,
        result=result,
        convergence=convergence_check(diagnostics.rhat, diagnostics.ess_bulk, diagnostics.ess_tail),
        **base,
    )
