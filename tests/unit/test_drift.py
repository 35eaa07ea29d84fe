"""Weekly drift reports (reports/drift.py): a planted shift fires, a stationary series stays quiet.

Evidently 0.7 picks each column's test (Kolmogorov-Smirnov for these numeric columns of a
small sample, chi-square for a column of at most five values) at its default threshold 0.05.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.reports.drift import (
    BaselinePeriod,
    evidently_share,
    iso_week_bounds,
    reference_window,
    save_drift_report,
    week_drift,
)

START = dt.date(2026, 1, 5)  # Monday of 2026-W02
COLUMNS = ("focus_minutes", "mood", "energy_level", "sleep_hours", "hrv_rmssd_ms")


def _days(n_days: int, seed: int, shift_from: dt.date | None = None, shift: float = 0.0):
    """Daily rows of five measures, stationary noise (mood: 1-3); from `shift_from` on, every
    measure moves by `shift` standard deviations (mood to its top level)."""
    rng = np.random.default_rng(seed)
    dates = [START + dt.timedelta(days=i) for i in range(n_days)]
    frame = pd.DataFrame(
        {
            "date": dates,
            "focus_minutes": rng.normal(60, 10, n_days),
            "mood": rng.integers(1, 4, n_days).astype(float),
            "energy_level": rng.normal(5, 1.5, n_days),
            "sleep_hours": rng.normal(7, 0.7, n_days),
            "hrv_rmssd_ms": rng.normal(55, 8, n_days),
        }
    )
    if shift_from is not None:
        later = frame["date"] >= shift_from
        for column, sd in (
            ("focus_minutes", 10),
            ("energy_level", 1.5),
            ("sleep_hours", 0.7),
            ("hrv_rmssd_ms", 8),
        ):
            frame.loc[later, column] += shift * sd
        frame.loc[later, "mood"] = 3.0
    return frame


def test_iso_weeks_and_their_errors():
    assert iso_week_bounds("2026-W05") == (dt.date(2026, 1, 26), dt.date(2026, 2, 1))
    assert iso_week_bounds("2020-W53") == (dt.date(2020, 12, 28), dt.date(2021, 1, 3))
    for bad in ("2026-5", "2026-W54", ""):
        with pytest.raises(InputError) as error:
            iso_week_bounds(bad)
        assert error.value.field == "week"


def test_reference_is_the_latest_baseline_before_the_week_else_four_weeks():
    monday = dt.date(2026, 3, 2)
    assert reference_window(monday, ()) == (
        "previous_weeks",
        None,
        dt.date(2026, 2, 2),
        dt.date(2026, 3, 1),
    )
    early = BaselinePeriod("p1", dt.date(2026, 1, 1), dt.date(2026, 1, 14))
    late = BaselinePeriod("p2", dt.date(2026, 2, 1), dt.date(2026, 2, 14))
    running = BaselinePeriod("p3", dt.date(2026, 2, 25), dt.date(2026, 3, 4))
    assert reference_window(monday, (early, late, running)) == (
        "baseline",
        "p2",
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 14),
    )


def test_planted_shift_fires():
    # 6 stationary weeks, then 3 SD (mood: its top level) from week 7 (2026-W08) on.
    days = _days(56, seed=11, shift_from=START + dt.timedelta(weeks=6), shift=3.0)
    report = week_drift(days, user_id="u1", week="2026-W08")
    result = report.result
    assert result.reference_kind == "previous_weeks"
    assert result.n_reference_days == 28 and result.n_current_days == 7
    assert {c.column for c in result.columns} == set(COLUMNS)
    numeric = [c for c in result.columns if c.column != "mood"]
    assert all(c.stat_test.startswith("K-S") and c.drifted for c in numeric)
    assert all(c.score < 0.01 for c in numeric)
    assert result.share_drifted >= 0.8 and result.dataset_drift is True
    # Our per-column verdicts count what Evidently's DriftedColumnsCount counts.
    assert evidently_share(report) == pytest.approx(result.share_drifted)
    # Evidently's K-S score is scipy's two-sample Kolmogorov-Smirnov p-value of the two windows.
    from scipy.stats import ks_2samp

    dates = days["date"]
    week = (dates >= START + dt.timedelta(weeks=6)) & (dates < START + dt.timedelta(weeks=7))
    before = (dates >= START + dt.timedelta(weeks=2)) & (dates < START + dt.timedelta(weeks=6))
    for c in numeric:
        expected = ks_2samp(days.loc[before, c.column], days.loc[week, c.column]).pvalue
        assert c.score == pytest.approx(expected, rel=1e-12)


def test_stationary_series_stays_quiet():
    days = _days(26 * 7, seed=5)
    weeks = [f"2026-W{n:02d}" for n in range(6, 28)]
    shares = []
    for week in weeks:
        report = week_drift(days, user_id="u1", week=week)
        assert evidently_share(report) == pytest.approx(report.result.share_drifted)
        shares.append(report.result.share_drifted)
    assert max(shares) < 0.5  # never half the columns
    # about 5% of the column tests drift by chance, at their 0.05 threshold
    assert np.mean(shares) < 0.15


def test_baseline_reference_and_left_out_columns(tmp_path):
    days = _days(42, seed=3, shift_from=START + dt.timedelta(weeks=5), shift=3.0)
    days.loc[days["date"] >= START + dt.timedelta(weeks=5), "hrv_rmssd_ms"] = np.nan
    baseline = BaselinePeriod("p1", START, START + dt.timedelta(days=13))
    report = week_drift(days, user_id="u1", week="2026-W07", baselines=[baseline])
    result = report.result
    assert (result.reference_kind, result.reference_protocol_id) == ("baseline", "p1")
    assert result.n_reference_days == 14
    assert [c for c, _ in result.left_out] == ["hrv_rmssd_ms"]
    assert result.dataset_drift is True
    rows = result.to_rows()
    assert len(rows) == 4 and {r["column_name"] for r in rows} == set(COLUMNS) - {"hrv_rmssd_ms"}
    paths = save_drift_report(report, tmp_path / "w.html", tmp_path / "w.json")
    body = json.loads(paths["json"].read_text())
    assert body["week"] == "2026-W07" and body["reference"]["kind"] == "baseline"
    assert body["evidently"]["metrics"]
    assert "<html" in paths["html"].read_text()[:2000].lower()


def test_week_without_data_is_skipped(tmp_path):
    days = _days(14, seed=1)
    report = week_drift(days, user_id="u1", week="2026-W20")
    assert report.result.status == "skipped" and report.snapshot is None
    assert report.result.share_drifted is None and len(report.result.to_rows()) == 1
    (tmp_path / "w.html").write_text("stale")
    paths = save_drift_report(report, tmp_path / "w.html", tmp_path / "w.json")
    assert set(paths) == {"json"} and not (tmp_path / "w.html").exists()


def test_bad_input_names_the_field():
    with pytest.raises(InputError) as error:
        week_drift(pd.DataFrame({"day": [1]}), user_id="u1", week="2026-W05")
    assert error.value.field == "date"
    with pytest.raises(InputError) as error:
        week_drift(_days(7, seed=0), user_id="u1", week="2026-W02", drift_share=0)
    assert error.value.field == "drift_share"


def test_the_warning_share_comes_from_the_environment(monkeypatch):
    from americano_pipelines.config import get_settings

    monkeypatch.delenv("AMERICANO_DRIFT_WARN_SHARE", raising=False)
    assert get_settings().checked_drift_warn_share == 0.5
    monkeypatch.setenv("AMERICANO_DRIFT_WARN_SHARE", "0.3")
    assert get_settings().checked_drift_warn_share == 0.3
    for bad in ("1", "-0.1", "half"):
        monkeypatch.setenv("AMERICANO_DRIFT_WARN_SHARE", bad)
        with pytest.raises(InputError) as error:
            _ = get_settings().checked_drift_warn_share
        assert error.value.field == "AMERICANO_DRIFT_WARN_SHARE"
