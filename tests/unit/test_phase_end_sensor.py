"""The `protocol_phase_end` sensor under a controlled clock: evaluated tick after tick across
several phase ends, a daemon restart (a fresh evaluation context that keeps only the stored
cursor) and a protocol registered after its first phases ended, it asks for exactly one run per
phase end, and its run keys never repeat."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from americano_pipelines.defs.analyses import sensors
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.registration.phase_ends import PhaseEnd, due_phase_ends

START = dt.date(2026, 3, 2)
# p1: four 7-day phases from START; p2 (registered late): two 7-day phases from START.
SCHEDULES = {"p1": ("A1", "B1", "A2", "B2"), "p2": ("A1", "B1")}


def _warehouse(path: Path, protocols: dict[str, tuple[str, ...]]) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
        conn.execute(
            "CREATE OR REPLACE TABLE intermediate.int_protocol_days "
            "(protocol_id VARCHAR, phase_label VARCHAR, protocol_date DATE)"
        )
        for protocol, labels in protocols.items():
            for index, label in enumerate(labels):
                for day in range(7):
                    date = START + dt.timedelta(days=7 * index + day)
                    conn.execute(
                        "INSERT INTO intermediate.int_protocol_days VALUES (?, ?, ?)",
                        [protocol, label, date],
                    )


class Daemon:
    """Evaluates the sensor as the daemon does: every tick is a fresh evaluation context that
    gets only the stored cursor (as after a restart, when nothing else survives), and a run key
    already launched is not launched again."""

    def __init__(self, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.instance = DagsterInstance.ephemeral()
        self.resources = {
            "warehouse": WarehouseResource(database=str(warehouse)),
            "settings": SettingsResource(),
        }
        self.monkeypatch = monkeypatch
        self.cursor: str | None = None
        self.launched: list[tuple[str, str, str]] = []  # (run key, partition, phases)

    def tick(self, at: dt.datetime) -> None:
        self.monkeypatch.setattr(sensors, "now", lambda: at)
        context = build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursor
        )
        result = sensors.protocol_phase_end_sensor(context)
        if not isinstance(result, SensorResult):
            return
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        seen = {key for key, _, _ in self.launched}
        for run in result.run_requests or []:
            if run.run_key not in seen:
                self.launched.append(
                    (run.run_key, run.partition_key, run.tags["americano/phase_end"])
                )
        self.cursor = result.cursor


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def test_one_run_per_phase_end_across_ticks_restarts_and_late_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMERICANO_TIMEZONE", "UTC")
    warehouse = tmp_path / "warehouse.duckdb"
    _warehouse(warehouse, {"p1": SCHEDULES["p1"]})
    daemon = Daemon(warehouse, monkeypatch)

    # Every 6 hours through the first two phases: A1 ends on day 7, B1 on day 14.
    for hours in range(0, 15 * 24, 6):
        daemon.tick(_at(START, 0) + dt.timedelta(hours=hours))
    assert daemon.launched == [("p1:A1", "p1", "A1"), ("p1:B1", "p1", "B1")]

    # The daemon is down while A2 ends (day 21); it comes back on day 23: one run for A2.
    daemon.tick(_at(START + dt.timedelta(days=23), 9))
    daemon.tick(_at(START + dt.timedelta(days=23), 15))
    assert daemon.launched[2:] == [("p1:A2", "p1", "A2")]

    # p2 is registered after both its phases ended: one run answers both, and its partition
    # is added with it.
    _warehouse(warehouse, SCHEDULES)
    daemon.tick(_at(START + dt.timedelta(days=24), 9))
    assert daemon.launched[3:] == [("p2:B1", "p2", "A1,B1")]
    assert "p2" in daemon.instance.get_dynamic_partitions("protocols")

    # B2 ends on day 28; ticks to day 40 add exactly that run and nothing else.
    for hours in range(0, 16 * 24, 12):
        daemon.tick(_at(START + dt.timedelta(days=24), 0) + dt.timedelta(hours=hours))
    keys = [key for key, _, _ in daemon.launched]
    assert keys == ["p1:A1", "p1:B1", "p1:A2", "p2:B1", "p1:B2"]
    assert len(set(keys)) == len(keys)


def test_a_phase_ends_when_its_last_day_is_over_in_the_protocols_timezone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A1's last day is START + 6: at 23:30 UTC that day it is already the next morning in
    Auckland, so the phase has ended there and not in UTC."""
    warehouse = tmp_path / "warehouse.duckdb"
    _warehouse(warehouse, {"p1": SCHEDULES["p1"]})
    late_evening = _at(START + dt.timedelta(days=6), 23).replace(minute=30)

    monkeypatch.setenv("AMERICANO_TIMEZONE", "UTC")
    utc = Daemon(warehouse, monkeypatch)
    utc.tick(late_evening)
    assert utc.launched == []

    monkeypatch.setenv("AMERICANO_TIMEZONE", "Pacific/Auckland")
    auckland = Daemon(warehouse, monkeypatch)
    auckland.tick(late_evening)
    assert auckland.launched == [("p1:A1", "p1", "A1")]


def test_no_warehouse_yet_is_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = Daemon(tmp_path / "empty.duckdb", monkeypatch)
    daemon.tick(_at(START, 0))
    assert daemon.launched == [] and daemon.cursor is None


def test_due_phase_ends_is_pure() -> None:
    phases = [PhaseEnd("p", "A1", START), PhaseEnd("p", "B1", START + dt.timedelta(days=7))]
    today = START + dt.timedelta(days=8)
    assert [d.run_key for d in due_phase_ends(phases, today, {})] == ["p:B1"]
    assert due_phase_ends(phases, today, {"p": ["A1", "B1"]}) == []
    assert due_phase_ends(phases, START, {}) == []
