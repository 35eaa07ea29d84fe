"""A synthetic study that looks like real study-app use and knows its own truth.

Each user studies most days (some days are missed), in a few sessions clustered around a
personal morning and evening hour; each session has card reviews, sometimes a quiz or a lecture,
and ends with a session performance score. The day's latent engagement follows

    engagement[d] = base + weekday[d mod 7] + ar1[d] + effect * in_B_phase[d]
                    + sleep_effect * (sleep_hours[d-1] - 7)

so it has weekly seasonality, autocorrelation, a known intervention effect inside the
pre-registered ABAB protocol, and a known link from last night's sleep to today. The effect is
`effect` for every user by default; with `effect_sd` > 0 each user's own effect is drawn from
Normal(effect, effect_sd), so the users form a series of N-of-1 trials with a known population
mean and between-person SD (`stats.series_of_n1` recovers both). Users' baselines `base` vary
with SD `BASE_SD` around `BASE_MEAN`. Each protocol
pre-registers its analyses (`DEMO_ANALYSES`): the randomization test, the ITS, change points,
sequential monitoring and the wearable links that the sleep effect is for. Session scores
scatter around the latent engagement, so the daily mean score (the protocol's primary outcome,
`engagement_score`) recovers it. The generator returns the tables and the ground truth
(`DemoStudy.ground_truth`) so tests can check that analyses recover what was put in.

Pure code: numpy and polars, no database, no Dagster.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from americano_pipelines.registration.analyses import (
    DEFAULT_PREDICTORS,
    AnalysisList,
    ChangePoints,
    InterruptedTimeSeries,
    RandomizationTest,
    SequentialMonitoring,
    WearableLinks,
)
from americano_pipelines.stats.sced import draw_abab_schedule
from americano_pipelines.synth.wearable_documents import (
    oura_documents,
    wearable_records_frame,
    whoop_documents,
)

PRIMARY_OUTCOME = "engagement_score"
RUN_IN_DAYS = 21  # ordinary use before the experiment starts
MIN_PHASE_DAYS = 7
PHASE_LABELS = ("baseline_1", "intervention_1", "baseline_2", "intervention_2")
PHASE_TYPES = ("BASELINE", "INTERVENTION_A", "BASELINE", "INTERVENTION_A")
WEEKDAY_EFFECT = np.array([2.0, 3.0, 2.5, 1.0, -2.0, -4.0, -2.5])  # Monday..Sunday
AR1_COEFFICIENT = 0.6
SLEEP_EFFECT_PER_HOUR = 2.5
BASE_MEAN = 55.0
BASE_SD = 3.0
MISSING_DAY_PROBABILITY = 0.07
LOCATIONS = np.array(["HOME", "LIBRARY", "CAFE", "CAMPUS", "OTHER"])
CONTENT_TYPES = np.array(["flashcard", "clinical_case", "lecture_note"])
DIFFICULTIES = np.array(["EASY", "MEDIUM", "HARD"])
# What every demo protocol pre-registers. No synthetic control: every demo user runs the same
# kind of intervention over the same weeks, so no other user (and no other metric, all driven
# by engagement) is an unexposed donor.
DEMO_ANALYSES = AnalysisList(
    (
        RandomizationTest(statistic="B-A"),
        InterruptedTimeSeries(post_window="first_phase"),
        ChangePoints(min_segment_length=MIN_PHASE_DAYS),
        SequentialMonitoring(spending="obrien_fleming"),
        WearableLinks(predictors=DEFAULT_PREDICTORS, lags=(0, 1, 2)),
    )
)


@dataclass(frozen=True)
class DemoStudy:
    """The tables of a demo study, keyed by OLTP table name, and what was put into them."""

    tables: dict[str, pl.DataFrame]
    ground_truth: dict = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        return {name: frame.height for name, frame in self.tables.items()}


def generate_demo_study(
    *,
    users: int = 3,
    days: int = 120,
    seed: int = 0,
    start_date: dt.date | None = None,
    effect: float = 8.0,
    sessions_per_day: float = 2.0,
    cards_per_session: float = 25.0,
    protocol_users: int | None = None,
    effect_sd: float = 0.0,
    analyses: AnalysisList = DEMO_ANALYSES,
) -> DemoStudy:
    """Generate `users` users over `days` days starting at `start_date` (default: `days` ago).

    Each of the first `protocol_users` users (default: all) has one pre-registered ABAB protocol
    starting after a run-in, with phase lengths drawn from the randomization test's admissible
    set; the others use the app without one (unexposed: donors for a synthetic control).
    `effect` is the true increase of the daily engagement score in intervention phases: the
    same for every user, or with `effect_sd` > 0 each user's own draw from Normal(effect,
    effect_sd) (its own random stream, so the rest of the study is the same for every
    `effect_sd`); each protocol's `trueEffect` in the ground truth is its user's. `analyses`:
    what every protocol registers (`DEMO_ANALYSES` by default).
    """
    if users < 1:
        raise ValueError("users must be at least 1")
    protocol_users = users if protocol_users is None else protocol_users
    if not 1 <= protocol_users <= users:
        raise ValueError("protocol_users must be from 1 to users")
    if not effect_sd >= 0:
        raise ValueError("effect_sd must be at least 0")
    if days < RUN_IN_DAYS + 4 * MIN_PHASE_DAYS:
        raise ValueError(f"days must be at least {RUN_IN_DAYS + 4 * MIN_PHASE_DAYS}")
    start_date = start_date or (dt.date.today() - dt.timedelta(days=days))
    rng = np.random.default_rng(seed)
    day_index = np.arange(days)
    dates = np.array([start_date + dt.timedelta(days=int(d)) for d in day_index])
    weekday = np.array([d.weekday() for d in dates])
    # Each user's effect, from a stream of its own: effect_sd = 0 leaves `rng` and the study as
    # they were.
    user_effects = effect + effect_sd * np.random.default_rng([seed, 1]).standard_normal(users)

    user_rows, protocol_rows, phase_rows, truth_protocols = [], [], [], []
    daily_frames, wearable_frames = [], []
    for user_index in range(users):
        user_id = f"user_{user_index + 1:03d}"
        email = (
            "kevy@americano.dev" if user_index == 0 else f"student{user_index + 1}@americano.dev"
        )
        user_rows.append(
            {
                "id": user_id,
                "email": email,
                "display_name": f"Student {user_index + 1}",
                "created_at": _utc(start_date, 0),
            }
        )
        protocol_seed = int(rng.integers(1, 2**31 - 1))
        protocol_days = min(days - RUN_IN_DAYS, 56)
        protocol_start = RUN_IN_DAYS
        changes = draw_abab_schedule(protocol_days, MIN_PHASE_DAYS, protocol_seed)
        bounds = [0, *changes, protocol_days]
        protocol_id = f"protocol_{user_index + 1:03d}"
        phase_of_day = np.full(days, None, dtype=object)
        in_b_phase = np.zeros(days, dtype=bool)
        change_dates = []
        for k, label in enumerate(PHASE_LABELS):
            first, last = protocol_start + bounds[k], protocol_start + bounds[k + 1] - 1
            phase_of_day[first : last + 1] = label
            if PHASE_TYPES[k] != "BASELINE":
                in_b_phase[first : last + 1] = True
            if k > 0:
                change_dates.append(dates[first].isoformat())
            phase_rows.append(
                {
                    "id": f"{protocol_id}_{label}",
                    "protocol_id": protocol_id,
                    "phase_label": label,
                    "phase_type": PHASE_TYPES[k],
                    "start_date": dates[first],
                    "end_date": dates[last],
                    "planned_duration": last - first + 1,
                    "randomization_seed": protocol_seed,
                    "intervention_params": json.dumps(
                        {"reward_probability": 0.20 if PHASE_TYPES[k] != "BASELINE" else 0.15}
                    ),
                }
            )
        protocol_rows.append(
            {
                "id": protocol_id,
                "user_id": user_id,
                "protocol_name": "Reward probability 15% vs 20%",
                "hypothesis": "A 20% reward probability raises the daily engagement score "
                "compared with 15%.",
                "start_date": dates[protocol_start],
                "end_date": dates[protocol_start + protocol_days - 1],
                "design_type": "ABAB",
                "primary_outcome": PRIMARY_OUTCOME,
                "sample_size_target": protocol_days,
                "analysis_plan": "Randomization test of B-A (SCRT), NAP and SMD effect sizes, "
                "Bayesian ITS at the first phase change; alpha 0.05.",
                "analyses": json.dumps(analyses.to_json()),
                "min_phase_length": MIN_PHASE_DAYS,
                "planned_length": protocol_days,
                "interim_looks": 2,
                "alpha": 0.05,
                "randomization_seed": protocol_seed,
                "registered_at": _utc(dates[protocol_start] - dt.timedelta(days=1), 20),
                "deviations": "[]",
                "screened": 1,
                "eligible": 1,
                "enrolled": 1,
                "completed": 1,
            }
        )
        truth_protocols.append(
            {
                "protocolId": protocol_id,
                "userId": user_id,
                "primaryOutcome": PRIMARY_OUTCOME,
                "trueEffect": float(user_effects[user_index]),
                "phaseChangeDates": change_dates,
                "phaseBounds": [protocol_start + b for b in bounds],
                "seed": protocol_seed,
            }
        )

        if user_index >= protocol_users:  # no protocol (its schedule was drawn all the same)
            phase_of_day[:] = None
            in_b_phase[:] = False

        # Physiology: sleep, HRV and resting heart rate, with their own weekly rhythm.
        sleep_hours = np.clip(
            7.0 + 0.6 * (weekday >= 4) + _ar1(rng, days, 0.4, 0.8), 3.5, 10.5
        ).round(2)
        hrv = np.clip(55 + 6 * (sleep_hours - 7) + _ar1(rng, days, 0.5, 7), 15, 150).round()
        resting_hr = np.clip(58 - 1.5 * (sleep_hours - 7) + _ar1(rng, days, 0.5, 2.5), 40, 90)
        resting_hr = resting_hr.round()
        previous_sleep = np.concatenate([[7.0], sleep_hours[:-1]])

        base = BASE_MEAN + rng.normal(0, BASE_SD)
        engagement = (
            base
            + WEEKDAY_EFFECT[weekday]
            + _ar1(rng, days, AR1_COEFFICIENT, 3.0)
            + user_effects[user_index] * in_b_phase
            + SLEEP_EFFECT_PER_HOUR * (previous_sleep - 7.0)
        )
        studied = rng.random(days) >= MISSING_DAY_PROBABILITY
        daily_frames.append(
            pl.DataFrame(
                {
                    "user_id": user_id,
                    "day_index": day_index,
                    "date": pl.Series(dates.tolist(), dtype=pl.Date),
                    "weekday": weekday,
                    "engagement": engagement,
                    "studied": studied,
                    "phase_label": phase_of_day.astype(str),
                    "in_protocol": phase_of_day != None,  # noqa: E711 (numpy elementwise)
                    "protocol_seed": protocol_seed,
                    "sleep_hours": sleep_hours,
                    "hrv": hrv,
                    "resting_hr": resting_hr,
                    "mood_draw": rng.random(days),
                    "location_draw": rng.integers(0, len(LOCATIONS), days),
                }
            )
        )
        wearable_frames.append(
            _wearable_records(user_id, dates, sleep_hours, hrv, resting_hr, start_date, user_index)
        )

    protocol_ids = {f"protocol_{i + 1:03d}" for i in range(protocol_users)}
    protocol_rows = [row for row in protocol_rows if row["id"] in protocol_ids]
    phase_rows = [row for row in phase_rows if row["protocol_id"] in protocol_ids]
    truth_protocols = [row for row in truth_protocols if row["protocolId"] in protocol_ids]
    daily = pl.concat(daily_frames)
    context = _context_metadata(daily)
    events = _behavioral_events(daily, rng, sessions_per_day, cards_per_session)
    tables = {
        "users": pl.DataFrame(user_rows),
        "context_metadata": context,
        "behavioral_events": events,
        "experiment_protocols": pl.DataFrame(protocol_rows),
        "phase_assignments": pl.DataFrame(phase_rows),
        "wearable_records": pl.concat(wearable_frames),
    }
    ground_truth = {
        "seed": seed,
        "users": users,
        "protocolUsers": protocol_users,
        "days": days,
        "startDate": start_date.isoformat(),
        "effect": effect,
        "effectSd": effect_sd,
        "sleepEffectPerHour": SLEEP_EFFECT_PER_HOUR,
        "ar1": AR1_COEFFICIENT,
        "weekdayEffect": WEEKDAY_EFFECT.tolist(),
        "protocols": truth_protocols,
        "rowCounts": {name: frame.height for name, frame in tables.items()},
    }
    return DemoStudy(tables=tables, ground_truth=ground_truth)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series with marginal standard deviation `sd`."""
    series = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    series[0] = rng.normal(0, sd)
    for t in range(1, n):  # a few hundred days: a loop is cheaper than importing scipy.signal
        series[t] += phi * series[t - 1]
    return series


def _utc(day: dt.date, hour: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(hours=hour)


def _context_metadata(daily: pl.DataFrame) -> pl.DataFrame:
    """One self-report per studied day, with that morning's physiology."""
    studied = daily.filter(pl.col("studied"))
    mood = (
        pl.when(pl.col("mood_draw") + (pl.col("engagement") - 55) / 40 < 0.3)
        .then(pl.lit("LOW"))
        .when(pl.col("mood_draw") + (pl.col("engagement") - 55) / 40 < 0.75)
        .then(pl.lit("MEDIUM"))
        .otherwise(pl.lit("HIGH"))
    )
    return studied.select(
        pl.format("ctx_{}_{}", pl.col("user_id"), pl.col("date").dt.strftime("%Y%m%d")).alias("id"),
        pl.col("user_id"),
        (pl.col("date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=7)).alias("timestamp"),
        mood.alias("mood"),
        ((pl.col("engagement") - 30) / 6).round().clip(1, 10).cast(pl.Int32).alias("energy_level"),
        pl.col("location_draw")
        .map_elements(lambda i: LOCATIONS[i], return_dtype=pl.String)
        .alias("location"),
        pl.lit(None, dtype=pl.String).alias("notes"),
        pl.col("sleep_hours"),
        ((pl.col("sleep_hours") - 3.5) * 1.3)
        .round()
        .clip(1, 10)
        .cast(pl.Int32)
        .alias("sleep_quality"),
        pl.col("hrv").cast(pl.Int32).alias("hrv_score"),
        pl.col("resting_hr").cast(pl.Int32).alias("resting_heart_rate"),
        pl.lit(None, dtype=pl.Float64).alias("activity_strain"),
    )


def _behavioral_events(
    daily: pl.DataFrame,
    rng: np.random.Generator,
    sessions_per_day: float,
    cards_per_session: float,
) -> pl.DataFrame:
    """Sessions of card reviews, quizzes and lectures on studied days, vectorized over events."""
    studied = daily.filter(pl.col("studied"))
    n_days = studied.height
    sessions_each_day = np.maximum(rng.poisson(sessions_per_day, n_days), 1)
    day_of_session = np.repeat(np.arange(n_days), sessions_each_day)
    n_sessions = day_of_session.size

    engagement = studied["engagement"].to_numpy()[day_of_session]
    # Sessions cluster around 09:00 and 20:00; more engaged days bring longer sessions.
    evening = rng.random(n_sessions) < 0.6
    start_hour = np.clip(np.where(evening, 20.0, 9.0) + rng.normal(0, 1.5, n_sessions), 6, 23.5)
    n_cards = rng.poisson(cards_per_session * np.clip(engagement / 55, 0.3, 2.0))
    has_quiz = rng.random(n_sessions) < 0.5
    has_lecture = rng.random(n_sessions) < 0.2
    score = np.clip(np.round(engagement + rng.normal(0, 6, n_sessions)), 0, 100).astype(int)
    quiz_correct = np.clip(np.round(score / 10 + rng.normal(0, 1, n_sessions)), 0, 10).astype(int)

    # Event layout within a session: start, cards..., [quiz], [lecture], end.
    events_per_session = 2 + n_cards + has_quiz + has_lecture
    session_of_event = np.repeat(np.arange(n_sessions), events_per_session)
    first_event = np.concatenate([[0], np.cumsum(events_per_session)[:-1]])
    position = np.arange(session_of_event.size) - first_event[session_of_event]
    last_position = events_per_session[session_of_event] - 1
    n_cards_e = n_cards[session_of_event]
    event_type = np.full(session_of_event.size, "CARD_REVIEWED", dtype=object)
    event_type[position == 0] = "SESSION_STARTED"
    event_type[position == last_position] = "SESSION_ENDED"
    after_cards = position - n_cards_e  # 1 = first slot after the cards
    quiz_slot = has_quiz[session_of_event] & (after_cards == 1) & (position != last_position)
    event_type[quiz_slot] = "QUIZ_COMPLETED"
    lecture_slot = (
        has_lecture[session_of_event]
        & (after_cards == 1 + has_quiz[session_of_event])
        & (position != last_position)
    )
    event_type[lecture_slot] = "LECTURE_VIEWED"

    seconds = rng.exponential(35.0, session_of_event.size)
    seconds[position == 0] = 0.0
    offset = _segment_cumsum(seconds, first_event, session_of_event)
    day_e = day_of_session[session_of_event]
    dates = studied["date"].to_numpy()[day_e]
    timestamp = (
        dates.astype("datetime64[us]")
        + (start_hour[session_of_event] * 3_600_000_000).astype("timedelta64[us]")
        + (offset * 1_000_000).astype("timedelta64[us]")
    )
    duration_minutes = np.round(offset[first_event + events_per_session - 1] / 60.0, 1)[
        session_of_event
    ]

    correct = rng.random(session_of_event.size) < np.clip(engagement[session_of_event] / 80, 0, 1)
    card_ids = rng.integers(1, 5000, session_of_event.size)
    response_ms = rng.lognormal(8.0, 0.4, session_of_event.size).astype(int)
    session_ids = np.char.add("s", np.arange(n_sessions).astype(str))[session_of_event]
    event_data = np.empty(session_of_event.size, dtype=object)
    for kind in (
        "SESSION_STARTED",
        "CARD_REVIEWED",
        "QUIZ_COMPLETED",
        "LECTURE_VIEWED",
        "SESSION_ENDED",
    ):
        mask = event_type == kind
        idx = np.flatnonzero(mask)
        if kind == "CARD_REVIEWED":
            payload = [
                f'{{"session_id":"{s}","card_id":{c},"correct":{str(k).lower()},"response_ms":{r}}}'
                for s, c, k, r in zip(
                    session_ids[idx], card_ids[idx], correct[idx], response_ms[idx], strict=True
                )
            ]
        elif kind == "QUIZ_COMPLETED":
            payload = [
                f'{{"session_id":"{s}","questions":10,"correct":{q}}}'
                for s, q in zip(session_ids[idx], quiz_correct[session_of_event[idx]], strict=True)
            ]
        elif kind == "SESSION_ENDED":
            payload = [
                f'{{"session_id":"{s}","duration_minutes":{m},"cards_reviewed":{c}}}'
                for s, m, c in zip(
                    session_ids[idx], duration_minutes[idx], n_cards_e[idx], strict=True
                )
            ]
        else:
            payload = [f'{{"session_id":"{s}"}}' for s in session_ids[idx]]
        event_data[idx] = payload

    scored = (event_type == "SESSION_ENDED") | (event_type == "QUIZ_COMPLETED")
    session_score = np.where(
        event_type == "QUIZ_COMPLETED", quiz_correct[session_of_event] * 10, score[session_of_event]
    )
    engagement_level = np.where(
        session_score < 45, "LOW", np.where(session_score < 70, "MEDIUM", "HIGH")
    )
    completion = np.where(
        duration_minutes < 10, "RUSHED", np.where(duration_minutes < 30, "NORMAL", "THOROUGH")
    )
    user_id = studied["user_id"].to_numpy()[day_e]
    date_str = studied["date"].dt.strftime("%Y%m%d").to_numpy()[day_e]
    phase = studied["phase_label"].to_numpy()[day_e]
    in_protocol = studied["in_protocol"].to_numpy()[day_e]
    hours = timestamp.astype("datetime64[h]").astype(np.int64) % 24
    protocol_seed = studied["protocol_seed"].to_numpy()[day_e]
    return pl.DataFrame(
        {
            "user_id": user_id.astype(str),
            "event_type": event_type.astype(str),
            "event_data": event_data.astype(str),
            "timestamp": pl.Series(timestamp).dt.replace_time_zone("UTC"),
            "completion_quality": _where(event_type == "SESSION_ENDED", completion, pl.String),
            "content_type": CONTENT_TYPES[card_ids % 3],
            "day_of_week": studied["weekday"].to_numpy()[day_e].astype(np.int32),
            "difficulty_level": DIFFICULTIES[card_ids % 3],
            "engagement_level": _where(scored, engagement_level, pl.String),
            "session_performance_score": _where(scored, session_score, pl.Int32),
            "time_of_day": hours.astype(np.int32),
            "experiment_phase": _where(in_protocol, phase.astype(str), pl.String),
            "randomization_seed": _where(in_protocol, protocol_seed, pl.Int32),
            "context_metadata_id": np.char.add(
                np.char.add(np.char.add("ctx_", user_id.astype(str)), "_"), date_str.astype(str)
            ),
        }
    )


def _where(mask: np.ndarray, values: np.ndarray, dtype: pl.DataType) -> pl.Series:
    """`values` where `mask` holds, null elsewhere."""
    return pl.Series(values, dtype=dtype).zip_with(
        pl.Series(mask.astype(bool)), pl.Series([None] * len(values), dtype=dtype)
    )


def _segment_cumsum(
    values: np.ndarray, segment_start: np.ndarray, segment_of: np.ndarray
) -> np.ndarray:
    """Cumulative sum restarting at each segment (session)."""
    total = np.cumsum(values)
    before_segment = np.concatenate([[0.0], total])[segment_start]
    return total - before_segment[segment_of]


# Which provider each demo user wears, in turn: Oura, WHOOP, both.
DEMO_PROVIDERS = (("OURA",), ("WHOOP",), ("OURA", "WHOOP"))


def _wearable_records(
    user_id: str,
    dates: np.ndarray,
    sleep_hours: np.ndarray,
    hrv: np.ndarray,
    resting_hr: np.ndarray,
    start_date: dt.date,
    user_index: int = 0,
) -> pl.DataFrame:
    """The user's wearable history as its provider's API documents (Oura v2, WHOOP v2), parsed
    by the sync's own parsers, so the demo reaches marts.wearable_daily by the path of real
    data. WHOOP's strain follows the night before (no random draw: the study's stream stays
    what it was); its first week has one day split into two cycles."""
    days = [dt.date.fromisoformat(str(d)) for d in dates]
    frames = []
    for provider in DEMO_PROVIDERS[user_index % len(DEMO_PROVIDERS)]:
        if provider == "OURA":
            documents = oura_documents(user_id, days, sleep_hours, hrv, resting_hr)
        else:
            strain = np.clip(11.0 + 1.2 * (sleep_hours - 7.0), 0.0, 21.0).round(1)
            documents = whoop_documents(
                user_id, days, sleep_hours, hrv, resting_hr, strain, split_cycle_days=(3,)
            )
        frames.append(wearable_records_frame(user_id, provider, documents))
    return pl.concat(frames)
