"""The vocabulary (dbt seeds, read by registration/vocabulary.py) names exactly the values the
PostgreSQL enums of migration 0001 and the checks of migration 0007 admit, and the seeds'
mapping is single-case notation."""

from __future__ import annotations

import re

from americano_pipelines.db.migrate import MIGRATIONS_DIR
from americano_pipelines.registration import vocabulary


def _enum(name: str) -> set[str]:
    sql = (MIGRATIONS_DIR / "0001_core_schema.sql").read_text()
    body = re.search(rf"CREATE TYPE {name} AS ENUM \((.*?)\);", sql, re.S)
    assert body is not None, name
    return set(re.findall(r"'([A-Z_]+)'", body.group(1)))


def test_design_types_are_the_enum() -> None:
    assert set(vocabulary.DESIGN_TYPES) == _enum("experiment_design_type")


def test_phase_types_are_the_enum() -> None:
    assert set(vocabulary.PHASE_TYPES) == _enum("phase_type")


def test_conditions_follow_single_case_notation() -> None:
    assert vocabulary.PHASE_CONDITIONS == {
        "BASELINE": "A",
        "WASHOUT": "A",
        "INTERVENTION_A": "B",
        "INTERVENTION_B": "C",
    }
    assert vocabulary.INTERVENTION_PHASE_TYPES == ("INTERVENTION_A", "INTERVENTION_B")
    assert vocabulary.CONDITION_PHASE_TYPES == {"A": "BASELINE", "B": "INTERVENTION_A"}


def test_alternating_randomizations_are_the_check() -> None:
    sql = (MIGRATIONS_DIR / "0007_alternating_randomization.sql").read_text()
    body = re.search(r"CHECK \(randomization IN \((.*?)\)\)", sql)
    assert body is not None
    assert set(re.findall(r"'([a-z_]+)'", body.group(1))) == set(
        vocabulary.ALTERNATING_RANDOMIZATIONS
    )
    assert (vocabulary.RESTRICTED, vocabulary.BLOCKS) == ("restricted", "blocks")


def test_context_enums_are_the_migrations() -> None:
    from americano_pipelines.db import schema

    assert set(schema.MOOD_LEVELS) == _enum("mood_level")
    assert set(schema.LOCATION_TYPES) == _enum("location_type")
