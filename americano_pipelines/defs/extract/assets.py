"""Extraction assets: each OLTP table to versioned Parquet, and the tree's DVC data version."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DataVersion,
    MaterializeResult,
    asset,
)

from americano_pipelines.db import schema
from americano_pipelines.defs.extract.partitions import event_days
from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.resources import PostgresResource, SettingsResource
from americano_pipelines.defs.wearables.assets import SYNC_KEYS
from americano_pipelines.provenance.data_version import commit_data_version

GROUP = "extract"
# Raise when a change to the extraction changes what the files hold.
CODE_VERSION = "1"
# Of a snapshot: raised when its quality gate's rules change what it quarantines (2: every
# raw table gated, quality/rules.py).
SNAPSHOT_CODE_VERSION = "2"


def raw_key(table: str) -> AssetKey:
    return AssetKey(["raw", table])


@asset(
    key=raw_key(schema.EVENTS_TABLE),
    group_name=GROUP,
    partitions_def=event_days,
    # A backfill of many days runs as one run that streams each day in turn.
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"postgres", "parquet"},
    code_version=CODE_VERSION,
    owners=[OWNER],
    description=(
        "behavioral_events, one Parquet file per UTC day; rows with a non-finite timestamp, "
        "date or float are quarantined (counted, never written)."
    ),
)
def raw_behavioral_events(
    context: AssetExecutionContext, postgres: PostgresResource, settings: SettingsResource
) -> MaterializeResult:
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    days = [first + dt.timedelta(days=i) for i in range((end - first).days)]
    raw_dir = settings.get().raw_dir
    from americano_pipelines.db import extract  # numpy and pyarrow: when the asset runs

    with extract.extract_connection(postgres.get_url()) as conn:
        extracted = extract.extract_events(conn, days, raw_dir)
    gate = _quality_gate(schema.EVENTS_TABLE, [f.path for f in extracted.files], settings)
    return MaterializeResult(
        metadata={**extracted.to_metadata(), **gate},
        data_version=DataVersion(extracted.content_hash),
    )


def _quality_gate(table: str, files: list, settings: SettingsResource) -> dict:
    """The table's quality gate over the files just written (none for an ungated table): its
    counts as metadata, prefixed `gate_`. The raw files keep every row; dbt leaves out the ones
    in quarantine.<table>."""
    if table not in schema.GATED_TABLES:
        return {}
    from americano_pipelines.quality import boundary  # pandera and pandas: when the asset runs

    current = settings.get()
    counts = boundary.gate_raw_files(
        table,
        files,
        current.quarantine_dir,
        now=dt.datetime.now(dt.UTC),
        raw_dir=current.raw_dir,
    )
    return {f"gate_{key}": value for key, value in counts.to_metadata().items()}


def provenance_key(table: str) -> AssetKey:
    return AssetKey(["provenance", table])


def extracted_key(table: str) -> AssetKey:
    return provenance_key(table) if table in schema.PROVENANCE_TABLES else raw_key(table)


# What writes a table besides the study app: its lineage starts there.
WRITERS = {"wearable_records": SYNC_KEYS}


def _snapshot_asset(table: str):
    @asset(
        key=extracted_key(table),
        group_name=GROUP,
        # What writes the table besides the study app, and, for a table whose rules read
        # another's good rows (a phase, its protocol), that table: it is gated after it.
        deps=[
            *WRITERS.get(table, []),
            *(raw_key(name) for name in schema.GATE_REFERENCES.get(table, ())),
        ],
        kinds={"postgres", "parquet"},
        code_version=CODE_VERSION if table in schema.PROVENANCE_TABLES else SNAPSHOT_CODE_VERSION,
        owners=[OWNER],
        description=(
            f"{table}, snapshotted whole to Parquet on every run; rows with a non-finite "
            "timestamp, date or float are quarantined (counted, never written)."
            + (
                f" Gated: rows that break its rules (quality/rules.py) go to quarantine.{table}."
                if table in schema.GATED_TABLES
                else ""
            )
        ),
    )
    def _snapshot(postgres: PostgresResource, settings: SettingsResource) -> MaterializeResult:
        current = settings.get()
        root = current.provenance_dir if table in schema.PROVENANCE_TABLES else current.raw_dir
        from americano_pipelines.db import extract  # numpy and pyarrow: when the asset runs

        with extract.extract_connection(postgres.get_url()) as conn:
            extracted = extract.extract_snapshot(conn, table, root)
        gate = _quality_gate(table, [extracted.path], settings)
        return MaterializeResult(
            metadata={**extracted.to_metadata(), **gate},
            data_version=DataVersion(extracted.content_hash),
        )

    return _snapshot


raw_snapshots = [_snapshot_asset(table) for table in schema.SNAPSHOT_TABLES]
provenance_snapshots = [_snapshot_asset(table) for table in schema.PROVENANCE_TABLES]


@asset(
    key=AssetKey(["raw", "data_version"]),
    group_name=GROUP,
    deps=[raw_key(table) for table in schema.RAW_TABLES],
    kinds={"dvc"},
    code_version=CODE_VERSION,
    owners=[OWNER],
    description="The raw Parquet tree committed to DVC; its hash is the data version.",
)
def raw_data_version(settings: SettingsResource) -> MaterializeResult:
    version = commit_data_version(settings.get())
    return MaterializeResult(metadata=version.to_metadata(), data_version=DataVersion(version.hash))


extract_assets = [raw_behavioral_events, *raw_snapshots, raw_data_version, *provenance_snapshots]
