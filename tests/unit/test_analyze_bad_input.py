"""Bad and edge inputs to `americano analyze …`, tried as a careless user would (issue 7, item 8).

The contract (CONTRACTS.md §3): bad input exits 2 with one line on stderr that names the field,
never a traceback; anything else is answered, one JSON object, in reasonable time. 581 such
inputs once gave 24 failures in four classes, each a parametrized test below with more cases
like it: huge (and tiny) values, absurd option values, bad input that was accepted, and big
inputs that hung. The limits are in americano_pipelines/stats/limits.py and
docs/contracts-additions.md ("Limits and edge inputs"). The CLI runs in-process (Typer's
CliRunner); a few cases at the end go through a real subprocess.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from americano_pipelines.cli.app import app
from americano_pipelines.stats import limits

runner = CliRunner()
START = dt.date(2025, 1, 1)


# ----------------------------------------------------------------------------- helpers


def csv_text(header: str, rows) -> str:
    return "\n".join([header, *(",".join(str(cell) for cell in row) for row in rows)]) + "\n"


def days(n: int) -> list[str]:
    return [(START + dt.timedelta(days=i)).isoformat() for i in range(n)]


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(10.0, 2.0, n), 3)


def with_value(values, row: int, value: float) -> list:
    """The values with data row `row` (1-based, as the messages count) replaced by `value`."""
    changed = list(values)
    changed[row - 1] = value
    return changed


ABAB_PHASES = ["A"] * 6 + ["B"] * 6 + ["A"] * 6 + ["B"] * 6
AB_PHASES = ["A"] * 8 + ["B"] * 8
ATD_CONDITIONS = list("ABBABAABABBAABBA")
ES_PHASES = ["A"] * 6 + ["B"] * 6


def abab(values) -> str:
    return csv_text("phase,value", zip(ABAB_PHASES, values, strict=True))


def ab(values) -> str:
    return csv_text("phase,value", zip(AB_PHASES, values, strict=True))


def multiple_baseline(values) -> str:
    """Three cases of 12 rows (starts 4, 5, 6); `values` runs over all 36 rows in file order."""
    rows = [
        (case, "A" if i < 4 + k else "B")
        for k, case in enumerate(("anna", "ben", "cleo"))
        for i in range(12)
    ]
    return csv_text("case,phase,value", [(c, p, v) for (c, p), v in zip(rows, values, strict=True)])


def alternating(values) -> str:
    return csv_text("condition,value", zip(ATD_CONDITIONS, values, strict=True))


def effect_sizes(values) -> str:
    return csv_text("phase,value", zip(ES_PHASES, values, strict=True))


def changepoints(values) -> str:
    return csv_text("date,value", zip(days(len(values)), values, strict=True))


def granger(values) -> str:
    """The values are the effect column `b`; the cause `a` is noise."""
    return csv_text("a,b", zip(noise(len(values), 7), values, strict=True))


def its(values) -> str:
    return csv_text("date,value", zip(days(len(values)), values, strict=True))


def synthetic_control(values) -> str:
    """The values are the treated column `t`; donors d1, d2 are noise."""
    d1, d2 = noise(len(values), 8), noise(len(values), 9)
    return csv_text("date,t,d1,d2", zip(days(len(values)), values, d1, d2, strict=True))


# subcommand → (CSV builder, number of rows, arguments after --input -, column named on error)
DESIGNS: dict[str, tuple[Callable[[list], str], int, list[str], str]] = {
    "abab": (abab, 24, [], "value"),
    "ab": (ab, 16, [], "value"),
    "multiple-baseline": (multiple_baseline, 36, [], "value"),
    "alternating": (alternating, 16, [], "value"),
    "effect-sizes": (effect_sizes, 12, [], "value"),
    "changepoints": (changepoints, 40, ["--bootstrap", "20"], "value"),
    "granger": (granger, 40, ["--cause", "a", "--effect", "b", "--max-lag", "2"], "b"),
    "its": (
        its,
        40,
        ["--intervention-date", days(40)[30], "--draws", "20", "--tune", "20"],
        "value",
    ),
    "synthetic-control": (
        synthetic_control,
        40,
        ["--treated", "t", "--intervention-date", days(40)[30], "--draws", "20", "--tune", "20"],
        "t",
    ),
}
FAST = [name for name in DESIGNS if name not in ("its", "synthetic-control")]


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["analyze", *args], input=stdin)


def run(name: str, values, *extra: str):
    build, _, args, _ = DESIGNS[name]
    return invoke(name, "--input", "-", *args, *extra, stdin=build(values))


def assert_refused(result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr starting 'error: ' with every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.stdout[:300], result.stderr[-2000:])
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_answered(result) -> dict:
    """Exit 0 and exactly one JSON object of finite numbers on stdout."""
    assert result.exit_code == 0, result.stderr[-2000:]
    assert result.stdout.count("\n") == 1, result.stdout[:300]

    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} in the output")

    return json.loads(result.stdout, parse_constant=no_constant)


# ----------------------------------------------------------------------------- huge and tiny values


@pytest.mark.parametrize("value", [1e308, -1e308, 1.5e150])
@pytest.mark.parametrize("name", list(DESIGNS))
def test_values_beyond_the_limit_are_refused_naming_column_row_and_limit(
    name: str, value: float
) -> None:
    """Before: 7 subcommands exited 1 with a multi-line overflow message, the ITS printed a
    traceback and the synthetic control sampled NaN for hours."""
    _, n, _, column = DESIGNS[name]
    values = with_value(noise(n), 3, value)
    assert_refused(run(name, values), f"{column}:", "row 3", f"{value:g}", "1e+150")


@pytest.mark.parametrize("name", FAST)
def test_values_just_within_the_limit_are_answered(name: str) -> None:
    _, n, _, _ = DESIGNS[name]
    scale = limits.MAX_ABS_VALUE / 100
    assert_answered(run(name, list(noise(n) / 20 * scale)))


@pytest.mark.parametrize("name", FAST)
def test_series_of_only_tiny_values_are_refused(name: str) -> None:
    """1e-300 everywhere: squares underflow, so the spread would read as zero."""
    _, n, _, column = DESIGNS[name]
    assert_refused(run(name, list(noise(n) * 1e-301)), f"{column}:", "1e-150")


@pytest.mark.parametrize("name", FAST)
def test_one_tiny_value_among_ordinary_ones_is_answered(name: str) -> None:
    _, n, _, _ = DESIGNS[name]
    assert_answered(run(name, with_value(noise(n), 2, 1e-300)))


# ----------------------------------------------------------------------------- option values

RATE_FILE = csv_text("phase,value", zip(ES_PHASES, noise(12), strict=True))
OPTION_CASES = {
    "abab permutations 1e12": (
        ["abab", "--max-exact", "0", "--permutations", "1000000000000"],
        abab(noise(24)),
        ["--permutations", "1000000"],
    ),
    "abab permutations one above": (
        ["abab", "--max-exact", "0", "--permutations", str(limits.MAX_PERMUTATIONS + 1)],
        abab(noise(24)),
        ["--permutations", "1000000"],
    ),
    "ab permutations 1e12": (
        ["ab", "--max-exact", "0", "--permutations", "1000000000000"],
        ab(noise(16)),
        ["--permutations"],
    ),
    "multiple-baseline permutations 1e12": (
        ["multiple-baseline", "--max-exact", "0", "--permutations", "1000000000000"],
        multiple_baseline(noise(36)),
        ["--permutations"],
    ),
    "alternating permutations 1e12": (
        ["alternating", "--max-exact", "0", "--permutations", "1000000000000"],
        alternating(noise(16)),
        ["--permutations"],
    ),
    "abab max-exact 1e12": (
        ["abab", "--max-exact", "1000000000000"],
        abab(noise(24)),
        ["--max-exact", "1000000"],
    ),
    "changepoints bootstrap 1e9": (
        ["changepoints", "--bootstrap", "1000000000"],
        changepoints(noise(40)),
        ["--bootstrap", "10000"],
    ),
    "changepoints bootstrap work": (
        ["changepoints", "--bootstrap", "10000"],
        changepoints(noise(400)),
        ["n_bootstrap", "800,000,000", "at most 5,000"],
    ),
    "changepoints penalty 1e308": (
        ["changepoints", "--penalty", "1e308"],
        changepoints(noise(40)),
        ["penalty", "1e+300"],
    ),
    "changepoints negative seed": (
        ["changepoints", "--seed", "-1"],
        changepoints(noise(40)),
        ["seed", "at least 0"],
    ),
    "changepoints two rows, default penalty": (
        ["changepoints", "--min-segment-length", "1"],
        changepoints([1.0, 2.0]),
        ["value", "2 observations", "at least 3"],
    ),
    "changepoints huge min segment": (
        ["changepoints", "--min-segment-length", "99999999999999999999"],
        changepoints(noise(40)),
        ["value", "twice min_segment_length"],
    ),
    "alternating permutations x sessions": (
        ["alternating", "--permutations", "1000000", "--max-exact", "0"],
        csv_text("condition,value", zip(["A", "A", "B", "B"] * 75, noise(300), strict=True)),
        ["permutations", "200,000,000", "at most 666,666"],
    ),
    "alternating run cap table": (
        ["alternating", "--max-consecutive", "1000"],
        csv_text("condition,value", zip(["A", "B"] * 500, noise(1000), strict=True)),
        ["condition", "10,000,000", "max_consecutive 1000"],
    ),
    "multiple-baseline cases x permutations": (
        ["multiple-baseline", "--permutations", "1000000", "--max-exact", "0"],
        csv_text(
            "case,phase,value",
            [
                (f"c{k}", "A" if i < 3 else "B", float(i + k % 3))
                for k in range(250)
                for i in range(6)
            ],
        ),
        ["permutations", "250 cases", "200,000,000"],
    ),
    "its draws": (
        ["its", "--intervention-date", days(40)[30], "--draws", "1000000000"],
        its(noise(40)),
        ["--draws", "100000"],
    ),
    "its tune": (
        ["its", "--intervention-date", days(40)[30], "--tune", "100001"],
        its(noise(40)),
        ["--tune", "100000"],
    ),
    "its chains": (
        ["its", "--intervention-date", days(40)[30], "--chains", "65"],
        its(noise(40)),
        ["--chains", "64"],
    ),
    "synthetic-control draws": (
        [
            "synthetic-control",
            "--treated",
            "t",
            "--intervention-date",
            days(40)[30],
            "--draws",
            "1000000000",
        ],
        synthetic_control(noise(40)),
        ["--draws", "100000"],
    ),
    "synthetic-control chains": (
        [
            "synthetic-control",
            "--treated",
            "t",
            "--intervention-date",
            days(40)[30],
            "--chains",
            "65",
        ],
        synthetic_control(noise(40)),
        ["--chains", "64"],
    ),
    "effect-sizes unknown scale": (["effect-sizes", "--scale", "kelvin"], RATE_FILE, ["--scale"]),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_absurd_option_values_are_refused_naming_option_and_limit(case: str) -> None:
    """Before: `--permutations 1e12` and `--bootstrap 1e9` were tracebacks (MemoryError)."""
    args, text, fragments = OPTION_CASES[case]
    command, *options = args
    assert_refused(invoke(command, "--input", "-", *options, stdin=text), *fragments)


def test_option_bounds_are_shown_in_help() -> None:
    for command, option in (
        ("abab", "--permutations"),
        ("changepoints", "--bootstrap"),
        ("its", "--draws"),
    ):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "x<=" in result.stdout, (command, option)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("abab", ["--max-exact", "0", "--permutations", str(limits.MAX_PERMUTATIONS)]),
        ("abab", ["--max-exact", str(limits.MAX_EXACT), "--min-phase-length", "1"]),
        ("alternating", ["--max-exact", "0", "--permutations", "200000"]),
        ("multiple-baseline", ["--max-exact", "0", "--permutations", str(limits.MAX_PERMUTATIONS)]),
    ],
)
def test_options_at_their_limit_are_answered(command: str, args: list[str]) -> None:
    build, n, _, _ = DESIGNS[command]
    assert_answered(invoke(command, "--input", "-", *args, stdin=build(noise(n))))


# ----------------------------------------------------------------------------- bad input, once accepted

ACCEPTED_BEFORE = {
    "multiple baseline with one case": (
        ["multiple-baseline"],
        csv_text(
            "case,phase,value", [("x", "A" if i < 6 else "B", v) for i, v in enumerate(noise(14))]
        ),
        ["case:", "1 case", "at least 2"],
    ),
    "alternating with a single B": (
        ["alternating"],
        csv_text("condition,value", zip("AABAA", noise(5), strict=True)),
        ["condition:", "B has 1 session", "at least 2"],
    ),
    "alternating with a single A": (
        ["alternating", "--max-consecutive", "none"],
        csv_text("condition,value", zip("BBABB", noise(5), strict=True)),
        ["condition:", "A has 1 session"],
    ),
    "observed information rate above 1": (
        [
            "monitor",
            "--alpha",
            "0.05",
            "--spending",
            "obrien_fleming",
            "--max-n",
            "100",
            "--looks",
            "4",
            "--z",
            "1.1,2.9",
            "--observed-information-rates",
            "0.3,1.7",
        ],
        None,
        ["information_rates_observed", "exceed 1", "1.7"],
    ),
    "observed information rate 7": (
        [
            "monitor",
            "--alpha",
            "0.05",
            "--spending",
            "pocock",
            "--max-n",
            "100",
            "--looks",
            "4",
            "--z",
            "1.1",
            "--observed-information-rates",
            "7",
        ],
        None,
        ["information_rates_observed", "exceed 1"],
    ),
    "intervention on the last day": (
        ["its", "--intervention-date", days(40)[-1]],
        its(noise(40)),
        ["intervention_date:", "1 post-period observation", "at least 2"],
    ),
    "one post-period day": (
        ["its", "--intervention-date", days(40)[30], "--post-period-days", "1"],
        its(noise(40)),
        ["post_period_days:", "at least 2"],
    ),
    "proportions above 1": (
        ["effect-sizes", "--scale", "proportion"],
        effect_sizes([0.2, 0.3, 0.1, 0.4, 0.2, 0.3, 3, 5, 4, 6, 5, 4]),
        ["value:", "row 7", "outside [0, 1]", "proportion"],
    ),
    "negative proportion": (
        ["effect-sizes", "--scale", "proportion"],
        effect_sizes([0.2, -0.3, 0.1, 0.4, 0.2, 0.3, 0.5, 0.5, 0.4, 0.6, 0.5, 0.4]),
        ["value:", "row 2", "proportion"],
    ),
    "percentages above 100": (
        ["effect-sizes", "--scale", "percentage"],
        effect_sizes([20, 30, 10, 40, 20, 30, 50, 150, 40, 60, 50, 40]),
        ["value:", "row 8", "outside [0, 100]", "percentage"],
    ),
}


@pytest.mark.parametrize("case", list(ACCEPTED_BEFORE))
def test_bad_input_that_was_answered_is_refused(case: str) -> None:
    args, text, fragments = ACCEPTED_BEFORE[case]
    command, *options = args
    if text is None:
        result = invoke(command, *options)
    else:
        result = invoke(command, "--input", "-", *options, stdin=text)
    assert_refused(result, *fragments)


def test_edges_on_the_right_side_are_answered() -> None:
    """Just inside each new rule: two cases, two sessions per condition, a final look at exactly
    full information, proportions in [0, 1]."""
    two_cases = [
        (case, "A" if i < 5 else "B", v)
        for case in ("x", "y")
        for i, v in enumerate(noise(12, seed=len(case)))
    ]
    assert_answered(
        invoke(
            "multiple-baseline",
            "--input",
            "-",
            stdin=csv_text("case,phase,value", two_cases),
        )
    )
    assert_answered(
        invoke(
            "alternating",
            "--input",
            "-",
            stdin=csv_text("condition,value", zip("AABB", noise(4), strict=True)),
        )
    )
    monitor = invoke(
        "monitor",
        "--alpha",
        "0.05",
        "--spending",
        "obrien_fleming",
        "--max-n",
        "100",
        "--looks",
        "4",
        "--z",
        "1.1,1.5",
        "--observed-information-rates",
        "0.3,1",
    )
    assert assert_answered(monitor)["decision"] in {"stop_final", "stop_efficacy"}
    proportions = effect_sizes([0.2, 0.3, 0.1, 0.4, 0.2, 0.3, 0.5, 1.0, 0.4, 0.6, 0.5, 0.0])
    payload = assert_answered(
        invoke("effect-sizes", "--input", "-", "--scale", "proportion", stdin=proportions)
    )
    assert payload["lrri"] is not None


# ----------------------------------------------------------------------------- big inputs


def steps(n: int, breaks: list[int], levels: list[float], seed: int = 0) -> np.ndarray:
    means = np.repeat(levels, np.diff([0, *breaks, n]))
    return np.round(means + np.random.default_rng(seed).normal(0, 1, n), 3)


@pytest.mark.parametrize("algorithm", ["pelt", "binseg"])
@pytest.mark.parametrize(
    ("n", "breaks"),
    [(5_000, [1_200, 2_500, 3_900]), (100_000, [20_011, 55_000, 80_007])],
)
def test_change_points_on_long_series_are_answered(
    n: int, breaks: list[int], algorithm: str
) -> None:
    """Before: more than 120 s at 5,000 rows (ruptures' l2 cost re-summed every segment, and
    the bootstrap's exact refits were O(refits x n^2)); now seconds (stats/changepoints.py says
    how). Clear steps are found within a few rows of the truth."""
    values = steps(n, breaks, [0.0, 2.0, -1.0, 1.5])
    result = invoke(
        "changepoints",
        "--input",
        "-",
        "--algorithm",
        algorithm,
        "--bootstrap",
        "50",
        stdin=changepoints(values),
    )
    payload = assert_answered(result)
    found = [point["index"] for point in payload["changePoints"]]
    assert len(found) == len(breaks)
    assert all(abs(f - b) <= 3 for f, b in zip(found, breaks, strict=True)), found  # noise SD 1
    assert all(point["confidence"] > 0.9 for point in payload["changePoints"])
    assert payload["nObservations"] == n


def test_effect_sizes_on_100000_rows_match_the_rank_definitions() -> None:
    """Before: NAP, Tau-U and PAND compared all m x n pairs (20 GB for 50,000 per phase). Now
    from ranks; NAP is the Mann-Whitney U of B against A over m n (scipy counts U from ranks)."""
    n = 50_000
    values = np.round(
        np.r_[np.random.default_rng(1).normal(0, 1, n), np.random.default_rng(2).normal(0.5, 1, n)],
        2,
    )
    text = csv_text("phase,value", zip(["A"] * n + ["B"] * n, values, strict=True))
    payload = assert_answered(invoke("effect-sizes", "--input", "-", stdin=text))
    a, b = values[:n], values[n:]
    u = stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic").statistic
    assert payload["nap"]["estimate"] == pytest.approx(u / (n * n), rel=1e-12)
    assert payload["tau"]["estimate"] == pytest.approx(2 * u / (n * n) - 1, rel=1e-12)
    assert payload["pnd"]["estimate"] == pytest.approx(float(np.mean(b > a.max())))
    assert 0.0 <= payload["pand"]["estimate"] <= 1.0
    assert payload["nBaseline"] == n and payload["nTreatment"] == n


@pytest.mark.parametrize("cap", ["2", "none"])
def test_alternating_treatments_beyond_the_session_limit_are_refused(cap: str) -> None:
    """Before: 100,000 sessions filled memory (a table of big integers per session, or 10,000
    shuffled copies of the series at once)."""
    text = csv_text(
        "condition,value", zip(["A", "A", "B", "B"] * 25_000, noise(100_000), strict=True)
    )
    assert_refused(
        invoke("alternating", "--input", "-", "--max-consecutive", cap, stdin=text),
        "condition:",
        "100,000 sessions",
        "10,000",
    )


def test_long_alternating_design_within_the_limits_is_answered() -> None:
    text = csv_text("condition,value", zip(["A", "A", "B", "B"] * 500, noise(2_000), strict=True))
    payload = assert_answered(
        invoke("alternating", "--input", "-", "--permutations", "2000", stdin=text)
    )
    assert payload["exact"] is False and payload["nAssignments"] == 2000
    assert "e+" in payload["interpretation"]  # 10^400-odd orderings, written compactly


@pytest.mark.parametrize("command", ["abab", "ab"])
def test_phase_designs_on_100000_rows_are_answered(command: str) -> None:
    n = 100_000
    phases = ["A", "B", "A", "B"] if command == "abab" else ["A", "B"]
    labels = np.repeat(phases, n // len(phases))
    text = csv_text("phase,value", zip(labels, noise(n), strict=True))
    payload = assert_answered(invoke(command, "--input", "-", stdin=text))
    assert payload["exact"] is (command == "ab")  # n - 5 starts for AB, C(n, 3) for ABAB


# ----------------------------------------------------------------------------- a real process


@pytest.mark.parametrize(
    ("args", "text", "fragment"),
    [
        (["abab"], abab(with_value(noise(24), 5, 1e308)), "row 5"),
        (
            ["abab", "--max-exact", "0", "--permutations", "1000000000000"],
            abab(noise(24)),
            "--permutations",
        ),
        (
            ["multiple-baseline"],
            csv_text(
                "case,phase,value",
                [
                    ("x", "A", 1),
                    ("x", "A", 2),
                    ("x", "A", 3),
                    ("x", "B", 4),
                    ("x", "B", 5),
                    ("x", "B", 6),
                ],
            ),
            "at least 2",
        ),
    ],
)
def test_refusals_in_a_real_process_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], text: str, fragment: str
) -> None:
    path = tmp_path / "input.csv"
    path.write_text(text, encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "americano_pipelines.cli",
            "analyze",
            args[0],
            "--input",
            str(path),
            *args[1:],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert completed.stdout == ""
    assert len(completed.stderr.splitlines()) == 1, completed.stderr[-2000:]
    assert completed.stderr.startswith("error: ") and fragment in completed.stderr


def test_every_limit_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "contracts-additions.md").read_text()
    section = docs.split("## Limits and edge inputs", 1)[1]
    for name in limits.__all__:
        if name.isupper():
            value = getattr(limits, name)
            shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
            assert shown in section, (name, shown)
    assert math.isclose(limits.MAX_PENALTY, limits.MAX_ABS_VALUE**2)
