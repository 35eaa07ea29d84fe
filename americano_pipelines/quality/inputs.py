"""The tables `americano analyze …` takes (CONTRACTS.md §3), as data: each input's columns,
what each holds and how many rows it needs. Stated once here; the CLI checks a CSV against
them (`cli.table.read_input`) and the HTTP API can build its request models from the same
definitions.

Plain data, not pandera schemas: `pandera.polars` costs the CLI's start-up more than ten
times what the whole CLI imports now (bench/cli_input_schema.py measures both in one run), and
`americano analyze` must answer quickly. The raw tables and the marts keep their pandera
schemas (`quality.rules`), where the import is paid once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONDITION_SERIES",
    "DATED_SERIES",
    "EFFECT_SIZE_SERIES",
    "InputColumn",
    "InputTable",
    "PHASE_SERIES",
]

Kind = Literal["label", "number", "date"]


@dataclass(frozen=True)
class InputColumn:
    name: str
    kind: Kind
    """`label`: text, no cell empty; `number`: a finite number; `date`: ISO `YYYY-MM-DD`."""


@dataclass(frozen=True)
class InputTable:
    """An input table: its columns (each required, in the order they are checked) and the
    fewest data rows an analysis of it can use."""

    columns: tuple[InputColumn, ...]
    min_rows: int = 1

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def to_json(self) -> dict:
        return {
            "columns": [{"name": c.name, "kind": c.kind} for c in self.columns],
            "minRows": self.min_rows,
        }


PHASE_SERIES = InputTable((InputColumn("phase", "label"), InputColumn("value", "number")))
"""One series in time order, each observation's phase (`A`/`B` or `A1,B1,…`): the phase
designs (abab, custom-design); an optional `date` column is checked for time order."""
EFFECT_SIZE_SERIES = InputTable(PHASE_SERIES.columns, min_rows=4)
"""One A block then one B block, at least two observations each."""
CONDITION_SERIES = InputTable(
    (InputColumn("condition", "label"), InputColumn("value", "number")), min_rows=2
)
"""The alternating treatments and randomized block designs: each session's condition."""
DATED_SERIES = InputTable((InputColumn("date", "date"), InputColumn("value", "number")), min_rows=2)
"""A dated series: change points, the interrupted time series."""
