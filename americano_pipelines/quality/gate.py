"""`split`: a frame through its pandera schema, into the rows that pass and the rows quarantined,
each with the rules it broke and when. Counts are conserved: rows in = rows out + quarantined."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from americano_pipelines.db.schema import ROW_ID_SEPARATOR
from americano_pipelines.errors import InputError

RULES_COLUMN = "quarantine_rules"
"""In a quarantined row: the rules it broke, in schema order, joined by `RULE_SEPARATOR`."""
AT_COLUMN = "quarantined_at"
RULE_SEPARATOR = "; "
# What a quarantine table holds (`quarantine_records`): the row's id, its rules, when, and the
# row itself as JSON, so one table shape serves every source table.
QUARANTINE_COLUMNS = ("id", "rules", "quarantined_at", "row")


@dataclass(frozen=True)
class GateCounts:
    """Rows in, out and quarantined, and how many rows broke each rule (a row can break more
    than one, so the rules can add up to more than the rows quarantined)."""

    rows_in: int
    rows_out: int
    rows_quarantined: int
    by_rule: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_out + self.rows_quarantined:
            raise ValueError(f"rows not conserved: {self}")

    @property
    def share(self) -> float:
        """The share of rows quarantined (0 with no rows)."""
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def __add__(self, other: GateCounts) -> GateCounts:
        rules = dict(self.by_rule)
        for rule, count in other.by_rule.items():
            rules[rule] = rules.get(rule, 0) + count
        return GateCounts(
            self.rows_in + other.rows_in,
            self.rows_out + other.rows_out,
            self.rows_quarantined + other.rows_quarantined,
            rules,
        )

    def to_json(self) -> dict:
        return {
            "rowsIn": self.rows_in,
            "rowsOut": self.rows_out,
            "rowsQuarantined": self.rows_quarantined,
            "quarantinedByRule": dict(sorted(self.by_rule.items())),
        }

    def to_metadata(self) -> dict:
        """For Dagster's materialization metadata (snake_case, like the extraction's)."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_share": round(self.share, 6),
            "quarantined_by_rule": dict(sorted(self.by_rule.items())),
        }


NO_ROWS = GateCounts(0, 0, 0)


@dataclass(frozen=True)
class Gated:
    good: pd.DataFrame
    """The rows that broke no rule, in their order, with their index."""
    quarantined: pd.DataFrame
    """The other rows, with `RULES_COLUMN` and `AT_COLUMN` added."""
    counts: GateCounts


def split(frame: pd.DataFrame, schema: pa.DataFrameSchema, *, now: dt.datetime) -> Gated:
    """Validate `frame` lazily against `schema`; every row that breaks a rule is quarantined with
    the names of the rules it broke and `now`. A missing column is an InputError naming it."""
    rows = frame.reset_index(drop=True)
    try:
        schema.validate(rows, lazy=True)
        broken = pd.DataFrame({"index": pd.Series(dtype="int64"), "check": pd.Series(dtype=str)})
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        whole = cases[cases["index"].isna()]
        if not whole.empty:
            problem = whole.iloc[0]
            # A missing column is reported against the schema, the column as the failure case.
            whole_frame = problem["schema_context"] == "DataFrameSchema"
            column = problem["failure_case"] if whole_frame else problem["column"]
            problem_text = (
                f"{schema.name} has no {column} column"
                if problem["check"] == "column_in_dataframe"
                else f"{schema.name} fails {problem['check']}"
            )
            raise InputError(f"{column}: {problem_text}", field=str(column)) from None
        # A frame-wide rule reports each failing row once per column: one (row, rule) each.
        broken = cases[["index", "check"]].drop_duplicates()
    rule_order = {name: i for i, name in enumerate(_rule_names(schema))}
    rules_of = (
        broken.assign(order=broken["check"].map(rule_order).fillna(len(rule_order)))
        .sort_values(["index", "order"])
        .groupby("index")["check"]
        .agg(RULE_SEPARATOR.join)
    )
    bad = rows.index.isin(rules_of.index.astype("int64"))
    quarantined = rows[bad].copy()
    quarantined[RULES_COLUMN] = rules_of.reindex(quarantined.index).to_numpy()
    quarantined[AT_COLUMN] = pd.Timestamp(now)
    by_rule = broken["check"].value_counts().to_dict()
    counts = GateCounts(
        len(rows), int((~bad).sum()), int(bad.sum()), {str(k): int(v) for k, v in by_rule.items()}
    )
    return Gated(rows[~bad], quarantined, counts)


def _rule_names(schema: pa.DataFrameSchema) -> list[str]:
    names = [check.name for column in schema.columns.values() for check in column.checks]
    return [*names, *(check.name for check in schema.checks)]


def row_ids(rows: pd.DataFrame, key: tuple[str, ...] = ("id",)) -> pd.Series:
    """Each row's id: its key's values joined by ROW_ID_SEPARATOR (db/schema.row_key)."""
    ids = rows[key[0]].astype(str)
    for column in key[1:]:
        ids = ids + ROW_ID_SEPARATOR + rows[column].astype(str)
    return ids


def quarantine_records(
    quarantined: pd.DataFrame, *, key: tuple[str, ...] = ("id",)
) -> pd.DataFrame:
    """Quarantined rows in the one quarantine table shape (`QUARANTINE_COLUMNS`); `key` names
    a row (its columns' values joined make the quarantine's `id`)."""
    own = [c for c in quarantined.columns if c not in (RULES_COLUMN, AT_COLUMN)]
    return pd.DataFrame(
        {
            "id": row_ids(quarantined, key).to_numpy(),
            "rules": quarantined[RULES_COLUMN].astype(str).to_numpy(),
            "quarantined_at": pd.to_datetime(quarantined[AT_COLUMN], utc=True).to_numpy(),
            "row": [
                json.dumps(record, default=str, sort_keys=True)
                for record in quarantined[own].to_dict(orient="records")
            ],
        },
        columns=list(QUARANTINE_COLUMNS),
    )
