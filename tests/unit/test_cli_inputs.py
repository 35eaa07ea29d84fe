"""The CLI's input tables as defined once in quality/inputs.py: `read_input` checks a CSV
against a definition (columns, kinds, rows) with the CLI's one-line messages, and the CLI reads
them without loading pandera or pandas."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys

import pytest

from americano_pipelines.cli.table import read_input
from americano_pipelines.errors import InputError
from americano_pipelines.quality import inputs


def _read(text: str, spec: inputs.InputTable):
    return read_input(io.StringIO(text), spec, what="this test")


def test_each_column_is_read_as_its_kind() -> None:
    _, dated = _read("date,value\n2025-01-01,1.5\n2025-01-02,2\n", inputs.DATED_SERIES)
    assert dated == {"date": [dt.date(2025, 1, 1), dt.date(2025, 1, 2)], "value": [1.5, 2.0]}
    _, phased = _read("Phase,value\nA,1\nB,2\n", inputs.PHASE_SERIES)  # header case is free
    assert phased == {"phase": ["A", "B"], "value": [1.0, 2.0]}


@pytest.mark.parametrize(
    ("text", "spec", "message"),
    [
        (
            "day,value\n2025-01-01,1\n2025-01-02,2\n",
            inputs.DATED_SERIES,
            "date: the input has no column 'date'",
        ),
        (
            "date,value\n2025-01-01,1\n01/02/2025,2\n",
            inputs.DATED_SERIES,
            "date: row 2 (line 3) has '01/02/2025', which is not a date",
        ),
        (
            "condition,value\nA,1\n,2\n",
            inputs.CONDITION_SERIES,
            "condition: row 2 (line 3) is empty",
        ),
        (
            "condition,value\nA,1\nB,x\n",
            inputs.CONDITION_SERIES,
            "value: row 2 (line 3) has 'x', which is not a number",
        ),
        (
            "phase,value\nA,1\nA,2\nB,3\n",
            inputs.EFFECT_SIZE_SERIES,
            "input: 3 data rows in the input; this test needs at least 4",
        ),
    ],
)
def test_a_bad_table_is_one_line_naming_the_problem(text, spec, message) -> None:
    with pytest.raises(InputError) as error:
        _read(text, spec)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_the_definitions_are_data_another_client_can_read() -> None:
    assert inputs.DATED_SERIES.to_json() == {
        "columns": [{"name": "date", "kind": "date"}, {"name": "value", "kind": "number"}],
        "minRows": 2,
    }
    assert inputs.EFFECT_SIZE_SERIES.required == ("phase", "value")


def test_the_cli_reads_its_inputs_without_pandera_or_pandas() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, americano_pipelines.cli.app, americano_pipelines.cli.analyze; "
            "print(sorted(m for m in ('pandera', 'pandas', 'polars') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
