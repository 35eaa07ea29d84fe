"""The words a protocol is registered in: design types and phase types, defined once.

They mirror the PostgreSQL enums of migration 0001 (`experiment_design_type`, `phase_type`);
registration, the analyses and provenance import them from here.
"""

from __future__ import annotations

__all__ = [
    "ABAB",
    "ALTERNATING",
    "CHANGING_CRITERION",
    "CONDITION_PHASE_TYPES",
    "DESIGN_TYPES",
    "INTERVENTION_PHASE_TYPES",
    "MULTIPLE_BASELINE",
    "PHASE_TYPES",
]

ABAB = "ABAB"
MULTIPLE_BASELINE = "MULTIPLE_BASELINE"
ALTERNATING = "ALTERNATING"
CHANGING_CRITERION = "CHANGING_CRITERION"
DESIGN_TYPES = (ABAB, MULTIPLE_BASELINE, ALTERNATING, CHANGING_CRITERION)

PHASE_TYPES = ("BASELINE", "INTERVENTION_A", "INTERVENTION_B", "WASHOUT")
INTERVENTION_PHASE_TYPES = ("INTERVENTION_A", "INTERVENTION_B")
"""The phase types in which an intervention is in force."""
CONDITION_PHASE_TYPES = {"A": "BASELINE", "B": "INTERVENTION_A"}
"""Which phase_type each condition of a phase becomes (the schema's enum has no "B")."""
