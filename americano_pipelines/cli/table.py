"""Reading and checking the CSV tables that `americano analyze …` takes (CONTRACTS.md §3).

A table is a CSV file with a header row, read with the standard `csv` module (no heavy import on
the CLI's startup path). Every check raises `InputError` with a one-line message that names the
column, the data row and the bad value, so the CLI can print it and exit 2.

Rows are numbered as a person reading the file counts them: "row 1" is the first data row (the
line after the header); the message also gives the file's line number when it differs.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from americano_pipelines.errors import InputError

if TYPE_CHECKING:
    from americano_pipelines.quality.inputs import InputTable

__all__ = [
    "STDIN",
    "Table",
    "parse_date",
    "parse_number",
    "parse_number_list",
    "read_input",
    "read_table",
]

STDIN = "-"
"""`--input -` reads the table from standard input."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN_COLUMNS = 12


def _quote(text: str, limit: int = 40) -> str:
    """A value for an error message: repr, shortened, always on one line."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown)


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(_quote(name) for name in names[:_SHOWN_COLUMNS])
    if len(names) > _SHOWN_COLUMNS:
        shown += f", ... ({len(names)} columns)"
    return shown or "none"


def parse_number(text: str, *, field: str, where: str = "") -> float:
    """A finite float from `text`, or an InputError naming `field`, `where` and the text."""
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{field}: {where}is empty; expected a number", field=field)
    try:
        number = float(stripped)
    except ValueError:
        raise InputError(
            f"{field}: {where}has {_quote(stripped)}, which is not a number", field=field
        ) from None
    if not math.isfinite(number):
        raise InputError(
            f"{field}: {where}has {_quote(stripped)}, which is not a finite number", field=field
        )
    return number


def parse_date(text: str, *, field: str, where: str = "") -> date:
    """A calendar date written exactly as ISO `YYYY-MM-DD`, or an InputError."""
    stripped = text.strip()
    if not _ISO_DATE.fullmatch(stripped):
        raise InputError(
            f"{field}: {where}has {_quote(stripped)}, which is not a date in the form YYYY-MM-DD",
            field=field,
        )
    try:
        return date.fromisoformat(stripped)
    except ValueError:
        raise InputError(
            f"{field}: {where}has {_quote(stripped)}, which is not a calendar date", field=field
        ) from None


def parse_number_list(text: str, *, field: str) -> list[float]:
    """`"0.25,0.5,1"` as numbers: the comma-separated lists of options such as `--z`."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise InputError(f"{field}: give a comma-separated list of numbers", field=field)
    return [
        parse_number(part, field=field, where=f"item {position} ")
        for position, part in enumerate(parts, start=1)
    ]


@dataclass(frozen=True)
class Table:
    """A CSV table as text: the header, the data rows and each row's line in the source."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    source: str

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, index: int) -> str:
        """'row 3 (line 4) ' for the data row at 0-based `index`: the prefix of row errors."""
        row = index + 1
        line = self.lines[index]
        return f"row {row} " if line == row else f"row {row} (line {line}) "

    def column_name(self, name: str) -> str:
        """The header's spelling of column `name`: exact match, else the one case-insensitive
        match. A missing column is an InputError that lists the columns found."""
        if name in self.columns:
            return name
        folded = [column for column in self.columns if column.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(
            f"{name}: the input has no column {name!r}; columns found: {_listing(self.columns)}",
            field=name,
        )

    def require(self, *names: str) -> None:
        """Every named column is present (the first missing one is the error)."""
        for name in names:
            self.column_name(name)

    def has(self, name: str) -> bool:
        try:
            self.column_name(name)
        except InputError:
            return False
        return True

    def text(self, name: str) -> list[str]:
        """A column's cells, stripped of surrounding spaces."""
        position = self.columns.index(self.column_name(name))
        return [row[position].strip() for row in self.rows]

    def labels(self, name: str) -> list[str]:
        """A label column (phase, condition, case): stripped, no cell empty."""
        cells = self.text(name)
        for index, cell in enumerate(cells):
            if not cell:
                raise InputError(f"{name}: {self.where(index)}is empty", field=name)
        return cells

    def numbers(self, name: str) -> list[float]:
        """A numeric column as finite floats; the error names the column, row and value."""
        column = self.column_name(name)
        return [
            parse_number(cell, field=column, where=self.where(index))
            for index, cell in enumerate(self.text(column))
        ]

    def dates(self, name: str) -> list[date]:
        """An ISO `YYYY-MM-DD` date column; the error names the column, row and value."""
        column = self.column_name(name)
        return [
            parse_date(cell, field=column, where=self.where(index))
            for index, cell in enumerate(self.text(column))
        ]

    def dates_in_order(self, name: str, *, strictly: bool) -> list[date]:
        """The date column, checked to run forward in time (rows must be in time order)."""
        days = self.dates(name)
        for index in range(1, len(days)):
            earlier, later = days[index - 1], days[index]
            if later < earlier or (strictly and later == earlier):
                problem = "repeats" if later == earlier else "comes before"
                raise InputError(
                    f"{self.column_name(name)}: {self.where(index)}has {later.isoformat()}, which "
                    f"{problem} {earlier.isoformat()} on the row above; rows must be in time order",
                    field=name,
                )
        return days

    def require_rows(self, minimum: int, *, what: str) -> None:
        """At least `minimum` data rows, or an InputError saying how many there are."""
        if len(self.rows) < minimum:
            raise InputError(
                f"input: {len(self.rows)} data row{'s' if len(self.rows) != 1 else ''} in "
                f"{self.source}; {what} needs at least {minimum}",
                field="input",
            )


def _read_text(source: str | Path | TextIO) -> tuple[str, str]:
    """The whole input as text, and a name for it in messages."""
    if not isinstance(source, str | Path):
        return source.read(), getattr(source, "name", "the input")
    if str(source) == STDIN:
        return sys.stdin.read(), "stdin"
    path = Path(source)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return handle.read(), str(path)
    except FileNotFoundError:
        raise InputError(f"input: no such file: {str(path)!r}", field="input") from None
    except IsADirectoryError:
        raise InputError(
            f"input: {str(path)!r} is a directory, not a CSV file", field="input"
        ) from None
    except PermissionError:
        raise InputError(f"input: permission denied reading {str(path)!r}", field="input") from None
    except UnicodeDecodeError as error:
        raise InputError(
            f"input: {str(path)!r} is not UTF-8 text (byte {error.start})", field="input"
        ) from None
    except OSError as error:
        raise InputError(
            f"input: cannot read {str(path)!r}: {error.strerror}", field="input"
        ) from None


def read_table(
    source: str | Path | TextIO,
    *,
    required: Sequence[str] = (),
    min_rows: int = 1,
    what: str = "this analysis",
) -> Table:
    """Read a CSV with a header from a path, `"-"` (stdin) or an open text stream.

    Checks: the input is not empty; the header has no empty or repeated names; every row has as
    many fields as the header (blank lines are skipped); the `required` columns are present;
    there are at least `min_rows` data rows. Values stay text until a column is asked for as
    numbers or dates, so each error can name its column and row.
    """
    text, name = _read_text(source)
    if "\x00" in text:
        raise InputError(
            f"input: {name} contains NUL bytes; it is not a CSV text file", field="input"
        )
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise InputError(
                f"input: {name} is empty; expected a CSV with a header row", field="input"
            )
        columns = tuple(cell.strip() for cell in header)
        for position, column in enumerate(columns, start=1):
            if not column:
                raise InputError(
                    f"input: header column {position} has no name; columns found: "
                    f"{_listing(columns)}",
                    field="input",
                )
        repeated = sorted({column for column in columns if columns.count(column) > 1})
        if repeated:
            raise InputError(
                f"input: the header repeats column {repeated[0]!r}; columns found: "
                f"{_listing(columns)}",
                field="input",
            )
        rows: list[tuple[str, ...]] = []
        lines: list[int] = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise InputError(
                    f"input: row {len(rows) + 1} (line {reader.line_num}) has {len(record)} "
                    f"field{'s' if len(record) != 1 else ''}; the header has {len(columns)}",
                    field="input",
                )
            rows.append(tuple(record))
            lines.append(reader.line_num)
    except csv.Error as error:
        raise InputError(
            f"input: line {reader.line_num} is not valid CSV: {error}", field="input"
        ) from None
    table = Table(columns=columns, rows=tuple(rows), lines=tuple(lines), source=name)
    table.require(*required)
    table.require_rows(min_rows, what=what)
    return table


def read_input(
    source: str | Path | TextIO, spec: InputTable, *, what: str
) -> tuple[Table, dict[str, list]]:
    """`read_table` against an input's definition (`quality.inputs`): its columns present, at
    least its rows, and each column read as its kind (labels, numbers, dates), in order; the
    table and each column's values by name."""
    table = read_table(source, required=spec.required, min_rows=spec.min_rows, what=what)
    readers = {"label": table.labels, "number": table.numbers, "date": table.dates}
    return table, {column.name: readers[column.kind](column.name) for column in spec.columns}
