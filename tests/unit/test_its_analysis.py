"""Tests for americano_pipelines.protocol_analyses.its: the protocol's ITS windows, options and
the convergence check (pure; no sampling here; tests/e2e/test_its_asset.py runs the sampler)."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import pandas as pd
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.its import (
    ESS_MIN,
    RHAT_MAX,
    ITSOptions,
    convergence_check,
    its_for_protocol,
    its_options,
    its_window,
)
from americano_pipelines.warehouse.tables import ITS_EFFECTS

PROTOCOL = "p1"
START = date(2025, 1, 1)


def day(n: int) -> date:
    """Day n of January 2025 (1-based)."""
    return START + timedelta(days=n - 1)


def phase_of(n: int) -> tuple[str | None, str | None, str | None]:
    """(protocol_id, phase_label, phase_type) of January day n in the hand-made series:
    1-5 run-in, 6-7 another protocol, 8-14 baseline_1, 15-20 intervention_1,
    21-25 baseline_2, 26-30 intervention_2."""
    if n <= 5:
        return None, None, None
    if n <= 7:
        return "other", "intervention_1", "INTERVENTION_A"
    if n <= 14:
        return PROTOCOL, "baseline_1", "BASELINE"
    if n <= 20:
        return PROTOCOL, "intervention_1", "INTERVENTION_A"
    if n <= 25:
        return PROTOCOL, "baseline_2", "BASELINE"
    return PROTOCOL, "intervention_2", "INTERVENTION_A"


def series(days: range = range(1, 31), *, missing: tuple[int, ...] = (17,), null: int = 3):
    """The daily_metrics rows of the hand-made user: day 17 has no row, day 3 a NULL value."""
    rows = []
    for n in days:
        if n in missing:
            continue
        owner, label, kind = phase_of(n)
        rows.append(
            {
                "metric_date": day(n),
                "value": None if n == null else float(n),
                "protocol_id": owner,
                "phase_label": label,
                "phase_type": kind,
            }
        )
    return pd.DataFrame(rows)


def protocol_row(**changes) -> dict:
    row = {
        "protocol_id": PROTOCOL,
        "user_id": "u1",
        "primary_outcome": "engagement_score",
        "first_intervention_date": day(15),
        "schedule_end_date": day(28),
        "end_date": day(30),
        "analysis_plan": "Randomization test of B-A; Bayesian ITS at the first phase change.",
    }
    row.update(changes)
    return row


# ----------------------------------------------------------------------------- windows


def test_first_phase_window_by_hand() -> None:
    window = its_window(protocol_row(), series())
    # pre: run-in days 1, 2, 4, 5 (3 is NULL) and baseline_1 days 8-14; other protocol's 6-7 out
    pre = [day(n) for n in (1, 2, 4, 5, *range(8, 15))]
    # post: intervention_1 without the missing day 17, up to the first day of baseline_2
    post = [day(n) for n in (15, 16, 18, 19, 20)]
    assert list(window.dates) == pre + post
    assert list(window.values) == [float(d.day) for d in pre + post]
    assert window.intervention_date == day(15)
    assert window.post_phase_label == "intervention_1"
    assert window.post_end_date == day(20)
    # 28 valued rows = 16 used + 2 other protocol + 10 after the first intervention phase
    assert window.n_left_out == 12
    assert window.notes == (
        "2 days under another protocol before the intervention left out of the pre-period",
    )
    assert "first intervention phase (intervention_1, 2025-01-15 to 2025-01-20)" in (
        window.description
    )
    assert "reversals" in window.description


def test_protocol_end_window_runs_to_the_scheduled_end() -> None:
    window = its_window(protocol_row(), series(), post_window="protocol_end")
    post = [d for d in window.dates if d >= day(15)]
    assert post == [day(n) for n in range(15, 29) if n != 17]
    assert window.post_end_date == day(28)
    assert window.n_left_out == 2 + 2  # other protocol, days 29-30
    assert "includes any later reversals" in window.description
    # without a schedule the protocol's end_date bounds it
    window = its_window(protocol_row(schedule_end_date=None), series(), post_window="protocol_end")
    assert window.post_end_date == day(30)


def test_the_window_takes_mappings_and_unsorted_rows() -> None:
    frame = series().sample(frac=1.0, random_state=3)
    as_mapping = {column: frame[column].tolist() for column in frame.columns}
    expected = its_window(protocol_row(), series())
    assert its_window(protocol_row(), as_mapping).dates == expected.dates


@pytest.mark.parametrize(
    ("row", "frame", "field"),
    [
        (protocol_row(first_intervention_date=None), series(), "first_intervention_date"),
        # no observation at all in the first intervention phase
        (protocol_row(), series(missing=tuple(range(15, 21))), "first_intervention_date"),
        (protocol_row(), series().drop(columns=["metric_date"]), "metric_date"),
    ],
)
def test_window_errors_name_the_field(row, frame, field) -> None:
    with pytest.raises(InputError) as error:
        its_window(row, frame)
    assert error.value.field == field


def test_unknown_post_window_is_an_input_error() -> None:
    with pytest.raises(InputError, match="post_window"):
        its_window(protocol_row(), series(), post_window="everything")


# ----------------------------------------------------------------------------- options


def test_defaults_are_the_cli_defaults() -> None:
    options = its_options(protocol_row())
    assert options == ITSOptions()
    assert (options.draws, options.tune, options.chains) == (1000, 1000, 2)
    assert (options.seasonality, options.ar1, options.post_window) == ("none", False, "first_phase")


def test_plan_keys_then_overrides() -> None:
    plan = json.dumps(
        {
            "statistic": "B-A",
            "seed": 5,
            "its": {"prePeriodDays": 28, "post-window": "protocol_end", "fit": "joint"},
        }
    )
    row = protocol_row(analysis_plan=plan)
    options = its_options(row)
    assert (options.seed, options.pre_period_days, options.post_window) == (5, 28, "protocol_end")
    assert options.fit == "joint"
    options = its_options(row, post_window="first_phase", draws=50, seed=None)
    assert (options.post_window, options.draws, options.seed) == ("first_phase", 50, 5)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"draw": 10}, "draw"),
        ({"post_window": "all"}, "post_window"),
        ({"seasonality": "weekly"}, "seasonality"),
        ({"sampler": "metropolis"}, "sampler"),
        ({"ar1": "yes"}, "ar1"),
        ({"fit": "both"}, "fit"),
    ],
)
def test_bad_options_name_the_field(overrides, field) -> None:
    with pytest.raises(InputError) as error:
        its_options(protocol_row(), **overrides)
    assert error.value.field == field


# ----------------------------------------------------------------------------- convergence


@pytest.mark.parametrize(
    ("rhat", "ess_bulk", "ess_tail", "passed", "reasons"),
    [
        (1.0, 1500.0, 1200.0, True, 0),
        (1.0099, 400.0, 400.0, True, 0),  # both thresholds are inclusive passes
        (1.01, 400.0, 400.0, False, 1),  # R-hat >= 1.01 fails
        (1.0, 399.9, 1000.0, False, 1),  # bulk ESS < 400 fails
        (1.0, 1000.0, 17.3, False, 1),  # tail ESS < 400 fails
        (1.15, 25.0, 17.3, False, 3),  # what 2 chains x 20 draws gives
        (math.nan, 1000.0, 1000.0, False, 1),  # not computable is not converged
        (1.0, None, 1000.0, False, 1),
    ],
)
def test_convergence_check_thresholds(rhat, ess_bulk, ess_tail, passed, reasons) -> None:
    check = convergence_check(rhat, ess_bulk, ess_tail)
    assert check.passed is passed
    assert len(check.reasons) == reasons
    assert (check.rhat_max, check.ess_min) == (RHAT_MAX, ESS_MIN) == (1.01, 400)
    json.dumps(check.to_json(), allow_nan=False)


def test_convergence_thresholds_can_be_tightened() -> None:
    assert not convergence_check(1.004, 900, 900, rhat_max=1.005, ess_min=1000).passed


# ----------------------------------------------------------------------------- skipped analyses


def test_no_intervention_date_skips_with_one_row() -> None:
    analysis = its_for_protocol(protocol_row(first_intervention_date=None), series())
    assert analysis.status == "skipped"
    assert "first_intervention_date" in analysis.reason
    (row,) = analysis.to_rows()
    assert set(row) == set(ITS_EFFECTS.column_names)
    assert row["status"] == "skipped" and row["effect_mean"] is None
    assert json.loads(row["result_json"])["reason"] == analysis.reason


def test_too_short_a_pre_period_skips_before_sampling() -> None:
    # a pre-registered 3-day pre-period leaves 3 points: bayesian_its needs 8
    analysis = its_for_protocol(
        protocol_row(analysis_plan='{"prePeriodDays": 3}'), series(), overrides={"draws": 20}
    )
    assert analysis.status == "skipped"
    assert "pre_period_days" in analysis.reason
    assert analysis.window is not None and analysis.result is None


def test_an_invalid_plan_skips_and_says_why() -> None:
    analysis = its_for_protocol(protocol_row(analysis_plan='{"postWindow": "all"}'), series())
    assert analysis.status == "skipped"
    assert analysis.reason.startswith("post_window:")
