"""Each protocol's observational causal analyses, one partition per protocol.

- `analyses/synthetic_control` reads the protocol's row of `marts.protocols` and the daily
  metrics it may draw donors from (`tables.donor_pool`: every user's series of the primary
  outcome, and the user's other metrics), calls
  `protocol_analyses.synthetic_control.protocol_synthetic_control` (donors: the other users, a
  donor's days under its own intervention left out; post period: the first intervention phase),
  replaces the protocol's row of `analyses.synthetic_control` and draws the counterfactual and
  the donor weights to `reports/<protocol>/`.
- `analyses/wearable_links` reads the protocol's row, its user's `marts.wearable_daily` and daily
  series of the primary outcome, calls `protocol_analyses.wearable_links.protocol_wearable_links`
  (lagged correlations and Granger tests), replaces the protocol's rows of
  `analyses.wearable_links` and draws them to `reports/<protocol>/wearable_links.png`.

Both come from the one factory (`defs.analyses.factory`), so each run is recorded (an
`analysis_runs` row and an MLflow run) and reports its metadata; their input fingerprints cover
what they read besides the protocol's own inputs (`reads`: the donors, the wearable days), so a
change there reruns them and nothing else. Settings come from the run config (the defaults of
`americano analyze synthetic-control` and `granger`); a bad one fails the run, naming the
field. The statistics are imported when they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import Config, MetadataValue
from pydantic import Field

from americano_pipelines.config import Settings
from americano_pipelines.defs.analyses.factory import (
    DAILY_METRICS,
    PROTOCOLS,
    WEARABLE_DAILY,
    AnalysisSpec,
    analysis_asset,
)
from americano_pipelines.defs.analyses.its import SamplerConfig, posterior_metadata
from americano_pipelines.errors import InputError
from americano_pipelines.registration import analyses
from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    from americano_pipelines.protocol_analyses.synthetic_control import ProtocolSyntheticControl
    from americano_pipelines.protocol_analyses.wearable_links import ProtocolWearableLinks

__all__ = [
    "SYNTHETIC_CONTROL",
    "WEARABLE_LINKS",
    "SyntheticControlRunConfig",
    "WearableLinksRunConfig",
    "causal_assets",
]


def _checked(name: str, options: Any, row: dict[str, Any], run_config: dict[str, Any]) -> None:
    """A mistyped run config is the operator's error: fail the run, naming the field (bad data
    is the protocol's: the analysis is skipped and says why)."""
    try:
        options({}, **run_config)
    except InputError as error:
        raise ValueError(f"{name} run config: {error}") from error


def _fresh(paths: dict[str, Path], drawn: bool) -> dict[str, Path]:
    """The plots when drawn; otherwise none, and stale ones removed (a skipped run must not
    leave an earlier run's figures behind)."""
    if drawn:
        return paths
    for path in paths.values():
        path.unlink(missing_ok=True)
    return {}


# ----------------------------------------------------------------------------- synthetic control


class SyntheticControlRunConfig(SamplerConfig):
    """Donors, scaling and sampler settings of a run (None: the default)."""

    seed: int | None = Field(default=None, description="Random seed (default 0).")
    donors: str | None = Field(
        default=None, description="users (default: the other users) or metrics (the user's own)."
    )
    donor_metrics: list[str] | None = Field(
        default=None, description="With donors=metrics: only these metrics."
    )
    scaling: str | None = Field(
        default=None, description="treated_sd (default with users), zscore (with metrics), none."
    )


def _read_donor_pool(conn: Any, protocol_id: str) -> tuple[dict[str, Any], Any]:
    row = tables.protocol_row(conn, protocol_id)
    return row, tables.donor_pool(conn, str(row.get("user_id")), str(row.get("primary_outcome")))


def _synthetic_control(row: dict[str, Any], pool: Any, run_config: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.synthetic_control import (
        protocol_synthetic_control,
        synthetic_control_options,
    )

    _checked("synthetic_control", synthetic_control_options, row, run_config)
    return protocol_synthetic_control(row, pool, overrides=run_config)


def _plot_synthetic_control(
    analysis: ProtocolSyntheticControl, row: dict[str, Any], folder: Path, settings: Settings
) -> dict[str, Path]:
    """The counterfactual (as the ITS draws it) and the donor weights, as PNG files; drawn
    for a fit skipped for its poor pre-period fit too, which the plot shows."""
    paths = {
        "counterfactual_plot": folder / "synthetic_control.png",
        "donor_weights_plot": folder / "synthetic_control_weights.png",
    }
    result = analysis.result
    if result is None:
        return _fresh(paths, drawn=False)
    from americano_pipelines.reports.causal_plots import plot_donor_weights
    from americano_pipelines.reports.its_plots import plot_counterfactual

    folder.mkdir(parents=True, exist_ok=True)
    effect = analysis.effect
    verdict = (
        f"pre-period fit too poor (RMSE {result.pre_fit_rmse_to_sd:.2f} of its SD): no effect"
        if effect is None
        else f"effect {effect.mean:.3g} (95% HDI {effect.hdi95[0]:.3g} to {effect.hdi95[1]:.3g})"
    )
    plot_counterfactual(
        result,
        path=paths["counterfactual_plot"],
        title=f"{analysis.protocol_id}: {analysis.metric} against its synthetic control "
        f"({', '.join(w.donor for w in result.donor_weights)}); {verdict}",
    )
    plot_donor_weights(result, path=paths["donor_weights_plot"])
    return _fresh(paths, drawn=True)


def _weights_markdown(analysis: ProtocolSyntheticControl) -> Any:
    result = analysis.result
    if result is None:
        return None
    lines = ["| donor | weight | 95% HDI |", "| --- | --- | --- |"]
    for weight in sorted(result.donor_weights, key=lambda w: -w.mean):
        lines.append(
            f"| {weight.donor} | {weight.mean:.3f} | {weight.hdi95[0]:.3f} to "
            f"{weight.hdi95[1]:.3f} |"
        )
    return MetadataValue.md("\n".join(lines))


def _synthetic_control_metadata(analysis: ProtocolSyntheticControl) -> dict[str, Any]:
    """The effect, the fit and the diagnostics by their own names, and the texts."""
    panel = analysis.panel
    return {
        # the effect only when it is one (a poor pre-period fit reports none)
        **posterior_metadata(
            None if analysis.effect is None else analysis.result, analysis.convergence
        ),
        "donor_weights": _weights_markdown(analysis),
        "n_exposed_donor_days": None if panel is None else panel.n_exposed_donor_days,
        "interpretation": analysis.interpretation,
    }


SYNTHETIC_CONTROL = AnalysisSpec(
    name="synthetic_control",
    description="Bayesian synthetic control (CausalPy WeightedSumFitter) of the protocol's "
    "primary outcome at its first intervention: a weighted sum of the other users' series "
    "(their days under their own intervention left out) as the counterfactual over the first "
    "intervention phase; one row per protocol in analyses.synthetic_control.",
    inputs=(PROTOCOLS, DAILY_METRICS),
    read=_read_donor_pool,
    compute=_synthetic_control,
    table=tables.SYNTHETIC_CONTROL,
    plot=_plot_synthetic_control,
    metadata=_synthetic_control_metadata,
    config=SyntheticControlRunConfig,
    kinds=("python", "pymc", "parquet"),
    analysis=analyses.SYNTHETIC_CONTROL,
    reads=("donors",),
)


# ----------------------------------------------------------------------------- wearable links


class WearableLinksRunConfig(Config):
    """Predictors, lags and tests of a run (None: the default)."""

    predictors: list[str] | None = Field(
        default=None,
        description="marts.wearable_daily columns (default sleep_hours, hrv_rmssd_ms, "
        "resting_heart_rate_bpm).",
    )
    lags: list[int] | None = Field(
        default=None, description="Correlation lags in days (default 0, 1, 2)."
    )
    max_lag: int | None = Field(default=None, description="Largest Granger lag (default 3).")
    method: str | None = Field(default=None, description="spearman (default), pearson or kendall.")
    correction: str | None = Field(
        default=None, description="Multiple-testing correction (default fdr_bh)."
    )


def _read_wearable_days(conn: Any, protocol_id: str) -> tuple[dict[str, Any], Any]:
    row = tables.protocol_row(conn, protocol_id)
    user_id, metric = str(row.get("user_id")), str(row.get("primary_outcome"))
    return row, (
        tables.wearable_days(conn, user_id),
        tables.daily_metric_series(conn, user_id, metric),
    )


def _wearable_links(row: dict[str, Any], data: Any, run_config: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.wearable_links import (
        protocol_wearable_links,
        wearable_links_options,
    )

    _checked("wearable_links", wearable_links_options, row, run_config)
    wearable_days, outcome_series = data
    return protocol_wearable_links(row, wearable_days, outcome_series, overrides=run_config)


def _plot_wearable_links(
    analysis: ProtocolWearableLinks, row: dict[str, Any], folder: Path, settings: Settings
) -> dict[str, Path]:
    paths = {"plot": folder / "wearable_links.png"}
    if analysis.links is None:
        return _fresh(paths, drawn=False)
    from americano_pipelines.reports.causal_plots import plot_wearable_links

    folder.mkdir(parents=True, exist_ok=True)
    plot_wearable_links(
        analysis.links,
        path=paths["plot"],
        title=f"{analysis.protocol_id}: wearable measures of {analysis.user_id} against "
        f"{analysis.metric} ({analysis.links.n_days} days)",
    )
    return _fresh(paths, drawn=True)


def _correlations_markdown(analysis: ProtocolWearableLinks) -> Any:
    if analysis.links is None:
        return None
    lines = [
        "| predictor | lag (days) | r | p | adjusted p | n |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in analysis.links.lagged.results:
        lines.append(
            f"| {c.predictor} | {c.lag} | {c.r:.3f} | {c.p_value:.3g} | {c.p_value_adjusted:.3g} "
            f"| {c.n} |"
        )
    return MetadataValue.md("\n".join(lines))


def _wearable_links_metadata(analysis: ProtocolWearableLinks) -> dict[str, Any]:
    strongest = analysis.significant[0] if analysis.significant else None
    return {
        "correlations": _correlations_markdown(analysis),
        "strongest_link": None
        if strongest is None
        else f"{strongest.predictor} at lag {strongest.lag}: r = {strongest.r:.3f}, adjusted "
        f"p = {strongest.p_value_adjusted:.3g}",
        "interpretation": analysis.interpretation,
    }


WEARABLE_LINKS = AnalysisSpec(
    name="wearable_links",
    description="Wearable -> outcome links of the protocol's user: lagged correlations (sleep, "
    "HRV, resting heart rate on day t - lag against the primary outcome on day t, FDR-adjusted) "
    "and Granger tests; one row per measure and lag in analyses.wearable_links.",
    inputs=(PROTOCOLS, DAILY_METRICS, WEARABLE_DAILY),
    read=_read_wearable_days,
    compute=_wearable_links,
    table=tables.WEARABLE_LINKS,
    plot=_plot_wearable_links,
    metadata=_wearable_links_metadata,
    config=WearableLinksRunConfig,
    analysis=analyses.WEARABLE_LINKS,
    reads=("wearables",),
)

causal_assets = [analysis_asset(SYNTHETIC_CONTROL), analysis_asset(WEARABLE_LINKS)]
