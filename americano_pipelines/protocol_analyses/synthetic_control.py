"""A protocol's Bayesian synthetic control: its primary outcome against a weighted sum of donors.

Pure: a protocol row (a mapping with the columns of `marts.protocols`) and the daily metrics the
fit may draw donors from (a frame with the columns of `marts.daily_metrics`: every user's
series of the primary outcome, and the protocol user's other metrics; `tables.donor_pool` reads
them) go in; `ProtocolSyntheticControl` comes out, with `to_json()` and `to_rows()` (the row of
`analyses.synthetic_control`). Nothing is read or written here. Bad or insufficient data never
raises: the result says `status="skipped"` and why, in the words of the `InputError` that
stopped it.

The panel, the windows and the model are those of `causal_tools.synthetic_control_panel` and
`stats.synthetic_control`: the treated series is the user's primary outcome; the donors are the
same metric of every other user (`donors="users"`, the default; a donor's days in an
intervention phase of its own protocol are left out, since an exposed donor is no control) or
the user's other metrics (`donors="metrics"`, optionally only `donor_metrics`); the
intervention date is `first_intervention_date`, and the post period is the first intervention
phase, as in the ITS. The causal effect is the mean over the post period of observed minus
synthetic control.

When it is skipped
------------------
- A post period of fewer than 3 complete dates (every donor observed and unexposed): fewer
  points than the What Works Clearinghouse asks of any phase
  (`stats.sced_standards.POINTS_PER_PHASE_RESERVATIONS`) say nothing about the phase.
- A poor pre-period fit, a root mean square error above half the treated series' pre-period SD
  (`stats.synthetic_control.POOR_FIT_RATIO`: the weighted donors explain less than 75% of its
  variance). A synthetic control that does not track the outcome before the intervention is no
  counterfactual after it (Abadie 2021, "Using Synthetic Controls", Journal of Economic
  Literature 59(2), 391-425: do not use one without a good pre-intervention fit); its causal
  effect would be the donors' own noise, with a posterior that, leaving the observation noise
  out, looks precise. The fit is kept (weights, pre-period RMSE, the plot, `result_json`) so
  the skip can be seen; the effect is not reported.

Options
-------
`synthetic_control_options(protocol_row, **overrides)`: the defaults (those of
`americano analyze synthetic-control`: seed 0, draws=1000, tune=1000, chains=2; the donor
kind's scaling, `treated_sd` for users and `zscore` for metrics), then the settings of the
protocol's registered `synthetic_control` (`registration.analyses`: `donors`, `donorMetrics`,
`scaling`, `seed`), then the overrides that are not None (a run's configuration). The
convergence figures are the ITS's (`its.convergence_check`: R-hat < 1.01, bulk and tail
ESS >= 400). A protocol whose registered analyses do not include the synthetic control gets an
`exploratory` result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.causal_tools import (
    SyntheticControlPanel,
    synthetic_control_on_panel,
    synthetic_control_panel,
)
from americano_pipelines.protocol_analyses.inputs import Protocol, Status, option_overrides
from americano_pipelines.protocol_analyses.its import (
    ConvergenceCheck,
    convergence_check,
    convergence_columns,
    effect_columns,
)
from americano_pipelines.registration.analyses import (
    DONOR_KINDS,
    SYNTHETIC_CONTROL,
    is_registered,
    registered_analyses,
)
from americano_pipelines.stats.its import CausalEffect
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    check_sampler_settings,
)
from americano_pipelines.stats.sced_standards import POINTS_PER_PHASE_RESERVATIONS
from americano_pipelines.stats.synthetic_control import (
    POOR_FIT_RATIO,
    SCALINGS,
    SyntheticControlResult,
)

__all__ = [
    "MIN_POST_POINTS",
    "ProtocolSyntheticControl",
    "SyntheticControlOptions",
    "protocol_synthetic_control",
    "synthetic_control_options",
]


MIN_POST_POINTS = POINTS_PER_PHASE_RESERVATIONS
"""Fewer complete post-period dates than this and the synthetic control is skipped."""

# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SyntheticControlOptions:
    """Donors, scaling and sampler settings of one protocol's synthetic control. `scaling`
    None: the donor kind's (`treated_sd` for users, `zscore` for metrics)."""

    donors: str = "users"
    donor_metrics: tuple[str, ...] | None = None
    scaling: str | None = None
    seed: int = 0
    draws: int = DEFAULT_DRAWS
    tune: int = DEFAULT_TUNE
    chains: int = DEFAULT_CHAINS

    def to_json(self) -> dict[str, Any]:
        return {
            "donors": self.donors,
            "donorMetrics": None if self.donor_metrics is None else list(self.donor_metrics),
            "scaling": self.scaling,
            "seed": self.seed,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
        }


_OPTION_NAMES = frozenset(f.name for f in fields(SyntheticControlOptions))


def synthetic_control_options(
    protocol_row: Mapping[str, Any], **overrides: Any
) -> SyntheticControlOptions:
    """Defaults, then the protocol's registered settings, then `overrides` that are not None.

    Raises InputError for an unknown override name, an unreadable list of analyses or an
    invalid option."""
    registered = registered_analyses(protocol_row).get(SYNTHETIC_CONTROL)
    values = {} if registered is None else registered.settings()
    values.update(option_overrides(overrides, _OPTION_NAMES, "a synthetic control"))
    if "donor_metrics" in values:
        metrics = values["donor_metrics"]
        if isinstance(metrics, str | bytes):
            raise InputError(
                "donor_metrics: give a list of metric names, not one string", field="donor_metrics"
            )
        values["donor_metrics"] = tuple(str(name) for name in metrics)
    options = replace(SyntheticControlOptions(), **values)
    if options.donors not in DONOR_KINDS:
        raise InputError(
            f"donors: unknown option {options.donors!r}; use one of {', '.join(DONOR_KINDS)}",
            field="donors",
        )
    if options.scaling is not None and options.scaling not in SCALINGS:
        raise InputError(
            f"scaling: unknown option {options.scaling!r}; use one of {', '.join(SCALINGS)}",
            field="scaling",
        )
    check_sampler_settings(
        seed=options.seed, draws=options.draws, tune=options.tune, chains=options.chains
    )
    return options


# ----------------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class ProtocolSyntheticControl:
    """The synthetic control of one protocol's first intervention, or why it was skipped."""

    protocol_id: str
    status: Status
    options: SyntheticControlOptions
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    panel: SyntheticControlPanel | None = field(default=None, repr=False, compare=False)
    result: SyntheticControlResult | None = field(default=None, repr=False)
    convergence: ConvergenceCheck | None = None
    exploratory: bool = False

    analysis_type: ClassVar[str] = "synthetic_control"
    title: ClassVar[str] = "Synthetic control"

    @property
    def notes(self) -> tuple[str, ...]:
        """The fit's warnings, the panel's notes (dates dropped, exposed donor-days) among
        them."""
        return () if self.result is None else self.result.warnings

    @property
    def effect(self) -> CausalEffect | None:
        """The causal effect: only when the synthetic control is fit to be one's
        counterfactual (status ok)."""
        return None if self.result is None or self.status != "ok" else self.result.causal_effect

    @property
    def interpretation(self) -> str | None:
        return None if self.effect is None else self.result.interpretation

    @property
    def pre_start_date(self) -> date | None:
        if self.result is None or not self.result.counterfactual.dates:
            return None
        return date.fromisoformat(self.result.counterfactual.dates[0])

    def _window(self) -> dict[str, Any]:
        panel = self.panel
        return {
            "donorNames": None if panel is None else list(panel.donors),
            "interventionDate": None if panel is None else panel.intervention_date,
            "postEndDate": None if panel is None else panel.post_end,
            "postWindow": None if panel is None else panel.post_window,
        }

    def to_json(self) -> dict[str, Any]:
        panel = self.panel
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "metric": self.metric,
            **{
                key: value.isoformat() if isinstance(value, date) else value
                for key, value in self._window().items()
            },
            "nDroppedIncomplete": None if panel is None else panel.n_dropped_incomplete,
            "nExposedDonorDays": None if panel is None else panel.n_exposed_donor_days,
            "options": self.options.to_json(),
            "result": None if self.result is None else self.result.to_json(),
            "convergence": None if self.convergence is None else self.convergence.to_json(),
            "interpretation": self.interpretation,
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    def params(self) -> dict[str, Any]:
        """Donors, scaling, window and sampler settings (its run's input parameters besides
        the protocol's)."""
        result = self.result
        return {
            **self.options.to_json(),
            "scaling": self.options.scaling if result is None else result.scaling,
            **self._window(),
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        """The causal effect, the donor weights, the pre-period fit and the convergence
        diagnostics (its run's results summary)."""
        result = self.result
        return {
            "status": self.status,
            "reason": self.reason,
            "causalEffect": None if self.effect is None else self.effect.to_json(),
            "donorWeights": None
            if result is None
            else {weight.donor: weight.mean for weight in result.donor_weights},
            "preFitRmse": None if result is None else result.pre_fit_rmse,
            "preFitRmseToSd": None if result is None else result.pre_fit_rmse_to_sd,
            "diagnostics": None if result is None else result.diagnostics.to_json(),
            "converged": None if self.convergence is None else self.convergence.passed,
            "nPre": None if result is None else result.n_pre,
            "nPost": None if result is None else result.n_post,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row for `analyses.synthetic_control` (without data_version/computed_at)."""
        result, panel, check = self.result, self.panel, self.convergence
        effect = self.effect
        diagnostics = None if result is None else result.diagnostics
        options = self.options
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "metric": self.metric,
                "status": self.status,
                "skip_reason": self.reason,
                "donor_kind": options.donors,
                "donors": None if panel is None else ",".join(panel.donors),
                "n_donors": None if panel is None else len(panel.donors),
                "scaling": None if result is None else result.scaling,
                "intervention_date": None if panel is None else panel.intervention_date,
                "pre_start_date": self.pre_start_date,
                "post_end_date": None if panel is None else panel.post_end,
                "post_window": None if panel is None else panel.post_window,
                "n_pre": None if result is None else result.n_pre,
                "n_post": None if result is None else result.n_post,
                "n_dropped_incomplete": None if panel is None else panel.n_dropped_incomplete,
                "n_exposed_donor_days": None if panel is None else panel.n_exposed_donor_days,
                **effect_columns(effect),
                "pre_fit_rmse": None if result is None else result.pre_fit_rmse,
                "pre_fit_rmse_to_sd": None if result is None else result.pre_fit_rmse_to_sd,
                "convex_hull_violations": None if result is None else result.hull_violations,
                "donor_weights": None
                if result is None
                else json.dumps({w.donor: w.mean for w in result.donor_weights}),
                **convergence_columns(
                    check, None if diagnostics is None else diagnostics.divergences
                ),
                "draws": options.draws,
                "tune": options.tune,
                "chains": options.chains,
                "seed": options.seed,
                "interpretation": self.interpretation,
                "notes": "; ".join(self.notes) or None,
                "result_json": json.dumps(self.to_json(), allow_nan=False),
            }
        ]


def protocol_synthetic_control(
    protocol_row: Mapping[str, Any],
    donor_pool: Any,
    *,
    options: SyntheticControlOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ProtocolSyntheticControl:
    """The synthetic control of the protocol's primary outcome at its first intervention date,
    donors drawn from `donor_pool` (module docstring). Skipped (never raised) when the protocol,
    the options or the data do not allow it; `options` default to
    `synthetic_control_options(protocol_row, **overrides)`."""
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "metric": identity.primary_outcome,
        "exploratory": not is_registered(protocol_row, SYNTHETIC_CONTROL),
    }
    try:
        if options is None:
            options = synthetic_control_options(protocol_row, **dict(overrides or {}))
    except InputError as error:
        return ProtocolSyntheticControl(
            status="skipped", reason=str(error), options=SyntheticControlOptions(), **base
        )
    panel: SyntheticControlPanel | None = None
    try:
        panel = synthetic_control_panel(
            protocol_row, donor_pool, donors=options.donors, donor_metrics=options.donor_metrics
        )
        if panel.n_post < MIN_POST_POINTS:
            raise InputError(
                f"metric_date: {panel.n_post} complete date{'s' if panel.n_post != 1 else ''} "
                f"in the post period ({panel.post_window}); need at least {MIN_POST_POINTS}, "
                "the fewest points a phase may have (What Works Clearinghouse)"
                + "".join(f"; {note}" for note in panel.notes),
                field="metric_date",
            )
        scaling = {} if options.scaling is None else {"scaling": options.scaling}
        result = synthetic_control_on_panel(
            panel,
            seed=options.seed,
            draws=options.draws,
            tune=options.tune,
            chains=options.chains,
            **scaling,
        )
    except InputError as error:
        return ProtocolSyntheticControl(
            status="skipped", reason=str(error), options=options, panel=panel, **base
        )
    diagnostics = result.diagnostics
    return ProtocolSyntheticControl(
        status="ok" if result.pre_fit_rmse_to_sd <= POOR_FIT_RATIO else "skipped",
        reason=None if result.pre_fit_rmse_to_sd <= POOR_FIT_RATIO else _poor_fit(result),
        options=options,
        panel=panel,
        result=result,
        convergence=convergence_check(diagnostics.rhat, diagnostics.ess_bulk, diagnostics.ess_tail),
        **base,
    )


def _poor_fit(result: SyntheticControlResult) -> str:
    weights = ", ".join(
        f"{w.donor} {w.mean:.2f}" for w in sorted(result.donor_weights, key=lambda w: -w.mean)
    )
    return (
        f"pre_fit: the synthetic control ({weights}) tracks {result.treated} poorly before the "
        f"intervention (pre-period RMSE {result.pre_fit_rmse_to_sd:.2f} times its SD, above "
        f"{POOR_FIT_RATIO}), so it is no counterfactual after it (Abadie 2021); no effect is "
        "reported"
    )
