"""Figures for a Bayesian ITS result, kept apart from the estimation (as CausalPy does).

matplotlib is imported inside each function, and figures are built with `matplotlib.figure.Figure`
(no pyplot state, no GUI backend), so importing this module costs nothing and it works headless.
"""

from __future__ import annotations

import os
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from americano_pipelines.stats.its import ITSResult

__all__ = ["plot_counterfactual", "plot_posterior"]


def _save(figure: Any, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        figure.savefig(os.fspath(path), dpi=150, bbox_inches="tight")


def plot_counterfactual(
    result: ITSResult, *, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Any:
    """Observed values, the counterfactual posterior mean with its 95% HDI band, and a dashed
    line at the intervention date. Saved to `path` when given; returns the Figure."""
    import numpy as np
    from matplotlib.figure import Figure

    cf = result.counterfactual
    dates = np.asarray(cf.dates, dtype="datetime64[D]")
    figure = Figure(figsize=(9, 4.5))
    ax = figure.subplots()
    ax.fill_between(dates, cf.lower95, cf.upper95, color="tab:orange", alpha=0.25, label="95% HDI")
    ax.plot(dates, cf.predicted, color="tab:orange", label="counterfactual")
    ax.plot(dates, cf.observed, "o-", color="tab:blue", markersize=3, linewidth=1, label="observed")
    ax.axvline(
        np.datetime64(result.intervention_date), color="black", linestyle="--", label="intervention"
    )
    effect = result.causal_effect
    heading = (
        title
        or f"Causal effect {effect.mean:.3g} (95% HDI {effect.hdi95[0]:.3g} to {effect.hdi95[1]:.3g})"
    )
    # wrapped to the figure's width: a protocol's heading is longer than one line
    ax.set_title("\n".join(textwrap.wrap(heading, 90)), fontsize=10)
    ax.set_xlabel("date")
    ax.set_ylabel("value")
    ax.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    _save(figure, path)
    return figure


def plot_posterior(result: ITSResult, *, path: str | os.PathLike[str] | None = None) -> Any:
    """ArviZ posterior density of the causal effect with its 95% HDI and a reference line at 0.
    Saved to `path` when given; returns the Figure."""
    import arviz as az
    from matplotlib.figure import Figure

    if result.idata is None:
        raise ValueError("result has no InferenceData to plot")
    figure = Figure(figsize=(6, 4))
    ax = figure.subplots()
    az.plot_posterior(result.idata, var_names=["causal_effect"], hdi_prob=0.95, ref_val=0.0, ax=ax)
    ax.set_title("Causal effect (mean over post period of observed - counterfactual)", fontsize=9)
    _save(figure, path)
    return figure
