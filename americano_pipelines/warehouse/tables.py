"""The analyses' warehouse I/O: read a protocol's inputs from the marts, write tidy result tables.

Every table lives in the DuckDB schema `analyses` and is keyed by `protocol_id`: re-running a
protocol's analysis deletes its rows and inserts the new ones in one transaction, so reruns
are idempotent and readers never see a half-written protocol. Each table's columns are
defined once, here (`Table`); the result dataclasses' `to_rows()` fill them, and
`data_version` (the DVC hash of the raw data) and `computed_at` (UTC) are added on write.

Connections are DuckDB connections (the Dagster `DuckDBResource` hands them out); nothing here
imports Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHANGE_POINTS",
    "ITS_EFFECTS",
    "RANDOMIZATION_TESTS",
    "SCHEMA",
    "SEQUENTIAL_LOOKS",
    "Table",
    "change_point_dates",
    "daily_metric_series",
    "phase_observations",
    "protocol_ids",
    "protocol_row",
    "replace_protocol_rows",
]

SCHEMA = "analyses"
_PROVENANCE = (("data_version", "VARCHAR"), ("computed_at", "TIMESTAMP"))


@dataclass(frozen=True)
class Table:
    """A result table: its name in the `analyses` schema and its columns (name, DuckDB type).
    `data_version` and `computed_at` are appended to every table."""

    name: str
    columns: tuple[tuple[str, str], ...]
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        return self.columns + _PROVENANCE

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


RANDOMIZATION_TESTS = Table(
    "sced_randomization_test",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("design", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("statistic", "VARCHAR"),
        ("observed_effect", "DOUBLE"),
        ("p_value", "DOUBLE"),
        ("n_assignments", "BIGINT"),
        ("n_admissible", "HUGEINT"),
        ("exact", "BOOLEAN"),
        ("alpha", "DOUBLE"),
        ("significant", "BOOLEAN"),
        ("effect_size", "DOUBLE"),
        ("nap", "DOUBLE"),
        ("nap_se", "DOUBLE"),
        ("smd", "DOUBLE"),
        ("smd_se", "DOUBLE"),
        ("rating", "VARCHAR"),
        ("passes", "BOOLEAN"),
        ("standards_reasons", "VARCHAR"),
        ("min_phase_length", "INTEGER"),
        ("min_phase_length_used", "INTEGER"),
        ("n_observations", "INTEGER"),
        ("permutations", "INTEGER"),
        ("seed", "BIGINT"),
        ("interpretation", "VARCHAR"),
        ("notes", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: its randomization test, effect sizes and WWC rating.",
)

CHANGE_POINTS = Table(
    "change_points",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("change_point", "INTEGER"),
        ("observation_index", "INTEGER"),
        ("change_date", "DATE"),
        ("confidence", "DOUBLE"),
        ("before_mean", "DOUBLE"),
        ("after_mean", "DOUBLE"),
        ("percent_change", "DOUBLE"),
        ("nearest_phase_change_date", "DATE"),
        ("nearest_phase_label", "VARCHAR"),
        ("offset_observations", "INTEGER"),
        ("algorithm", "VARCHAR"),
        ("penalty", "DOUBLE"),
        ("min_segment_length", "INTEGER"),
        ("n_observations", "INTEGER"),
    ),
    "One row per change point in the mean of a protocol's primary outcome.",
)

SEQUENTIAL_LOOKS = Table(
    "sequential_monitoring",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("look", "INTEGER"),
        ("planned_n", "INTEGER"),
        ("planned_information_rate", "DOUBLE"),
        ("reached", "BOOLEAN"),
        ("n_used", "INTEGER"),
        ("information_rate", "DOUBLE"),
        ("n_a", "INTEGER"),
        ("n_b", "INTEGER"),
        ("mean_a", "DOUBLE"),
        ("mean_b", "DOUBLE"),
        ("z_statistic", "DOUBLE"),
        ("critical_value", "DOUBLE"),
        ("alpha_spent", "DOUBLE"),
        ("nominal_alpha", "DOUBLE"),
        ("boundary", "VARCHAR"),
        ("crossed", "BOOLEAN"),
        ("decision", "VARCHAR"),
        ("stopped_at_look", "INTEGER"),
        ("spending", "VARCHAR"),
        ("sides", "INTEGER"),
        ("alpha", "DOUBLE"),
        ("max_n", "INTEGER"),
        ("statistic", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("z_method", "VARCHAR"),
    ),
    "One row per planned look of a protocol's group-sequential design.",
)

ITS_EFFECTS = Table(
    "its_effects",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("intervention_date", "DATE"),
        ("post_window", "VARCHAR"),
        ("post_phase_label", "VARCHAR"),
        ("pre_start_date", "DATE"),
        ("post_end_date", "DATE"),
        ("n_pre", "INTEGER"),
        ("n_post", "INTEGER"),
        ("n_excluded", "INTEGER"),
        ("effect_mean", "DOUBLE"),
        ("effect_sd", "DOUBLE"),
        ("effect_hdi95_low", "DOUBLE"),
        ("effect_hdi95_high", "DOUBLE"),
        ("probability_positive", "DOUBLE"),
        ("rhat", "DOUBLE"),
        ("ess_bulk", "DOUBLE"),
        ("ess_tail", "DOUBLE"),
        ("divergences", "INTEGER"),
        ("converged", "BOOLEAN"),
        ("seasonality", "VARCHAR"),
        ("ar1", "BOOLEAN"),
        ("effect_prior_mean", "DOUBLE"),
        ("effect_prior_sd", "DOUBLE"),
        ("sampler", "VARCHAR"),
        ("draws", "INTEGER"),
        ("tune", "INTEGER"),
        ("chains", "INTEGER"),
        ("seed", "BIGINT"),
        ("posterior_path", "VARCHAR"),
        ("interpretation", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: the Bayesian ITS effect of its first A-to-B change.",
)


# ----------------------------------------------------------------------------- reading


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def protocol_ids(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every protocol in `marts.protocols`, sorted; empty before the marts are built."""
    if not _table_exists(conn, "marts", "protocols"):
        return []
    rows = conn.execute("SELECT protocol_id FROM marts.protocols ORDER BY protocol_id").fetchall()
    return [str(row[0]) for row in rows]


def phase_end_dates(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, dt.date]]:
    """(protocol_id, phase_label, end_date) of every scheduled phase, from
    `intermediate.int_protocol_days` (whose days follow the dbt macro `phase_end_date`); empty
    before the warehouse is built."""
    if not _table_exists(conn, "intermediate", "int_protocol_days"):
        return []
    return conn.execute(
        "SELECT protocol_id, phase_label, max(protocol_date) FROM intermediate.int_protocol_days "
        "GROUP BY protocol_id, phase_label ORDER BY protocol_id, 3, phase_label"
    ).fetchall()


def protocol_row(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> dict[str, Any]:
    """The protocol's `marts.protocols` row as a dict; KeyError when it is not there."""
    cursor = conn.execute("SELECT * FROM marts.protocols WHERE protocol_id = ?", [protocol_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"protocol {protocol_id!r} is not in marts.protocols")
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


def phase_observations(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> pd.DataFrame:
    """The protocol's rows of `marts.phase_observations`, in observation order; `case` names the
    multiple-baseline case of each row ('all' in single-series designs)."""
    return conn.execute(
        'SELECT *, case_name AS "case" FROM marts.phase_observations WHERE protocol_id = ? '
        "ORDER BY case_name, observation_index",
        [protocol_id],
    ).df()


def daily_metric_series(conn: duckdb.DuckDBPyConnection, user_id: str, metric: str) -> pd.DataFrame:
    """The user's days with a value of `metric` in `marts.daily_metrics`, in date order, with
    the protocol phase in force that day (`protocol_id`, `phase_label`, `phase_type`,
    `condition`; NULL outside any protocol)."""
    return conn.execute(
        "SELECT metric_date, value, protocol_id, phase_label, phase_type, condition "
        "FROM marts.daily_metrics WHERE user_id = ? AND metric = ? AND value IS NOT NULL "
        "ORDER BY metric_date",
        [user_id, metric],
    ).df()


def change_point_dates(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> list[dt.date]:
    """Dates of the protocol's change points in `analyses.change_points` (none before a run)."""
    if not _table_exists(conn, SCHEMA, CHANGE_POINTS.name):
        return []
    rows = conn.execute(
        f"SELECT change_date FROM {CHANGE_POINTS.qualified_name} WHERE protocol_id = ? "
        "ORDER BY change_date",
        [protocol_id],
    ).fetchall()
    return [row[0] for row in rows if row[0] is not None]


# ----------------------------------------------------------------------------- writing


def _ensure_table(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the schema and table, adding any column a newer version defines."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    columns = ", ".join(f"{name} {kind}" for name, kind in table.all_columns)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.qualified_name} ({columns})")
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ?",
            [SCHEMA, table.name],
        ).fetchall()
    }
    for name, kind in table.all_columns:
        if name not in existing:
            conn.execute(f"ALTER TABLE {table.qualified_name} ADD COLUMN {name} {kind}")


def _check_rows(table: Table, protocol_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    expected = set(table.column_names)
    for row in rows:
        if set(row) != expected:
            missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
            raise ValueError(
                f"{table.qualified_name}: row columns differ from the table "
                f"(missing {missing}, unexpected {extra})"
            )
        if row["protocol_id"] != protocol_id:
            raise ValueError(
                f"{table.qualified_name}: a row of protocol {row['protocol_id']!r} was given to "
                f"replace the rows of {protocol_id!r}"
            )


def replace_protocol_rows(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    protocol_id: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    data_version: str | None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Replace the protocol's rows of `table` with `rows` (delete + insert, one transaction);
    returns the number of rows written. `computed_at` defaults to now, in UTC."""
    _check_rows(table, protocol_id, rows)
    stamp = (computed_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    names = [name for name, _ in table.all_columns]
    values = [[*(row[name] for name in table.column_names), data_version, stamp] for row in rows]
    _ensure_table(conn, table)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DELETE FROM {table.qualified_name} WHERE protocol_id = ?", [protocol_id])
        if values:
            placeholders = ", ".join("?" for _ in names)
            conn.executemany(
                f"INSERT INTO {table.qualified_name} ({', '.join(names)}) VALUES ({placeholders})",
                values,
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(values)
