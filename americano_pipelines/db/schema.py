"""The OLTP tables extraction knows, by what it does with them. A module of names only, so the
Dagster definitions can list their assets without loading the extraction's numpy and pyarrow."""

__all__ = [
    "EVENTS_TABLE",
    "EXTRACTED_TABLES",
    "GATED_TABLES",
    "PROVENANCE_TABLES",
    "RAW_TABLES",
    "SNAPSHOT_TABLES",
]

EVENTS_TABLE = "behavioral_events"
# Small tables are extracted whole on every run; OAuth tokens never leave PostgreSQL.
SNAPSHOT_TABLES = (
    "users",
    "context_metadata",
    "experiment_protocols",
    "phase_assignments",
    "wearable_records",
)
# The study's data: the versioned raw tree whose DVC hash is the data version.
RAW_TABLES = (EVENTS_TABLE, *SNAPSHOT_TABLES)
# What analyses record about themselves. Snapshotted beside the raw tree, not in it: recording
# a run must not change the data version the next run reads.
PROVENANCE_TABLES = ("analysis_runs",)
EXTRACTED_TABLES = (*RAW_TABLES, *PROVENANCE_TABLES)
# Raw tables with a quality gate between extraction and dbt (americano_pipelines/quality/rules.py).
GATED_TABLES = (EVENTS_TABLE, "wearable_records")
