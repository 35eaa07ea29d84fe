"""The quality gates on the real graph: bad rows put into PostgreSQL end in quarantine.<table>
with the rules they broke, the good rows reach staging and the marts, the counts in the
materialization metadata add up, and the share check fails past its limit."""

from __future__ import annotations

import collections

import duckdb
import psycopg
import pyarrow.dataset as ds
import pytest
from dagster import AssetKey, DagsterInstance

from americano_pipelines.cli.materialize import materialize_all
from americano_pipelines.config import get_settings
from americano_pipelines.db.load import load_tables
from americano_pipelines.synth.demo_study import generate_demo_study
from tests.conftest import BASE_GROUPS

# The gates work on the extracted files, the same whichever PostgreSQL they came from
# (tests/e2e/test_demo_graph.py extracts from both servers), so CI runs these once.
pytestmark = pytest.mark.once

# Each bad row, and the rule it breaks. PostgreSQL's own CHECKs refuse a repeated id or an
# out-of-range score, so those are tested on frames (tests/unit/test_quality_gates.py).
BAD_RECORDS = {
    "rhr_300": ("resting_heart_rate", 300.0, "resting_heart_rate_25_to_220_bpm"),
    "hrv_zero": ("hrv_rmssd", 0.0, "hrv_positive"),
    "sleep_30": ("sleep_duration", 30.0, "sleep_0_to_24_hours"),
}
# Synced Oura sleep periods whose document carries an implausible value: the same rules.
BAD_DOCUMENTS = {
    "oura_hrv_zero": ("average_hrv", 0, "hrv_positive"),
    "oura_rhr_300": ("lowest_heart_rate", 300, "resting_heart_rate_25_to_220_bpm"),
}
BAD_RULES = {
    **{record_id: rule for record_id, (_, _, rule) in BAD_RECORDS.items()},
    **{record_id: rule for record_id, (_, _, rule) in BAD_DOCUMENTS.items()},
}


@pytest.fixture(scope="module")
def gated(migrated_database: str, module_platform):
    study = generate_demo_study(users=1, days=49, seed=5)
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
        # An event half an hour from now: in today's partition, but in the future.
        conn.execute(
            'INSERT INTO behavioral_events (id, user_id, event_type, "timestamp") '
            "SELECT 'future_event', user_id, event_type, now() + interval '30 minutes' "
            "FROM behavioral_events LIMIT 1"
        )
        # The demo stores provider documents; normalized rows are what an Apple Health import
        # (or a hand entry) writes.
        for record_id, (record_type, value, _) in BAD_RECORDS.items():
            conn.execute(
                "INSERT INTO wearable_records (id, user_id, provider, record_type, "
                "source_record_id, day, value) SELECT %s, user_id, 'APPLE_HEALTH', %s, %s, day, %s "
                "FROM wearable_records LIMIT 1",
                [record_id, record_type, record_id, value],
            )
        for record_id, (field, value, _) in BAD_DOCUMENTS.items():
            conn.execute(
                "INSERT INTO wearable_records (id, user_id, provider, record_type, "
                "source_record_id, day, started_at, ended_at, value, unit, payload) "
                "SELECT %s, user_id, provider, record_type, %s, day, started_at, ended_at, value, "
                "unit, jsonb_set(payload, ARRAY[%s], to_jsonb(%s::int)) FROM wearable_records "
                "WHERE provider = 'OURA' AND record_type = 'sleep' LIMIT 1",
                [record_id, record_id, field, value],
            )
        _plant_bad_rows(conn)
    settings = get_settings()
    summary = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    return settings, summary


# The bad rows of the other gated tables (ids), and the rules they break. PostgreSQL refuses a
# user's email without an @ and a protocol that ends before it starts: the test drops those two
# CHECKs, as for rows older than them, and plants one of each.
PLANTED = {
    "users": {"user_no_at": "user_email_has_at"},
    "context_metadata": {
        "ctx_future": "context_not_in_future",
        "ctx_rhr_21": "resting_heart_rate_25_to_220_bpm",  # PostgreSQL allows 20-250
    },
    "experiment_protocols": {"protocol_backwards": "protocol_dates_ordered"},
    "phase_assignments": {
        "phase_late": "phase_within_protocol_dates",
        "phase_overlap_1": "phases_not_overlapping",
        "phase_overlap_2": "phases_not_overlapping",
        "phase_orphan": "phase_protocol_known",  # of the refused protocol
    },
}


def _copy(conn, table: str, changes: str) -> None:
    """A row of `table` like its first demo row, with `changes` (a jsonb object, SQL)."""
    conn.execute(
        f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, "
        f"to_jsonb(t) || {changes})).* FROM (SELECT * FROM {table} "
        "WHERE id NOT IN ('ctx_future', 'protocol_planted') ORDER BY id LIMIT 1) AS t"
    )


def _drop_check(conn, table: str, mentions: str) -> None:
    (name,) = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
        "AND pg_get_constraintdef(oid) ILIKE %s",
        [table, f"%{mentions}%"],
    ).fetchone()
    conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def _plant_bad_rows(conn) -> None:
    _drop_check(conn, "users", "position")
    _drop_check(conn, "experiment_protocols", "end_date >= start_date")
    conn.execute("INSERT INTO users (id, email) VALUES ('user_no_at', 'nobody')")
    _copy(
        conn,
        "context_metadata",
        "jsonb_build_object('id', 'ctx_future', 'timestamp', now() + interval '1 day')",
    )
    _copy(conn, "context_metadata", """'{"id": "ctx_rhr_21", "resting_heart_rate": 21}'""")
    # A good protocol of 40 days whose schedule has bad phases, and a protocol that ends first.
    for protocol, end in (
        ("protocol_planted", "start_date + 40"),
        ("protocol_backwards", "start_date - 1"),
    ):
        _copy(
            conn,
            "experiment_protocols",
            f"jsonb_build_object('id', '{protocol}', 'protocol_name', '{protocol}', "
            f"'end_date', {end})",
        )
    for phase, protocol, first, last in (
        ("phase_good", "protocol_planted", 0, 4),
        ("phase_overlap_1", "protocol_planted", 10, 14),
        ("phase_overlap_2", "protocol_planted", 12, 16),
        ("phase_late", "protocol_planted", 38, 45),
        ("phase_orphan", "protocol_backwards", 0, 4),
    ):
        conn.execute(
            "INSERT INTO phase_assignments (id, protocol_id, phase_label, phase_type, start_date, "
            "end_date, planned_duration, randomization_seed) SELECT %s, id, %s, 'BASELINE', "
            "start_date + %s, start_date + %s, %s, 1 FROM experiment_protocols WHERE id = %s",
            [phase, phase, first, last, last - first + 1, protocol],
        )


def _warehouse(settings):
    return duckdb.connect(settings.duckdb_path, read_only=True)


def test_bad_rows_end_in_quarantine_with_the_rules_they_broke(gated) -> None:
    settings, _ = gated
    with _warehouse(settings) as conn:
        events = conn.execute("SELECT id, rules FROM quarantine.behavioral_events").fetchall()
        records = dict(conn.execute("SELECT id, rules FROM quarantine.wearable_records").fetchall())
        row = conn.execute(
            "SELECT \"row\"->>'value' FROM quarantine.wearable_records WHERE id = 'rhr_300'"
        ).fetchone()
    assert events == [("future_event", "event_not_in_future")]
    assert records == BAD_RULES
    assert float(row[0]) == 300.0  # the row itself is kept


def test_good_rows_reach_staging_and_the_marts_and_the_bad_ones_do_not(gated) -> None:
    settings, _ = gated
    raw_events = ds.dataset(settings.raw_dir / "behavioral_events", format="parquet").count_rows()
    raw_records = ds.dataset(settings.raw_dir / "wearable_records", format="parquet").count_rows()
    with _warehouse(settings) as conn:
        staged_events = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE event_id = 'future_event') "
            "FROM staging.stg_app__behavioral_events"
        ).fetchone()
        staged_records = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE wearable_record_id IN "
            "(SELECT unnest(?))) FROM staging.stg_app__wearable_records",
            [list(BAD_RULES)],
        ).fetchone()
        extremes = conn.execute(
            "SELECT max(resting_heart_rate_bpm), min(hrv_rmssd_ms), max(sleep_hours), "
            "sum(n_records) FROM marts.wearable_daily"
        ).fetchone()
    # The raw files keep every row PostgreSQL holds; dbt sees the good ones.
    assert staged_events == (raw_events - 1, 0)
    assert staged_records == (raw_records - len(BAD_RULES), 0)
    assert extremes[0] <= 220 and extremes[1] > 0 and extremes[2] <= 24
    assert extremes[3] == raw_records - len(BAD_RULES)


def _gate_metadata(key: list[str]) -> dict:
    event = DagsterInstance.get().get_latest_materialization_event(AssetKey(key))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_counts_add_up_in_the_materialization_metadata(gated) -> None:
    settings, _ = gated
    records = _gate_metadata(["raw", "wearable_records"])
    assert records["gate_rows_in"] == records["rows"]
    assert records["gate_rows_quarantined"] == len(BAD_RULES)
    assert records["gate_rows_in"] == records["gate_rows_out"] + records["gate_rows_quarantined"]
    assert records["gate_quarantined_by_rule"] == dict(collections.Counter(BAD_RULES.values()))
    events = _gate_metadata(["raw", "behavioral_events"])
    assert events["gate_rows_in"] == events["rows"]
    assert (events["gate_rows_out"], events["gate_rows_quarantined"]) == (events["rows"] - 1, 1)
    assert events["gate_quarantined_by_rule"] == {"event_not_in_future": 1}


def test_the_share_check_fails_past_its_limit(gated) -> None:
    settings, summary = gated
    # 5 of several hundred wearable records (>1%) is past the default 1%; 1 event of thousands is not.
    assert "raw/wearable_records:quarantine_within_share" in summary.failed_checks
    assert "raw/behavioral_events:quarantine_within_share" in summary.evaluated_checks
    assert "raw/behavioral_events:quarantine_within_share" not in summary.failed_checks
    from americano_pipelines.quality.boundary import QuarantineShare, quarantine_share

    share = quarantine_share(
        "wearable_records",
        raw_dir=settings.raw_dir,
        quarantine_dir=settings.quarantine_dir,
        limit=0.05,
    )
    assert share.quarantined == len(BAD_RULES) and share.passed
    assert not QuarantineShare(share.rows, share.quarantined, share.share / 2).passed


STAGED_IDS = {
    "users": ("stg_app__users", "user_id"),
    "context_metadata": ("stg_app__context_metadata", "context_metadata_id"),
    "experiment_protocols": ("stg_app__experiment_protocols", "protocol_id"),
    "phase_assignments": ("stg_app__phase_assignments", "phase_assignment_id"),
}


@pytest.mark.parametrize("table", sorted(PLANTED))
def test_each_gated_table_quarantines_its_bad_rows_and_stages_the_good(gated, table) -> None:
    settings, _ = gated
    model, id_column = STAGED_IDS[table]
    raw = ds.dataset(settings.raw_dir / table, format="parquet").count_rows()
    with _warehouse(settings) as conn:
        refused = dict(conn.execute(f"SELECT id, rules FROM quarantine.{table}").fetchall())
        staged = {
            row[0] for row in conn.execute(f"SELECT {id_column} FROM staging.{model}").fetchall()
        }
    assert refused == PLANTED[table]
    assert len(staged) == raw - len(refused) and not staged & set(refused)
    counts = _gate_metadata(["raw", table])
    assert counts["gate_rows_in"] == counts["rows"] == raw
    assert counts["gate_rows_in"] == counts["gate_rows_out"] + counts["gate_rows_quarantined"]
    assert counts["gate_rows_quarantined"] == len(PLANTED[table])


def test_the_good_rows_of_a_planted_schedule_reach_the_marts(gated) -> None:
    settings, summary = gated
    with _warehouse(settings) as conn:
        protocols = {
            r[0] for r in conn.execute("SELECT protocol_id FROM marts.protocols").fetchall()
        }
        days = conn.execute(
            "SELECT count(*) FROM intermediate.int_protocol_days WHERE protocol_id = 'protocol_planted'"
        ).fetchone()[0]
    assert "protocol_planted" in protocols and "protocol_backwards" not in protocols
    assert days == 5  # phase_good's days only
    # dbt's tests pass on the good rows: only the share checks of the small tables fail.
    assert {c.split(":")[1] for c in summary.failed_checks} == {"quarantine_within_share"}
    assert {c.split(":")[0] for c in summary.failed_checks} == {
        "raw/wearable_records",
        *(f"raw/{table}" for table in PLANTED),
    }
