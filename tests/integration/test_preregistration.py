"""A registered protocol's pre-registered fields and schedule are frozen; deviations only grow."""

from __future__ import annotations

import json

import psycopg
import pytest

pytestmark = pytest.mark.integration

FROZEN = {
    "hypothesis": "'a different hypothesis'",
    "primary_outcome": "'study_minutes'",
    "analysis_plan": "'p-hacked plan'",
    "design_type": "'ALTERNATING'",
    "sample_size_target": "99",
    "start_date": "'2025-02-01'",
}


@pytest.fixture
def protocol(migrated_database: str):
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES ('pr', 'pr@example.org') ON CONFLICT DO NOTHING"
        )
        protocol_id = conn.execute(
            "INSERT INTO experiment_protocols (user_id, protocol_name, hypothesis, start_date, "
            "design_type, primary_outcome, sample_size_target, analysis_plan, deviations) VALUES "
            "('pr', 'p', 'h', '2025-01-01', 'ABAB', 'engagement_score', 40, 'plan', "
            '\'[{"date": "2025-01-03", "description": "missed a day"}]\') RETURNING id'
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO phase_assignments (protocol_id, phase_label, phase_type, start_date, "
            "planned_duration, randomization_seed) VALUES (%s, 'baseline_1', 'BASELINE', "
            "'2025-01-01', 7, 42)",
            (protocol_id,),
        )
    return migrated_database, protocol_id


@pytest.mark.parametrize("field", sorted(FROZEN))
def test_preregistered_fields_cannot_be_edited(protocol, field: str) -> None:
    url, protocol_id = protocol
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as raised:
            conn.execute(
                f"UPDATE experiment_protocols SET {field} = {FROZEN[field]} WHERE id = %s",
                (protocol_id,),
            )
    assert f'pre-registered field "{field}"' in str(raised.value)
    assert "record a deviation instead" in str(raised.value)


def test_progress_fields_can_be_updated(protocol) -> None:
    url, protocol_id = protocol
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE experiment_protocols SET end_date = '2025-03-01', completed = 1 WHERE id = %s",
            (protocol_id,),
        )
        conn.execute(
            "UPDATE phase_assignments SET end_date = '2025-01-07' WHERE protocol_id = %s",
            (protocol_id,),
        )


def test_deviations_are_append_only(protocol) -> None:
    url, protocol_id = protocol
    appended = json.dumps({"date": "2025-01-09", "description": "travel"})
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE experiment_protocols SET deviations = deviations || %s::jsonb WHERE id = %s",
            (appended, protocol_id),
        )
        count = conn.execute(
            "SELECT jsonb_array_length(deviations) FROM experiment_protocols WHERE id = %s",
            (protocol_id,),
        ).fetchone()[0]
        assert count == 2
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute(
                "UPDATE experiment_protocols SET deviations = deviations - 0 WHERE id = %s",
                (protocol_id,),
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute(
                "UPDATE experiment_protocols SET deviations = jsonb_set(deviations, "
                "'{0,description}', '\"rewritten\"') WHERE id = %s",
                (protocol_id,),
            )


def test_schedule_and_protocol_cannot_be_changed_or_deleted(protocol) -> None:
    url, protocol_id = protocol
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="planned_duration"):
            conn.execute(
                "UPDATE phase_assignments SET planned_duration = 14 WHERE protocol_id = %s",
                (protocol_id,),
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be deleted"):
            conn.execute("DELETE FROM phase_assignments WHERE protocol_id = %s", (protocol_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be deleted"):
            conn.execute("DELETE FROM experiment_protocols WHERE id = %s", (protocol_id,))
