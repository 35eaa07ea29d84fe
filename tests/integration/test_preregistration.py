"""A registered protocol is frozen: its pre-registered fields and its whole schedule cannot be
edited, extended or deleted, its CONSORT counts stay consistent, and deviations only grow, each
an object with a timestamp, a reason and a description (migrations 0002 and 0004).

Tried as the protocol's own user on their session (the application role), which is where a
user could p-hack, and for the frozen fields also as the database owner."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import psycopg
import pytest

from americano_pipelines.db.connection import user_session
from americano_pipelines.db.protocols import read_protocol, record_deviation, register_protocol
from americano_pipelines.errors import InputError
from americano_pipelines.registration.analyses import parse_analyses
from americano_pipelines.registration.protocol_file import validate_protocol

USER = "pr"
FROZEN = {
    "hypothesis": "'a different hypothesis'",
    "primary_outcome": "'study_minutes'",
    "analysis_plan": "'p-hacked plan'",
    "design_type": "'ALTERNATING'",
    "sample_size_target": "99",
    "start_date": "start_date + 7",
    "end_date": "end_date + 7",
    "analyses": """'[{"analysis": "its"}]'::jsonb""",
}
Frozen = psycopg.errors.IntegrityConstraintViolation


def _registration(start: dt.date):
    return validate_protocol(
        {
            "protocolName": "Reward probability",
            "hypothesis": "A higher reward probability raises engagement.",
            "designType": "ABAB",
            "primaryOutcome": "engagement_score",
            "sampleSizeTarget": 40,
            "analysisPlan": "Randomization test of B-A.",
            "startDate": start.isoformat(),
            "plannedLength": 40,
            "seed": 7,
            "conditions": {"A": {}, "B": {}},
        }
    )


@pytest.fixture
def protocol(migrated_database: str) -> tuple[str, str]:
    """A protocol registered on its user's session the way `protocol register` does it."""
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES (%s, 'pr@example.org') ON CONFLICT DO NOTHING",
            (USER,),
        )
    with user_session(USER, owner_url=migrated_database) as session:
        stored = register_protocol(session, _registration(dt.date.today() + dt.timedelta(days=1)))
    return migrated_database, stored.protocol_id


@pytest.mark.parametrize("field", sorted(FROZEN))
@pytest.mark.parametrize("as_owner", [False, True], ids=["user", "owner"])
def test_preregistered_fields_cannot_be_edited(protocol, field: str, as_owner: bool) -> None:
    url, protocol_id = protocol
    with _connect(url, as_owner) as conn:
        with pytest.raises(Frozen) as raised:
            conn.execute(
                f"UPDATE experiment_protocols SET {field} = {FROZEN[field]} WHERE id = %s",
                (protocol_id,),
            )
    assert f'pre-registered field "{field}"' in str(raised.value)
    assert "record a deviation instead" in str(raised.value)


@pytest.mark.parametrize("field", ["end_date", "start_date", "planned_duration", "phase_type"])
def test_no_phase_can_be_moved_so_phases_overlap(protocol, field: str) -> None:
    url, protocol_id = protocol
    change = {"phase_type": "'INTERVENTION_B'"}.get(field, f"{field} + 5")
    with _connect(url, as_owner=False) as conn:
        with pytest.raises(Frozen, match=f'pre-registered field "{field}" of phase'):
            conn.execute(
                f"UPDATE phase_assignments SET {field} = {change} "
                "WHERE protocol_id = %s AND phase_label = 'baseline_1'",
                (protocol_id,),
            )


def test_no_phase_can_be_added_after_registration(protocol) -> None:
    url, protocol_id = protocol
    with _connect(url, as_owner=False) as conn:
        with pytest.raises(Frozen, match="schedule is frozen and no phase can be added"):
            conn.execute(
                "INSERT INTO phase_assignments (protocol_id, phase_label, phase_type, start_date, "
                "end_date, planned_duration, randomization_seed) VALUES "
                "(%s, 'baseline_3', 'BASELINE', current_date + 50, current_date + 60, 11, 7)",
                (protocol_id,),
            )


@pytest.mark.parametrize(
    "counts",
    [
        {"completed": 999, "enrolled": 0},
        {"screened": 1, "eligible": 2},
        {"eligible": 3, "completed": 4},  # a gap in the flow does not hide the contradiction
    ],
)
def test_consort_counts_must_shrink_along_the_flow(protocol, counts: dict) -> None:
    url, protocol_id = protocol
    assignments = ", ".join(f"{name} = {value}" for name, value in counts.items())
    with _connect(url, as_owner=False) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="consort_flow"):
            conn.execute(
                f"UPDATE experiment_protocols SET {assignments} WHERE id = %s", (protocol_id,)
            )
        conn.rollback()
        conn.execute(
            "UPDATE experiment_protocols SET screened = 3, eligible = 2, enrolled = 1, "
            "completed = 1 WHERE id = %s",
            (protocol_id,),
        )


@pytest.mark.parametrize(
    "entry",
    [
        "42",
        "null",
        '"text"',
        '{"description": "travel"}',
        '{"timestamp": "yesterday", "reason": "r", "description": "d"}',
        '{"timestamp": "2026-01-02T10:00:00Z", "reason": " ", "description": "d"}',
    ],
)
def test_deviations_must_be_objects_with_timestamp_reason_and_description(
    protocol, entry: str
) -> None:
    url, protocol_id = protocol
    with _connect(url, as_owner=False) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="deviations_valid"):
            conn.execute(
                "UPDATE experiment_protocols SET deviations = deviations || "
                "jsonb_build_array(%s::jsonb) WHERE id = %s",
                (entry, protocol_id),
            )


def test_an_actual_phase_end_is_a_deviation_stamped_by_the_server(protocol) -> None:
    url, protocol_id = protocol
    when = dt.datetime.now(dt.UTC)
    with user_session(USER, owner_url=url) as session:
        planned = read_protocol(session, protocol_id).phases[0]
        stored = record_deviation(
            session,
            protocol_id,
            timestamp=when,
            reason="illness",
            description="baseline ended two days early",
            phase=planned.label,
            actual_end_date=planned.end_date - dt.timedelta(days=2),
        )
    (deviation,) = stored.deviations
    assert deviation["phase"] == "baseline_1"
    assert deviation["actualEndDate"] == (planned.end_date - dt.timedelta(days=2)).isoformat()
    recorded = dt.datetime.fromisoformat(deviation["recordedAt"].replace("Z", "+00:00"))
    assert abs(recorded - when) < dt.timedelta(minutes=5)
    assert stored.phases[0] == planned  # the schedule as planned stays as it was


def test_a_deviation_needs_a_reason(protocol) -> None:
    url, protocol_id = protocol
    with user_session(USER, owner_url=url) as session, pytest.raises(InputError, match="^reason"):
        record_deviation(
            session, protocol_id, timestamp=dt.datetime.now(dt.UTC), reason="", description="d"
        )


def test_deviations_are_append_only(protocol) -> None:
    url, protocol_id = protocol
    appended = json.dumps(
        [{"timestamp": "2026-01-09T08:00:00Z", "reason": "travel", "description": "away"}]
    )
    with _connect(url, as_owner=False) as conn:
        conn.execute(
            "UPDATE experiment_protocols SET deviations = deviations || %s::jsonb WHERE id = %s",
            (appended, protocol_id),
        )
        conn.commit()
        with pytest.raises(Frozen, match="append-only"):
            conn.execute(
                "UPDATE experiment_protocols SET deviations = deviations - 0 WHERE id = %s",
                (protocol_id,),
            )
        conn.rollback()
        with pytest.raises(Frozen, match="append-only"):
            conn.execute(
                "UPDATE experiment_protocols SET deviations = jsonb_set(deviations, "
                "'{0,reason}', '\"rewritten\"') WHERE id = %s",
                (protocol_id,),
            )


@pytest.mark.parametrize("as_owner", [False, True], ids=["user", "owner"])
def test_schedule_and_protocol_cannot_be_deleted(protocol, as_owner: bool) -> None:
    url, protocol_id = protocol
    with _connect(url, as_owner) as conn:
        with pytest.raises(Frozen, match="cannot be deleted"):
            conn.execute("DELETE FROM phase_assignments WHERE protocol_id = %s", (protocol_id,))
        conn.rollback()
        with pytest.raises(Frozen, match="cannot be deleted"):
            conn.execute("DELETE FROM experiment_protocols WHERE id = %s", (protocol_id,))


@pytest.mark.parametrize("start", ["0001-01-01", "1900-01-01", "yesterday"])
def test_a_session_cannot_register_a_protocol_that_started_in_the_past(
    migrated_database: str, start: str
) -> None:
    """The database's own guard, beneath the file validation: the registration time is the
    server's, and the start may not precede it (a day of slack for time zones)."""
    day = {"yesterday": dt.date.today() - dt.timedelta(days=2)}.get(start) or start
    with _connect(migrated_database, as_owner=False) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="starts_after_registration"):
            conn.execute(
                "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, "
                "start_date, design_type, primary_outcome, sample_size_target, analysis_plan, "
                "randomization_seed, registered_at) VALUES (%s, 'p', 'h', %s, 'ABAB', "
                "'engagement_score', 40, 'plan', 42, '0001-01-01')",
                (USER, day),
            )


def test_a_session_cannot_backdate_its_registration(migrated_database: str) -> None:
    with _connect(migrated_database, as_owner=False) as conn:
        registered = conn.execute(
            "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, start_date, "
            "design_type, primary_outcome, sample_size_target, analysis_plan, registered_at) "
            "VALUES (%s, 'p', 'h', current_date + 3, 'ABAB', 'engagement_score', 40, 'plan', "
            "'2020-01-01') RETURNING registered_at",
            (USER,),
        ).fetchone()[0]
    assert abs(registered - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_registered_analyses_are_stored_read_back_and_frozen(migrated_database: str) -> None:
    registration = replace(
        _registration(dt.date.today() + dt.timedelta(days=1)),
        analyses=parse_analyses(
            [{"analysis": "randomization_test", "statistic": "PB-PA"}, "change_points"]
        ),
    )
    with _connect(migrated_database, as_owner=False) as session:
        stored = register_protocol(session, registration)
    assert stored.analyses == registration.analyses
    assert stored.to_json()["analyses"] == [
        {"analysis": "randomization_test", "statistic": "PB-PA"},
        {"analysis": "change_points"},
    ]
    for change in (
        "NULL",
        """'[{"analysis": "its"}]'::jsonb""",
        'analyses || \'[{"analysis": "its"}]\'',
    ):
        with _connect(migrated_database, as_owner=True) as conn:
            with pytest.raises(Frozen, match='pre-registered field "analyses"'):
                conn.execute(
                    f"UPDATE experiment_protocols SET analyses = {change} WHERE id = %s",
                    (stored.protocol_id,),
                )


@pytest.mark.parametrize(
    "analyses",
    [
        "[]",
        '{"analysis": "its"}',
        '["its"]',
        '[{"statistic": "B-A"}]',
        '[{"analysis": 7}]',
        '[{"analysis": "its"}, {"analysis": "its", "seed": 1}]',
    ],
)
def test_the_database_keeps_the_shape_of_registered_analyses(
    migrated_database: str, analyses: str
) -> None:
    with _connect(migrated_database, as_owner=False) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="analyses_valid"):
            conn.execute(
                "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, start_date, "
                "design_type, primary_outcome, sample_size_target, analysis_plan, analyses) "
                "VALUES (%s, 'p', 'h', current_date + 3, 'ABAB', 'engagement_score', 40, 'plan', "
                "%s::jsonb)",
                (USER, analyses),
            )


class _connect:
    """The protocol user's session, or the owner's connection."""

    def __init__(self, url: str, as_owner: bool) -> None:
        self.url, self.as_owner = url, as_owner

    def __enter__(self) -> psycopg.Connection:
        if self.as_owner:
            self._context = psycopg.connect(self.url)
        else:
            with psycopg.connect(self.url) as conn:
                conn.execute(
                    "INSERT INTO users (id, email) VALUES (%s, 'pr@example.org') "
                    "ON CONFLICT DO NOTHING",
                    (USER,),
                )
            self._context = user_session(USER, owner_url=self.url)
        return self._context.__enter__()

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)


def _alternating(start: dt.date, **fields):
    return validate_protocol(
        {
            "protocolName": "Morning vs evening",
            "hypothesis": "Morning review gives higher recall.",
            "designType": "ALTERNATING",
            "primaryOutcome": "quiz_score",
            "sampleSizeTarget": 20,
            "analysisPlan": "Randomization test of B-A.",
            "startDate": start.isoformat(),
            "plannedLength": 20,
            "seed": 7,
            "conditions": {"A": {}, "B": {}},
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("fields", "stored"),
    [({"maxConsecutive": 3}, ("restricted", 3)), ({"randomization": "blocks"}, ("blocks", None))],
)
def test_an_alternating_randomization_is_stored_and_frozen(
    migrated_database: str, fields: dict, stored: tuple
) -> None:
    # Without an analyses list, the cap (or the blocks) must still reach the test: the protocol
    # keeps how its sessions were drawn.
    from americano_pipelines.protocol_analyses.inputs import Protocol

    registration = _alternating(dt.date.today() + dt.timedelta(days=1), **fields)
    with _connect(migrated_database, as_owner=False) as session:
        protocol = register_protocol(session, registration)
    assert (protocol.randomization, protocol.max_consecutive) == stored
    assert protocol.to_json()["randomization"] == stored[0]
    with _connect(migrated_database, as_owner=True) as conn:
        cursor = conn.execute(
            "SELECT id AS protocol_id, design_type::text, randomization, max_consecutive, "
            "analyses, analysis_plan FROM experiment_protocols WHERE id = %s",
            (protocol.protocol_id,),
        )
        names = [column.name for column in cursor.description]
        read = Protocol.from_row(dict(zip(names, cursor.fetchone(), strict=True)))
    assert read.randomization == stored[0]
    if stored[1] is not None:
        assert read.plan.max_consecutive == stored[1]
    for change in ("randomization = NULL", "max_consecutive = 2"):
        with _connect(migrated_database, as_owner=True) as conn:
            with pytest.raises(
                (Frozen, psycopg.errors.CheckViolation), match="randomization|max_consecutive"
            ):
                conn.execute(
                    f"UPDATE experiment_protocols SET {change} WHERE id = %s",
                    (protocol.protocol_id,),
                )


def test_only_an_alternating_protocol_has_a_randomization(protocol) -> None:
    database, protocol_id = protocol
    with _connect(database, as_owner=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="randomization_alternating"):
            conn.execute(
                "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, "
                "start_date, end_date, design_type, primary_outcome, sample_size_target, "
                "analysis_plan, randomization) SELECT user_id, protocol_name, hypothesis, "
                "start_date, end_date, design_type, primary_outcome, sample_size_target, "
                "analysis_plan, 'blocks' FROM experiment_protocols WHERE id = %s",
                (protocol_id,),
            )


def test_the_b_phases_minimum_is_stored_and_frozen(migrated_database: str) -> None:
    registration = replace(
        _registration(dt.date.today() + dt.timedelta(days=1)), min_b_phase_length=2
    )
    with _connect(migrated_database, as_owner=False) as session:
        stored = register_protocol(session, registration)
    assert stored.min_b_phase_length == 2 and stored.to_json()["minBPhaseLength"] == 2
    with _connect(migrated_database, as_owner=True) as conn:
        with pytest.raises(Frozen, match='pre-registered field "min_b_phase_length"'):
            conn.execute(
                "UPDATE experiment_protocols SET min_b_phase_length = 3 WHERE id = %s",
                (stored.protocol_id,),
            )
    alternating = replace(
        _alternating(dt.date.today() + dt.timedelta(days=1)), min_b_phase_length=2
    )
    with _connect(migrated_database, as_owner=False) as session:
        with pytest.raises(psycopg.errors.CheckViolation, match="min_b_phase_length_design"):
            register_protocol(session, alternating)
