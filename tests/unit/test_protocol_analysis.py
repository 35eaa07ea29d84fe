"""A protocol's pre-registered analyses (americano_pipelines.protocol_analyses).

The per-protocol results must equal the stats functions called directly on the same series (so
the CLI, the library and the Dagster assets agree), reproduce published SCRT / scan / rpact
values through the protocol path, and skip (not crash) when the plan or the data do not allow
an analysis. Also: the warehouse tables are replaced per protocol, and the plot renders.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from americano_pipelines.protocol_analyses.change_points import change_points_for_protocol
from americano_pipelines.protocol_analyses.inputs import observed_series, parse_analysis_plan
from americano_pipelines.protocol_analyses.randomization_test import (
    randomization_test_for_protocol,
)
from americano_pipelines.protocol_analyses.sequential_monitoring import (
    sequential_monitoring_for_protocol,
)
from americano_pipelines.reports.sced_plots import plot_phase_series
from americano_pipelines.stats.changepoints import detect_change_points
from americano_pipelines.stats.effect_sizes import abab_effect_sizes, effect_sizes, nap, smd
from americano_pipelines.stats.sced import (
    RandomizationTestResult,
    abab_randomization_test,
    alternating_treatments_test,
    multiple_baseline_test,
    randomized_block_test,
)
from americano_pipelines.stats.sequential import group_sequential_design, monitor, welch_z
from americano_pipelines.warehouse import tables as warehouse

START = dt.date(2025, 9, 1)

# Onghena (1992) hypothetical ABAB data, shipped with SCRT as `data(ABAB)` (SCRT 1.3.1,
# man/ABAB.Rd). SCRT 1.3.1 pvalue.systematic(design = "ABAB", statistic = "PA-PB", limit = 4)
# gives 4/165 (quantity(design = "ABAB", MT = 24, limit = 4) = 165).
ONGHENA_PHASES = ["A1"] * 6 + ["B1"] * 6 + ["A2"] * 6 + ["B2"] * 6
ONGHENA_VALUES = [6, 2, 5, 3, 4, 4, 1, 2, 3, 1, 3, 2, 2, 3, 4, 2, 4, 3, 0, 1, 2, 0, 2, 1]

# scan's `exampleAB` data (scan 0.68, data/exampleAB.rda): three cases, 5 A + 15 B points each;
# rand_test(exampleAB) (limit 5): observed statistic 20.55556 over 1331 combinations, exact
# p = 48/1331 (Wilbert, "Analyzing single-case data with R and scan", randomization tests).
SCAN_EXAMPLE_AB = {
    "Johanna": [54, 53, 56, 58, 52, 61, 62, 71, 66, 64, 78, 70, 74, 82, 77, 86, 68, 80, 86, 87],
    "Karolina": [41, 59, 56, 51, 52, 57, 56, 67, 75, 66, 69, 68, 73, 77, 79, 86, 82, 75, 83, 89],
    "Anja": [55, 58, 53, 50, 52, 55, 68, 68, 81, 67, 78, 73, 72, 78, 81, 78, 71, 85, 80, 76],
}

# A 12-session alternating treatments series; SCRT 1.3.1 pvalue.systematic(design = "ATD",
# limit = 2, statistic = "B-A") = 1/208 (quantity 208).
ATD_CONDITIONS = list("ABBABAABABBA")
ATD_VALUES = [3, 7, 6, 4, 8, 2, 3, 9, 4, 6, 7, 5]


def _frame(
    labels: list[str],
    values: list[float],
    *,
    missing_days: tuple[int, ...] = (),
    protocol_id: str = "protocol_x",
    case: list[str] | None = None,
    dates: list[dt.date] | None = None,
) -> pd.DataFrame:
    """phase_observations rows: one per day from START, the days in `missing_days` left out;
    `labels` are phase labels whose first letter is the condition."""
    days = dates or [START + dt.timedelta(days=i) for i in range(len(values))]
    keep = [i for i in range(len(values)) if i not in set(missing_days)]
    frame = pd.DataFrame(
        {
            "protocol_id": protocol_id,
            "user_id": "user_x",
            "phase_label": [labels[i] for i in keep],
            "phase_type": ["BASELINE" if labels[i][0] == "A" else "INTERVENTION_A" for i in keep],
            "phase_index": [0] * len(keep),
            "condition": [labels[i][0] for i in keep],
            "observation_date": pd.to_datetime([days[i] for i in keep]),
            "observation_index": list(range(1, len(keep) + 1)),
            "metric": "engagement_score",
            "value": [float(values[i]) for i in keep],
        }
    )
    if case is not None:
        frame["case"] = [case[i] for i in keep]
    return frame


def _protocol(**overrides) -> dict:
    row = {
        "protocol_id": "protocol_x",
        "user_id": "user_x",
        "design_type": "ABAB",
        "primary_outcome": "engagement_score",
        "analysis_plan": "Randomization test of B-A (SCRT); alpha 0.05.",
        "sample_size_target": 24,
        "min_phase_length": 4,
        "interim_looks": 0,
        "alpha": 0.05,
        "status": "completed",
    }
    return {**row, **overrides}


def _conditions(labels: list[str]) -> list[str]:
    return [label[0] for label in labels]


def _abab_series(n_per_phase: int, effect: float, seed: int = 3) -> tuple[list[str], list[float]]:
    rng = np.random.default_rng(seed)
    labels = [
        f"{c}{k}" for k, c in ((1, "A"), (1, "B"), (2, "A"), (2, "B")) for _ in range(n_per_phase)
    ]
    values = rng.normal(50, 3, len(labels)) + effect * np.array([lab[0] == "B" for lab in labels])
    return labels, values.round(2).tolist()


# ----------------------------------------------------------------------------- randomization test


def test_abab_protocol_matches_scrt_reference_and_the_library() -> None:
    row = _protocol(analysis_plan="Randomization test of PA-PB (SCRT), NAP and SMD.")
    result = randomization_test_for_protocol(row, _frame(ONGHENA_PHASES, ONGHENA_VALUES))
    direct = abab_randomization_test(
        _conditions(ONGHENA_PHASES), ONGHENA_VALUES, min_phase_length=4, statistic="PA-PB"
    )
    assert result.status == "ok" and result.statistic == "PA-PB"
    assert result.p_value == pytest.approx(4 / 165)  # SCRT 1.3.1
    assert result.test == direct
    assert result.test.n_assignments == 165 and result.test.exact
    # PA-PB expects A above B, so the effect sizes count a decrease as improvement.
    sizes = abab_effect_sizes(_conditions(ONGHENA_PHASES), ONGHENA_VALUES, "decrease")
    assert result.effect_sizes == sizes
    assert result.nap == sizes.average.nap and result.smd == sizes.average.smd
    assert result.standards.rating == "meets"  # four phases of six points (WWC)
    (table_row,) = result.to_rows()
    assert table_row["p_value"] == direct.p_value
    assert table_row["nap"] == sizes.average.nap.estimate
    assert table_row["nap_se"] == sizes.average.nap.se
    assert table_row["rating"] == "meets" and table_row["passes"] is True
    assert table_row["n_assignments"] == 165 and table_row["min_phase_length_used"] == 4
    assert json.loads(table_row["result_json"])["test"]["pValue"] == direct.p_value


def test_frames_of_either_library_in_any_row_order_give_the_same_result() -> None:
    labels, values = _abab_series(8, effect=4.0)
    frame = _frame(labels, values)
    expected = randomization_test_for_protocol(_protocol(), frame)
    shuffled = frame.sample(frac=1.0, random_state=7)
    for variant in (shuffled, pl.from_pandas(frame), frame.to_dict(orient="list")):
        assert randomization_test_for_protocol(_protocol(), variant).test == expected.test
    direct = abab_randomization_test(_conditions(labels), values, min_phase_length=4)
    assert expected.p_value == direct.p_value


def test_other_protocols_rows_in_the_frame_are_ignored() -> None:
    labels, values = _abab_series(6, effect=5.0)
    frame = pd.concat(
        [_frame(labels, values), _frame(labels, [v + 100 for v in values], protocol_id="other")]
    )
    result = randomization_test_for_protocol(_protocol(), frame)
    assert result.n_observations == len(values)
    assert (
        result.p_value
        == abab_randomization_test(_conditions(labels), values, min_phase_length=4).p_value
    )


def test_min_phase_length_falls_to_the_shortest_observed_phase_when_days_are_missing() -> None:
    labels, values = _abab_series(8, effect=6.0)
    # two days of phase B1 (rows 8-15) without an observation: B1 has 6 observations
    frame = _frame(labels, values, missing_days=(9, 12))
    result = randomization_test_for_protocol(_protocol(min_phase_length=8), frame)
    kept = [i for i in range(len(values)) if i not in (9, 12)]
    direct = abab_randomization_test(
        [labels[i][0] for i in kept], [values[i] for i in kept], min_phase_length=6
    )
    assert result.status == "ok"
    assert result.min_phase_length == 8 and result.min_phase_length_used == 6
    assert result.test == direct
    assert any("lowered to 6" in note for note in result.notes)


def _scan_example_ab_frame() -> pd.DataFrame:
    """scan's exampleAB (3 cases, 5 A then 15 B) as one protocol's observations."""
    labels, values, cases = [], [], []
    for name, series in SCAN_EXAMPLE_AB.items():
        labels += ["A"] * 5 + ["B"] * 15
        values += series
        cases += [name] * 20
    days = [START + dt.timedelta(days=i % 20) for i in range(60)]  # one time axis for all cases
    return _frame(labels, values, case=cases, dates=days)


def _scan_example_ab_test(**options) -> RandomizationTestResult:
    return multiple_baseline_test(
        {name: (["A"] * 5 + ["B"] * 15, series) for name, series in SCAN_EXAMPLE_AB.items()},
        min_phase_length=5,
        **options,
    )


def test_multiple_baseline_over_cases_matches_scan() -> None:
    result = randomization_test_for_protocol(
        _protocol(design_type="MULTIPLE_BASELINE", min_phase_length=5), _scan_example_ab_frame()
    )
    direct = _scan_example_ab_test()
    assert result.status == "ok"
    assert result.p_value == pytest.approx(48 / 1331)  # scan rand_test(exampleAB)
    assert result.test.observed_effect == pytest.approx(20.55556, abs=5e-6)
    assert result.test == direct
    per_case = [effect_sizes(["A"] * 5 + ["B"] * 15, s).nap for s in SCAN_EXAMPLE_AB.values()]
    assert result.nap.estimate == pytest.approx(np.mean([e.estimate for e in per_case]))
    assert result.nap.se == pytest.approx(math.sqrt(sum(e.se**2 for e in per_case)) / 3)


def test_alternating_treatments_matches_scrt_and_the_library() -> None:
    frame = _frame(ATD_CONDITIONS, ATD_VALUES)
    result = randomization_test_for_protocol(_protocol(design_type="ALTERNATING"), frame)
    assert result.status == "ok"
    assert result.p_value == pytest.approx(1 / 208)  # SCRT 1.3.1 ATD, limit 2
    assert result.test == alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES)
    a = [v for c, v in zip(ATD_CONDITIONS, ATD_VALUES, strict=True) if c == "A"]
    b = [v for c, v in zip(ATD_CONDITIONS, ATD_VALUES, strict=True) if c == "B"]
    assert result.nap == nap(a, b) and result.smd == smd(a, b)


@pytest.mark.parametrize(
    ("overrides", "labels", "values", "reason"),
    [
        ({"design_type": "ALTERNATING"}, ONGHENA_PHASES, ONGHENA_VALUES, "max_consecutive"),
        ({"design_type": "MULTIPLE_BASELINE"}, ONGHENA_PHASES, ONGHENA_VALUES, "2 blocks"),
        (
            {"design_type": "CHANGING_CRITERION"},
            ONGHENA_PHASES,
            ONGHENA_VALUES,
            "changing criterion",
        ),
        ({"design_type": "CROSSOVER"}, ONGHENA_PHASES, ONGHENA_VALUES, "unknown design"),
        ({}, ["A"] * 6 + ["B"] * 6 + ["C"] * 6 + ["B"] * 6, ONGHENA_VALUES, "phase 'C'"),
        ({}, ["A"] * 12 + ["B"] * 12, ONGHENA_VALUES, "4 blocks"),
        (
            {"analysis_plan": '{"statistic": "median"}'},
            ONGHENA_PHASES,
            ONGHENA_VALUES,
            "analysis_plan",
        ),
        ({}, [], [], "no observations"),
    ],
)
def test_designs_the_data_do_not_support_are_skipped_with_a_reason(
    overrides: dict, labels: list[str], values: list[float], reason: str
) -> None:
    result = randomization_test_for_protocol(_protocol(**overrides), _frame(labels, values))
    assert result.status == "skipped"
    assert reason in result.reason
    assert result.test is None and result.p_value is None
    (row,) = result.to_rows()
    assert row["status"] == "skipped" and row["skip_reason"] == result.reason
    assert row["p_value"] is None
    json.dumps(result.to_json(), allow_nan=False)


def test_changing_criterion_reports_its_wwc_rating() -> None:
    result = randomization_test_for_protocol(
        _protocol(design_type="CHANGING_CRITERION"), _frame(ONGHENA_PHASES, ONGHENA_VALUES)
    )
    assert result.status == "skipped"
    assert result.standards.rating == "meets"  # baseline + 3 criterion phases of 6 points


def test_missing_columns_are_a_skip_not_a_crash() -> None:
    frame = _frame(ONGHENA_PHASES, ONGHENA_VALUES).drop(columns=["condition"])
    result = randomization_test_for_protocol(_protocol(), frame)
    assert result.status == "skipped" and "condition" in result.reason


@pytest.mark.parametrize(
    ("text", "statistic", "spending"),
    [
        (None, "B-A", "obrien_fleming"),
        ("Randomization test of B-A (SCRT), NAP and SMD", "B-A", "obrien_fleming"),
        ("Two-sided test on |A-B| with Pocock boundaries", "|A-B|", "pocock"),
        ("phase means PB-PA; Hwang-Shih-DeCani spending", "PB-PA", "hsd"),
        ("|PA-PB| then A-B", "|PA-PB|", "obrien_fleming"),
        ('{"statistic": "A-B", "spending": "pocock", "seed": 4, "maxExact": 10}', "A-B", "pocock"),
    ],
)
def test_analysis_plan_names_the_statistic_and_spending(
    text: str | None, statistic: str, spending: str
) -> None:
    plan = parse_analysis_plan(text)
    assert (plan.statistic, plan.spending) == (statistic, spending)


def test_json_plan_options_reach_the_test() -> None:
    plan = parse_analysis_plan('{"seed": 4, "maxExact": 10, "permutations": 500}')
    assert (plan.seed, plan.max_exact, plan.permutations) == (4, 10, 500)
    row = _protocol(analysis_plan='{"seed": 4, "max_exact": 10, "permutations": 500}')
    result = randomization_test_for_protocol(row, _frame(ONGHENA_PHASES, ONGHENA_VALUES))
    direct = abab_randomization_test(
        _conditions(ONGHENA_PHASES),
        ONGHENA_VALUES,
        min_phase_length=4,
        seed=4,
        max_exact=10,
        permutations=500,
    )
    assert not result.test.exact and result.test.n_assignments == 500
    assert result.test == direct


# ----------------------------------------------------------------------------- change points


def test_change_points_are_found_at_the_phase_changes_of_noise_free_steps() -> None:
    labels = ["A1"] * 10 + ["B1"] * 10 + ["A2"] * 10 + ["B2"] * 10
    values = [10.0 if label[0] == "B" else 0.0 for label in labels]
    frame = _frame(labels, values)
    result = change_points_for_protocol(_protocol(min_phase_length=5), frame)
    dates = [START + dt.timedelta(days=i) for i in range(40)]
    direct = detect_change_points(values, dates, min_segment_length=5)
    assert result.status == "ok"
    assert result.result == direct
    assert [p.index for p in direct.change_points] == [10, 20, 30]
    rows = result.to_rows()
    assert [r["nearest_phase_label"] for r in rows] == ["B1", "A2", "B2"]
    assert [r["offset_observations"] for r in rows] == [0, 0, 0]
    assert [r["change_date"] for r in rows] == [dates[10], dates[20], dates[30]]
    assert result.change_point_dates == (dates[10], dates[20], dates[30])


def test_change_points_skip_short_series_and_several_cases() -> None:
    short = change_points_for_protocol(
        _protocol(min_phase_length=7), _frame(["A"] * 6 + ["B"] * 6, [1.0] * 12)
    )
    assert short.status == "skipped" and "twice min_segment_length" in short.reason
    assert short.to_rows() == []
    cases = _frame(["A", "B"] * 10, list(range(20)), case=["x", "y"] * 10)
    assert "cases" in change_points_for_protocol(_protocol(), cases).reason


# ----------------------------------------------------------------------------- sequential


def test_welch_z_is_the_welch_t_statistic() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 9), rng.normal(1, 2, 13)
    assert welch_z(a, b) == pytest.approx(stats.ttest_ind(b, a, equal_var=False).statistic)
    assert welch_z([1.0], [2.0, 3.0]) is None
    assert welch_z([1.0, 1.0], [2.0, 2.0]) is None


def _sequential_frame(n: int, effect: float = 3.0):
    labels, values = _abab_series(11, effect=effect, seed=5)  # 44 days, phases of 11
    return labels[:n], values[:n]


def test_sequential_monitoring_matches_the_design_and_monitor_called_directly() -> None:
    labels, values = _sequential_frame(42)
    row = _protocol(alpha=0.025, interim_looks=2, sample_size_target=42, status="running")
    result = sequential_monitoring_for_protocol(row, _frame(labels, values))
    design = group_sequential_design(
        alpha=0.025, spending="obrien_fleming", max_n=42, looks=3, sides=1
    )
    conditions = np.array(_conditions(labels))
    x = np.array(values)
    z = [welch_z(x[:n][conditions[:n] == "A"], x[:n][conditions[:n] == "B"]) for n in (14, 28, 42)]
    expected = monitor(design, z, information_rates_observed=[14 / 42, 28 / 42, 1.0])
    assert result.status == "ok" and result.design == design
    assert [look.z_statistic for look in result.looks] == pytest.approx(z)
    assert result.decision == expected
    # rpact getDesignGroupSequential(typeOfDesign = "asOF"), one-sided 2.5%, 3 looks:
    # 3.710, 2.511, 1.993 (rpact MCP 2025 slides); the looks fall on the planned fractions.
    assert [look.critical_value for look in result.looks] == pytest.approx(
        [3.710, 2.511, 1.993], abs=5e-4
    )
    rows = result.to_rows()
    assert [r["look"] for r in rows] == [1, 2, 3] and all(r["reached"] for r in rows)
    assert [r["n_used"] for r in rows] == [14, 28, 42]
    assert {r["decision"] for r in rows} == {expected.decision}
    json.dumps(result.to_json(), allow_nan=False)


def test_a_protocol_that_ended_short_makes_its_final_analysis_on_what_it_has() -> None:
    labels, values = _sequential_frame(39)
    row = _protocol(interim_looks=2, sample_size_target=42, status="completed")
    result = sequential_monitoring_for_protocol(row, _frame(labels, values))
    design = group_sequential_design(
        alpha=0.05, spending="obrien_fleming", max_n=42, looks=3, sides=1
    )
    conditions = np.array(_conditions(labels))
    x = np.array(values)
    z = [welch_z(x[:n][conditions[:n] == "A"], x[:n][conditions[:n] == "B"]) for n in (14, 28, 39)]
    expected = monitor(design, z, information_rates_observed=[14 / 39, 28 / 39, 1.0])
    assert result.decision == expected and expected.boundaries_recomputed
    assert [look.n_used for look in result.looks] == [14, 28, 39]
    assert result.looks[-1].alpha_spent == pytest.approx(0.05)  # the final look spends it all
    assert any("39 of the 42" in note for note in result.notes)


def test_looks_not_reached_yet_are_listed_with_their_planned_boundaries() -> None:
    labels, values = _sequential_frame(10)
    row = _protocol(interim_looks=2, sample_size_target=42, status="running")
    result = sequential_monitoring_for_protocol(row, _frame(labels, values))
    design = group_sequential_design(
        alpha=0.05, spending="obrien_fleming", max_n=42, looks=3, sides=1
    )
    assert result.status == "skipped" and "first look is at 14" in result.reason
    rows = result.to_rows()
    assert [r["reached"] for r in rows] == [False, False, False]
    assert [r["critical_value"] for r in rows] == [b.critical_value for b in design.boundaries]
    assert all(r["z_statistic"] is None for r in rows)


def test_a_look_without_b_observations_counts_as_z_zero() -> None:
    labels = ["A1"] * 20 + ["B1"] * 8 + ["A2"] * 4 + ["B2"] * 8
    rng = np.random.default_rng(2)
    values = (rng.normal(50, 1, 40) + 30 * np.array([lab[0] == "B" for lab in labels])).tolist()
    row = _protocol(interim_looks=1, sample_size_target=40, status="running")
    result = sequential_monitoring_for_protocol(row, _frame(labels, values))
    first, final = result.looks
    assert first.reached and first.n_b == 0 and first.z_statistic is None
    assert first.crossed is False  # z = 0 cannot cross
    assert any("look 1" in note for note in result.notes)
    assert final.crossed and result.decision.stopped_at_look == 2


def test_the_statistic_sets_the_direction_and_sides() -> None:
    labels, values = _sequential_frame(42)
    frame = _frame(labels, values)
    up = sequential_monitoring_for_protocol(
        _protocol(interim_looks=2, sample_size_target=42), frame
    )
    down = sequential_monitoring_for_protocol(
        _protocol(interim_looks=2, sample_size_target=42, analysis_plan="test of A-B"), frame
    )
    both = sequential_monitoring_for_protocol(
        _protocol(interim_looks=2, sample_size_target=42, analysis_plan="|A-B|"), frame
    )
    assert [look.z_statistic for look in down.looks] == pytest.approx(
        [-look.z_statistic for look in up.looks]
    )
    assert (up.design.sides, down.design.sides, both.design.sides) == (1, 1, 2)


def test_no_interim_looks_means_no_sequential_monitoring() -> None:
    labels, values = _sequential_frame(42)
    result = sequential_monitoring_for_protocol(_protocol(interim_looks=0), _frame(labels, values))
    assert result.status == "skipped" and "interim" in result.reason
    assert result.to_rows() == []


def test_the_three_analyses_run_on_one_protocol() -> None:
    labels, values = _abab_series(8, effect=6.0)
    row = _protocol(interim_looks=1, sample_size_target=32)
    frame = _frame(labels, values)
    results = [
        randomization_test_for_protocol(row, frame),
        change_points_for_protocol(row, frame),
        sequential_monitoring_for_protocol(row, frame),
    ]
    assert [result.status for result in results] == ["ok", "ok", "ok"]
    json.dumps([result.to_json() for result in results], allow_nan=False)


# ----------------------------------------------------------------------------- warehouse, plot


def test_replacing_a_protocols_results_is_idempotent_and_leaves_others_alone(tmp_path) -> None:
    labels, values = _abab_series(8, effect=6.0)
    for protocol_id in ("p1", "p2"):
        frame = _frame(labels, values, protocol_id=protocol_id)
        rows = change_points_for_protocol(_protocol(protocol_id=protocol_id), frame).to_rows()
        assert rows
        written = warehouse.write_protocol_results(
            tmp_path, warehouse.CHANGE_POINTS, protocol_id, rows, data_version="abc"
        )
        assert written == len(rows)

    def counts() -> dict[str, int]:
        rows = warehouse.read_results(tmp_path, warehouse.CHANGE_POINTS)
        return {p: sum(r["protocol_id"] == p for r in rows) for p in ("p1", "p2")}

    before = counts()
    again = change_points_for_protocol(
        _protocol(protocol_id="p1"), _frame(labels, values, protocol_id="p1")
    )
    warehouse.write_protocol_results(
        tmp_path, warehouse.CHANGE_POINTS, "p1", again.to_rows(), data_version="def"
    )
    assert counts() == before
    versions = {
        r["protocol_id"]: r["data_version"]
        for r in warehouse.read_results(tmp_path, warehouse.CHANGE_POINTS)
    }
    assert versions == {"p1": "def", "p2": "abc"}
    # one file per protocol, and no temporary file left behind
    names = sorted(p.name for p in (tmp_path / "change_points").iterdir())
    assert names == ["_columns.parquet", "p1.parquet", "p2.parquet"]


def test_a_view_over_the_result_files_has_the_tables_columns_before_any_result(tmp_path) -> None:
    warehouse.ensure_result_columns(tmp_path)
    conn = duckdb.connect(":memory:")
    folder = tmp_path / "sced_randomization_test"
    conn.execute(
        f"CREATE VIEW tests AS SELECT * FROM read_parquet('{folder}/*.parquet', "
        "union_by_name = true)"
    )
    columns = conn.execute("DESCRIBE tests").fetchall()
    assert [(c[0], c[1]) for c in columns] == list(warehouse.RANDOMIZATION_TESTS.all_columns)
    assert conn.execute("SELECT count(*) FROM tests").fetchone() == (0,)
    # a file written after the view is in it, with no rebuild
    result = randomization_test_for_protocol(_protocol(), _frame(ONGHENA_PHASES, ONGHENA_VALUES))
    warehouse.write_protocol_results(
        tmp_path, warehouse.RANDOMIZATION_TESTS, "protocol_x", result.to_rows(), data_version=None
    )
    assert conn.execute("SELECT p_value FROM tests").fetchall() == [(result.p_value,)]


def test_rows_that_do_not_fit_the_table_are_refused_before_anything_is_replaced(tmp_path) -> None:
    result = randomization_test_for_protocol(_protocol(), _frame(ONGHENA_PHASES, ONGHENA_VALUES))
    warehouse.write_protocol_results(
        tmp_path, warehouse.RANDOMIZATION_TESTS, "protocol_x", result.to_rows(), data_version=None
    )
    bad = [{**result.to_rows()[0], "extra": 1}]
    with pytest.raises(ValueError, match="unexpected"):
        warehouse.write_protocol_results(
            tmp_path, warehouse.RANDOMIZATION_TESTS, "protocol_x", bad, data_version=None
        )
    with pytest.raises(ValueError, match="protocol"):
        warehouse.write_protocol_results(
            tmp_path, warehouse.RANDOMIZATION_TESTS, "other", result.to_rows(), data_version=None
        )
    rows = warehouse.read_results(tmp_path, warehouse.RANDOMIZATION_TESTS)
    assert [row["p_value"] for row in rows] == [result.p_value]


def test_observed_series_sorts_by_date_and_rejects_missing_values() -> None:
    frame = _frame(["A", "A", "B", "B"], [1.0, 2.0, 3.0, 4.0]).iloc[::-1]
    series = observed_series(frame)
    assert series.values == (1.0, 2.0, 3.0, 4.0)
    frame = _frame(["A", "A", "B", "B"], [1.0, float("nan"), 3.0, 4.0])
    result = randomization_test_for_protocol(_protocol(), frame)
    assert result.status == "skipped" and "2025-09-02" in result.reason


def test_phase_plot_is_a_png_written_where_asked(tmp_path) -> None:
    labels, values = _abab_series(8, effect=6.0)
    days = [START + dt.timedelta(days=i) for i in range(len(values))]
    target = tmp_path / "nested" / "plot.png"
    png = plot_phase_series(
        days,
        values,
        _conditions(labels),
        phase_labels=labels,
        change_point_dates=[days[8]],
        path=target,
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert target.read_bytes() == png


def _session_frame(conditions: list[str], values: list[float], **kwargs) -> pd.DataFrame:
    """phase_observations of an alternating schedule: session_<nn>_<condition>, one a day."""
    labels = [f"session_{i:02d}_{c}" for i, c in enumerate(conditions, start=1)]
    frame = _frame(labels, values, **kwargs)
    kept = [int(label[8:10]) - 1 for label in frame["phase_label"]]
    frame["condition"] = [conditions[i] for i in kept]
    frame["phase_type"] = ["BASELINE" if conditions[i] == "A" else "INTERVENTION_A" for i in kept]
    return frame


def test_alternating_blocks_run_the_randomized_block_test() -> None:
    # Blocks AB BA BA AB AB BA; every B-A difference is positive (4, 2, 6, 6, 2, 2), so the
    # observed order is the most extreme of the 2^6 = 64 block orders: p = 1/64.
    frame = _session_frame(ATD_CONDITIONS, ATD_VALUES)
    row = _protocol(design_type="ALTERNATING", randomization="blocks")
    result = randomization_test_for_protocol(row, frame)
    assert result.status == "ok"
    assert result.test.design == "randomized_block"
    assert result.p_value == pytest.approx(1 / 64)
    assert result.test == randomized_block_test(ATD_CONDITIONS, ATD_VALUES)


def test_alternating_blocks_leave_out_a_block_with_a_missing_session() -> None:
    frame = _session_frame(ATD_CONDITIONS, ATD_VALUES, missing_days=(4,))  # session 5: block 3
    result = randomization_test_for_protocol(
        _protocol(design_type="ALTERNATING", randomization="blocks"), frame
    )
    kept = [i for i in range(12) if i not in (4, 5)]
    assert result.test == randomized_block_test(
        [ATD_CONDITIONS[i] for i in kept], [ATD_VALUES[i] for i in kept]
    )
    assert result.p_value == pytest.approx(1 / 32)
    assert "1 of 6 blocks left out" in " ".join(result.notes)


def test_alternating_cap_comes_from_the_protocol() -> None:
    # ABBABAABABBA never runs three of a kind, so caps 2 and 3 admit it, over different sets;
    # a protocol drawn with cap 3 and no analyses list is tested with cap 3, not the default 2.
    frame = _session_frame(ATD_CONDITIONS, ATD_VALUES)
    row = _protocol(design_type="ALTERNATING", randomization="restricted", max_consecutive=3)
    result = randomization_test_for_protocol(row, frame)
    assert result.test == alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES, max_consecutive=3)
    assert result.test != alternating_treatments_test(ATD_CONDITIONS, ATD_VALUES)


def test_multiple_baseline_combines_the_cases_as_registered() -> None:
    row = _protocol(
        design_type="MULTIPLE_BASELINE",
        min_phase_length=5,
        analyses=json.dumps([{"analysis": "randomization_test", "combine": "median"}]),
    )
    result = randomization_test_for_protocol(row, _scan_example_ab_frame())
    assert result.status == "ok"
    assert result.test == _scan_example_ab_test(combine="median")
    assert result.test != _scan_example_ab_test()


def test_abab_b_phases_keep_their_registered_minimum() -> None:
    row = _protocol(min_b_phase_length=2)
    result = randomization_test_for_protocol(row, _frame(ONGHENA_PHASES, ONGHENA_VALUES))
    direct = abab_randomization_test(
        _conditions(ONGHENA_PHASES), ONGHENA_VALUES, min_phase_length=4, min_b_phase_length=2
    )
    assert result.test == direct
    assert result.test.n_assignments != 165  # more schedules than with 4 for every phase
    assert result.to_json()["minBPhaseLength"] == 2
    # A missing day shortens phase B1 to 5 observations; the B minimum of 2 still holds, and
    # a B minimum of 6 is lowered to 5, saying so.
    short = randomization_test_for_protocol(
        _protocol(min_b_phase_length=6), _frame(ONGHENA_PHASES, ONGHENA_VALUES, missing_days=(8,))
    )
    assert short.min_b_phase_length_used == 5 and short.min_phase_length_used == 4
    assert any(note.startswith("min_b_phase_length 6") for note in short.notes)
