"""Each protocol's Bayesian interrupted time series, one partition per protocol.

`analyses/its_posterior` reads the protocol's `marts.protocols` row and its user's daily series
of the primary outcome from `marts.daily_metrics`, calls
`americano_pipelines.protocol_analyses.its.its_for_protocol` (the intervention date is the
protocol's `first_intervention_date`; by default the post period is the first intervention
phase, so the ITS estimates the first A-to-B change; see that module), and then

- saves the posterior (ArviZ InferenceData) as NetCDF to
  `$AMERICANO_HOME/posteriors/<protocol>/its.nc` (written to a temporary file, then renamed);
- draws the counterfactual plot and the ArviZ posterior plot to `reports/<protocol>/`;
- replaces the protocol's row of `analyses.its_effects`;
- records the run (`analysis_runs` row + MLflow run, `americano_pipelines.provenance.runs`);
- reports the effect, its diagnostics, both plots and the data version as metadata, and the
  `its_converged` check (R-hat < 1.01, bulk and tail ESS >= 400; severity ERROR).

Sampler settings come from the run config (`ITSRunConfig`: draws=1000, tune=1000, chains=2 by
default), so tests can use tiny ones; a bad one fails the run, naming the field. One
`ITSModelCache` per process: every partition this process materializes reuses the compiled
model. The asset comes from the one factory (`defs.analyses.factory`); PyMC is imported when it
runs.
"""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetCheckResult, AssetCheckSeverity, Config, MetadataValue
from pydantic import Field

from americano_pipelines.config import Settings
from americano_pipelines.defs.analyses.factory import (
    DAILY_METRICS,
    PROTOCOLS,
    AnalysisCheck,
    AnalysisSpec,
    analysis_asset,
    metadata_without_none,
)
from americano_pipelines.errors import InputError
from americano_pipelines.registration import analyses
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    ESS_WARNING,
    RHAT_WARNING,
)
from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    from americano_pipelines.protocol_analyses.its import ProtocolITS
    from americano_pipelines.stats.its import ITSModelCache

__all__ = [
    "ITS",
    "ITS_CONVERGED",
    "ITSRunConfig",
    "SamplerConfig",
    "its_assets",
    "posterior_metadata",
]

ITS_CONVERGED = "its_converged"


class SamplerConfig(Config):
    """The sampler settings of a Bayesian analysis's run."""

    draws: int = Field(default=DEFAULT_DRAWS, description="Posterior draws per chain.")
    tune: int = Field(default=DEFAULT_TUNE, description="Tuning steps per chain.")
    chains: int = Field(default=DEFAULT_CHAINS, description="Markov chains.")


class ITSRunConfig(SamplerConfig):
    """Sampler and model settings of a run (None: the analysis plan's, else the default)."""

    seed: int | None = Field(default=None, description="Random seed (default: the plan's, 0).")
    sampler: str = Field(default="auto", description="auto, nutpie or pymc.")
    seasonality: str | None = Field(default=None, description="none, day_of_week or month.")
    ar1: bool | None = Field(default=None, description="AR(1) errors.")
    fit: str | None = Field(
        default=None,
        description="pre_period (the counterfactual fit to the pre period alone) or joint; "
        "default: joint with an effect prior, else pre_period.",
    )
    pre_period_days: int | None = Field(
        default=None, description="Only this many days before the intervention."
    )
    post_window: str | None = Field(
        default=None, description="first_phase (the default) or protocol_end."
    )


@functools.cache
def model_cache() -> ITSModelCache:
    """Compiled ITS models of this process, shared by every partition it materializes."""
    from americano_pipelines.stats.its import ITSModelCache

    return ITSModelCache()


def _read(conn: Any, protocol_id: str) -> tuple[dict[str, Any], Any]:
    """The protocol's row and its user's daily series of the primary outcome."""
    row = tables.protocol_row(conn, protocol_id)
    user_id, metric = row.get("user_id"), row.get("primary_outcome")
    series = (
        tables.daily_metric_series(conn, str(user_id), str(metric))
        if user_id and metric
        else {"metric_date": [], "value": []}
    )
    return row, series


def _compute(row: dict[str, Any], series: Any, overrides: dict[str, Any]) -> ProtocolITS:
    from americano_pipelines.protocol_analyses.its import its_for_protocol, its_options

    try:
        its_options({}, **overrides)
    except InputError as error:
        # A mistyped run config is the operator's error: fail the run, naming the field. (An
        # invalid analysis plan is the protocol's: the analysis is skipped and says why.)
        raise ValueError(f"its_posterior run config: {error}") from error
    return its_for_protocol(row, series, overrides=overrides, model_cache=model_cache())


def _posterior_path(settings: Settings, protocol_id: str) -> Path:
    return settings.home / "posteriors" / tables.protocol_folder(protocol_id) / "its.nc"


def _save_posterior(idata: Any, path: Path) -> None:
    """NetCDF written beside its final name, then renamed: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        idata.to_netcdf(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _store(analysis: ProtocolITS, settings: Settings) -> dict[str, Path]:
    """The posterior as NetCDF (`posterior_netcdf`); a stale one is removed when skipped."""
    path = _posterior_path(settings, analysis.protocol_id)
    if analysis.result is None:
        path.unlink(missing_ok=True)  # a stale posterior must not outlive its run
        return {}
    _save_posterior(analysis.result.idata, path)
    return {"posterior_netcdf": path}


def _rows(analysis: ProtocolITS, stored: dict[str, Path]) -> list[dict[str, Any]]:
    path = stored.get("posterior_netcdf")
    return analysis.to_rows(posterior_path=None if path is None else str(path))


def _plots(
    analysis: ProtocolITS, row: dict[str, Any], folder: Path, settings: Settings
) -> dict[str, Path]:
    """The counterfactual plot and the ArviZ posterior plot, as PNG files."""
    from americano_pipelines.reports.its_plots import plot_counterfactual, plot_posterior

    paths = {
        "counterfactual_plot": folder / "its_counterfactual.png",
        "posterior_plot": folder / "its_posterior.png",
    }
    result, window = analysis.result, analysis.window
    if result is None or window is None:
        for path in paths.values():  # stale plots must not outlive their run either
            path.unlink(missing_ok=True)
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    effect = result.causal_effect
    lo, hi = effect.hdi95
    phase = (
        f"first intervention phase {window.post_phase_label}"
        if window.post_window == "first_phase"
        else "to the protocol's end"
    )
    plot_counterfactual(
        result,
        path=paths["counterfactual_plot"],
        title=f"{analysis.protocol_id}: {analysis.metric or 'outcome'}, ITS over the {phase}; "
        f"effect {effect.mean:.3g} (95% HDI {lo:.3g} to {hi:.3g})",
    )
    plot_posterior(result, path=paths["posterior_plot"])
    return paths


def posterior_metadata(result: Any, check: Any) -> dict[str, Any]:
    """A Bayesian result's causal effect and convergence figures by their own names (the ITS
    and the synthetic control, whose results share `causal_effect` and `diagnostics`)."""
    effect = None if result is None else result.causal_effect
    return {
        "effect_mean": None if effect is None else effect.mean,
        "effect_sd": None if effect is None else effect.sd,
        "effect_hdi95": None if effect is None else MetadataValue.json(list(effect.hdi95)),
        "probability_positive": None if effect is None else effect.probability_positive,
        "rhat": None if check is None else check.rhat,
        "ess_bulk": None if check is None else check.ess_bulk,
        "ess_tail": None if check is None else check.ess_tail,
        "divergences": None if result is None else result.diagnostics.divergences,
    }


def _metadata(analysis: ProtocolITS) -> dict[str, Any]:
    """The effect and the convergence figures by their own names, and the texts."""
    result, window = analysis.result, analysis.window
    return {
        **posterior_metadata(result, analysis.convergence),
        "post_window_note": None if window is None else window.description,
        "interpretation": analysis.interpretation,
        "sampler": None if result is None else result.sampler,
    }


def _check(analysis: ProtocolITS) -> AssetCheckResult:
    check = analysis.convergence
    if check is None:
        return AssetCheckResult(
            check_name=ITS_CONVERGED,
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"{analysis.protocol_id}: no posterior to check: {analysis.reason}",
            metadata={
                "protocol_id": analysis.protocol_id,
                "status": analysis.status,
                "reason": analysis.reason or "",
            },
        )
    return AssetCheckResult(
        check_name=ITS_CONVERGED,
        passed=check.passed,
        severity=AssetCheckSeverity.ERROR,
        description=f"{analysis.protocol_id}: {'; '.join(check.reasons) or 'converged'}",
        metadata=metadata_without_none(
            protocol_id=analysis.protocol_id,
            rhat=check.rhat,
            ess_bulk=check.ess_bulk,
            ess_tail=check.ess_tail,
            rhat_max=check.rhat_max,
            ess_min=check.ess_min,
            divergences=None
            if analysis.result is None
            else analysis.result.diagnostics.divergences,
        ),
    )


ITS = AnalysisSpec(
    name="its_posterior",
    description="Bayesian interrupted time series of the protocol's primary outcome at its first "
    "intervention (post period: the first intervention phase): posterior NetCDF under "
    "posteriors/<protocol>/its.nc, one row per protocol in analyses.its_effects.",
    inputs=(PROTOCOLS, DAILY_METRICS),
    read=_read,
    compute=_compute,
    table=tables.ITS_EFFECTS,
    plot=_plots,
    store=_store,
    rows=_rows,
    metadata=_metadata,
    config=ITSRunConfig,
    # Not partitioned: per-partition check specs are a Dagster preview feature (1.13); each
    # evaluation names its protocol in its metadata instead.
    check=AnalysisCheck(
        ITS_CONVERGED,
        description=f"The ITS posterior converged: worst R-hat < {RHAT_WARNING} and smallest "
        f"bulk and tail ESS >= {ESS_WARNING}.",
        evaluate=_check,
    ),
    kinds=("python", "pymc", "duckdb"),
    analysis=analyses.ITS,
    code_version="2",  # 2: the counterfactual is fit to the pre period (stats.its `fit`)
)

its_assets = [analysis_asset(ITS)]
