"""`americano analyze …` (CONTRACTS.md §3, docs/contracts-additions.md): CSV in, one JSON object
out, exit 2 with one stderr line for bad input.

Three kinds of checks: every subcommand's JSON has the contract's keys and equals the library
function's `to_json()` for the same input; published reference values come through the CLI
unchanged (SCRT, scan, SingleCaseES, gsDesign/rpact, statsmodels; sources next to each test);
each class of bad input exits 2 with exactly one line on stderr and nothing on stdout.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from americano_pipelines.cli.app import app
from americano_pipelines.cli.table import parse_number_list, read_table
from americano_pipelines.errors import InputError
from americano_pipelines.stats import sced
from americano_pipelines.stats.effect_sizes import EffectSizeOptions, effect_sizes
from americano_pipelines.stats.sequential import group_sequential_design, monitor

runner = CliRunner()

# Onghena (1992) hypothetical ABAB data, shipped with SCRT as `data(ABAB)` (SCRT 1.3.1,
# man/ABAB.Rd; Bulté & Onghena 2008, Behavior Research Methods 40, 467-478).
ONGHENA_PHASES = ["A1"] * 6 + ["B1"] * 6 + ["A2"] * 6 + ["B2"] * 6
ONGHENA_VALUES = [6, 2, 5, 3, 4, 4, 1, 2, 3, 1, 3, 2, 2, 3, 4, 2, 4, 3, 0, 1, 2, 0, 2, 1]

# scan's `exampleAB` data (scan 0.68, data/exampleAB.rda): three cases, 5 A + 15 B points each.
SCAN_EXAMPLE_AB = {
    "Johanna": [54, 53, 56, 58, 52, 61, 62, 71, 66, 64, 78, 70, 74, 82, 77, 86, 68, 80, 86, 87],
    "Karolina": [41, 59, 56, 51, 52, 57, 56, 67, 75, 66, 69, 68, 73, 77, 79, 86, 82, 75, 83, 89],
    "Anja": [55, 58, 53, 50, 52, 55, 68, 68, 81, 67, 78, 73, 72, 78, 81, 78, 71, 85, 80, 76],
}

# A 12-session alternating treatments series (runs of at most 2); SCRT 1.3.1 reference values
# for it are in test_sced.py and repeated below.
ATD_CONDITIONS = list("ABBABAABABBA")
ATD_VALUES = [3, 7, 6, 4, 8, 2, 3, 9, 4, 6, 7, 5]

# SingleCaseES help-page example (NAP.Rd, SMD.Rd, ...).
DOC_A = [20, 20, 26, 25, 22, 23]
DOC_B = [28, 25, 24, 27, 30, 30, 29]

ABAB_KEYS = {
    "observedEffect",
    "pValue",
    "effectSize",
    "interpretation",
    "permutationDistribution",
    "passesSCEDStandards",
    "nAssignments",
    "exact",
    "statistic",
}
EFFECT_SIZE_KEYS = {"nap", "tau", "tauU", "pnd", "pand", "ird", "pem", "smd", "lrri"}
HEAVY_MODULES = ("pymc", "pytensor", "causalpy", "ruptures", "statsmodels", "nutpie", "arviz")


# ----------------------------------------------------------------------------- helpers


def write_csv(directory: Path, name: str, header: str, rows: list[tuple[Any, ...]]) -> str:
    path = directory / name
    lines = [header, *(",".join(str(cell) for cell in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def phase_csv(directory: Path, phases: list[str], values: list[float], name="series.csv") -> str:
    return write_csv(directory, name, "phase,value", list(zip(phases, values, strict=True)))


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["analyze", *args], input=stdin)


def run_json(*args: str, stdin: str | None = None) -> dict[str, Any]:
    """Run a subcommand that must succeed; stdout must be exactly one JSON object."""
    result = invoke(*args, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.endswith("\n"), result.stdout[:300]
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def assert_input_error(result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr that contains every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def library_json(result: Any) -> dict[str, Any]:
    """A library result as the CLI prints it (through JSON, so tuples become lists)."""
    return json.loads(json.dumps(result.to_json(), allow_nan=False))


def daily_series(n: int, start: dt.date = dt.date(2025, 9, 1)) -> list[str]:
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


# ----------------------------------------------------------------------------- abab / ab


def test_abab_onghena_example_matches_scrt_and_library(tmp_path: Path) -> None:
    # SCRT 1.3.1: quantity(design = "ABAB", MT = 24, limit = 4) = 165 and
    # pvalue.systematic(design = "ABAB", statistic = "PA-PB", limit = 4, data = ABAB) = 4/165.
    path = phase_csv(tmp_path, ONGHENA_PHASES, ONGHENA_VALUES)
    payload = run_json("abab", "--input", path, "--min-phase-length", "4", "--statistic", "PA-PB")
    assert ABAB_KEYS <= payload.keys()
    assert payload["nAssignments"] == 165 and payload["exact"] is True
    assert payload["pValue"] == pytest.approx(4 / 165)
    assert payload["observedEffect"] == pytest.approx(2.0)
    assert payload["statistic"] == "PA-PB"
    assert set(payload["sced_standards"]) == {"rating", "reasons"}
    # Six points in each of four phases: WWC "meets" (Kratochwill et al. 2010).
    assert payload["sced_standards"]["rating"] == "meets"
    assert payload["passesSCEDStandards"] is True
    library = sced.abab_randomization_test(
        ONGHENA_PHASES, ONGHENA_VALUES, min_phase_length=4, statistic="PA-PB"
    )
    assert payload == library_json(library)


@pytest.mark.parametrize(
    ("statistic", "p_value"),
    # SCRT 1.3.1 pvalue.systematic on data(ABAB), limit = 4 (see test_sced.py).
    [("A-B", 5 / 165), ("|A-B|", 5 / 165), ("B-A", 161 / 165), ("PB-PA", 162 / 165)],
)
def test_abab_every_statistic_choice(tmp_path: Path, statistic: str, p_value: float) -> None:
    path = phase_csv(tmp_path, ONGHENA_PHASES, ONGHENA_VALUES)
    payload = run_json("abab", "--input", path, "--min-phase-length", "4", "--statistic", statistic)
    assert payload["pValue"] == pytest.approx(p_value)


def test_abab_monte_carlo_options_reach_the_library(tmp_path: Path) -> None:
    path = phase_csv(tmp_path, ONGHENA_PHASES, ONGHENA_VALUES)
    options = ["--min-phase-length", "4", "--max-exact", "0", "--permutations", "500"]
    payload = run_json("abab", "--input", path, *options, "--seed", "7", "--alpha", "0.1")
    assert payload["exact"] is False and payload["nAssignments"] == 500
    assert payload["seed"] == 7 and payload["alpha"] == 0.1
    library = sced.abab_randomization_test(
        ONGHENA_PHASES,
        ONGHENA_VALUES,
        min_phase_length=4,
        max_exact=0,
        permutations=500,
        seed=7,
        alpha=0.1,
    )
    assert payload == library_json(library)
    other_seed = run_json("abab", "--input", path, *options, "--seed", "8", "--alpha", "0.1")
    assert other_seed["permutationDistribution"] != payload["permutationDistribution"]


def test_abab_reads_stdin(tmp_path: Path) -> None:
    path = phase_csv(tmp_path, ONGHENA_PHASES, ONGHENA_VALUES)
    from_file = run_json("abab", "--input", path, "--min-phase-length", "4")
    text = Path(path).read_text(encoding="utf-8")
    from_stdin = run_json("abab", "--input", "-", "--min-phase-length", "4", stdin=text)
    assert from_stdin == from_file


def test_abab_accepts_an_in_order_date_column(tmp_path: Path) -> None:
    rows = list(zip(daily_series(24), ONGHENA_PHASES, ONGHENA_VALUES, strict=True))
    path = write_csv(tmp_path, "dated.csv", "date,phase,value", rows)
    payload = run_json("abab", "--input", path, "--min-phase-length", "4")
    assert payload["nAssignments"] == 165


def test_ab_scrt_example(tmp_path: Path) -> None:
    # SCRT 1.3.1: quantity(design = "AB", MT = 14, limit = 3) = 9; pvalue.systematic on this
    # series gives observed B-A = 3.125 and p = 1/9 (see test_sced.py).
    phases = ["A"] * 6 + ["B"] * 8
    values = [4, 5, 3, 6, 5, 4, 7, 8, 6, 9, 7, 8, 9, 7]
    payload = run_json("ab", "--input", phase_csv(tmp_path, phases, values))
    assert ABAB_KEYS <= payload.keys()
    assert payload["nAssignments"] == 9
    assert payload["observedEffect"] == pytest.approx(3.125)
    assert payload["pValue"] == pytest.approx(1 / 9)
    assert payload["passesSCEDStandards"] is False  # AB: one attempt to show the effect
    assert payload == library_json(sced.ab_randomization_test(phases, values))


# ----------------------------------------------------------------------------- multiple baseline


def test_multiple_baseline_scan_example(tmp_path: Path) -> None:
    # scan book (Wilbert, "Analyzing single-case data with R and scan", ch. "Randomization
    # tests"), rand_test(exampleAB) with limit 5: observed statistic 20.55556 over 1331
    # combinations; exact p = 48/1331 (see test_sced.py).
    rows = [
        (case, "A" if i < 5 else "B", value)
        for case, values in SCAN_EXAMPLE_AB.items()
        for i, value in enumerate(values)
    ]
    path = write_csv(tmp_path, "mb.csv", "case,phase,value", rows)
    payload = run_json("multiple-baseline", "--input", path, "--min-phase-length", "5")
    assert ABAB_KEYS <= payload.keys()
    assert payload["nAssignments"] == 1331 and payload["exact"] is True
    assert payload["observedEffect"] == pytest.approx(20.55556, abs=5e-6)
    assert payload["pValue"] == pytest.approx(48 / 1331)
    cases = {case: (["A"] * 5 + ["B"] * 15, values) for case, values in SCAN_EXAMPLE_AB.items()}
    assert payload == library_json(sced.multiple_baseline_test(cases, min_phase_length=5))


def test_multiple_baseline_cases_may_be_interleaved(tmp_path: Path) -> None:
    # The same data, rows of the three cases interleaved by occasion: the same answer.
    rows = [
        (case, "A" if i < 5 else "B", values[i])
        for i in range(20)
        for case, values in SCAN_EXAMPLE_AB.items()
    ]
    path = write_csv(tmp_path, "mb.csv", "case,phase,value", rows)
    payload = run_json("multiple-baseline", "--input", path, "--min-phase-length", "5")
    assert payload["pValue"] == pytest.approx(48 / 1331)


def test_randomized_block_matches_the_library(tmp_path: Path) -> None:
    values = np.random.default_rng(7).normal(size=12).tolist()
    conditions = ["A", "B", "B", "A"] * 3
    path = write_csv(
        tmp_path, "rbd.csv", "condition,value", list(zip(conditions, values, strict=True))
    )
    payload = run_json("randomized-block", "--input", path, "--statistic", "|A-B|")
    expected = sced.randomized_block_test(conditions, values, statistic="|A-B|").to_json()
    assert payload == json.loads(json.dumps(expected))
    assert (payload["design"], payload["nAssignments"]) == ("randomized_block", 64)


def test_custom_design_reads_its_schedules_file(tmp_path: Path) -> None:
    values = np.random.default_rng(8).normal(size=12).tolist()
    phases = ["A"] * 4 + ["B"] * 4 + ["A"] * 4
    schedules = tmp_path / "schedules.csv"
    schedules.write_text("b1,a2\n5,9\n4,9\n5,10\n6,9\n")  # 1-based rows
    path = phase_csv(tmp_path, phases, values)
    payload = run_json("custom-design", "--input", path, "--schedules", str(schedules))
    expected = sced.custom_design_test(
        phases, values, schedules=[[4, 8], [3, 8], [4, 9], [5, 8]]
    ).to_json()
    assert payload == json.loads(json.dumps(expected))
    assert payload["nAssignments"] == 4
    schedules.write_text("b1,a2\n5,nine\n")
    assert_input_error(
        invoke("custom-design", "--input", path, "--schedules", str(schedules)), "line 2"
    )


def test_a_users_statistic_expression_reaches_the_library(refdata: Path) -> None:
    path = str(refdata / "scan_byheart2011_case1.csv")
    args = ("ab", "--input", path, "--min-phase-length", "5", "--statistic-expression")
    payload = run_json(*args, "median(b) - median(a)")
    assert payload["pValue"] == pytest.approx(0.6363636, abs=5e-8)
    assert payload["statistic"] == "user: median(b) - median(a)"
    assert_input_error(invoke(*args, "open('x')"), "statistic_expression", "calls take one")


def test_multiple_baseline_reads_each_cases_start_points(tmp_path: Path, refdata: Path) -> None:
    """Grosche2011 with the starts that limit 4 admits, written out per case (1-based rows):
    the same test; a narrower set counts only its own combinations."""
    path = str(refdata / "scan_grosche2011.csv")
    lengths = {"Eva": 19, "Georg": 24, "Olaf": 20}
    rows = [(case, start) for case, n in lengths.items() for start in range(5, n - 2)]
    starts = write_csv(tmp_path, "starts.csv", "case,start", rows)
    args = ("multiple-baseline", "--input", path, "--statistic", "Median B-A")
    listed = run_json(*args, "--start-points", starts)
    assert (listed["nAssignments"], listed["pValue"]) == (2652, pytest.approx(0.8435143, abs=5e-8))
    narrow = write_csv(
        tmp_path, "narrow.csv", "case,start", [("Eva", 7), ("Georg", 8), ("Georg", 9), ("Olaf", 13)]
    )
    assert run_json(*args, "--start-points", narrow)["nAssignments"] == 2


def test_aba_matches_the_library(tmp_path: Path) -> None:
    values = np.random.default_rng(6).normal(size=15).tolist()
    phases = ["A"] * 5 + ["B"] * 5 + ["A"] * 5
    payload = run_json("aba", "--input", phase_csv(tmp_path, phases, values))
    expected = sced.aba_randomization_test(phases, values).to_json()
    assert payload == json.loads(json.dumps(expected))
    assert payload["design"] == "ABA"


def test_ab_b_phase_minimum_reaches_the_library(tmp_path: Path) -> None:
    """scan's limit = c(5, 3) on 20 points: starts 6..18 (1-based), 13 assignments."""
    values = np.random.default_rng(2).normal(size=20).tolist()
    path = phase_csv(tmp_path, ["A"] * 8 + ["B"] * 12, values)
    payload = run_json(
        "ab", "--input", path, "--min-phase-length", "5", "--min-b-phase-length", "3"
    )
    assert payload["nAssignments"] == 13
    assert_input_error(
        invoke("ab", "--input", path, "--min-phase-length", "5", "--min-b-phase-length", "16"),
        "B: --min-b-phase-length 16",
    )


def test_multiple_baseline_median_statistic_and_combine_reach_the_library(refdata: Path) -> None:
    """scan's Grosche2011 example (refdata README): Median B-A, limit 4, 2,652 combinations,
    the cases' medians combined by their median, p = 0.8435143; `--combine mean` averages."""
    path = str(refdata / "scan_grosche2011.csv")
    args = ("multiple-baseline", "--input", path, "--min-phase-length", "4")
    payload = run_json(*args, "--statistic", "Median B-A")
    assert (payload["nAssignments"], payload["statistic"]) == (2652, "Median B-A")
    assert payload["pValue"] == pytest.approx(0.8435143, abs=5e-8)
    strict = run_json(*args, "--statistic", "Median B-A", "--exclude-equal")
    assert strict["excludeEqual"] is True and strict["pValue"] < payload["pValue"]
    averaged = run_json(*args, "--statistic", "Median B-A", "--combine", "mean")
    assert averaged["pValue"] != pytest.approx(payload["pValue"])
    assert_input_error(invoke(*args, "--combine", "mode"), "--combine")


# ----------------------------------------------------------------------------- alternating


@pytest.mark.parametrize(
    ("cap", "statistic", "n_assignments", "p_value"),
    # SCRT 1.3.1 quantity / pvalue.systematic, design "ATD" (limit 2) and "CRD".
    [
        ("2", "B-A", 208, 1 / 208),
        ("2", "|A-B|", 208, 2 / 208),
        ("none", "B-A", 924, 1 / 924),
        ("none", "|A-B|", 924, 2 / 924),
    ],
)
def test_alternating_scrt_values(
    tmp_path: Path, cap: str, statistic: str, n_assignments: int, p_value: float
) -> None:
    path = write_csv(
        tmp_path, "atd.csv", "condition,value", list(zip(ATD_CONDITIONS, ATD_VALUES, strict=True))
    )
    payload = run_json(
        "alternating", "--input", path, "--max-consecutive", cap, "--statistic", statistic
    )
    assert ABAB_KEYS <= payload.keys()
    assert payload["nAssignments"] == n_assignments
    assert payload["pValue"] == pytest.approx(p_value)
    assert payload["observedEffect"] == pytest.approx(11 / 3)
    library = sced.alternating_treatments_test(
        ATD_CONDITIONS,
        ATD_VALUES,
        max_consecutive=None if cap == "none" else int(cap),
        statistic=statistic,
    )
    assert payload == library_json(library)


# ----------------------------------------------------------------------------- effect sizes


def test_effect_sizes_singlecasees_help_example(tmp_path: Path) -> None:
    # SingleCaseES 0.7.4 on its help-page data: NAP = 0.916666666667 (SE 0.0690065559342354),
    # SMD = 1.64993188129337 (SE 0.634093508615602), LRRi = 0.195396165735149.
    phases = ["A"] * len(DOC_A) + ["B"] * len(DOC_B)
    path = phase_csv(tmp_path, phases, DOC_A + DOC_B)
    payload = run_json("effect-sizes", "--input", path)
    assert EFFECT_SIZE_KEYS <= payload.keys()
    assert all("estimate" in payload[key] for key in EFFECT_SIZE_KEYS)
    assert {"se", "ci95"} <= payload["nap"].keys() and {"se", "ci95"} <= payload["smd"].keys()
    assert payload["nap"]["estimate"] == pytest.approx(0.916666666667, abs=1e-10)
    assert payload["nap"]["se"] == pytest.approx(0.0690065559342354, abs=1e-10)
    assert payload["smd"]["estimate"] == pytest.approx(1.64993188129337, abs=1e-10)
    assert payload["smd"]["se"] == pytest.approx(0.634093508615602, abs=1e-10)
    assert payload["lrri"]["estimate"] == pytest.approx(0.195396165735149, abs=1e-10)
    assert payload == library_json(effect_sizes(phases, DOC_A + DOC_B))

    # Decrease as improvement: with ties counted one half each way NAP flips to 1 - NAP.
    decrease = run_json("effect-sizes", "--input", path, "--improvement", "decrease")
    assert decrease["nap"]["estimate"] == pytest.approx(1 - 0.916666666667, abs=1e-10)
    assert decrease["improvement"] == "decrease"
    percentage = run_json("effect-sizes", "--input", path, "--scale", "percentage")
    assert percentage == library_json(effect_sizes(phases, DOC_A + DOC_B, scale="percentage"))


def test_effect_sizes_singlecasees_options(tmp_path: Path) -> None:
    # SingleCaseES vignette (Using-SingleCaseES.Rmd, "Outcome scale"): a zero baseline rate gets
    # its LRR from the session length, 8.67 with observation_length = 30 (null without it)
    a, b = [0, 0, 0, 0], [28, 25, 24, 27, 30, 30, 29]
    phases = ["A"] * 4 + ["B"] * 7
    path = phase_csv(tmp_path, phases, a + b)
    assert run_json("effect-sizes", "--input", path, "--scale", "rate")["lrri"] is None
    args = ["--scale", "rate", "--observation-length", "30", "--goal", "30", "--confidence"]
    args += ["0.9", "--nap-se", "hanley", "--tau-bc-pretest", "0.05", "--tau-bc-kendall"]
    payload = run_json("effect-sizes", "--input", path, *args)
    assert round(payload["lrri"]["estimate"], 2) == 8.67
    options = EffectSizeOptions(
        scale="rate",
        observation_length=30,
        goal=30,
        confidence=0.9,
        nap_se="hanley",
        tau_bc_pretest=0.05,
        tau_bc_kendall=True,
    )
    assert payload == library_json(effect_sizes(phases, a + b, options=options))
    assert payload["pogo"] is not None and payload["nap"]["confidence"] == 0.9
    assert payload["tauBC"]["kendall"] is True and payload["tauBC"]["trendPValue"] == 1.0
    for option, value, field in (
        ("--confidence", "1.5", "confidence"),
        ("--observation-length", "0", "observation_length"),
        ("--tau-bc-pretest", "2", "tau_bc_pretest"),
    ):
        assert_input_error(invoke("effect-sizes", "--input", path, option, value), field)


# ----------------------------------------------------------------------------- sequential


@pytest.mark.parametrize(
    ("spending", "tabulated"),
    [
        ("obrien_fleming", [4.877, 3.357, 2.680, 2.290, 2.031]),
        ("pocock", [2.438, 2.427, 2.410, 2.397, 2.386]),
    ],
)
def test_sequential_lan_demets_table(spending: str, tabulated: list[float]) -> None:
    # The Lan-DeMets table for K = 5 equally spaced looks, one-sided 0.025, as gsDesign
    # sfLDOF / sfLDPocock and rpact asOF / asP print it; the symmetric two-sided design at 0.05
    # has the same critical values (rpact sided = 2, gsDesign test.type = 2).
    design = ["--spending", spending, "--max-n", "100", "--looks", "5"]
    one_sided = run_json("sequential", "--alpha", "0.025", *design, "--sides", "1")
    two_sided = run_json("sequential", "--alpha", "0.05", *design)  # --sides 2 is the default
    for payload in (one_sided, two_sided):
        boundaries = payload["boundaries"]
        assert [b["criticalValue"] for b in boundaries] == pytest.approx(tabulated, abs=5e-4)
        assert [b["n"] for b in boundaries] == [20, 40, 60, 80, 100]
        assert [b["informationRate"] for b in boundaries] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1])
        assert {"n", "informationRate", "criticalValue", "alphaSpent"} <= boundaries[0].keys()
        assert isinstance(payload["warning"], str) and payload["warning"]
    assert one_sided["boundaries"][-1]["alphaSpent"] == pytest.approx(0.025)
    assert two_sided["boundaries"][-1]["alphaSpent"] == pytest.approx(0.05)
    library = group_sequential_design(alpha=0.05, spending=spending, max_n=100, looks=5, sides=2)
    assert two_sided == library_json(library)


def test_sequential_information_rates_and_hsd() -> None:
    sequential_30 = "sequential --alpha 0.05 --spending pocock --max-n 30 --looks 2"
    payload = run_json(*shlex.split(f"{sequential_30} --information-rates 0.5,1"))
    assert [b["n"] for b in payload["boundaries"]] == [15, 30]
    hsd = run_json(
        *shlex.split("sequential --alpha 0.05 --spending hsd --max-n 90 --looks 3 --hsd-gamma -1")
    )
    library = group_sequential_design(alpha=0.05, spending="hsd", max_n=90, looks=3, hsd_gamma=-1.0)
    assert hsd == library_json(library) and hsd["hsdGamma"] == -1.0


def test_monitor_stops_at_the_crossed_look() -> None:
    # Four-look two-sided O'Brien-Fleming at 0.05: critical values 4.333, 2.963, 2.359, 2.014
    # (rpact getDesignGroupSequential(kMax = 4, sided = 2, typeOfDesign = "asOF")).
    design = ["--alpha", "0.05", "--spending", "obrien_fleming", "--max-n", "100", "--looks", "4"]
    upper = run_json("monitor", *design, "--z", "1.0,3.1")
    assert upper["decision"] == "stop_efficacy" and upper["stoppedAtLook"] == 2
    assert upper["direction"] == "upper"
    assert upper["criticalValue"] == pytest.approx(2.963, abs=5e-4)
    lower = run_json("monitor", *design, "--z", "-1.0,-3.0")  # negative first value
    assert lower["decision"] == "stop_efficacy" and lower["direction"] == "lower"
    going = run_json("monitor", *design, "--z=0.5")
    assert going["decision"] == "continue" and len(going["remainingBoundaries"]) == 3
    library = monitor(
        group_sequential_design(alpha=0.05, spending="obrien_fleming", max_n=100, looks=4),
        [1.0, 3.1],
    )
    assert upper == library_json(library)


def test_monitor_observed_information_rates_reach_the_library() -> None:
    design = ["--alpha", "0.05", "--spending", "obrien_fleming", "--max-n", "100", "--looks", "4"]
    payload = run_json(
        "monitor", *design, "--z", "1,2.9", "--observed-information-rates", "0.3,0.6"
    )
    library = monitor(
        group_sequential_design(alpha=0.05, spending="obrien_fleming", max_n=100, looks=4),
        [1.0, 2.9],
        [0.3, 0.6],
    )
    assert payload["boundariesRecomputed"] is True
    assert payload == library_json(library)


def test_sequential_futility_sample_size_and_power_options() -> None:
    # gsDesign(k = 5, test.type = 4, n.fix = 800): N 177, 353, 529, 705, 882 (keaven/gsDesign
    # tests/testthat/_snaps/independent-test-print.gsDesign.md); the library gives the same JSON.
    payload = run_json(
        *shlex.split(
            "sequential --alpha 0.025 --spending hsd --looks 5 --test-type 4 --n-fix 800 "
            "--beta 0.1 --futility-spending hsd --futility-hsd-gamma -2 --power-at 0,0.05"
        )
    )
    assert [b["n"] for b in payload["boundaries"]] == [177, 353, 529, 705, 882]
    assert payload["testType"] == 4 and payload["power"] == pytest.approx(0.9)
    assert [c["effect"] for c in payload["operatingCharacteristics"]][2:] == [0.0, 0.05]
    options = {"test_type": 4, "n_fix": 800.0, "beta": 0.1, "futility_spending": "hsd"}
    library = group_sequential_design(
        alpha=0.025, spending="hsd", looks=5, power_at=[0.0, 0.05], **options
    )
    assert payload == library_json(library)
    kim_demets = "sequential --alpha 0.05 --spending kim_demets --rho 2 --max-n 90 --looks 3"
    kim = run_json(*shlex.split(kim_demets))
    assert kim["rho"] == 2.0 and "testType" not in kim
    classic = run_json(
        *shlex.split("sequential --alpha 0.05 --spending pocock_classic --max-n 100 --looks 5")
    )
    assert [b["criticalValue"] for b in classic["boundaries"]] == pytest.approx(
        [2.413] * 5, abs=5e-4
    )


def test_monitor_stops_for_futility() -> None:
    # keaven/gsDesign vignettes/GentleIntroductionToGSD.Rmd: z = -0.74 at 59 of 134 is below the
    # futility bound -0.2304; the trial stopped.
    n_fix = "124.95900"  # nNormal(delta1 = 3, sd = 7.5, alpha = 0.1, beta = 0.17)
    payload = run_json(
        *shlex.split(
            "monitor --alpha 0.1 --beta 0.17 --spending obrien_fleming --futility-spending "
            f"obrien_fleming --looks 2 --test-type 4 --n-fix {n_fix} --z=-0.74 "
            f"--observed-information-rates {59 / 134!r}"
        )
    )
    assert payload["decision"] == "stop_futility" and payload["crossedBound"] == "futility"
    assert payload["futilityBound"] == pytest.approx(-0.2304, abs=5e-4)


def test_sequential_design_options_that_conflict_are_input_errors() -> None:
    base = "sequential --alpha 0.025 --spending hsd --looks 3"
    assert_input_error(invoke(*shlex.split(base)), "max_n")
    assert_input_error(invoke(*shlex.split(f"{base} --max-n 90 --sides 2 --test-type 4")), "sides")
    assert_input_error(invoke(*shlex.split(f"{base} --max-n 90 --n-fix 80")), "n_fix")
    assert_input_error(invoke(*shlex.split(f"{base} --max-n 90 --test-type 7")), "--test-type")
    assert_input_error(
        invoke(*shlex.split(f"{base} --max-n 90 --futility-spending pocock")), "futility_spending"
    )


def test_library_prints_go_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a library prints while the analysis runs cannot break stdout's one JSON."""
    from americano_pipelines.stats import sequential

    original = sequential.group_sequential_design

    def chatty(**kwargs: Any) -> Any:
        print("sampling... 100%")
        return original(**kwargs)

    monkeypatch.setattr(sequential, "group_sequential_design", chatty)
    result = invoke(
        "sequential", "--alpha", "0.05", "--spending", "pocock", "--max-n", "10", "--looks", "2"
    )
    assert result.exit_code == 0
    assert "boundaries" in json.loads(result.stdout)
    assert "sampling... 100%" in result.stderr


# ----------------------------------------------------------------------------- change points


@pytest.mark.parametrize(
    ("algorithm", "name"), [("pelt", "PELT"), ("binseg", "BinarySegmentation")]
)
def test_changepoints_noise_free_step(tmp_path: Path, algorithm: str, name: str) -> None:
    # A noise-free step from 50 to 60 at day 30 is recovered exactly (ruptures' exact-recovery
    # convention); every bootstrap refit finds it, so confidence is 1.
    dates = daily_series(60)
    values = [50.0] * 30 + [60.0] * 30
    path = write_csv(tmp_path, "cp.csv", "date,value", list(zip(dates, values, strict=True)))
    payload = run_json("changepoints", "--input", path, "--algorithm", algorithm)
    assert payload["algorithm"] == name
    (point,) = payload["changePoints"]
    assert {"date", "index", "confidence", "beforeMean", "afterMean", "percentChange"} <= set(point)
    assert point["index"] == 30 and point["date"] == dates[30]
    assert point["beforeMean"] == pytest.approx(50) and point["afterMean"] == pytest.approx(60)
    assert point["percentChange"] == pytest.approx(20)
    assert point["confidence"] == pytest.approx(1.0)

    from americano_pipelines.stats.changepoints import detect_change_points

    options = ["--min-segment-length", "5", "--penalty", "50", "--bootstrap", "20", "--seed", "3"]
    payload = run_json("changepoints", "--input", path, "--algorithm", algorithm, *options)
    library = detect_change_points(
        values,
        dates,
        min_segment_length=5,
        algorithm=algorithm,
        penalty=50.0,
        n_bootstrap=20,
        seed=3,
    )
    assert payload == library_json(library)
    assert payload["penalty"] == 50 and payload["nBootstrap"] == 20


def test_changepoints_cost_and_named_penalty(tmp_path: Path) -> None:
    # the spread triples at day 40: --cost normal --penalty mbic finds it once, and the JSON
    # says which cost and penalty were used; a bad penalty name exits 2 naming the option
    from americano_pipelines.cli.analyze import ChangePointCost
    from americano_pipelines.stats.changepoint_costs import COSTS
    from americano_pipelines.stats.changepoints import detect_change_points

    assert tuple(ChangePointCost) == COSTS
    rng = np.random.default_rng(4)
    values = list(np.r_[rng.normal(50, 1, 40), rng.normal(50, 3, 40)])
    dates = daily_series(80)
    path = write_csv(tmp_path, "cp.csv", "date,value", list(zip(dates, values, strict=True)))
    options = ["--cost", "normal", "--penalty", "mbic", "--bootstrap", "20"]
    payload = run_json("changepoints", "--input", path, *options)
    library = detect_change_points(values, dates, cost="normal", penalty="mbic", n_bootstrap=20)
    assert payload == library_json(library)
    assert (payload["cost"], payload["costModel"], payload["penaltyMethod"]) == (
        "normal",
        "normal",
        "mbic",
    )
    assert [point["index"] for point in payload["changePoints"]] == [40]
    assert_input_error(invoke("changepoints", "--input", path, "--penalty", "aic"), "penalty")


# ----------------------------------------------------------------------------- granger


def granger_frame(n: int = 120) -> tuple[list[float], list[float]]:
    # steps_t depends on sleep_{t-1}; sleep is white noise (true lag 1).
    rng = np.random.default_rng(5)
    sleep = rng.normal(7, 1, n)
    steps = 8000 + 400 * np.r_[0.0, sleep[:-1] - 7] + rng.normal(0, 300, n)
    return [round(v, 4) for v in sleep.tolist()], [round(v, 2) for v in steps.tolist()]


def test_granger_matches_statsmodels(tmp_path: Path) -> None:
    sleep, steps = granger_frame()
    rows = list(zip(daily_series(len(sleep)), sleep, steps, strict=True))
    path = write_csv(tmp_path, "g.csv", "date,sleep,steps", rows)
    payload = run_json(
        "granger", "--input", path, "--cause", "sleep", "--effect", "steps", "--max-lag", "3"
    )
    assert isinstance(payload["interpretation"], str)
    assert [r["lag"] for r in payload["results"]] == [1, 2, 3]
    assert {"lag", "fStatistic", "pValue"} <= payload["results"][0].keys()

    # Reference: statsmodels grangercausalitytests, ssr_ftest (columns: effect, cause).
    from statsmodels.tsa.stattools import grangercausalitytests

    reference = grangercausalitytests(np.column_stack([steps, sleep]), maxlag=3)
    for row in payload["results"]:
        f_statistic, p_value, _, _ = reference[row["lag"]][0]["ssr_ftest"]
        assert row["fStatistic"] == pytest.approx(f_statistic, rel=1e-8)
        assert row["pValue"] == pytest.approx(p_value, rel=1e-6, abs=1e-300)

    from americano_pipelines.stats.granger import granger_causality

    library = granger_causality(
        {"steps": steps, "sleep": sleep}, cause="sleep", effect="steps", max_lag=3
    )
    assert payload == library_json(library)


# ----------------------------------------------------------------------------- its


def its_rows(n_pre: int = 30, n_post: int = 20, effect: float = 10.0) -> list[tuple[str, float]]:
    rng = np.random.default_rng(1)
    values = 50 + rng.normal(0, 2, n_pre + n_post)
    values[n_pre:] += effect
    return list(zip(daily_series(n_pre + n_post), np.round(values, 3).tolist(), strict=True))


def test_its_bad_input_is_caught_before_sampling(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "its.csv", "date,value", its_rows())

    def its(options: str):
        return invoke("its", "--input", path, *shlex.split(options))

    after_end = its("--intervention-date 2026-01-01 --sampler pymc")
    assert_input_error(after_end, "intervention_date", "after the last date")
    assert_input_error(its("--intervention-date 01/10/2025"), "--intervention-date", "YYYY-MM-DD")
    assert_input_error(its("--intervention-date 2025-10-01 --seasonality weekly"), "--seasonality")
    # Window and prior options reach the library (its checks run before any sampling).
    short_pre = its("--intervention-date 2025-10-01 --pre-period-days 3 --sampler pymc")
    assert_input_error(short_pre, "pre_period_days", "3 pre-period observations")
    prior_without_sd = its("--intervention-date 2025-10-01 --effect-prior-mean 5 --sampler pymc")
    assert_input_error(prior_without_sd, "effect_prior_sd")


@pytest.mark.slow
def test_its_tiny_sampler_matches_library_and_contract(tmp_path: Path) -> None:
    # True effect +10 from 2025-10-01 (day 30), noise SD 2. Tiny sampler settings: this checks
    # the wiring, not the posterior (its own tests do that).
    rows = its_rows()
    path = write_csv(tmp_path, "its.csv", "date,value", rows)
    sampler = ["--draws", "100", "--tune", "100", "--chains", "1", "--sampler", "pymc"]
    payload = run_json("its", "--input", path, "--intervention-date", "2025-10-01", *sampler)
    effect = payload["causalEffect"]
    assert {"mean", "sd", "hdi95", "probability_positive"} <= effect.keys()
    assert set(payload["counterfactual"]) >= {
        "dates",
        "predicted",
        "observed",
        "lower95",
        "upper95",
    }
    assert {"rhat", "ess_bulk", "ess_tail"} <= payload["diagnostics"].keys()
    assert isinstance(payload["interpretation"], str)
    assert payload["counterfactual"]["dates"] == [day for day, _ in rows]
    assert effect["hdi95"][0] < 10 < effect["hdi95"][1]
    assert payload["sampler"] == {"name": "pymc", "draws": 100, "tune": 100, "chains": 1, "seed": 0}

    from americano_pipelines.stats.its import bayesian_its

    library = bayesian_its(
        [day for day, _ in rows],
        [value for _, value in rows],
        intervention_date="2025-10-01",
        draws=100,
        tune=100,
        chains=1,
        sampler="pymc",
    )
    assert payload == library_json(library)


# ----------------------------------------------------------------------------- bad input


def test_missing_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x.csv", "phase,score", [("A", 1), ("B", 2)])
    line = assert_input_error(invoke("abab", "--input", path), "'value'", "columns found")
    assert "'phase', 'score'" in line
    granger = write_csv(tmp_path, "g.csv", "sleep,steps", [(1, 2)] * 10)
    assert_input_error(
        invoke("granger", "--input", granger, "--cause", "hrv", "--effect", "steps"), "'hrv'"
    )


def test_non_numeric_value_names_column_row_and_value(tmp_path: Path) -> None:
    values: list[Any] = list(ONGHENA_VALUES)
    values[2] = "abc"
    path = phase_csv(tmp_path, ONGHENA_PHASES, values)
    assert_input_error(invoke("abab", "--input", path), "value", "row 3", "'abc'")
    values[2] = ""
    path = phase_csv(tmp_path, ONGHENA_PHASES, values, name="empty_cell.csv")
    assert_input_error(invoke("abab", "--input", path), "value", "row 3", "empty")
    rows = [(day, "nan") for day in daily_series(20)]
    path = write_csv(tmp_path, "nan.csv", "date,value", rows)
    assert_input_error(invoke("changepoints", "--input", path), "row 1", "not a finite number")


def test_bad_date_names_the_row(tmp_path: Path) -> None:
    rows = [(day, 1.0 + i) for i, day in enumerate(daily_series(20))]
    rows[4] = ("2025/09/05", 5.0)
    path = write_csv(tmp_path, "d.csv", "date,value", rows)
    assert_input_error(invoke("changepoints", "--input", path), "date", "row 5", "YYYY-MM-DD")
    rows[4] = ("2025-02-30", 5.0)
    path = write_csv(tmp_path, "d2.csv", "date,value", rows)
    assert_input_error(invoke("changepoints", "--input", path), "date", "row 5", "calendar")


def test_too_few_points(tmp_path: Path) -> None:
    path = phase_csv(tmp_path, ["A", "A", "B", "A", "B"], [1, 2, 3, 4, 5])
    assert_input_error(invoke("abab", "--input", path), "5 observations", "at least 12")
    rows = [(day, float(i)) for i, day in enumerate(daily_series(10))]
    path = write_csv(tmp_path, "cp.csv", "date,value", rows)
    assert_input_error(invoke("changepoints", "--input", path), "10 observations", "at least 14")
    rows = [(i, i % 3, i % 5) for i in range(8)]
    path = write_csv(tmp_path, "g.csv", "day,x,y", rows)
    assert_input_error(
        invoke("granger", "--input", path, "--cause", "x", "--effect", "y"), "max_lag"
    )
    path = phase_csv(tmp_path, ["A", "B", "B"], [1, 2, 3], name="es.csv")
    assert_input_error(invoke("effect-sizes", "--input", path), "3 data rows", "at least 4")


def test_phases_out_of_order(tmp_path: Path) -> None:
    phases = ["B"] * 6 + ["A"] * 6 + ["B"] * 6 + ["A"] * 6
    path = phase_csv(tmp_path, phases, ONGHENA_VALUES)
    assert_input_error(invoke("abab", "--input", path), "phase", "starts with phase B")
    numbered = ["A1"] * 6 + ["B2"] * 6 + ["A2"] * 6 + ["B1"] * 6
    path = phase_csv(tmp_path, numbered, ONGHENA_VALUES, name="numbered.csv")
    assert_input_error(invoke("abab", "--input", path), "phase", "B2")
    ab_twice = ["A"] * 3 + ["B"] * 3 + ["A"] * 3 + ["B"] * 3
    path = phase_csv(tmp_path, ab_twice, list(range(12)), name="abab.csv")
    assert_input_error(invoke("effect-sizes", "--input", path), "phase", "A-B-A-B")
    rows = [("x", "B" if i < 5 else "A", i) for i in range(10)]
    path = write_csv(tmp_path, "mb.csv", "case,phase,value", rows)
    assert_input_error(invoke("multiple-baseline", "--input", path), "case 'x'")


def test_rows_out_of_time_order(tmp_path: Path) -> None:
    dates = daily_series(24)
    dates[10], dates[11] = dates[11], dates[10]
    rows = list(zip(dates, ONGHENA_PHASES, ONGHENA_VALUES, strict=True))
    path = write_csv(tmp_path, "d.csv", "date,phase,value", rows)
    assert_input_error(invoke("abab", "--input", path), "date", "row 12", "time order")
    sleep, steps = granger_frame(40)
    granger_dates = daily_series(40)
    granger_dates[20] = granger_dates[19]
    path = write_csv(
        tmp_path, "g.csv", "date,sleep,steps", list(zip(granger_dates, sleep, steps, strict=True))
    )
    result = invoke("granger", "--input", path, "--cause", "sleep", "--effect", "steps")
    assert_input_error(result, "row 21", "repeats")


SEQUENTIAL = "sequential --alpha 0.05 --spending pocock --max-n 9 --looks 3"
MONITOR = "monitor --alpha 0.05 --spending pocock --max-n 9 --looks 3"


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("abab --input x.csv --bogus", ["No such option: --bogus"]),
        ("abab --input x.csv --statistic C-D", ["--statistic", "'C-D'", "B-A"]),
        ("alternating --input x.csv --statistic PA-PB", ["--statistic"]),
        ("effect-sizes --input x.csv --improvement up", ["--improvement"]),
        ("changepoints --input x.csv --algorithm dynp", ["--algorithm", "dynp"]),
        ("sequential --alpha 0.05 --spending linear --max-n 9 --looks 3", ["--spending", "linear"]),
        (f"{SEQUENTIAL} --sides 3", ["--sides"]),
        ("sequential --alpha 0.05 --spending pocock --max-n 9", ["Missing option", "--looks"]),
        ("sequential --alpha 0.05 --spending pocock --max-n 9 --looks x", ["--looks"]),
        ("its --input x.csv --intervention-date 2025-01-01 --sampler stan", ["--sampler"]),
        ("abab", ["Missing option", "--input"]),
        ("abba --input x.csv", ["No such command", "abba"]),
        ("--bogus", ["No such option"]),
    ],
)
def test_usage_errors_are_one_line(command: str, fragments: list[str]) -> None:
    assert_input_error(invoke(*shlex.split(command)), *fragments)


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("sequential --alpha 1.5 --spending pocock --max-n 9 --looks 3", ["alpha"]),
        (f"{SEQUENTIAL} --information-rates 0.5,abc,1", ["--information-rates", "item 2", "'abc'"]),
        (f"{SEQUENTIAL} --information-rates 0.5,0.4,1", ["information_rates", "increasing"]),
        (f"{MONITOR} --z 1,2,3,4", ["z_statistics"]),
        (f"{MONITOR} --z ''", ["--z"]),
    ],
)
def test_bad_design_values(command: str, fragments: list[str]) -> None:
    assert_input_error(invoke(*shlex.split(command)), *fragments)


def test_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert_input_error(invoke("abab", "--input", str(empty)), "empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text("phase,value\n", encoding="utf-8")
    assert_input_error(invoke("abab", "--input", str(header_only)), "0 data rows")
    assert_input_error(invoke("abab", "--input", "-", stdin=""), "stdin", "empty")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("phase,value\nA,1\nA\n", encoding="utf-8")
    assert_input_error(invoke("abab", "--input", str(ragged)), "row 2", "1 field")
    assert_input_error(invoke("abab", "--input", str(tmp_path / "nope.csv")), "no such file")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"phase,value\nA,\xff\xfe\n")
    assert_input_error(invoke("abab", "--input", str(binary)), "UTF-8")


def test_alternating_bad_cap(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "atd.csv", "condition,value", list(zip(ATD_CONDITIONS, ATD_VALUES, strict=True))
    )
    assert_input_error(invoke("alternating", "--input", path, "--max-consecutive", "two"), "'two'")
    # The observed sequence has runs of 2, so a cap of 1 makes it inadmissible.
    assert_input_error(
        invoke("alternating", "--input", path, "--max-consecutive", "1"), "max_consecutive = 1"
    )


# ----------------------------------------------------------------------------- tabular


def test_read_table_tolerates_bom_blank_lines_and_case() -> None:
    table = read_table(io.StringIO("\ufeffPhase , Value\n\nA, 1\n\nB,2.5 \n"), required=("phase",))
    assert table.columns == ("Phase", "Value")
    assert table.labels("phase") == ["A", "B"]
    assert table.numbers("value") == [1.0, 2.5]
    # Blank lines are skipped, but errors still point at the right line of the file.
    with pytest.raises(InputError, match=r"row 2 \(line 5\)"):
        read_table(io.StringIO("phase,value\n\nA,1\n\nB,x\n")).numbers("value")


def test_read_table_rejects_repeated_or_unnamed_columns() -> None:
    with pytest.raises(InputError, match="repeats column 'value'"):
        read_table(io.StringIO("value,value\n1,2\n"))
    with pytest.raises(InputError, match="header column 2 has no name"):
        read_table(io.StringIO("value,\n1,2\n"))


def test_parse_number_list() -> None:
    assert parse_number_list("-1.5, 2,3e-1", field="--z") == [-1.5, 2.0, 0.3]
    with pytest.raises(InputError, match="item 2"):
        parse_number_list("1,,3", field="--z")


# ----------------------------------------------------------------------------- real process


def americano_script() -> Path:
    script = Path(sys.executable).with_name("americano")
    if not script.exists():
        pytest.skip("the americano console script is not installed in this environment")
    return script


def test_subprocess_abab_prints_one_json_object_without_heavy_imports(tmp_path: Path) -> None:
    path = phase_csv(tmp_path, ONGHENA_PHASES, ONGHENA_VALUES)
    # -X importtime lists every module imported on stderr; stdout must stay one JSON object.
    completed = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(americano_script()),
            "analyze",
            "abab",
            "--input",
            path,
            "--min-phase-length",
            "4",
            "--statistic",
            "PA-PB",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.count("\n") == 1
    payload = json.loads(completed.stdout)
    assert ABAB_KEYS <= payload.keys() and payload["pValue"] == pytest.approx(4 / 165)
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "americano_pipelines" in imported  # the listing is real
    assert not imported & set(HEAVY_MODULES), imported & set(HEAVY_MODULES)


def test_subprocess_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    script = str(americano_script())
    values: list[Any] = list(ONGHENA_VALUES)
    values[5] = "n/a"
    path = phase_csv(tmp_path, ONGHENA_PHASES, values)
    text = Path(path).read_text(encoding="utf-8")
    for args, stdin in (
        (["analyze", "abab", "--input", "-"], text),
        (["analyze", "abab", "--input", path, "--statistic", "nope"], None),
    ):
        completed = subprocess.run(
            [script, *args], input=stdin, capture_output=True, text=True, timeout=300, check=False
        )
        assert completed.returncode == 2, completed.stderr
        assert completed.stdout == ""
        assert len(completed.stderr.splitlines()) == 1, completed.stderr
        assert completed.stderr.startswith("error: ")


# ----------------------------------------------------------------------------- synthetic control


def synthetic_control_rows(
    n_pre: int = 20, n_post: int = 10, effect: float = 2.0
) -> tuple[str, list[tuple[Any, ...]]]:
    """(header, rows): `mood` = 0.7 a + 0.3 b + noise, plus `effect` from day n_pre on; `c` is a
    donor with no weight in truth."""
    rng = np.random.default_rng(4)
    n = n_pre + n_post
    donors = np.array([5.0, 8.0, 6.0]) + np.cumsum(rng.normal(0, 0.5, (n, 3)), axis=0)
    mood = donors @ np.array([0.7, 0.3, 0.0]) + rng.normal(0, 0.2, n)
    mood[n_pre:] += effect
    table = np.round(np.column_stack([mood, donors]), 4).tolist()
    rows = [(day, *values) for day, values in zip(daily_series(n), table, strict=True)]
    return "date,mood,a,b,c", rows


def test_synthetic_control_bad_input_is_caught_before_sampling(tmp_path: Path) -> None:
    header, rows = synthetic_control_rows()
    path = write_csv(tmp_path, "sc.csv", header, rows)
    intervention = rows[20][0]

    def sc(options: str, csv_path: str = path):
        return invoke("synthetic-control", "--input", csv_path, *shlex.split(options))

    assert_input_error(sc(f"--treated sleep --intervention-date {intervention}"), "'sleep'")
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention} --donors a"),
        "donors",
        "at least 2",
    )
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention} --donors a,zz"), "'zz'"
    )
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention} --donors a,,b"), "--donors"
    )
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention} --donors a,mood"),
        "donors",
        "treated series",
    )
    assert_input_error(sc("--treated mood --intervention-date 2030-01-01"), "intervention_date")
    assert_input_error(
        sc(f"--treated mood --intervention-date {rows[5][0]}"), "5 pre-period observations"
    )
    assert_input_error(sc("--treated mood --intervention-date 1/2/2025"), "--intervention-date")
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention} --scaling minmax"), "--scaling"
    )
    # A missing cell names the column and the row; a text column among the default donors says
    # how to leave it out.
    gap = [row if index != 2 else (row[0], row[1], "", *row[3:]) for index, row in enumerate(rows)]
    gap_path = write_csv(tmp_path, "gap.csv", header, gap)
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention}", gap_path), "a", "row 3"
    )
    labelled = [(*row, "A") for row in rows]
    labelled_path = write_csv(tmp_path, "labelled.csv", header + ",phase", labelled)
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention}", labelled_path),
        "phase",
        "row 1",
        "--donors",
    )
    repeated = [rows[0], *rows]
    repeated_path = write_csv(tmp_path, "repeated.csv", header, repeated)
    assert_input_error(
        sc(f"--treated mood --intervention-date {intervention}", repeated_path),
        "date",
        "appears twice",
        "rows 1 and 2",
    )


def test_synthetic_control_tiny_sampler_matches_library_and_contract(tmp_path: Path) -> None:
    # True effect +2 from day 20, weights 0.7/0.3/0. Tiny sampler settings: this checks the
    # wiring, not the posterior (test_synthetic_control.py does that).
    header, rows = synthetic_control_rows()
    path = write_csv(tmp_path, "sc.csv", header, rows)
    intervention = rows[20][0]
    sampler = ["--draws", "100", "--tune", "100", "--chains", "1", "--seed", "3"]
    labelled = [(*row, "A") for row in rows]
    labelled_path = write_csv(tmp_path, "labelled.csv", header + ",phase", labelled)
    payload = run_json(
        "synthetic-control",
        "--input",
        labelled_path,
        "--treated",
        "mood",
        "--intervention-date",
        intervention,
        "--donors",
        "a, b ,c",
        *sampler,
    )
    assert {
        "causalEffect",
        "counterfactual",
        "donorWeights",
        "preFitRmse",
        "diagnostics",
        "interpretation",
    } <= payload.keys()
    assert set(payload["causalEffect"]) >= {"mean", "sd", "hdi95", "probability_positive"}
    assert set(payload["counterfactual"]) >= {
        "dates",
        "predicted",
        "observed",
        "lower95",
        "upper95",
    }
    assert {"rhat", "ess_bulk", "ess_tail"} <= payload["diagnostics"].keys()
    assert list(payload["donorWeights"]) == ["a", "b", "c"]
    assert payload["ignoredColumns"] == ["phase"]
    assert payload["counterfactual"]["dates"] == [row[0] for row in rows]
    assert payload["sampler"]["draws"] == 100 and payload["sampler"]["seed"] == 3

    from americano_pipelines.stats.synthetic_control import synthetic_control

    data = {
        "date": [row[0] for row in rows],
        "mood": [row[1] for row in rows],
        "a": [row[2] for row in rows],
        "b": [row[3] for row in rows],
        "c": [row[4] for row in rows],
    }
    library = synthetic_control(
        {**data, "phase": ["A"] * len(rows)},
        donors=["a", "b", "c"],
        treated="mood",
        intervention_date=intervention,
        draws=100,
        tune=100,
        chains=1,
        seed=3,
    )
    assert payload == library_json(library)
    # Default donors: every other column, the same fit.
    default = run_json(
        "synthetic-control",
        "--input",
        path,
        "--treated",
        "mood",
        "--intervention-date",
        intervention,
        *sampler,
    )
    assert default == library_json(
        synthetic_control(
            data,
            treated="mood",
            intervention_date=intervention,
            draws=100,
            tune=100,
            chains=1,
            seed=3,
        )
    )


# ----------------------------------------------------------------------------- series of N-of-1


def series_rows() -> list[tuple[Any, ...]]:
    """(user, date, phase, value): three users' AB trials, effects +3, +5, +1 (noise SD 1)."""
    rng = np.random.default_rng(6)
    rows = []
    for user, effect in (("ann", 3.0), ("bob", 5.0), ("cy", 1.0)):
        for day, phase in zip(daily_series(16), ["A"] * 8 + ["B"] * 8, strict=True):
            value = 20 + effect * (phase == "B") + rng.normal()
            rows.append((user, day, phase, round(value, 3)))
    return rows


def test_series_of_n1_bad_input_is_caught_before_sampling(tmp_path: Path) -> None:
    rows = series_rows()
    path = write_csv(tmp_path, "s.csv", "user,date,phase,value", rows)

    def series(options: str, csv_path: str = path):
        return invoke("series-of-n1", "--input", csv_path, *shlex.split(options))

    one = write_csv(tmp_path, "one.csv", "user,date,phase,value", rows[:16])
    assert_input_error(series("", one), "person", "at least 2")
    no_b = [row for row in rows if not (row[0] == "cy" and row[2] == "B")]
    assert_input_error(
        series("", write_csv(tmp_path, "nob.csv", "user,date,phase,value", no_b)),
        "condition",
        "'cy' has 0",
    )
    both = write_csv(
        tmp_path, "both.csv", "user,person,phase,value", [(r[0], r[0], r[2], r[3]) for r in rows]
    )
    assert_input_error(series("", both), "person", "both")
    backwards = [*rows[:3], (rows[3][0], "2025-08-01", *rows[3][2:]), *rows[4:]]
    assert_input_error(
        series("", write_csv(tmp_path, "back.csv", "user,date,phase,value", backwards)),
        "date",
        "row 4",
        "within each person",
    )
    assert_input_error(series("--statistic PB-PA"), "--statistic")
    assert_input_error(series("--noise shared"), "--noise")
    assert_input_error(series("--draws 5"), "draws", "at least 10")
    assert_input_error(series("--max-consecutive x"), "--max-consecutive")
    missing = write_csv(tmp_path, "m.csv", "user,value", [(r[0], r[3]) for r in rows])
    assert_input_error(series("", missing), "'condition'", "columns found")


def test_series_of_n1_tiny_sampler_matches_library_and_contract(tmp_path: Path) -> None:
    # Tiny sampler settings: this checks the wiring, not the posterior (test_series_of_n1.py).
    rows = series_rows()
    path = write_csv(tmp_path, "s.csv", "user,date,phase,value", rows)
    sampler = ["--draws", "30", "--tune", "30", "--chains", "1", "--seed", "4"]
    payload = run_json("series-of-n1", "--input", path, "--noise", "pooled", *sampler)
    assert {"populationEffect", "tau", "predictedEffect", "persons", "diagnostics"} <= set(payload)
    assert [p["person"] for p in payload["persons"]] == ["ann", "bob", "cy"]
    assert payload["persons"][1]["randomizationTest"]["design"] == "AB"
    assert payload["model"]["noise"] == "pooled"
    assert payload["sampler"] | {"name": None} == {
        "name": None,
        "draws": 30,
        "tune": 30,
        "chains": 1,
        "seed": 4,
    }

    from americano_pipelines.stats.series_of_n1 import series_of_n1

    library = series_of_n1(
        [r[0] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        noise="pooled",
        draws=30,
        tune=30,
        chains=1,
        seed=4,
    )
    assert payload == library_json(library)
