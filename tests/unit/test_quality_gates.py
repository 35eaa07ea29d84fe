"""The quality gates on a fixture of bad rows: each bad row ends in quarantine with the rule it
broke, the good rows flow on, and rows in = rows out + quarantined."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.quality import rules
from americano_pipelines.quality.gate import GateCounts, quarantine_records, split

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def _events() -> pd.DataFrame:
    """Three good events, then one bad row per rule (the id says which)."""
    at = pd.Timestamp("2025-05-30 08:00", tz="UTC")
    rows = [
        ("good_1", at, 80, 4, 8),
        ("good_2", at, None, None, None),
        ("good_3", at, 0, 0, 23),
        ("future", pd.Timestamp("2025-06-02", tz="UTC"), 50, 1, 9),
        ("good_1", at, 70, 4, 8),  # the id again
        ("score", at, 101, 4, 8),
        ("clock", at, 50, 7, 24),
    ]
    columns = ["id", "timestamp", "session_performance_score", "day_of_week", "time_of_day"]
    return pd.DataFrame(rows, columns=columns)


def test_each_bad_event_is_quarantined_with_the_rule_it_broke() -> None:
    gated = split(_events(), rules.behavioral_events(NOW), now=NOW)
    assert gated.good["id"].tolist() == ["good_2", "good_3"]
    reasons = list(zip(gated.quarantined["id"], gated.quarantined["quarantine_rules"], strict=True))
    # Both rows of a repeated id: which one is the event is not known.
    assert reasons == [
        ("good_1", "event_id_unique"),
        ("future", "event_not_in_future"),
        ("good_1", "event_id_unique"),
        ("score", "session_performance_score_0_to_100"),
        ("clock", "day_of_week_0_to_6; time_of_day_0_to_23"),
    ]
    assert (gated.quarantined["quarantined_at"] == pd.Timestamp(NOW)).all()
    assert gated.counts == GateCounts(
        7,
        2,
        5,
        {
            "event_not_in_future": 1,
            "event_id_unique": 2,
            "session_performance_score_0_to_100": 1,
            "day_of_week_0_to_6": 1,
            "time_of_day_0_to_23": 1,
        },
    )


def test_implausible_wearable_values_are_quarantined() -> None:
    frame = pd.DataFrame(
        {
            "id": [
                *("rhr_ok", "rhr_low", "rhr_high", "hrv_ok", "hrv_zero", "sleep_ok", "sleep_25"),
                *("sdnn_ok", "sdnn_negative"),
            ],
            "record_type": ["resting_heart_rate"] * 3
            + ["hrv_rmssd"] * 2
            + ["sleep_duration"] * 2
            + ["hrv_sdnn"] * 2,
            "value": [55.0, 24.9, 221.0, 40.0, 0.0, 7.5, 25.0, 48.0, -1.0],
        }
    )
    gated = split(frame, rules.wearable_records(), now=NOW)
    assert gated.good["id"].tolist() == ["rhr_ok", "hrv_ok", "sleep_ok", "sdnn_ok"]
    assert dict(
        zip(gated.quarantined["id"], gated.quarantined["quarantine_rules"], strict=True)
    ) == {
        "rhr_low": "resting_heart_rate_25_to_220_bpm",
        "rhr_high": "resting_heart_rate_25_to_220_bpm",
        "hrv_zero": "hrv_positive",
        "sleep_25": "sleep_0_to_24_hours",
        "sdnn_negative": "hrv_sdnn_positive",
    }
    assert gated.counts.rows_in == gated.counts.rows_out + gated.counts.rows_quarantined == 9


def test_synced_oura_and_whoop_documents_meet_the_same_hrv_and_heart_rate_rules() -> None:
    # Oura sleep periods carry RMSSD and the lowest heart rate in the document, WHOOP
    # recoveries under score; the value column holds hours asleep or the recovery %.
    oura = [
        (
            "oura_ok",
            "sleep",
            7.5,
            {"type": "long_sleep", "average_hrv": 55, "lowest_heart_rate": 50},
        ),
        ("oura_hrv_zero", "sleep", 7.0, {"average_hrv": 0, "lowest_heart_rate": 50}),
        ("oura_rhr_high", "sleep", 7.0, {"average_hrv": 40, "lowest_heart_rate": 230}),
        ("oura_nap_no_hrv", "sleep", 0.5, {"type": "late_nap", "average_hrv": None}),
        ("oura_daily", "daily_readiness", 80.0, {"score": 80, "lowest_heart_rate": 5}),
    ]
    whoop = [
        (
            "whoop_ok",
            "recovery",
            60.0,
            {"score": {"hrv_rmssd_milli": 45.2, "resting_heart_rate": 52}},
        ),
        (
            "whoop_hrv_negative",
            "recovery",
            60.0,
            {"score": {"hrv_rmssd_milli": -3, "resting_heart_rate": 52}},
        ),
        (
            "whoop_rhr_low",
            "recovery",
            60.0,
            {"score": {"hrv_rmssd_milli": 45, "resting_heart_rate": 20}},
        ),
        ("whoop_pending", "recovery", None, {"score_state": "PENDING_SCORE"}),
    ]
    rows = [("OURA", *row) for row in oura] + [("WHOOP", *row) for row in whoop]
    rows.append(("APPLE_HEALTH", "apple_rhr_low", "resting_heart_rate", 10.0, None))
    frame = pd.DataFrame(
        {
            "id": [row[1] for row in rows],
            "provider": [row[0] for row in rows],
            "record_type": [row[2] for row in rows],
            "value": [row[3] for row in rows],
            "payload": [None if row[4] is None else json.dumps(row[4]) for row in rows],
        }
    )
    gated = split(frame, rules.wearable_records(), now=NOW)
    assert gated.good["id"].tolist() == [
        "oura_ok",
        "oura_nap_no_hrv",
        "oura_daily",
        "whoop_ok",
        "whoop_pending",
    ]
    assert dict(
        zip(gated.quarantined["id"], gated.quarantined["quarantine_rules"], strict=True)
    ) == {
        "oura_hrv_zero": "hrv_positive",
        "oura_rhr_high": "resting_heart_rate_25_to_220_bpm",
        "whoop_hrv_negative": "hrv_positive",
        "whoop_rhr_low": "resting_heart_rate_25_to_220_bpm",
        "apple_rhr_low": "resting_heart_rate_25_to_220_bpm",
    }
    assert gated.counts.rows_in == gated.counts.rows_out + gated.counts.rows_quarantined == 10


def test_an_observation_outside_its_protocols_dates_is_quarantined() -> None:
    frame = pd.DataFrame(
        {
            "observation_date": [dt.date(2025, 1, 1), dt.date(2025, 1, 31), dt.date(2025, 2, 1)],
            "value": [1.0, 2.0, 3.0],
        }
    )
    schema = rules.phase_observations(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    gated = split(frame, schema, now=NOW)
    assert gated.good["value"].tolist() == [1.0, 2.0]
    assert gated.quarantined["quarantine_rules"].tolist() == ["observation_within_protocol_dates"]
    assert gated.counts.share == pytest.approx(1 / 3)


def test_a_clean_frame_passes_whole_and_a_missing_column_names_itself() -> None:
    good = _events().iloc[:3]
    gated = split(good, rules.behavioral_events(NOW), now=NOW)
    assert len(gated.good) == 3 and gated.quarantined.empty
    assert gated.counts == GateCounts(3, 3, 0)
    with pytest.raises(InputError) as error:
        split(good.drop(columns="timestamp"), rules.behavioral_events(NOW), now=NOW)
    assert error.value.field == "timestamp"
    assert str(error.value) == "timestamp: behavioral_events has no timestamp column"


def test_quarantine_records_keep_the_row_the_rule_and_when() -> None:
    gated = split(_events(), rules.behavioral_events(NOW), now=NOW)
    records = quarantine_records(gated.quarantined)
    assert list(records.columns) == ["id", "rules", "quarantined_at", "row"]
    score = records[records["id"] == "score"].iloc[0]
    assert '"session_performance_score": 101' in score["row"]
    assert score["rules"] == "session_performance_score_0_to_100"


def _apple_health_records() -> pd.DataFrame:
    """Three good records (one open-ended, one another user's id), then one bad row per rule
    (source_record_id says which)."""
    start = pd.Timestamp("2025-05-30 07:30", tz="UTC")  # 23:30 the day before at -0800
    end = start + pd.Timedelta(minutes=5)
    old, late = pd.Timestamp("1989-12-31", tz="UTC"), pd.Timestamp("2025-06-03", tz="UTC")
    may_29, may_30 = dt.date(2025, 5, 29), dt.date(2025, 5, 30)
    rows = [
        ("u1", "good_1", may_29, start, "-0800", end, 61.0),
        ("u1", "good_2", may_30, start, "+0000", pd.NaT, None),
        ("u2", "good_1", may_30, start, "+0000", end, 1.5),
        ("u1", "reversed", may_30, start, "+0000", start - pd.Timedelta("1s"), 1.0),
        ("u1", "infinite", may_30, start, "+0000", end, float("inf")),
        ("u1", "ancient", old.date(), old, "+0000", pd.NaT, 1.0),
        ("u1", "future", late.date(), late, "+0000", pd.NaT, 1.0),
        ("u1", "wrong_day", may_30, start, "-0800", end, 1.0),
        ("u1", "twice", may_30, start, "+0000", end, 1.0),
        ("u1", "twice", may_30, start, "+0000", end, 2.0),
    ]
    columns = ["user_id", "source_record_id", "day", "start_date", "utc_offset", "end_date"]
    return pd.DataFrame(rows, columns=[*columns, "numeric_value"])


def test_each_bad_apple_health_record_is_quarantined_under_its_key() -> None:
    gated = split(_apple_health_records(), rules.apple_health_records(NOW), now=NOW)
    assert list(zip(gated.good["user_id"], gated.good["source_record_id"], strict=True)) == [
        ("u1", "good_1"),
        ("u1", "good_2"),
        ("u2", "good_1"),
    ]
    records = quarantine_records(gated.quarantined, key=("user_id", "source_record_id"))
    assert dict(zip(records["id"], records["rules"], strict=False)) == {
        "u1/reversed": "apple_health_dates_ordered",
        "u1/infinite": "apple_health_numeric_value_finite",
        "u1/ancient": "apple_health_day_plausible",
        "u1/future": "apple_health_day_plausible",
        "u1/wrong_day": "apple_health_day_is_local_start_date",
        "u1/twice": "apple_health_record_key_unique",
    }
    assert gated.counts.rows_in == 10 and gated.counts.rows_quarantined == 7


def test_counts_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValueError, match="not conserved"):
        GateCounts(3, 2, 0)
    assert (GateCounts(2, 1, 1, {"a": 1}) + GateCounts(3, 3, 0)).to_json() == {
        "rowsIn": 5,
        "rowsOut": 4,
        "rowsQuarantined": 1,
        "quarantinedByRule": {"a": 1},
    }


def test_the_demo_study_passes_every_raw_gate_whole() -> None:
    from americano_pipelines.synth.demo_study import generate_demo_study

    study = generate_demo_study()  # what `make demo` seeds
    now = dt.datetime.now(dt.UTC)
    # Apple Health records come from an imported export, never from the seeded study.
    seeded = {
        table: r for table, r in rules.RAW_TABLE_RULES.items() if table != "apple_health_records"
    }
    assert set(seeded) <= set(study.tables)
    frames = {table: study.tables[table].to_pandas() for table in seeded}
    for table, table_rules in seeded.items():
        frame = frames[table]
        if "id" not in frame:  # PostgreSQL gives the events theirs
            frame["id"] = [f"event_{i}" for i in range(len(frame))]
        references = {name: frames[name] for name in table_rules.references}
        gated = split(frame, table_rules.schema(now, references), now=now)
        assert gated.counts == GateCounts(len(frame), len(frame), 0), table


def test_the_gated_tables_are_the_ones_extraction_names() -> None:
    from americano_pipelines.db.schema import GATED_TABLES

    assert set(GATED_TABLES) == set(rules.RAW_TABLE_RULES)


def test_the_share_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from americano_pipelines.config import get_settings

    monkeypatch.delenv("AMERICANO_QUARANTINE_MAX_SHARE", raising=False)
    assert get_settings().quarantine_share_limit == 0.01
    monkeypatch.setenv("AMERICANO_QUARANTINE_MAX_SHARE", "0.2")
    assert get_settings().quarantine_share_limit == 0.2
    for bad in ("lots", "1.5", "-0.1"):
        monkeypatch.setenv("AMERICANO_QUARANTINE_MAX_SHARE", bad)
        with pytest.raises(InputError) as error:
            get_settings().quarantine_share_limit  # noqa: B018
        assert error.value.field == "AMERICANO_QUARANTINE_MAX_SHARE"


def _marts() -> duckdb.DuckDBPyConnection:
    """A warehouse with one protocol scheduled over January 2025, one observation a day later,
    one without a value, and a wearable day with an implausible heart rate."""
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    conn.execute(
        "CREATE TABLE marts.protocols AS SELECT 'p1' AS protocol_id, "
        "DATE '2025-01-01' AS schedule_start_date, DATE '2025-01-31' AS schedule_end_date"
    )
    conn.execute(
        "CREATE TABLE marts.phase_observations AS SELECT * FROM (VALUES "
        "('p1', 'all', DATE '2025-01-01', 1, 3.0), ('p1', 'all', DATE '2025-01-31', 2, 4.0), "
        "('p1', 'all', DATE '2025-02-01', 3, 5.0), ('p1', 'all', DATE '2025-01-15', 4, NULL)) "
        "AS t(protocol_id, case_name, observation_date, observation_index, value)"
    )
    conn.execute(
        "CREATE TABLE marts.wearable_daily AS SELECT * FROM (VALUES "
        "('u1', DATE '2025-01-01', 7.0, 40.0, 55.0), ('u1', DATE '2025-01-02', 7.5, 42.0, 240.0), "
        "('u1', DATE '2025-01-03', NULL, NULL, NULL)) "
        "AS t(user_id, wearable_date, sleep_hours, hrv_rmssd_ms, resting_heart_rate_bpm)"
    )
    return conn


def test_marts_read_by_the_analyses_leave_out_and_count_the_rows_that_fail() -> None:
    from americano_pipelines.warehouse import tables

    with _marts() as conn:
        observations = tables.phase_observations(conn, "p1")
        days = tables.wearable_days(conn, "u1")
    assert observations["value"].tolist() == [3.0, 4.0]
    assert observations.index.tolist() == [0, 1]
    assert tables.gate_counts(observations) == GateCounts(
        4, 2, 2, {"observation_within_protocol_dates": 1, "observation_has_value": 1}
    )
    assert [d.isoformat() for d in days["wearable_date"].dt.date] == ["2025-01-01", "2025-01-03"]
    assert tables.gate_counts(days) == GateCounts(3, 2, 1, {"resting_heart_rate_25_to_220_bpm": 1})


def _reasons(gated) -> dict[str, str]:
    return dict(zip(gated.quarantined["id"], gated.quarantined["quarantine_rules"], strict=True))


def test_bad_users_are_quarantined() -> None:
    frame = pd.DataFrame(
        {
            "id": ["u1", "u2", "u2", "u3", "u4", "u5"],
            "email": ["a@x.org", "b@x.org", "c@x.org", "nobody", "@x.org", "a@x.org"],
        }
    )
    gated = split(frame, rules.users(), now=NOW)
    assert gated.good["id"].tolist() == []
    assert gated.quarantined["quarantine_rules"].tolist() == [
        "user_email_unique",
        "user_id_unique",
        "user_id_unique",
        "user_email_has_at",
        "user_email_has_at",
        "user_email_unique",
    ]
    good = frame.iloc[[1]].assign(id="u9")
    assert split(pd.concat([good, frame.iloc[[3]]]), rules.users(), now=NOW).counts == GateCounts(
        2, 1, 1, {"user_email_has_at": 1}
    )


def _context() -> pd.DataFrame:
    """One good self-report, then one bad row per rule (the id says which)."""
    at = pd.Timestamp("2025-05-31 07:00", tz="UTC")
    good = {
        "timestamp": at,
        "mood": "HIGH",
        "location": "HOME",
        "energy_level": 5,
        "sleep_hours": 7.5,
        "sleep_quality": 6,
        "hrv_score": 45,
        "resting_heart_rate": 58,
        "activity_strain": None,
    }
    bad = {
        "future": {"timestamp": pd.Timestamp("2025-06-01 13:00", tz="UTC")},
        "mood": {"mood": "ECSTATIC"},
        "location": {"location": "MOON"},
        "energy": {"energy_level": 11},
        "sleep": {"sleep_hours": 25.0},
        "quality": {"sleep_quality": 0},
        "hrv": {"hrv_score": 0},
        "rhr": {"resting_heart_rate": 21},
        "strain": {"activity_strain": 22.0},
        "empty": {"sleep_hours": None, "sleep_quality": None, "hrv_score": None},
    }
    rows = [{"id": "good", **good}] + [{"id": k, **good, **v} for k, v in bad.items()]
    return pd.DataFrame(rows)


def test_implausible_context_is_quarantined() -> None:
    gated = split(_context(), rules.context_metadata(NOW), now=NOW)
    assert gated.good["id"].tolist() == ["good", "empty"]  # an empty field breaks no rule
    assert _reasons(gated) == {
        "future": "context_not_in_future",
        "mood": "mood_valid",
        "location": "location_valid",
        "energy": "energy_level_1_to_10",
        "sleep": "sleep_0_to_24_hours",
        "quality": "sleep_quality_1_to_10",
        "hrv": "hrv_positive",
        "rhr": "resting_heart_rate_25_to_220_bpm",
        "strain": "activity_strain_0_to_21",
    }
    assert gated.counts.rows_in == gated.counts.rows_out + gated.counts.rows_quarantined == 11


def _protocols() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["p1", "p2", "backwards", "odd", "dup", "dup"],
            "design_type": ["ABAB", "MULTIPLE_BASELINE", "ABAB", "CROSSOVER", "ABAB", "ABAB"],
            "start_date": [dt.date(2025, 1, 1)] * 6,
            "end_date": [
                dt.date(2025, 1, 31),
                None,
                dt.date(2024, 12, 31),
                dt.date(2025, 1, 31),
                dt.date(2025, 1, 31),
                dt.date(2025, 1, 31),
            ],
            "alpha": [0.05, 0.05, 0.05, 0.05, 0.05, 1.0],
        }
    )


def test_bad_protocols_are_quarantined() -> None:
    gated = split(_protocols(), rules.experiment_protocols(), now=NOW)
    assert gated.good["id"].tolist() == ["p1", "p2"]  # an open end is in order
    assert list(
        zip(gated.quarantined["id"], gated.quarantined["quarantine_rules"], strict=True)
    ) == [
        ("backwards", "protocol_dates_ordered"),
        ("odd", "design_type_valid"),
        ("dup", "protocol_id_unique"),
        ("dup", "protocol_id_unique; alpha_between_0_and_1"),
    ]


def test_phases_outside_their_protocol_overlapping_or_orphaned_are_quarantined() -> None:
    day = dt.date(2025, 1, 1)
    protocols = split(_protocols(), rules.experiment_protocols(), now=NOW).good

    def phase(identifier, protocol, start, end, kind="BASELINE", case=None):
        params = "{}" if case is None else f'{{"case": "{case}"}}'
        first = day + dt.timedelta(days=start)
        last = None if end is None else day + dt.timedelta(days=end)
        return (identifier, protocol, kind, first, last, params)

    rows = [
        phase("a1", "p1", 0, 9),
        phase("b1", "p1", 10, 19, "INTERVENTION_A"),
        phase("backwards", "p1", 22, 21),
        phase("kind", "p1", 23, 24, "PLACEBO"),
        phase("late", "p1", 26, 31),  # past the protocol's end (day 30)
        phase("orphan", "backwards", 0, 5),  # its protocol is refused
        # multiple baseline: the cases run side by side, each in its own series
        phase("x_a", "p2", 0, 9, case="x"),
        phase("y_a", "p2", 0, 14, case="y"),
        phase("y_b", "p2", 14, None, "INTERVENTION_A", case="y"),  # meets y_a on day 14
        phase("x_b", "p2", 10, None, "INTERVENTION_A", case="x"),
    ]
    columns = ["id", "protocol_id", "phase_type", "start_date", "end_date", "intervention_params"]
    gated = split(pd.DataFrame(rows, columns=columns), rules.phase_assignments(protocols), now=NOW)
    assert gated.good["id"].tolist() == ["a1", "b1", "x_a", "x_b"]
    assert _reasons(gated) == {
        "late": "phase_within_protocol_dates",
        "backwards": "phase_dates_ordered",
        "kind": "phase_type_valid",
        "orphan": "phase_protocol_known",
        "y_a": "phases_not_overlapping",
        "y_b": "phases_not_overlapping",
    }
    assert gated.counts.rows_in == gated.counts.rows_out + gated.counts.rows_quarantined


def test_the_phase_rules_need_the_protocols() -> None:
    with pytest.raises(ValueError, match="experiment_protocols"):
        rules.RAW_TABLE_RULES["phase_assignments"].schema(NOW)
