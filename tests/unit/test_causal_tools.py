"""Tests of americano_pipelines.protocol_analyses.causal_tools: a protocol's synthetic control on
daily_metrics, and wearable-to-outcome links (lagged correlations and Granger tests).

Frames are built here with the columns of marts.daily_metrics and marts.wearable_daily. The
synthetic-control fits use a tiny sampler (200 tune + 200 draws, 2 chains) and are marked slow;
the window, donor and alignment logic is checked by hand without sampling."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.causal_tools import (
    synthetic_control_for_protocol,
    synthetic_control_panel,
    wearable_outcome_links,
)

START = dt.date(2024, 1, 1)
N_DAYS = 60
INTERVENTION_INDEX = 40
EFFECT = 3.0
TINY_SAMPLER = {"draws": 200, "tune": 200, "chains": 2, "seed": 11}


def _day(i: int) -> dt.date:
    return START + dt.timedelta(days=int(i))


def _phase(i: int) -> tuple[str | None, str | None, str | None]:
    """(protocol_id, phase_label, phase_type) of the treated user on day i: run-in without a
    protocol, baseline A1, intervention B1 (days 40-54), reversal A2."""
    if i < 20:
        return None, None, None
    if i < INTERVENTION_INDEX:
        return "P1", "A1", "BASELINE"
    if i < 55:
        return "P1", "B1", "INTERVENTION_A"
    return "P1", "A2", "BASELINE"


def _protocol_row(**overrides):
    row = {
        "protocol_id": "P1",
        "user_id": "u1",
        "primary_outcome": "engagement_score",
        "first_intervention_date": _day(INTERVENTION_INDEX),
        "design_type": "ABAB",
    }
    row.update(overrides)
    return row


def _users_frame(seed: int = 3) -> pd.DataFrame:
    """u1 = 0.5 u2 + 0.3 u3 + 0.2 u4 + noise, plus EFFECT from the intervention date on; u5, u6
    are unrelated donors. A 'sessions' metric is present to check it is ignored."""
    rng = np.random.default_rng(seed)
    days = np.arange(N_DAYS)
    donors = {f"u{k}": 50 + np.cumsum(rng.normal(0, 1.0, N_DAYS)) + 3 * k for k in range(2, 7)}
    treated = (
        0.5 * donors["u2"]
        + 0.3 * donors["u3"]
        + 0.2 * donors["u4"]
        + rng.normal(0, 0.2, N_DAYS)
        + EFFECT * (days >= INTERVENTION_INDEX)
    )
    rows = []
    for user, values in {"u1": treated, **donors}.items():
        for i in days:
            protocol, label, kind = _phase(i) if user == "u1" else (None, None, None)
            for metric, value in (("engagement_score", values[i]), ("sessions", float(i % 3))):
                rows.append(
                    {
                        "user_id": user,
                        "metric": metric,
                        "metric_date": _day(i),
                        "value": value,
                        "protocol_id": protocol,
                        "phase_label": label,
                        "phase_type": kind,
                        "condition": None,
                    }
                )
    frame = pd.DataFrame(rows)
    # Two incomplete pre-period dates: u3 has a null on day 5, u5 has no row on day 10.
    frame.loc[
        (frame.user_id == "u3")
        & (frame.metric == "engagement_score")
        & (frame.metric_date == _day(5)),
        "value",
    ] = np.nan
    return frame[~((frame.user_id == "u5") & (frame.metric_date == _day(10)))].reset_index(
        drop=True
    )


def _metrics_frame(seed: int = 5) -> pd.DataFrame:
    """One user's metrics on different scales; engagement follows study_minutes and
    cards_reviewed before the intervention and jumps by 4 points after it."""
    rng = np.random.default_rng(seed)
    days = np.arange(N_DAYS)
    f1, f2, f3 = (np.cumsum(rng.normal(0, 1, N_DAYS)) for _ in range(3))
    metrics = {
        "study_minutes": 30 + 10 * f1,
        "cards_reviewed": 100 + 40 * f2,
        "quiz_accuracy": 0.7 + 0.02 * f3,
    }
    z = {
        name: (v - v[:INTERVENTION_INDEX].mean()) / v[:INTERVENTION_INDEX].std()
        for name, v in metrics.items()
    }
    metrics["engagement_score"] = (
        50
        + 5 * (0.6 * z["study_minutes"] + 0.4 * z["cards_reviewed"])
        + rng.normal(0, 0.3, N_DAYS)
        + 4.0 * (days >= INTERVENTION_INDEX)
    )
    rows = [
        {"user_id": "u1", "metric": metric, "metric_date": _day(i), "value": values[i]}
        for metric, values in metrics.items()
        for i in days
    ]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- panel (no sampling)


def test_users_panel_donors_windows_and_dropped_dates():
    panel = synthetic_control_panel(_protocol_row(), _users_frame())
    assert panel.treated == "u1"
    assert panel.donors == ("u2", "u3", "u4", "u5", "u6")
    assert panel.scaling == "treated_sd"
    assert list(panel.frame.columns) == ["metric_date", "u1", "u2", "u3", "u4", "u5", "u6"]
    # Days 0..39 minus days 5 and 10 (a donor missing) before; B1 is days 40..54.
    assert panel.n_dropped_incomplete == 2
    assert (panel.n_pre, panel.n_post) == (38, 15)
    assert panel.post_end == _day(54)
    assert panel.intervention_date == _day(INTERVENTION_INDEX)
    assert "2 dates" in panel.notes[0]
    assert not panel.frame.drop(columns="metric_date").isna().any().any()


def test_post_end_overrides_the_phase_window_and_frame_without_phases_runs_to_its_end():
    frame = _users_frame()
    panel = synthetic_control_panel(_protocol_row(), frame, post_end=_day(44))
    assert panel.n_post == 5
    no_phases = frame.drop(columns=["protocol_id", "phase_label", "phase_type"])
    panel = synthetic_control_panel(_protocol_row(), no_phases)
    assert panel.n_post == N_DAYS - INTERVENTION_INDEX
    assert panel.post_end == _day(N_DAYS - 1)


def test_days_under_another_protocol_are_left_out():
    frame = _users_frame()
    frame.loc[(frame.user_id == "u1") & (frame.metric_date < _day(4)), "protocol_id"] = "P0"
    panel = synthetic_control_panel(_protocol_row(), frame)
    assert panel.n_left_out_other_protocol == 4
    assert panel.n_pre == 38 - 4


def _expose(frame: pd.DataFrame, user: str, first: int, last: int) -> pd.DataFrame:
    """`user` in an intervention phase of a protocol of its own on days first..last."""
    days = (frame.user_id == user) & frame.metric_date.between(_day(first), _day(last))
    frame = frame.copy()
    frame.loc[days, ["protocol_id", "phase_label", "phase_type"]] = [
        f"P-{user}",
        "B1",
        "INTERVENTION_A",
    ]
    return frame


def test_a_donors_days_under_its_own_intervention_are_left_out():
    # u2 is in its own B phase on days 45-49 (post) and 30-31 (pre): 7 donor-days, 7 dates.
    frame = _expose(_expose(_users_frame(), "u2", 45, 49), "u2", 30, 31)
    panel = synthetic_control_panel(_protocol_row(), frame)
    assert panel.n_exposed_donor_days == 7
    assert (panel.n_pre, panel.n_post) == (38 - 2, 15 - 5)
    assert panel.n_dropped_incomplete == 2 + 7
    assert any("7 donor-days" in note and "own protocol" in note for note in panel.notes)
    assert not set(panel.frame.metric_date.dt.date) & {_day(i) for i in (30, 31, *range(45, 50))}
    # the treated user's own intervention days are its post period, not exposure
    assert _day(40) in set(panel.frame.metric_date.dt.date)
    # donors drawn from the user's own metrics are not masked by other users' phases
    assert (
        synthetic_control_panel(_protocol_row(), frame, donors="metrics").n_exposed_donor_days == 0
    )


def test_a_post_period_with_every_donor_exposed_says_so():
    frame = _users_frame()
    for user in ("u2", "u3", "u4", "u5", "u6"):
        frame = _expose(frame, user, 40, 54)
    with pytest.raises(InputError) as error:
        synthetic_control_panel(_protocol_row(), frame)
    assert error.value.field == "metric_date"
    assert "and 0 from it on" in str(error.value)
    assert "75 donor-days in the window left out" in str(error.value)


def test_metrics_panel_default_and_chosen_donor_metrics():
    frame = _metrics_frame()
    panel = synthetic_control_panel(_protocol_row(), frame, donors="metrics")
    assert panel.treated == "engagement_score"
    assert panel.donors == ("cards_reviewed", "quiz_accuracy", "study_minutes")
    assert panel.scaling == "zscore"
    chosen = synthetic_control_panel(
        _protocol_row(), frame, donors="metrics", donor_metrics=["study_minutes", "cards_reviewed"]
    )
    assert chosen.donors == ("study_minutes", "cards_reviewed")


def test_too_few_complete_dates_names_the_field():
    frame = _users_frame()
    # u4 has no value before day 33: 7 pre-period dates remain (days 33-39) < 8.
    frame = frame[~((frame.user_id == "u4") & (frame.metric_date < _day(33)))]
    with pytest.raises(InputError) as error:
        synthetic_control_panel(_protocol_row(), frame)
    assert error.value.field == "metric_date"
    assert "u4" in str(error.value)
    assert "need at least 8" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"donors": "everyone"}, "donors"),
        ({"donor_metrics": ["sessions"]}, "donor_metrics"),
        ({"donors": "metrics", "donor_metrics": ["engagement_score", "sessions"]}, "donor_metrics"),
        ({"donors": "metrics", "donor_metrics": ["sleep"]}, "donor_metrics"),
    ],
)
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(InputError) as error:
        synthetic_control_panel(_protocol_row(), _users_frame(), **kwargs)
    assert error.value.field == field


def test_missing_protocol_fields_and_fixed_arguments_are_input_errors():
    with pytest.raises(InputError) as error:
        synthetic_control_panel(_protocol_row(first_intervention_date=None), _users_frame())
    assert error.value.field == "first_intervention_date"
    with pytest.raises(InputError) as error:
        synthetic_control_panel(_protocol_row(primary_outcome="quiz_accuracy"), _users_frame())
    assert error.value.field == "primary_outcome"
    with pytest.raises(InputError) as error:
        synthetic_control_for_protocol(_protocol_row(), _users_frame(), treated="u2")
    assert error.value.field == "treated"


# ----------------------------------------------------------------------------- fits (slow)


@pytest.mark.slow
def test_synthetic_control_over_other_users_recovers_the_planted_effect():
    result = synthetic_control_for_protocol(_protocol_row(), _users_frame(), **TINY_SAMPLER)
    payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert payload["donors"] == ["u2", "u3", "u4", "u5", "u6"]
    assert payload["treated"] == "u1"
    assert (payload["nPre"], payload["nPost"]) == (38, 15)
    effect = payload["causalEffect"]
    assert abs(effect["mean"] - EFFECT) < 0.5
    low, high = effect["hdi95"]
    assert low < EFFECT < high
    weights = payload["donorWeights"]
    # The planted weights 0.5/0.3/0.2 on u2..u4: the three carry most of the weight.
    assert weights["u2"] + weights["u3"] + weights["u4"] > 0.8
    assert any("2 dates" in warning for warning in payload["warnings"])
    assert "first intervention phase (B1" in payload["interpretation"]


@pytest.mark.slow
def test_synthetic_control_over_other_metrics_uses_zscore_and_finds_the_jump():
    result = synthetic_control_for_protocol(
        _protocol_row(), _metrics_frame(), donors="metrics", **TINY_SAMPLER
    )
    payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert payload["model"]["scaling"] == "zscore"
    assert payload["donors"] == ["cards_reviewed", "quiz_accuracy", "study_minutes"]
    assert payload["nPost"] == N_DAYS - INTERVENTION_INDEX  # no phase_label column
    assert payload["causalEffect"]["hdi95"][0] > 0


# ----------------------------------------------------------------------------- wearable links


def _wearable_frames(n: int = 150, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """outcome[t] = 50 + 4 (sleep[t-1] - 7) + noise, where sleep[t] is the wearable's sleep on
    day t; hrv and resting HR are unrelated. Wearable days 30, 31, 77 and outcome day 100 are
    missing; another user's rows are mixed in and the outcome rows are shuffled."""
    rng = np.random.default_rng(seed)
    sleep = rng.normal(7, 1, n)
    previous_sleep = np.concatenate(([7.0], sleep[:-1]))
    outcome = 50 + 4 * (previous_sleep - 7) + rng.normal(0, 3, n)
    wearable = pd.DataFrame(
        {
            "user_id": "u1",
            "wearable_date": [_day(i) for i in range(n)],
            "sleep_hours": sleep,
            "hrv_rmssd_ms": rng.normal(50, 10, n),
            "resting_heart_rate_bpm": rng.normal(60, 5, n),
        }
    )
    wearable = wearable.drop(index=[i for i in (30, 31, 77) if i < n])
    metrics = pd.DataFrame(
        {
            "user_id": "u1",
            "metric": "engagement_score",
            "metric_date": [_day(i).isoformat() for i in range(n)],
            "value": outcome,
        }
    )
    metrics = metrics.drop(index=[i for i in (100,) if i < n])
    other_user = metrics.assign(user_id="u2", value=0.0)
    return wearable, pd.concat([metrics.sample(frac=1, random_state=1), other_user])


def test_wearable_links_find_the_planted_next_day_effect():
    wearable, metrics = _wearable_frames()
    links = wearable_outcome_links(wearable, metrics, user_id="u1")
    payload = json.loads(json.dumps(links.to_json(), allow_nan=False))
    rows = {(r["predictor"], r["lag"]): r for r in payload["lagged"]["results"]}
    assert len(rows) == 9  # 3 predictors x lags 0, 1, 2
    assert rows[("sleep_hours", 1)]["pValueAdjusted"] < 1e-6
    assert rows[("sleep_hours", 1)]["r"] > 0.5
    assert rows[("sleep_hours", 0)]["pValueAdjusted"] > 0.05
    assert rows[("hrv_rmssd_ms", 0)]["pValueAdjusted"] > 0.05
    assert payload["lagged"]["correction"] == "fdr_bh"

    sleep = payload["granger"]["sleep_hours"]
    assert sleep["selectedLag"] == 1
    assert sleep["results"][0]["pValue"] < 1e-6
    hrv = payload["granger"]["hrv_rmssd_ms"]
    assert hrv["results"][hrv["selectedLag"] - 1]["pValue"] > 0.05
    # Complete runs: days 0-29, 32-76, 78-99, 101-149; the longest is 101-149.
    assert payload["grangerWindows"]["sleep_hours"] == {
        "start": _day(101).isoformat(),
        "end": _day(149).isoformat(),
        "nDays": 49,
    }
    assert sleep["nObs"] == 49
    assert payload["calendar"]["nDays"] == 150


def test_wearable_alignment_is_by_calendar_day_hand_checked():
    days = [_day(i) for i in range(12)]
    sleep = np.array([7.0, 6.5, np.nan, 8.0, 5.5, 7.2, 6.8, 7.9, 6.1, 7.4, 6.6, 8.2])
    outcome = np.array([3.0, 5.0, 1.0, 4.0, 6.0, 2.0, 7.0, 3.0, 8.0, 4.0, 6.0, 5.0])
    # Day 2 has no wearable row at all (not a NaN row): alignment must leave a gap, not shift.
    wearable = pd.DataFrame({"user_id": 1, "wearable_date": days, "sleep_hours": sleep}).drop(
        index=[2]
    )
    metrics = pd.DataFrame(
        {"user_id": 1, "metric": "engagement_score", "metric_date": days, "value": outcome}
    )
    links = wearable_outcome_links(
        wearable, metrics, user_id="1", predictors=("sleep_hours",), max_lag=1, method="pearson"
    )
    by_lag = {row.lag: row for row in links.lagged.results}
    assert [by_lag[lag].n for lag in (0, 1, 2)] == [11, 10, 9]
    # Lag 1 pairs by hand: sleep on day t-1 with outcome on day t, t-1 != 2.
    pairs = [(sleep[t - 1], outcome[t]) for t in range(1, 12) if t - 1 != 2]
    expected = np.corrcoef(np.array(pairs).T)[0, 1]
    assert by_lag[1].r == pytest.approx(expected, rel=1e-12)
    window = links.granger_windows[0]
    assert (window.start, window.end, window.n_days) == (_day(3), _day(11), 9)
    assert links.granger[0].n_obs == 9


def test_wearable_links_input_errors_name_the_field():
    wearable, metrics = _wearable_frames(n=40)
    with pytest.raises(InputError) as error:
        wearable_outcome_links(wearable, metrics, user_id="u1", max_lag=10)
    assert error.value.field == "sleep_hours"  # longest run 0..29 (30 days) < 3 * 10 + 2
    with pytest.raises(InputError) as error:
        wearable_outcome_links(wearable, metrics, user_id="u1", predictors=("strain",))
    assert error.value.field == "strain"
    with pytest.raises(InputError) as error:
        wearable_outcome_links(wearable, metrics, user_id="u1", outcome="quiz_accuracy")
    assert error.value.field == "outcome"
    duplicated = pd.concat([wearable, wearable.iloc[:1]])
    with pytest.raises(InputError) as error:
        wearable_outcome_links(duplicated, metrics, user_id="u1")
    assert error.value.field == "wearable_date"
