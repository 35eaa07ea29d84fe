"""The words a protocol is registered in: design types and phase types, defined once.

The dbt seeds `design_types.csv`, `phase_conditions.csv` and `alternating_randomizations.csv`
are the one statement of them:
SQL joins the seeds, and this module reads the same files, so Python and the warehouse cannot
disagree. They mirror the PostgreSQL enums of migration 0001 (`experiment_design_type`,
`phase_type`; tests/unit/test_vocabulary.py checks that they do).
"""

from __future__ import annotations

import csv

from americano_pipelines.config import DBT_PROJECT_DIR

__all__ = [
    "ABAB",
    "ALTERNATING",
    "ALTERNATING_RANDOMIZATIONS",
    "BLOCKS",
    "CHANGING_CRITERION",
    "CONDITION_PHASE_TYPES",
    "DESIGN_TYPES",
    "INTERVENTION_PHASE_TYPES",
    "MULTIPLE_BASELINE",
    "PHASE_CONDITIONS",
    "PHASE_TYPES",
    "RESTRICTED",
]

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


def _seed(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(newline="") as file:
        return list(csv.DictReader(file))


DESIGN_TYPES = tuple(row["design_type"] for row in _seed("design_types"))
ABAB, MULTIPLE_BASELINE, ALTERNATING, CHANGING_CRITERION = DESIGN_TYPES

_PHASES = _seed("phase_conditions")
PHASE_TYPES = tuple(row["phase_type"] for row in _PHASES)
PHASE_CONDITIONS = {row["phase_type"]: row["condition"] for row in _PHASES}
"""phase_type → condition in single-case notation (baseline and washout are A)."""
INTERVENTION_PHASE_TYPES = tuple(
    row["phase_type"] for row in _PHASES if row["is_intervention"] == "true"
)
"""The phase types in which an intervention is in force."""
# A registered schedule writes conditions A and B; each becomes the first phase type that has it
# (the schema's enum has no "B").
CONDITION_PHASE_TYPES = {
    condition: next(t for t, c in PHASE_CONDITIONS.items() if c == condition)
    for condition in ("A", "B")
}
"""Which phase_type each condition of a drawn schedule becomes."""

ALTERNATING_RANDOMIZATIONS = tuple(
    row["randomization"] for row in _seed("alternating_randomizations")
)
"""How an ALTERNATING design's sessions are drawn (the protocol file's `randomization`)."""
RESTRICTED, BLOCKS = ALTERNATING_RANDOMIZATIONS
