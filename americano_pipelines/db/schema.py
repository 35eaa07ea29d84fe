"""The OLTP tables extraction knows, by what it does with them. A module of names only, so the
Dagster definitions can list their assets without loading the extraction's numpy and pyarrow."""

__all__ = [
    "EVENTS_TABLE",
    "EXTRACTED_TABLES",
    "GATED_TABLES",
    "GATE_REFERENCES",
    "LOCATION_TYPES",
    "MOOD_LEVELS",
    "PROVENANCE_TABLES",
    "RAW_TABLES",
    "ROW_ID_SEPARATOR",
    "ROW_KEYS",
    "SNAPSHOT_TABLES",
    "row_key",
]

EVENTS_TABLE = "behavioral_events"
# Small tables are extracted whole on every run; OAuth tokens never leave PostgreSQL.
SNAPSHOT_TABLES = (
    "users",
    "context_metadata",
    "experiment_protocols",
    "phase_assignments",
    "wearable_records",
    # Every Record of an Apple Health export (migration 0011): millions of rows for a multi-GB
    # export, still one file; extraction streams it (db/extract.py).
    "apple_health_records",
)
# The study's data: the versioned raw tree whose DVC hash is the data version.
RAW_TABLES = (EVENTS_TABLE, *SNAPSHOT_TABLES)
# What analyses record about themselves. Snapshotted beside the raw tree, not in it: recording
# a run must not change the data version the next run reads.
PROVENANCE_TABLES = ("analysis_runs",)
EXTRACTED_TABLES = (*RAW_TABLES, *PROVENANCE_TABLES)
# Raw tables with a quality gate between extraction and dbt (americano_pipelines/quality/rules.py):
# every one of them.
GATED_TABLES = RAW_TABLES
# The raw tables whose gate reads another's good rows: a phase is checked against its protocol.
GATE_REFERENCES = {"phase_assignments": ("experiment_protocols",)}
# The primary key of a raw table that has no `id` column. A row's id (the quarantine's `id`,
# which the dbt sources leave out) is its key's values joined by ROW_ID_SEPARATOR: a
# source_record_id is hex, so the joined id names one row whatever the user id holds.
ROW_KEYS = {"apple_health_records": ("user_id", "source_record_id")}
ROW_ID_SEPARATOR = "/"


def row_key(table: str) -> tuple[str, ...]:
    """The columns that name a row of `table`, in primary-key order."""
    return ROW_KEYS.get(table, ("id",))


# The enums of context_metadata, as migration 0001 declares them (no dbt seed states them;
# tests/unit/test_vocabulary.py checks that they mirror the migration).
MOOD_LEVELS = ("LOW", "MEDIUM", "HIGH")
LOCATION_TYPES = ("HOME", "LIBRARY", "CAFE", "CAMPUS", "OTHER")
