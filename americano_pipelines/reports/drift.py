"""Weekly drift of a user's days: Evidently's DataDriftPreset, the current ISO week against a
reference window.

For one user and one ISO week (`2026-W05`, Monday to Sunday) the current week's daily rows are
compared with a reference window: the baseline phase of the user's protocol when one ended
before the week began (the latest such), else the four weeks before the week. Each column (the
behavioral outcomes of `marts.daily_metrics`, the context of `context_metadata` and the
wearables' measures) is tested by the test Evidently 0.7 picks for it (Kolmogorov-Smirnov for a
numeric column of a small sample, chi-square for one with at most five distinct values) at its
default threshold. A column with too few values in either window is left out and named.

Pure: plain pandas in, frozen dataclasses out (`to_json`, camelCase; `to_rows`, the rows of
`analyses.drift_columns`), and the Evidently snapshot to save as HTML and JSON. Evidently is
imported when a report is built (it takes seconds), never on import.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from americano_pipelines.errors import InputError

__all__ = [
    "BaselinePeriod",
    "ColumnDrift",
    "DriftReport",
    "WeekDrift",
    "MIN_CURRENT_DAYS",
    "MIN_REFERENCE_DAYS",
    "PREVIOUS_WEEKS",
    "evidently_share",
    "iso_week_bounds",
    "iso_week_of",
    "reference_window",
    "report_paths",
    "save_drift_report",
    "week_drift",
]

PREVIOUS_WEEKS = 4
"""The reference without a baseline before the week: the four weeks before it."""
MIN_CURRENT_DAYS = 3
"""A column is tested when the current week has at least this many values of it ..."""
MIN_REFERENCE_DAYS = 7
"""... and the reference window at least this many."""
DATE = "date"
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week_bounds(week: str) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the ISO week `YYYY-Www`; an InputError naming `week` otherwise."""
    match = _WEEK.match(week or "")
    if match is None:
        raise InputError(
            f"week: {week!r} is not an ISO week; write it YYYY-Www, e.g. 2026-W05", field="week"
        )
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InputError(f"week: {week!r}: the year has no such week", field="week") from None
    return monday, monday + dt.timedelta(days=6)


def iso_week_of(day: dt.date) -> str:
    """The ISO week (`YYYY-Www`) that holds `day`."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


@dataclass(frozen=True)
class BaselinePeriod:
    """A baseline phase of one of the user's protocols (its days, inclusive)."""

    protocol_id: str
    start_date: dt.date
    end_date: dt.date


def reference_window(
    week_start: dt.date, baselines: Sequence[BaselinePeriod]
) -> tuple[str, str | None, dt.date, dt.date]:
    """(kind, protocol_id, start, end) of the reference: `baseline`, the latest baseline phase
    that ended before `week_start`; else `previous_weeks`, the four weeks before it."""
    before = [b for b in baselines if b.end_date < week_start]
    if before:
        chosen = max(before, key=lambda b: (b.end_date, b.start_date, b.protocol_id))
        return "baseline", chosen.protocol_id, chosen.start_date, chosen.end_date
    start = week_start - dt.timedelta(weeks=PREVIOUS_WEEKS)
    return "previous_weeks", None, start, week_start - dt.timedelta(days=1)


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test: Evidently's score (a p-value, or a distance for distance tests), the
    threshold and the verdict."""

    column: str
    drifted: bool
    stat_test: str
    score: float
    threshold: float
    n_reference: int
    n_current: int

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "drifted": self.drifted,
            "statTest": self.stat_test,
            "score": self.score,
            "threshold": self.threshold,
            "nReference": self.n_reference,
            "nCurrent": self.n_current,
        }


@dataclass(frozen=True)
class WeekDrift:
    """A user's week against its reference: each tested column, the share of them that drifted
    and Evidently's dataset verdict (that share at least `drift_share`)."""

    user_id: str
    week: str
    week_start: dt.date
    week_end: dt.date
    reference_kind: str
    reference_protocol_id: str | None
    reference_start: dt.date
    reference_end: dt.date
    n_reference_days: int
    n_current_days: int
    columns: tuple[ColumnDrift, ...]
    left_out: tuple[tuple[str, str], ...]
    """(column, reason) of each column not tested."""
    drift_share: float
    status: str
    """`ok`, or `skipped` (no column could be tested; `skip_reason` says why)."""
    skip_reason: str | None = None

    @property
    def n_drifted(self) -> int:
        return sum(c.drifted for c in self.columns)

    @property
    def share_drifted(self) -> float | None:
        return self.n_drifted / len(self.columns) if self.columns else None

    @property
    def dataset_drift(self) -> bool | None:
        share = self.share_drifted
        return None if share is None else share >= self.drift_share

    def to_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "week": self.week,
            "weekStart": self.week_start.isoformat(),
            "weekEnd": self.week_end.isoformat(),
            "status": self.status,
            "skipReason": self.skip_reason,
            "reference": {
                "kind": self.reference_kind,
                "protocolId": self.reference_protocol_id,
                "startDate": self.reference_start.isoformat(),
                "endDate": self.reference_end.isoformat(),
                "nDays": self.n_reference_days,
            },
            "nCurrentDays": self.n_current_days,
            "columns": [c.to_json() for c in self.columns],
            "leftOut": [{"column": c, "reason": r} for c, r in self.left_out],
            "nDrifted": self.n_drifted,
            "shareDrifted": self.share_drifted,
            "datasetDrift": self.dataset_drift,
            "driftShare": self.drift_share,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """The rows of `analyses.drift_columns`: one per tested column (a week with none, one
        row without column, so that the week's status is in the table)."""
        common = {
            "week": self.week,
            "user_id": self.user_id,
            "week_start": self.week_start,
            "status": self.status,
            "skip_reason": self.skip_reason,
            "reference_kind": self.reference_kind,
            "reference_protocol_id": self.reference_protocol_id,
            "reference_start": self.reference_start,
            "reference_end": self.reference_end,
            "share_drifted": self.share_drifted,
            "dataset_drift": self.dataset_drift,
        }
        if not self.columns:
            empty = dict.fromkeys(
                ("column_name", "drifted", "stat_test", "score", "threshold", "n_reference")
            )
            return [{**common, **empty, "n_current": None}]
        return [
            {
                **common,
                "column_name": c.column,
                "drifted": c.drifted,
                "stat_test": c.stat_test,
                "score": c.score,
                "threshold": c.threshold,
                "n_reference": c.n_reference,
                "n_current": c.n_current,
            }
            for c in self.columns
        ]


@dataclass(frozen=True)
class DriftReport:
    """The result and Evidently's snapshot (None when skipped), which `save_drift_report`
    writes as HTML and JSON."""

    result: WeekDrift
    snapshot: Any = None


def _days(days: pd.DataFrame, user_id: str) -> pd.DataFrame:
    if DATE not in days.columns:
        raise InputError(
            f"{DATE}: the days have no column {DATE!r}; columns found: "
            + ", ".join(repr(c) for c in days.columns),
            field=DATE,
        )
    dates = pd.to_datetime(days[DATE], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0]) + 1
        raise InputError(f"{DATE}: row {row} of user {user_id!r} has no date", field=DATE)
    if dates.duplicated().any():
        day = dates[dates.duplicated()].iloc[0].date()
        raise InputError(f"{DATE}: user {user_id!r} has two rows for {day}", field=DATE)
    out = days.drop(columns=[DATE]).apply(pd.to_numeric, errors="coerce").astype(float)
    out.index = pd.DatetimeIndex(dates).date
    return out.sort_index()


def _drifted(stat_test: str, score: float, threshold: float) -> bool:
    """Evidently's verdict: its p-value tests drift below the threshold, its distances at or
    above it (evidently.legacy.calculations.stattests; a p-value equal to the threshold, where
    Kolmogorov-Smirnov and the others differ, has probability zero)."""
    if "p_value" in stat_test:
        return score <= threshold if stat_test.startswith("K-S") else score < threshold
    return score >= threshold


def _run_preset(
    reference: pd.DataFrame, current: pd.DataFrame, drift_share: float
) -> tuple[Any, dict[str, Any]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(reference.columns))
    report = Report([DataDriftPreset(drift_share=drift_share)])
    snapshot = report.run(
        Dataset.from_pandas(current.reset_index(drop=True), data_definition=definition),
        Dataset.from_pandas(reference.reset_index(drop=True), data_definition=definition),
    )
    return snapshot, snapshot.dict()


def _columns_of(snapshot: dict[str, Any]) -> tuple[dict[str, tuple[str, float, float]], float]:
    """Each column's (test, score, threshold) from the ValueDrift metrics, and the share of
    drifted columns Evidently counted (DriftedColumnsCount)."""
    tested: dict[str, tuple[str, float, float]] = {}
    share = float("nan")
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            tested[config["column"]] = (
                str(config["method"]),
                float(metric["value"]),
                float(config["threshold"]),
            )
        elif config["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    return tested, share


def week_drift(
    days: pd.DataFrame,
    *,
    user_id: str,
    week: str,
    baselines: Sequence[BaselinePeriod] = (),
    drift_share: float = 0.5,
) -> DriftReport:
    """The drift of `user_id`'s ISO `week` against its reference window.

    `days`: one row per day, a `date` column and one numeric column per measure (missing values
    allowed). `baselines`: the baseline phases of the user's protocols. `drift_share`: the share
    of drifted columns at which Evidently calls the dataset drifted."""
    if not 0 < drift_share <= 1:
        raise InputError(f"drift_share: {drift_share} must be in (0, 1]", field="drift_share")
    week_start, week_end = iso_week_bounds(week)
    kind, protocol_id, ref_start, ref_end = reference_window(week_start, baselines)
    frame = _days(days, user_id)
    dates = np.array(frame.index, dtype=object)
    in_current = (dates >= week_start) & (dates <= week_end)
    in_reference = (dates >= ref_start) & (dates <= ref_end)
    current, reference = frame[in_current], frame[in_reference]

    tested_columns: list[str] = []
    left_out: list[tuple[str, str]] = []
    for column in frame.columns:
        n_cur, n_ref = int(current[column].notna().sum()), int(reference[column].notna().sum())
        if n_cur < MIN_CURRENT_DAYS:
            left_out.append((column, f"{n_cur} values in the week, fewer than {MIN_CURRENT_DAYS}"))
        elif n_ref < MIN_REFERENCE_DAYS:
            left_out.append(
                (column, f"{n_ref} values in the reference, fewer than {MIN_REFERENCE_DAYS}")
            )
        elif reference[column].nunique() < 2 and current[column].nunique() < 2:
            left_out.append((column, "constant in both windows"))
        else:
            tested_columns.append(column)

    common = {
        "user_id": user_id,
        "week": week,
        "week_start": week_start,
        "week_end": week_end,
        "reference_kind": kind,
        "reference_protocol_id": protocol_id,
        "reference_start": ref_start,
        "reference_end": ref_end,
        "n_reference_days": len(reference),
        "n_current_days": len(current),
        "left_out": tuple(left_out),
        "drift_share": drift_share,
    }
    if not tested_columns:
        reason = (
            "no column has enough values in both windows"
            if frame.columns.size
            else ("the days have no measure column")
        )
        return DriftReport(WeekDrift(**common, columns=(), status="skipped", skip_reason=reason))

    snapshot, as_dict = _run_preset(reference[tested_columns], current[tested_columns], drift_share)
    found, _ = _columns_of(as_dict)
    columns = tuple(
        ColumnDrift(
            column=column,
            drifted=_drifted(*found[column]),
            stat_test=found[column][0],
            score=found[column][1],
            threshold=found[column][2],
            n_reference=int(reference[column].notna().sum()),
            n_current=int(current[column].notna().sum()),
        )
        for column in tested_columns
    )
    return DriftReport(WeekDrift(**common, columns=columns, status="ok"), snapshot)


def evidently_share(report: DriftReport) -> float | None:
    """The share of drifted columns as Evidently's DriftedColumnsCount counted it (None when
    skipped): what `WeekDrift.share_drifted` must equal."""
    if report.snapshot is None:
        return None
    return _columns_of(report.snapshot.dict())[1]


def report_paths(reports_dir: Path, user_id: str, week: str) -> tuple[Path, Path]:
    """Where a user's week's reports go: `<reports>/drift/<user>/<week>.html` and `.json`."""
    from americano_pipelines.warehouse.tables import protocol_folder  # the same file-name rule

    folder = Path(reports_dir) / "drift" / protocol_folder(user_id)
    return folder / f"{week}.html", folder / f"{week}.json"


def save_drift_report(report: DriftReport, html_path: Path, json_path: Path) -> dict[str, Path]:
    """Evidently's HTML report and a JSON of the result with Evidently's own snapshot
    (`evidently`: null when skipped); a skipped week has no HTML, and a stale one is removed."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    body: Mapping[str, Any] = {
        **report.result.to_json(),
        "evidently": None if report.snapshot is None else report.snapshot.dict(),
    }
    json_path.write_text(json.dumps(body, indent=1, default=str), encoding="utf-8")
    paths = {"json": json_path}
    if report.snapshot is None:
        html_path.unlink(missing_ok=True)
    else:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        report.snapshot.save_html(str(html_path))
        paths["html"] = html_path
    return paths
