"""Figures for a protocol's synthetic control and its wearable -> outcome links.

The synthetic control's counterfactual is drawn by `its_plots.plot_counterfactual` (the same
observed / counterfactual / 95% band picture as the ITS); this module adds the donor weights and
the wearable links. matplotlib is imported inside each function, and figures are built with
`matplotlib.figure.Figure` (no pyplot state, no GUI backend), so importing this module costs
nothing and it works headless.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from americano_pipelines.protocol_analyses.causal_tools import WearableLinks
    from americano_pipelines.stats.synthetic_control import SyntheticControlResult

__all__ = ["plot_donor_weights", "plot_wearable_links"]


def _save(figure: Any, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        figure.savefig(os.fspath(path), dpi=150, bbox_inches="tight")


def plot_donor_weights(
    result: SyntheticControlResult,
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Each donor's posterior mean weight with its 95% HDI, largest first. Saved to `path` when
    given; returns the Figure."""
    import numpy as np
    from matplotlib.figure import Figure

    weights = sorted(result.donor_weights, key=lambda weight: -weight.mean)
    names = [weight.donor for weight in weights]
    means = np.array([weight.mean for weight in weights])
    low = means - np.array([weight.hdi95[0] for weight in weights])
    high = np.array([weight.hdi95[1] for weight in weights]) - means
    figure = Figure(figsize=(6, 0.5 * len(names) + 1.5))
    ax = figure.subplots()
    positions = np.arange(len(names))
    ax.barh(positions, means, xerr=[low, high], color="tab:orange", alpha=0.8, capsize=3)
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("weight (posterior mean, 95% HDI)")
    ax.set_title(
        title
        or f"Synthetic control of {result.treated}: pre-period RMSE "
        f"{result.pre_fit_rmse_to_sd:.2f} of its SD",
        fontsize=9,
    )
    _save(figure, path)
    return figure


def plot_wearable_links(
    links: WearableLinks,
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    alpha: float = 0.05,
) -> Any:
    """Left: the lagged correlations as a predictor x lag grid, each cell its r, starred when
    the adjusted p-value is below `alpha`. Right: each predictor's Granger p-value by lag, the
    BIC-selected lag marked. Saved to `path` when given; returns the Figure."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = links.lagged.results
    predictors = list(dict.fromkeys(row.predictor for row in rows))
    lags = sorted({row.lag for row in rows})
    grid = np.full((len(predictors), len(lags)), np.nan)
    stars = np.zeros_like(grid, dtype=bool)
    for row in rows:
        i, j = predictors.index(row.predictor), lags.index(row.lag)
        grid[i, j] = row.r
        stars[i, j] = row.p_value_adjusted < alpha

    figure = Figure(figsize=(11, 0.6 * len(predictors) + 2.5))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    image = left.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(len(predictors)):
        for j in range(len(lags)):
            if np.isfinite(grid[i, j]):
                left.text(
                    j, i, f"{grid[i, j]:.2f}{'*' if stars[i, j] else ''}", ha="center", va="center"
                )
    left.set_xticks(range(len(lags)), [f"{lag} d" for lag in lags])
    left.set_yticks(range(len(predictors)), predictors)
    left.set_xlabel(f"lag (predictor leads {links.outcome})")
    left.set_title(
        f"{links.lagged.method} r; * {links.lagged.correction} p < {alpha:g}", fontsize=9
    )
    figure.colorbar(image, ax=left, fraction=0.05)

    for result in links.granger:
        lag_numbers = [lag.lag for lag in result.results]
        p_values = [lag.p_value for lag in result.results]
        (line,) = right.plot(lag_numbers, p_values, "o-", label=result.cause)
        selected = next(lag for lag in result.results if lag.lag == result.selected_lag)
        right.plot(
            [selected.lag],
            [selected.p_value],
            "s",
            markersize=10,
            fillstyle="none",
            color=line.get_color(),
        )
    right.set_xticks(sorted({lag.lag for result in links.granger for lag in result.results}))
    right.axhline(alpha, color="black", linestyle="--", linewidth=1, label=f"p = {alpha:g}")
    right.set_yscale("log")
    right.set_xlabel("Granger lag order (days); square: BIC-selected")
    right.set_ylabel("p-value")
    right.set_title(f"Granger tests: does the predictor lead {links.outcome}?", fontsize=9)
    right.legend(loc="best", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    _save(figure, path)
    return figure
