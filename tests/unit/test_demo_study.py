"""The synthetic study: reproducible, realistic in shape, and true to its ground truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from americano_pipelines.stats.sced import count_phase_assignments
from americano_pipelines.synth.demo_study import MIN_PHASE_DAYS, generate_demo_study

START = dt.date(2025, 1, 6)


@pytest.fixture(scope="module")
def study():
    return generate_demo_study(users=3, days=120, seed=3, start_date=START, effect=8.0)


def test_same_seed_same_study(study) -> None:
    again = generate_demo_study(users=3, days=120, seed=3, start_date=START, effect=8.0)
    for name, frame in study.tables.items():
        assert frame.equals(again.tables[name]), name
    other = generate_demo_study(users=3, days=120, seed=4, start_date=START)
    assert not other.tables["behavioral_events"].equals(study.tables["behavioral_events"])


def test_schedule_respects_minimum_phase_length(study) -> None:
    phases = study.tables["phase_assignments"]
    assert phases["planned_duration"].min() >= MIN_PHASE_DAYS
    for protocol in study.ground_truth["protocols"]:
        bounds = protocol["phaseBounds"]
        assert len(bounds) == 5
        assert all(b - a >= MIN_PHASE_DAYS for a, b in zip(bounds, bounds[1:], strict=False))
        assert len(protocol["phaseChangeDates"]) == 3


def test_daily_engagement_recovers_the_true_effect(study) -> None:
    """Mean daily score in B phases minus A phases ≈ the true effect (AR noise averages out)."""
    events = study.tables["behavioral_events"].filter(pl.col("event_type") == "SESSION_ENDED")
    daily = events.group_by(
        "user_id", pl.col("timestamp").dt.date().alias("day"), "experiment_phase"
    ).agg(pl.col("session_performance_score").mean())
    in_protocol = daily.drop_nulls("experiment_phase").with_columns(
        pl.col("experiment_phase").str.starts_with("intervention").alias("is_b")
    )
    means = in_protocol.group_by("is_b").agg(pl.col("session_performance_score").mean())
    diff = (
        means.filter(pl.col("is_b"))["session_performance_score"][0]
        - means.filter(~pl.col("is_b"))["session_performance_score"][0]
    )
    assert 4.0 < diff < 12.0


def test_weekly_pattern_and_missing_days(study) -> None:
    events = study.tables["behavioral_events"]
    days_with_events = events.select(
        pl.col("user_id"), pl.col("timestamp").dt.date().alias("day")
    ).unique()
    share_studied = days_with_events.height / (3 * 120)
    assert 0.85 < share_studied < 0.99  # some days are missed
    scores = (
        events.filter(pl.col("event_type") == "SESSION_ENDED")
        .group_by("day_of_week")
        .agg(pl.col("session_performance_score").mean())
        .sort("day_of_week")["session_performance_score"]
        .to_numpy()
    )
    assert scores[1] > scores[5]  # Tuesdays beat Saturdays, as put in


def test_events_are_valid_for_the_schema(study) -> None:
    events = study.tables["behavioral_events"]
    assert set(events["event_type"].unique()) == {
        "SESSION_STARTED",
        "CARD_REVIEWED",
        "QUIZ_COMPLETED",
        "LECTURE_VIEWED",
        "SESSION_ENDED",
    }
    scores = events["session_performance_score"].drop_nulls()
    assert scores.min() >= 0 and scores.max() <= 100
    assert events["time_of_day"].is_between(0, 23).all()
    context_ids = set(study.tables["context_metadata"]["id"])
    assert set(events["context_metadata_id"].unique()) <= context_ids
    assert study.ground_truth["rowCounts"]["behavioral_events"] == events.height


def test_sleep_relates_to_next_day_engagement(study) -> None:
    context = study.tables["context_metadata"].sort("user_id", "timestamp")
    # Oura sleep periods and WHOOP sleeps (the third user wears both, and they agree).
    wearables = (
        study.tables["wearable_records"]
        .filter(pl.col("record_type") == "sleep")
        .group_by("user_id", "day")
        .agg(pl.col("value").mean(), pl.col("value").n_unique().alias("values"))
    )
    assert wearables.height == 3 * 120 and (wearables["values"] == 1).all()
    sleep = wearables.sort("user_id", "day").with_columns(
        pl.col("value").shift(1).over("user_id").alias("previous_sleep")
    )
    joined = (
        context.with_columns(pl.col("timestamp").dt.date().alias("day"))
        .join(sleep.select("user_id", "day", "previous_sleep"), on=["user_id", "day"])
        .drop_nulls("previous_sleep")
    )
    r = np.corrcoef(joined["previous_sleep"], joined["energy_level"])[0, 1]
    assert r > 0.1


def test_schedule_is_drawn_from_the_admissible_set() -> None:
    # 56 protocol days with minimum phase 7 leave C(56 - 28 + 3, 3) admissible schedules.
    assert count_phase_assignments(56, 4, MIN_PHASE_DAYS) == 4495


def test_users_without_a_protocol_use_the_app_unexposed() -> None:
    study = generate_demo_study(users=3, days=63, seed=3, start_date=START, protocol_users=1)
    assert study.tables["experiment_protocols"]["user_id"].to_list() == ["user_001"]
    assert set(study.tables["phase_assignments"]["protocol_id"]) == {"protocol_001"}
    assert [p["userId"] for p in study.ground_truth["protocols"]] == ["user_001"]
    assert study.ground_truth["protocolUsers"] == 1
    events = study.tables["behavioral_events"]
    others = events.filter(pl.col("user_id") != "user_001")
    assert others.height > 0 and others["experiment_phase"].null_count() == others.height
    assert events.filter(pl.col("user_id") == "user_001")["experiment_phase"].null_count() < (
        events.filter(pl.col("user_id") == "user_001").height
    )
    with pytest.raises(ValueError, match="protocol_users"):
        generate_demo_study(users=2, days=63, protocol_users=3)


def test_planted_between_person_spread_changes_only_the_effects() -> None:
    """`effect_sd` draws each user's own effect from a stream of its own: the schedules, the
    physiology and the users stay as they are, the effects differ by user, and without it every
    user's effect is `effect`."""
    same = generate_demo_study(users=4, days=77, seed=3, start_date=START)
    spread = generate_demo_study(users=4, days=77, seed=3, start_date=START, effect_sd=3.0)
    for name in ("users", "experiment_protocols", "phase_assignments", "wearable_records"):
        assert spread.tables[name].equals(same.tables[name]), name
    assert not spread.tables["behavioral_events"].equals(same.tables["behavioral_events"])
    assert [p["trueEffect"] for p in same.ground_truth["protocols"]] == [8.0] * 4
    effects = [p["trueEffect"] for p in spread.ground_truth["protocols"]]
    assert len(set(effects)) == 4 and all(abs(e - 8.0) < 4 * 3.0 for e in effects)
    assert (spread.ground_truth["effect"], spread.ground_truth["effectSd"]) == (8.0, 3.0)
    with pytest.raises(ValueError, match="effect_sd"):
        generate_demo_study(users=2, days=77, effect_sd=-1.0)
