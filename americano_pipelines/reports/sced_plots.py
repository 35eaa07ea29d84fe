"""Figures for single-case series: the observations over time, each phase shaded by its
condition, the phase means, and detected change points marked.

matplotlib is imported inside the function and the figure is a bare `matplotlib.figure.Figure`
(no pyplot state, no GUI backend), so importing this module costs nothing and it runs headless.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

__all__ = ["plot_phase_series"]

# Condition colours: baseline (A) grey, intervention B green, intervention C blue.
_CONDITION_COLOURS = {"A": "#d9d9d9", "B": "#b7e4c7", "C": "#bcd7f0"}
_OTHER_COLOUR = "#f2e6c9"


def _as_day(value: Any) -> datetime:
    """Midnight of the value's day: a datetime, so half-day offsets are not truncated."""
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        value = date.fromisoformat(str(value)[:10])
    return datetime.combine(value, time())


def _blocks(labels: Sequence[str]) -> list[tuple[int, int]]:
    """[start, stop) of each run of equal labels."""
    blocks: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            blocks.append((start, i))
            start = i
    return blocks


def plot_phase_series(
    dates: Sequence[date | str],
    values: Sequence[float],
    conditions: Sequence[str],
    *,
    phase_labels: Sequence[str] | None = None,
    change_point_dates: Sequence[date | str] = (),
    title: str | None = None,
    ylabel: str = "value",
    path: str | os.PathLike[str] | None = None,
    dpi: int = 90,
) -> bytes:
    """The series as points and lines over its dates, each phase (a run of equal
    `phase_labels`, or of `conditions` when not given) shaded by its condition and labelled,
    a horizontal line at each phase mean, and a dashed red line at each change point, drawn
    between the last day of the old segment and the first day of the new one.

    Returns the PNG bytes; also writes them to `path` (parent folders created) when given.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    days = [_as_day(value) for value in dates]
    y = [float(value) for value in values]
    if not (len(days) == len(y) == len(conditions)):
        raise ValueError("dates, values and conditions must have the same length")
    labels = list(phase_labels) if phase_labels is not None else list(conditions)
    half_day = timedelta(hours=12)

    figure = Figure(figsize=(9, 4))
    ax = figure.subplots()
    shaded: dict[str, str] = {}
    for start, stop in _blocks(labels):
        condition = str(conditions[start]).upper()
        colour = _CONDITION_COLOURS.get(condition, _OTHER_COLOUR)
        shaded.setdefault(condition, colour)
        left, right = days[start] - half_day, days[stop - 1] + half_day
        ax.axvspan(left, right, color=colour, alpha=0.6, linewidth=0)
        phase_mean = sum(y[start:stop]) / (stop - start)
        ax.hlines(phase_mean, left, right, colors="black", linewidth=1.2, alpha=0.7)
        ax.annotate(
            str(labels[start]),
            xy=(left + (right - left) / 2, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -12),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    if days:
        ax.plot(days, y, "o-", color="tab:blue", markersize=3, linewidth=1, label="observed")
    for number, changed in enumerate(change_point_dates):
        ax.axvline(
            _as_day(changed) - half_day,
            color="tab:red",
            linestyle="--",
            linewidth=1.5,
            label="change point" if number == 0 else None,
        )
    handles, names = ax.get_legend_handles_labels()
    handles += [Patch(color=colour, alpha=0.6) for colour in shaded.values()]
    names += [f"condition {condition}" for condition in shaded]
    if handles:
        ax.legend(handles, names, loc="lower right", fontsize=7, framealpha=0.8)
    ax.set_title(title or "Observations by phase", fontsize=10)
    ax.set_xlabel("date")
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    figure.autofmt_xdate()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    png = buffer.getvalue()
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)
    return png
