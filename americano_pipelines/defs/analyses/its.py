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
default), so tests can use tiny ones. One `ITSModelCache` per process: every partition this
process materializes reuses the compiled model.
"""

import base64
import datetime as dt
import os
import re
import uuid
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from americano_pipelines.defs.analyses.assets import (
    GROUP,
    PROTOCOLS,
    metadata_without_none,
    raw_data_version,
    record_run,
)
from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.resources import SettingsResource
from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.its import (
    ESS_MIN,
    RHAT_MAX,
    ProtocolITS,
    its_for_protocol,
    its_options,
)
from americano_pipelines.provenance.runs import describe_its
from americano_pipelines.stats.its import ITSModelCache
from americano_pipelines.warehouse import tables

DAILY_METRICS = AssetKey(["marts", "daily_metrics"])
ITS_POSTERIOR_KEY = AssetKey([GROUP, "its_posterior"])
ITS_CONVERGED = "its_converged"

MODEL_CACHE = ITSModelCache()
"""Compiled ITS models of this process, shared by every partition it materializes."""


class ITSRunConfig(Config):
    """Sampler and model settings of a run (None: the analysis plan's, else the default)."""

    draws: int = Field(default=1000, description="Posterior draws per chain.")
    tune: int = Field(default=1000, description="Tuning steps per chain.")
    chains: int = Field(default=2, description="Markov chains.")
    seed: int | None = Field(default=None, description="Random seed (default: the plan's, 0).")
    sampler: str = Field(default="auto", description="auto, nutpie or pymc.")
    seasonality: str | None = Field(default=None, description="none, day_of_week or month.")
    ar1: bool | None = Field(default=None, description="AR(1) errors.")
    pre_period_days: int | None = Field(
        default=None, description="Only this many days before the intervention."
    )
    post_window: str | None = Field(
        default=None, description="first_phase (the default) or protocol_end."
    )


def _folder(protocol_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", protocol_id)


def _save_posterior(idata: Any, path: Path) -> None:
    """NetCDF written beside its final name, then renamed: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        idata.to_netcdf(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _image(path: Path, title: str) -> MetadataValue:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def _plots(analysis: ProtocolITS, folder: Path) -> dict[str, Path]:
    """The counterfactual plot and the ArviZ posterior plot, as PNG files."""
    from americano_pipelines.reports.its_plots import plot_counterfactual, plot_posterior

    paths = {
        "counterfactual": folder / "its_counterfactual.png",
        "posterior": folder / "its_posterior.png",
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
        path=paths["counterfactual"],
        title=f"{analysis.protocol_id}: {analysis.metric or 'outcome'}, ITS over the {phase}; "
        f"effect {effect.mean:.3g} (95% HDI {lo:.3g} to {hi:.3g})",
    )
    plot_posterior(result, path=paths["posterior"])
    return paths


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


@asset(
    key=ITS_POSTERIOR_KEY,
    group_name=GROUP,
    partitions_def=protocols,
    deps=[PROTOCOLS, DAILY_METRICS],
    kinds={"python", "pymc", "duckdb"},
    check_specs=[
        AssetCheckSpec(
            ITS_CONVERGED,
            asset=ITS_POSTERIOR_KEY,
            # Not partitioned: per-partition check specs are a Dagster preview feature (1.13);
            # each evaluation names its protocol in its metadata instead.
            description=f"The ITS posterior converged: worst R-hat < {RHAT_MAX} and smallest "
            f"bulk and tail ESS >= {ESS_MIN}.",
        )
    ],
    description="Bayesian interrupted time series of the protocol's primary outcome at its first "
    "intervention (post period: the first intervention phase): posterior NetCDF under "
    "posteriors/<protocol>/its.nc, one row per protocol in analyses.its_effects.",
)
def its_posterior(
    context: AssetExecutionContext,
    config: ITSRunConfig,
    warehouse: DuckDBResource,
    settings: SettingsResource,
) -> MaterializeResult:
    started_at = dt.datetime.now(dt.UTC)
    protocol_id = context.partition_key
    current = settings.get()
    with warehouse.get_connection() as conn:
        row = tables.protocol_row(conn, protocol_id)
        user_id = row.get("user_id")
        metric = row.get("primary_outcome")
        series = (
            tables.daily_metric_series(conn, str(user_id), str(metric))
            if user_id and metric
            else {"metric_date": [], "value": []}
        )
    overrides = config.model_dump()
    try:
        its_options({}, **overrides)
    except InputError as error:
        # A mistyped run config is the operator's error: fail the run, naming the field. (An
        # invalid analysis plan is the protocol's: the analysis is skipped and says why.)
        raise ValueError(f"its_posterior run config: {error}") from error
    analysis = its_for_protocol(row, series, overrides=overrides, model_cache=MODEL_CACHE)
    options = analysis.options

    posterior_path = current.home / "posteriors" / _folder(protocol_id) / "its.nc"
    if analysis.result is not None:
        _save_posterior(analysis.result.idata, posterior_path)
    else:
        posterior_path.unlink(missing_ok=True)  # a stale posterior must not outlive its run
    plots = _plots(analysis, current.reports_dir / _folder(protocol_id))
    data_version = raw_data_version(context)
    with warehouse.get_connection() as conn:
        written = tables.replace_protocol_rows(
            conn,
            tables.ITS_EFFECTS,
            protocol_id,
            analysis.to_rows(
                posterior_path=str(posterior_path) if analysis.result is not None else None
            ),
            data_version=data_version,
        )
    run = record_run(
        context,
        settings,
        row,
        describe_its(row, analysis),
        data_version=data_version,
        started_at=started_at,
        artifacts=[*plots.values(), *([posterior_path] if analysis.result is not None else [])],
    )

    result, window, check = analysis.result, analysis.window, analysis.convergence
    effect = None if result is None else result.causal_effect
    return MaterializeResult(
        metadata=metadata_without_none(
            status=analysis.status,
            reason=analysis.reason,
            effect_mean=None if effect is None else effect.mean,
            effect_sd=None if effect is None else effect.sd,
            effect_hdi95=None if effect is None else MetadataValue.json(list(effect.hdi95)),
            probability_positive=None if effect is None else effect.probability_positive,
            rhat=None if check is None else check.rhat,
            ess_bulk=None if check is None else check.ess_bulk,
            ess_tail=None if check is None else check.ess_tail,
            divergences=None if result is None else result.diagnostics.divergences,
            converged=None if check is None else check.passed,
            intervention_date=None if window is None else window.intervention_date.isoformat(),
            post_window=options.post_window,
            post_window_note=None if window is None else window.description,
            n_pre=None if result is None else result.n_pre,
            n_post=None if result is None else result.n_post,
            interpretation=analysis.interpretation,
            notes="; ".join(analysis.notes) or None,
            sampler=None if result is None else result.sampler,
            draws=options.draws,
            tune=options.tune,
            chains=options.chains,
            counterfactual_plot=_image(plots["counterfactual"], "ITS counterfactual")
            if plots
            else None,
            counterfactual_plot_path=MetadataValue.path(str(plots["counterfactual"]))
            if plots
            else None,
            posterior_plot=_image(plots["posterior"], "ITS causal effect posterior")
            if plots
            else None,
            posterior_plot_path=MetadataValue.path(str(plots["posterior"])) if plots else None,
            posterior_netcdf=MetadataValue.path(str(posterior_path))
            if result is not None
            else None,
            rows_written=written,
            table=tables.ITS_EFFECTS.qualified_name,
            data_version=data_version,
            analysis_run_id=run.id,
            mlflow_run_id=run.mlflow_run_id,
        ),
        check_results=[_check(analysis)],
    )


its_assets = [its_posterior]
