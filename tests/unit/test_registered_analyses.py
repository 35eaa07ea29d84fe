"""A protocol's registered analyses (americano_pipelines.registration.analyses) and what honours
them: the settings the analyses run with, `exploratory` results, the assets' skip of an analysis
a protocol did not register, and the demo study's lists.

Checks: the documented list parses and round-trips through its stored JSON; every bad item or
setting is an InputError naming it (and its line in the file); the list's settings reach the
statistics exactly as a direct call with the same arguments (and the analysis plan's text is
ignored when there is a list, used when there is none); a protocol runs as confirmatory exactly
the analyses it registered (the defaults without a list).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import MaterializeResult

from americano_pipelines.defs.analyses.assets import (
    CHANGE_POINTS as CHANGE_POINTS_SPEC,
)
from americano_pipelines.defs.analyses.assets import (
    RANDOMIZATION_TEST as RANDOMIZATION_TEST_SPEC,
)
from americano_pipelines.defs.analyses.assets import (
    SEQUENTIAL_MONITORING as SEQUENTIAL_MONITORING_SPEC,
)
from americano_pipelines.defs.analyses.its import ITS as ITS_SPEC
from americano_pipelines.defs.analyses.registered import EXPLORATORY_TAG, registration
from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.change_points import change_points_for_protocol
from americano_pipelines.protocol_analyses.inputs import (
    AnalysisPlan,
    Protocol,
    analysis_plan_of,
    plan_from_analyses,
)
from americano_pipelines.protocol_analyses.its import its_for_protocol, its_options
from americano_pipelines.protocol_analyses.randomization_test import (
    randomization_test_for_protocol,
)
from americano_pipelines.protocol_analyses.sequential_monitoring import (
    sequential_monitoring_for_protocol,
)
from americano_pipelines.provenance.runs import describe
from americano_pipelines.registration.analyses import (
    ANALYSIS_NAMES,
    CHANGE_POINTS,
    DEFAULT_ANALYSES,
    DEFAULT_ANALYSIS_LIST,
    ITS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
    SYNTHETIC_CONTROL,
    WEARABLE_LINKS,
    AnalysisList,
    ChangePoints,
    InterruptedTimeSeries,
    RandomizationTest,
    SequentialMonitoring,
    SeriesOfN1,
    SyntheticControl,
    WearableLinks,
    analyses_from_json,
    is_registered,
    parse_analyses,
    registered_analyses,
)
from americano_pipelines.registration.protocol_file import parse_protocol_yaml
from americano_pipelines.stats.changepoints import detect_change_points
from americano_pipelines.stats.effect_sizes import EffectSizeOptions, abab_effect_sizes
from americano_pipelines.stats.sced import abab_randomization_test
from americano_pipelines.stats.sequential import group_sequential_design
from americano_pipelines.synth.demo_study import DEMO_ANALYSES, generate_demo_study

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-yaml.md"
TODAY = dt.date(2025, 11, 1)
START = dt.date(2025, 9, 1)


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def _example(design: str) -> str:
    (block,) = [b for b in _yaml_blocks() if f"designType: {design}\n" in b]
    return block


def _without_analyses(block: str) -> str:
    return block.split("analyses:\n")[0]


def _parse(text: str):
    return parse_protocol_yaml(text, today=TODAY)


def _abab_with(analyses: str):
    """The documented ABAB protocol with another `analyses:` block."""
    return _parse(_without_analyses(_example("ABAB")) + analyses)


def _row(analyses: AnalysisList | list | str | None = None, **changes) -> dict:
    """A marts.protocols row of an ABAB protocol (24 observations, 2 interim looks)."""
    if isinstance(analyses, AnalysisList):
        analyses = json.dumps(analyses.to_json())
    elif isinstance(analyses, list):
        analyses = json.dumps(analyses)
    row = {
        "protocol_id": "protocol_x",
        "user_id": "user_x",
        "design_type": "ABAB",
        "primary_outcome": "engagement_score",
        "analysis_plan": "Randomization test of B-A (SCRT) with Pocock boundaries.",
        "analyses": analyses,
        "sample_size_target": 24,
        "min_phase_length": 4,
        "interim_looks": 2,
        "alpha": 0.05,
        "status": "completed",
        "first_intervention_date": None,
    }
    return {**row, **changes}


def _observations(effect: float = 6.0, n_per_phase: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    labels = [f"{c}{k}" for k, c in ((1, "A"), (1, "B"), (2, "A"), (2, "B"))]
    labels = [label for label in labels for _ in range(n_per_phase)]
    values = rng.normal(50, 3, len(labels)) + effect * np.array([lab[0] == "B" for lab in labels])
    return pd.DataFrame(
        {
            "protocol_id": "protocol_x",
            "phase_label": labels,
            "condition": [label[0] for label in labels],
            "observation_date": pd.to_datetime(
                [START + dt.timedelta(days=i) for i in range(len(labels))]
            ),
            "observation_index": list(range(1, len(labels) + 1)),
            "value": values.round(2),
        }
    )


# ----------------------------------------------------------------------------- the file


def test_the_documented_list_parses_and_round_trips() -> None:
    (snippet,) = [b for b in _yaml_blocks() if b.startswith("analyses:\n")]
    parsed = _abab_with(snippet).analyses
    assert parsed.names == (
        RANDOMIZATION_TEST,
        ITS,
        CHANGE_POINTS,
        SEQUENTIAL_MONITORING,
        WEARABLE_LINKS,
    )
    assert parsed.get(RANDOMIZATION_TEST) == RandomizationTest(
        statistic="PB-PA", permutations=20000
    )
    assert parsed.get(ITS) == InterruptedTimeSeries(seasonality="day_of_week", pre_period_days=28)
    assert parsed.get(CHANGE_POINTS) == ChangePoints()
    assert parsed.get(WEARABLE_LINKS) == WearableLinks(
        predictors=("sleep_hours", "hrv_rmssd_ms"), lags=(0, 1)
    )
    assert parsed.explicit
    stored = json.dumps(parsed.to_json())
    assert analyses_from_json(stored) == parsed
    assert json.loads(stored)[0] == {
        "analysis": "randomization_test",
        "statistic": "PB-PA",
        "permutations": 20000,
    }


def test_every_documented_design_with_a_list_parses_it() -> None:
    abab = _parse(_example("ABAB")).analyses
    assert abab.names == DEFAULT_ANALYSES
    # the alternating test enumerates the sequences its schedule was drawn from
    alternating = _parse(_example("ALTERNATING"))
    assert alternating.analyses.to_json() == [
        {"analysis": "randomization_test", "maxConsecutive": alternating.max_consecutive}
    ]
    assert _parse(_example("MULTIPLE_BASELINE")).analyses is None


def test_a_bare_name_is_the_analysis_with_its_defaults() -> None:
    bare = parse_analyses(
        [
            "its",
            {"analysis": "change_points"},
            {"analysis": "sequential_monitoring", "spending": None},
        ]
    )
    assert bare.analyses == (InterruptedTimeSeries(), ChangePoints(), SequentialMonitoring())
    assert [item.to_json() for item in bare.analyses] == [
        {"analysis": name} for name in (ITS, CHANGE_POINTS, SEQUENTIAL_MONITORING)
    ]


def test_every_analysis_with_every_setting() -> None:
    parsed = parse_analyses(
        [
            {
                "analysis": "randomization_test",
                "statistic": "|a-b|",
                "permutations": 500,
                "maxExact": 0,
                "seed": 3,
                "excludeEqual": True,
                "statisticExpression": "median(b)-median(a)",
                "combine": "median",
                "effectSizes": {
                    "scale": "percentage",
                    "confidence": 0.9,
                    "napSe": "hanley",
                    "goal": 80,
                    "intervals": 20,
                    "tauBcPretest": 0.05,
                    "tauBcKendall": True,
                },
            },
            {
                "analysis": "its",
                "postWindow": "protocol_end",
                "prePeriodDays": 21,
                "seasonality": "month",
                "ar1": True,
                "fit": "joint",
                "effectPriorMean": 2,
                "effectPriorSd": 1.5,
                "seed": 9,
            },
            {
                "analysis": "change_points",
                "algorithm": "binseg",
                "minSegmentLength": 5,
                "penalty": 0,
                "seed": 2,
            },
            {"analysis": "sequential_monitoring", "spending": "hsd"},
            {
                "analysis": "synthetic_control",
                "donors": "metrics",
                "donorMetrics": ["sessions"],
                "scaling": "none",
                "seed": 1,
            },
            {
                "analysis": "wearable_links",
                "predictors": ["sleep_hours"],
                "lags": [1],
                "maxLag": 2,
                "method": "kendall",
                "correction": "holm",
            },
            {
                "analysis": "series_of_n1",
                "members": "same_outcome",
                "noise": "pooled",
                "statistic": "|A-B|",
                "seed": 4,
            },
        ]
    )
    assert parsed.names == ANALYSIS_NAMES
    assert parsed.get(RANDOMIZATION_TEST).statistic == "|A-B|"
    assert parsed.get(RANDOMIZATION_TEST).exclude_equal is True
    assert parsed.get(RANDOMIZATION_TEST).statistic_expression == "median(b)-median(a)"
    assert parsed.get(RANDOMIZATION_TEST).combine == "median"
    assert parsed.get(RANDOMIZATION_TEST).effect_sizes == EffectSizeOptions(
        scale="percentage",
        confidence=0.9,
        nap_se="hanley",
        goal=80,
        intervals=20,
        tau_bc_pretest=0.05,
        tau_bc_kendall=True,
    )
    assert parsed.get(ITS).effect_prior_mean == 2.0
    assert parsed.get(ITS).fit == "joint"
    assert parsed.get(SYNTHETIC_CONTROL) == SyntheticControl(
        donors="metrics", donor_metrics=("sessions",), scaling="none", seed=1
    )
    assert analyses_from_json(json.dumps(parsed.to_json())) == parsed
    assert parsed.get("series_of_n1") == SeriesOfN1(
        members="same_outcome", noise="pooled", statistic="|A-B|", seed=4
    )


@pytest.mark.parametrize(
    ("items", "field", "fragment"),
    [
        ([{"analysis": "itts"}], "analyses[1].analysis", "did you mean its?"),
        ([{"analysis": "series_of_n1", "members": "all"}], "analyses[1].members", "same_outcome"),
        ([{"analysis": "series_of_n1", "statistic": "PB-PA"}], "analyses[1].statistic", "B-A"),
        (["granger"], "analyses[1]", "the analyses are randomization_test, its"),
        ([{"statistic": "B-A"}], "analyses[1].analysis", "required"),
        ([7], "analyses[1]", "an analysis name or a mapping"),
        (
            [{"analysis": "its", "sesonality": "none"}],
            "analyses[1].sesonality",
            "did you mean seasonality?",
        ),
        (
            [{"analysis": "sequential_monitoring", "looks": 3}],
            "analyses[1].looks",
            "its settings: spending",
        ),
        (
            [{"analysis": "randomization_test", "statistic": "B minus A"}],
            "analyses[1].statistic",
            "SCRT",
        ),
        (
            [{"analysis": "randomization_test", "permutations": 0}],
            "analyses[1].permutations",
            "from 1 to",
        ),
        ([{"analysis": "randomization_test", "seed": True}], "analyses[1].seed", "whole number"),
        ([{"analysis": "its", "seasonality": "weekly"}], "analyses[1].seasonality", "day_of_week"),
        ([{"analysis": "its", "postWindow": "all"}], "analyses[1].postWindow", "first_phase"),
        ([{"analysis": "its", "ar1": "yes"}], "analyses[1].ar1", "true or false"),
        ([{"analysis": "its", "fit": "both"}], "analyses[1].fit", "pre_period, joint"),
        (
            [{"analysis": "randomization_test", "combine": "max"}],
            "analyses[1].combine",
            "mean, median, rms",
        ),
        (
            [{"analysis": "randomization_test", "statisticExpression": "a.mean()"}],
            "analyses[1].statisticExpression",
            "calls take one argument",
        ),
        (
            [{"analysis": "randomization_test", "excludeEqual": "no"}],
            "analyses[1].excludeEqual",
            "true or false",
        ),
        ([{"analysis": "its", "effectPriorSd": 0}], "analyses[1].effectPriorSd", "positive"),
        (
            [{"analysis": "its", "effectPriorMean": float("nan")}],
            "analyses[1].effectPriorMean",
            "finite",
        ),
        (
            [{"analysis": "change_points", "algorithm": "window"}],
            "analyses[1].algorithm",
            "pelt, binseg",
        ),
        ([{"analysis": "change_points", "penalty": -1}], "analyses[1].penalty", "at least 0"),
        ([{"analysis": "change_points", "penalty": "aic"}], "analyses[1].penalty", "bic, mbic"),
        (
            [{"analysis": "change_points", "cost": "poisson"}],
            "analyses[1].cost",
            "mean, variance, normal, linear, rank",
        ),
        (
            [{"analysis": "sequential_monitoring", "spending": "OBF"}],
            "analyses[1].spending",
            "obrien_fleming",
        ),
        (
            [{"analysis": "synthetic_control", "donors": "friends"}],
            "analyses[1].donors",
            "metrics, users",
        ),
        (
            [{"analysis": "synthetic_control", "scaling": "minmax"}],
            "analyses[1].scaling",
            "treated_sd",
        ),
        ([{"analysis": "wearable_links", "predictors": []}], "analyses[1].predictors", "1 to 50"),
        (
            [{"analysis": "wearable_links", "predictors": ["sleep hours"]}],
            "analyses[1].predictors[1]",
            "column name",
        ),
        (
            [{"analysis": "wearable_links", "predictors": ["a", "a"]}],
            "analyses[1].predictors[2]",
            "twice",
        ),
        ([{"analysis": "wearable_links", "lags": [0, 0]}], "analyses[1].lags", "each lag once"),
        ([{"analysis": "wearable_links", "lags": [-1]}], "analyses[1].lags[1]", "from 0 to 90"),
        ([{"analysis": "wearable_links", "method": "distance"}], "analyses[1].method", "spearman"),
        ([{"analysis": "wearable_links", "correction": "bh"}], "analyses[1].correction", "fdr_bh"),
        (
            [{"analysis": "randomization_test", "effectSizes": {"confidence": 95}}],
            "analyses[1].effectSizes.confidence",
            "between 0 and 1",
        ),
        (
            [{"analysis": "randomization_test", "effectSizes": {"napSE": "hanley"}}],
            "analyses[1].effectSizes.napSE",
            "napSe",
        ),
        (
            [{"analysis": "randomization_test", "effectSizes": "all"}],
            "analyses[1].effectSizes",
            "mapping",
        ),
        (["its", "change_points", "its"], "analyses[3]", "already analyses[1]"),
        ([], "analyses", "one or more"),
        ("its", "analyses", "one or more"),
    ],
)
def test_bad_items_and_settings_name_the_field(items, field: str, fragment: str) -> None:
    with pytest.raises(InputError) as error:
        parse_analyses(items)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        (
            "analyses:\n  - analysis: randomization_test\n    maxConsecutive: 2\n",
            "analyses[1].maxConsecutive",
            "only for an ALTERNATING design",
        ),
        (
            "analyses:\n  - analysis: randomization_test\n    combine: median\n",
            "analyses[1].combine",
            "only for a MULTIPLE_BASELINE design",
        ),
        (
            "analyses:\n  - analysis: change_points\n    minSegmentLength: 21\n",
            "analyses[1].minSegmentLength",
            "more than plannedLength = 40",
        ),
        (
            "analyses:\n  - analysis: synthetic_control\n    donorMetrics: [sleep]\n",
            "analyses[1].donorMetrics",
            "only with donors: metrics",
        ),
        (
            "analyses:\n  - analysis: synthetic_control\n    donors: metrics\n"
            "    donorMetrics: [engagement_score]\n",
            "analyses[1].donorMetrics",
            "the primary outcome",
        ),
        (
            "analyses:\n  - analysis: its\n    effectPriorMean: 5\n",
            "analyses[1].effectPriorMean",
            "give effectPriorSd with it",
        ),
        (
            "analyses:\n  - analysis: its\n    fit: pre_period\n    effectPriorSd: 2\n",
            "analyses[1].fit",
            "an effect prior needs fit: joint",
        ),
        (
            "analyses:\n  - analysis: wearable_links\n    predictors: [engagement_score]\n",
            "analyses[1].predictors",
            "the primary outcome",
        ),
    ],
)
def test_what_the_design_does_not_allow_names_the_field_and_line(block, field, fragment) -> None:
    base = _without_analyses(_example("ABAB"))
    text = base + block
    with pytest.raises(InputError) as error:
        _parse(text)
    assert error.value.field == field
    assert fragment in str(error.value)
    # the line of the setting the error names
    key = field.rsplit(".", 1)[-1]
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if f" {key}:" in text_line)
    assert str(error.value).endswith(f"(line {line})")


def test_sequential_monitoring_needs_interim_looks() -> None:
    text = _example("ABAB").replace("interimLooks: 2\n", "interimLooks: 0\n")
    with pytest.raises(InputError, match=r"^analyses\[4\]: sequential_monitoring needs interim"):
        _parse(text)


def test_alternating_statistics_and_cap() -> None:
    base = _without_analyses(_example("ALTERNATING"))
    with pytest.raises(InputError, match=r"analyses\[1\]\.statistic: an ALTERNATING design"):
        _parse(base + "analyses:\n  - analysis: randomization_test\n    statistic: PB-PA\n")
    with pytest.raises(InputError, match=r"analyses\[1\]\.maxConsecutive: the schedule is drawn"):
        _parse(base + "analyses:\n  - analysis: randomization_test\n    maxConsecutive: 3\n")
    same = _parse(base + "analyses:\n  - analysis: randomization_test\n    maxConsecutive: 2\n")
    assert same.analyses.get(RANDOMIZATION_TEST).max_consecutive == 2


def test_a_null_list_is_no_list() -> None:
    assert _parse(_without_analyses(_example("ABAB")) + "analyses:\n").analyses is None


@pytest.mark.parametrize("stored", [None, float("nan"), "null"])
def test_no_stored_list_is_the_defaults(stored) -> None:
    assert analyses_from_json(stored) is None
    assert registered_analyses({"analyses": stored}) == DEFAULT_ANALYSIS_LIST
    assert not DEFAULT_ANALYSIS_LIST.explicit
    assert DEFAULT_ANALYSIS_LIST.names == DEFAULT_ANALYSES


def test_an_unreadable_stored_list_names_analyses() -> None:
    for stored in ("[{", '{"analysis": "its"}', '[{"analysis": "its", "seasonality": 1}]'):
        with pytest.raises(InputError) as error:
            registered_analyses({"analyses": stored})
        assert error.value.field.startswith("analyses")
        # an unreadable list is the analysis's to report: it runs, and skips saying why
        assert is_registered({"analyses": stored}, CHANGE_POINTS)


# ----------------------------------------------------------------------------- settings


def test_the_list_sets_the_analyses_settings_and_the_text_is_not_read() -> None:
    listed = AnalysisList(
        (
            RandomizationTest(statistic="A-B", permutations=300, seed=4, max_exact=5),
            ChangePoints(algorithm="binseg", min_segment_length=5, penalty=12.5, seed=8),
            SequentialMonitoring(spending="hsd"),
            InterruptedTimeSeries(post_window="protocol_end", seed=2),
        )
    )
    plan = analysis_plan_of(_row(listed))
    assert plan == AnalysisPlan(
        statistic="A-B",
        spending="hsd",  # not the text's Pocock
        permutations=300,
        seed=4,
        max_exact=5,
        min_segment_length=5,
        change_point_algorithm="binseg",
        change_point_penalty=12.5,
        change_point_seed=8,
        its=(("post_window", "protocol_end"), ("seed", 2)),
    )
    # a list without sequential monitoring keeps the default spending, not the text's
    assert plan_from_analyses(AnalysisList((ChangePoints(),))) == AnalysisPlan()


def test_without_a_list_the_analysis_plan_sets_them() -> None:
    row = _row(None)
    assert analysis_plan_of(row).spending == "pocock"
    protocol = Protocol.from_row(row)
    assert protocol.analyses == DEFAULT_ANALYSIS_LIST
    assert protocol.plan.spending == "pocock"


def test_registered_settings_reach_the_randomization_test() -> None:
    listed = AnalysisList(
        (RandomizationTest(statistic="PB-PA", permutations=400, seed=6, max_exact=10),)
    )
    frame = _observations()
    result = randomization_test_for_protocol(_row(listed), frame)
    direct = abab_randomization_test(
        list(frame["condition"]),
        list(frame["value"]),
        min_phase_length=4,
        statistic="PB-PA",
        permutations=400,
        seed=6,
        max_exact=10,
    )
    assert result.status == "ok" and result.test == direct
    assert not result.test.exact and result.test.n_assignments == 400
    assert result.exploratory is False


def test_registered_effect_size_settings_reach_the_randomization_test() -> None:
    options = EffectSizeOptions(confidence=0.9, nap_se="null", goal=60, tau_bc_pretest=0.05)
    listed = AnalysisList((RandomizationTest(effect_sizes=options),))
    assert listed.to_json() == [
        {
            "analysis": "randomization_test",
            "effectSizes": {"confidence": 0.9, "napSe": "null", "goal": 60.0, "tauBcPretest": 0.05},
        }
    ]
    frame = _observations()
    result = randomization_test_for_protocol(_row(listed), frame)
    direct = abab_effect_sizes(list(frame["phase_label"]), list(frame["value"]), options=options)
    assert result.status == "ok" and result.effect_sizes == direct
    assert result.nap == direct.average.nap and result.nap.confidence == 0.9
    assert result.to_json()["effectSizes"]["average"]["pogo"] is not None


def test_registered_settings_reach_the_change_points() -> None:
    listed = AnalysisList(
        (ChangePoints(algorithm="binseg", min_segment_length=5, penalty=30.0, seed=3),)
    )
    frame = _observations(effect=9.0)
    result = change_points_for_protocol(_row(listed), frame)
    direct = detect_change_points(
        list(frame["value"]),
        [day.date() for day in frame["observation_date"]],
        min_segment_length=5,
        algorithm="binseg",
        penalty=30.0,
        seed=3,
    )
    assert result.status == "ok" and result.result == direct
    assert result.params()["penalty"] == 30.0 and result.params()["minSegmentLength"] == 5


def test_registered_cost_and_named_penalty_reach_the_change_points() -> None:
    listed = parse_analyses(
        [{"analysis": "change_points", "cost": "normal", "penalty": "MBIC", "seed": 3}]
    )
    assert listed.get("change_points") == ChangePoints(cost="normal", penalty="mbic", seed=3)
    assert listed.to_json() == [
        {"analysis": "change_points", "cost": "normal", "penalty": "mbic", "seed": 3}
    ]
    frame = _observations(effect=9.0)
    result = change_points_for_protocol(_row(listed), frame)
    direct = detect_change_points(
        list(frame["value"]),
        [day.date() for day in frame["observation_date"]],
        min_segment_length=result.min_segment_length,
        penalty="mbic",
        seed=3,
        cost="normal",
    )
    assert result.status == "ok" and result.result == direct
    assert result.params()["cost"] == "normal"
    assert result.params()["penaltyMethod"] == "mbic"
    assert result.to_json()["result"]["cost"] == "normal"


def test_registered_spending_reaches_the_sequential_monitoring() -> None:
    listed = AnalysisList(
        (RandomizationTest(statistic="|A-B|"), SequentialMonitoring(spending="pocock"))
    )
    result = sequential_monitoring_for_protocol(_row(listed), _observations())
    assert result.status == "ok"
    assert result.design == group_sequential_design(
        alpha=0.05, spending="pocock", max_n=24, looks=3, sides=2
    )


def test_registered_futility_design_reaches_the_sequential_monitoring() -> None:
    protocol = _abab_with(
        "analyses:\n  - analysis: randomization_test\n    statistic: B-A\n"
        "  - analysis: sequential_monitoring\n    spending: hsd\n    hsdGamma: -3\n"
        "    testType: 4\n    beta: 0.2\n    futilitySpending: kim_demets\n"
        "    futilityRho: 2\n"
    )
    item = protocol.analyses.get(SEQUENTIAL_MONITORING)
    assert (item.test_type, item.beta, item.futility_spending, item.futility_rho) == (
        4,
        0.2,
        "kim_demets",
        2.0,
    )
    # A strong effect: the Welch z passes every efficacy bound; a null series sinks below the
    # futility bound at the first look.
    listed = AnalysisList((RandomizationTest(statistic="B-A"), item))
    futility = {"test_type": 4, "beta": 0.2, "futility_spending": "kim_demets", "futility_rho": 2.0}
    design = group_sequential_design(
        alpha=0.05, spending="hsd", hsd_gamma=-3.0, max_n=24, looks=3, sides=1, **futility
    )
    result = sequential_monitoring_for_protocol(_row(listed), _observations())
    assert result.status == "ok" and result.design == design
    assert result.params()["testType"] == 4
    null = sequential_monitoring_for_protocol(_row(listed), _observations(effect=-6.0))
    assert null.decision.decision == "stop_futility"
    assert null.looks[0].crossed_futility is True
    assert null.to_json()["looks"][0]["futilityBound"] == design.boundaries[0].futility_bound


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ("  - analysis: sequential_monitoring\n    testType: 2\n", "analyses[2].testType"),
        ("  - analysis: sequential_monitoring\n    futilitySpending: hsd\n", "futilitySpending"),
        (
            "  - analysis: sequential_monitoring\n    spending: pocock_classic\n    testType: 3\n",
            "analyses[2].spending",
        ),
        ("  - analysis: sequential_monitoring\n    testType: 7\n", "analyses[2].testType"),
        ("  - analysis: sequential_monitoring\n    rho: 0\n", "analyses[2].rho"),
    ],
)
def test_sequential_design_settings_are_checked_at_registration(items, fragment) -> None:
    with pytest.raises(InputError) as error:
        _abab_with("analyses:\n  - analysis: randomization_test\n    statistic: B-A\n" + items)
    assert fragment in str(error.value)
    absolute = "analyses:\n  - analysis: randomization_test\n    statistic: '|A-B|'\n"
    with pytest.raises(InputError, match=r"analyses\[2\]\.testType: the statistic \|A-B\|"):
        _abab_with(absolute + "  - analysis: sequential_monitoring\n    testType: 4\n")


def test_registered_its_settings_are_the_its_options() -> None:
    listed = AnalysisList(
        (InterruptedTimeSeries(seasonality="day_of_week", pre_period_days=14, ar1=True),)
    )
    options = its_options(_row(listed))
    assert (options.seasonality, options.pre_period_days, options.ar1) == ("day_of_week", 14, True)
    assert its_options(_row(listed), seasonality="none").seasonality == "none"


# ----------------------------------------------------------------------------- exploratory


def test_a_protocol_runs_as_confirmatory_exactly_what_it_registered() -> None:
    listed = AnalysisList((RandomizationTest(), ChangePoints()))
    row = _row(listed)
    assert [name for name in ANALYSIS_NAMES if is_registered(row, name)] == [
        RANDOMIZATION_TEST,
        CHANGE_POINTS,
    ]
    frame = _observations()
    assert randomization_test_for_protocol(row, frame).exploratory is False
    assert change_points_for_protocol(row, frame).exploratory is False
    monitoring = sequential_monitoring_for_protocol(row, frame)
    its = its_for_protocol(row, {"metric_date": [], "value": []})  # skipped: no intervention
    for result in (monitoring, its):
        assert result.exploratory is True
        assert result.to_json()["exploratory"] is True
        assert result.params()["exploratory"] is True
        assert describe(result, row).input_params["exploratory"] is True


def test_without_a_list_the_defaults_are_confirmatory() -> None:
    row = _row(None)
    assert [name for name in ANALYSIS_NAMES if is_registered(row, name)] == list(DEFAULT_ANALYSES)
    result = randomization_test_for_protocol(row, _observations())
    assert result.to_json()["exploratory"] is False
    assert describe(result, row).input_params["exploratory"] is False


def test_a_skipped_result_still_says_whether_it_is_exploratory() -> None:
    row = _row(AnalysisList((ChangePoints(),)))
    skipped = randomization_test_for_protocol(row, {"value": []})  # no observation_date column
    assert skipped.status == "skipped" and skipped.exploratory is True


# ----------------------------------------------------------------------------- the assets


def test_the_asset_specs_name_their_registered_analysis() -> None:
    specs = (RANDOMIZATION_TEST_SPEC, ITS_SPEC, CHANGE_POINTS_SPEC, SEQUENTIAL_MONITORING_SPEC)
    assert [spec.analysis for spec in specs] == list(DEFAULT_ANALYSES)


def test_an_unregistered_analysis_is_not_run_and_says_so(tmp_path) -> None:
    row = _row(AnalysisList((RandomizationTest(),)))
    registered = registration(RANDOMIZATION_TEST, row, {})
    assert registered.runs and not registered.exploratory
    assert registered.data_version("abc") == "abc"
    assert registration(None, row, {}).runs  # not a registrable analysis
    scheduled = registration(ITS, row, {"dagster/schedule_name": "nightly_refresh"})
    assert not scheduled.runs and not scheduled.exploratory
    assert scheduled.data_version("abc") == "abc"
    left_over = tmp_path / "protocol_x.parquet"  # what an exploratory run wrote
    left_over.write_bytes(b"PAR1")
    skipped = scheduled.not_run("abc", left_over, "its_converged")
    assert isinstance(skipped, MaterializeResult)
    assert not left_over.exists()
    metadata = {key: getattr(value, "value", value) for key, value in skipped.metadata.items()}
    assert metadata["registered"] is False and metadata["status"] == "skipped"
    assert metadata["registered_analyses"] == "randomization_test"
    assert EXPLORATORY_TAG in metadata["reason"]
    assert skipped.data_version.value == "abc"  # current for the planner until inputs change
    (check,) = skipped.check_results
    assert check.check_name == "its_converged" and not check.passed
    assert not scheduled.not_run("abc", left_over).check_results
    # asked for by hand: it runs, marks itself exploratory, and is due again afterwards
    by_hand = registration(ITS, row, {EXPLORATORY_TAG: "true"})
    assert by_hand.runs and by_hand.exploratory
    assert by_hand.data_version("abc") != "abc"
    assert not registration(ITS, row, {EXPLORATORY_TAG: "false"}).runs


# ----------------------------------------------------------------------------- the demo


def test_the_demo_protocols_register_an_explicit_list() -> None:
    study = generate_demo_study(users=2, days=63, seed=1)
    rows = study.tables["experiment_protocols"].to_dicts()
    assert len(rows) == 2
    for row in rows:
        listed = registered_analyses(row)
        assert listed == DEMO_ANALYSES and listed.explicit
        assert all(is_registered(row, name) for name in DEFAULT_ANALYSES)
        assert not is_registered(row, SYNTHETIC_CONTROL)
        assert listed.get(WEARABLE_LINKS).predictors


# ----------------------------------------------------------------------------- by hand


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--protocol", "p1", "--analysis", "its"],
            "error: --protocol: no warehouse at ",
        ),
        # every analysis a protocol can register runs by hand, the causal ones too
        (
            ["--protocol", "p1", "--analysis", "wearable_links"],
            "error: --protocol: no warehouse at ",
        ),
        (
            ["--protocol", "p1", "--analysis", "synthetic_control"],
            "error: --protocol: no warehouse at ",
        ),
        (["--protocol", "p1", "--analysis", "granger"], "error: "),
        (["--analysis", "its"], "error: "),
    ],
)
def test_analyze_protocol_refuses_in_one_line(tmp_path, monkeypatch, args, message: str) -> None:
    from typer.testing import CliRunner

    from americano_pipelines.cli.app import app

    monkeypatch.setenv("AMERICANO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    result = CliRunner().invoke(app, ["analyze", "protocol", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
