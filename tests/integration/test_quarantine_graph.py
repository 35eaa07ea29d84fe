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
    settings = get_settings()
    summary = materialize_all(settings, log=lambda _: None, groups=BASE_GROUPS)
    return settings, summary


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
