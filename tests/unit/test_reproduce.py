"""The pieces of `americano runs reproduce` that need no data version: the comparison of two
results summaries and the run config read back from recorded parameters."""

from __future__ import annotations

import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.run_types import analysis_of_run_type
from americano_pipelines.provenance.reproduce import compare_headlines, run_config_from_params


def test_equal_summaries_match_leaf_by_leaf() -> None:
    summary = {"status": "ok", "pValue": 0.04, "ci": [1.0, 2.5], "converged": True, "x": None}
    comparisons = compare_headlines(summary, dict(summary))
    assert [c.name for c in comparisons] == ["status", "pValue", "ci.0", "ci.1", "converged", "x"]
    assert all(c.match for c in comparisons)


def test_a_changed_number_a_flipped_flag_and_a_missing_value_do_not_match() -> None:
    recorded = {"pValue": 0.04, "significant": True, "n": 3, "effect": 1.5}
    recomputed = {"pValue": 0.04 * (1 + 1e-12), "significant": 1, "n": 3, "extra": 2}
    by_name = {c.name: c for c in compare_headlines(recorded, recomputed)}
    assert by_name["pValue"].match  # the same number, up to the last bits
    assert not by_name["significant"].match  # True is not 1 here
    assert by_name["n"].match
    assert not by_name["effect"].match and by_name["effect"].recomputed is None
    assert not by_name["extra"].match and by_name["extra"].recorded is None
    assert not compare_headlines({"p": 0.04}, {"p": 0.0400001})[0].match


def test_the_run_config_comes_back_from_the_recorded_parameters() -> None:
    params = {"draws": 20, "tune": 20, "chains": 2, "seed": 0, "prePeriodDays": None, "x": 1}
    fields = ("draws", "tune", "chains", "seed", "pre_period_days", "sampler")
    assert run_config_from_params(fields, params) == {
        "draws": 20,
        "tune": 20,
        "chains": 2,
        "seed": 0,
    }


@pytest.mark.parametrize(
    ("analysis_type", "analysis"),
    [
        ("abab_randomization", "randomization_test"),
        ("alternating_treatments_randomization", "randomization_test"),
        ("bayesian_its", "its"),
        ("change_points", "change_points"),
        ("sequential_monitoring", "sequential_monitoring"),
        ("synthetic_control", "synthetic_control"),
        ("wearable_links", "wearable_links"),
        ("series_of_n1", "series_of_n1"),
    ],
)
def test_every_per_protocol_run_type_names_its_analysis(analysis_type: str, analysis: str) -> None:
    assert analysis_of_run_type(analysis_type) == analysis


def test_a_run_type_of_no_per_protocol_analysis_is_refused() -> None:
    with pytest.raises(InputError, match="^RUN_ID: a run of type 'granger'"):
        analysis_of_run_type("granger")
