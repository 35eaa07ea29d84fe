"""WWC single-case design standards (americano_pipelines.stats.sced_standards).

Thresholds from Kratochwill et al. (2010), WWC Single-Case Designs Technical Documentation v1.0
(pilot), e.g. "To Meet Standards a reversal/withdrawal (e.g., ABAB) design must have a minimum of
four phases per case with at least 5 data points per phase" (3 points: with reservations), "at
least three attempts to demonstrate an intervention effect at three different points in time"
(AB, ABA and BAB designs do not meet it); and the WWC Standards Handbook 4.1 (alternating
treatments: 5 / 4 points per condition, at most two consecutive sessions of one condition;
changing criterion: three criterion changes).
"""

from __future__ import annotations

import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.stats.sced_standards import (
    StandardsRating,
    alternating_treatments_standards,
    changing_criterion_standards,
    multiple_baseline_standards,
    reversal_design_standards,
    sced_standards,
)


@pytest.mark.parametrize(
    ("lengths", "rating"),
    [
        ([5, 5, 5, 5], "meets"),
        ([7, 5, 6, 9, 5, 5], "meets"),  # ABABAB
        ([4, 5, 5, 5], "meets_with_reservations"),
        ([3, 3, 3, 3], "meets_with_reservations"),
        ([2, 5, 5, 5], "does_not_meet"),
        ([5, 5, 5], "does_not_meet"),  # ABA: two attempts only
        ([10, 10], "does_not_meet"),  # AB
    ],
)
def test_reversal_thresholds(lengths: list[int], rating: str) -> None:
    result = reversal_design_standards(lengths)
    assert result.rating == rating
    assert result.passes is (rating != "does_not_meet")
    assert result.reasons  # always explained


def test_reversal_reasons_name_what_fails() -> None:
    reservations = reversal_design_standards([5, 4, 5, 5])
    assert reservations.reasons == (
        "phase B1 has 4 data points; 5 per phase are needed to meet standards without reservations",
    )
    failing = reversal_design_standards([5, 2, 5, 1])
    assert len(failing.reasons) == 2
    assert "phase B1 has 2 data points" in failing.reasons[0]
    assert "phase B2 has 1 data point;" in failing.reasons[1]
    ab = reversal_design_standards([10, 10])
    assert "only 2 phases (AB)" in ab.reasons[0] and "at least 4 phases" in ab.reasons[0]


def test_reversal_labels_must_alternate() -> None:
    result = reversal_design_standards([5, 5, 5, 5], ["A1", "A2", "B1", "B2"])
    assert result.rating == "does_not_meet"
    assert "do not alternate" in result.reasons[0]
    with pytest.raises(InputError) as caught:
        reversal_design_standards([5, 5, 5, 5], ["A", "B"])
    assert caught.value.field == "phase"


@pytest.mark.parametrize(
    ("cases", "rating"),
    [
        ({"x": [5, 5], "y": [6, 8], "z": [9, 5]}, "meets"),
        ({"x": [5, 5], "y": [6, 8], "z": [9, 5], "w": [12, 3]}, "meets_with_reservations"),
        ({"x": [5, 5], "y": [6, 8], "z": [9, 2]}, "does_not_meet"),
        ({"x": [5, 5], "y": [6, 8]}, "does_not_meet"),  # two tiers: four phases
    ],
)
def test_multiple_baseline_thresholds(cases: dict[str, list[int]], rating: str) -> None:
    assert multiple_baseline_standards(cases).rating == rating
    assert multiple_baseline_standards(list(cases.values())).rating == rating


def test_multiple_baseline_needs_staggered_starts() -> None:
    cases = {"x": [5, 10], "y": [7, 8], "z": [9, 6]}
    assert multiple_baseline_standards(cases, intervention_starts=[5, 7, 9]).rating == "meets"
    same = multiple_baseline_standards(cases, intervention_starts=[5, 5, 9])
    assert same.rating == "does_not_meet"
    assert "2 distinct times" in same.reasons[0]
    three_phases = multiple_baseline_standards({"x": [5, 5, 5], "y": [5, 5], "z": [5, 5]})
    assert three_phases.rating == "does_not_meet"
    assert "case x has 3 phases" in three_phases.reasons[0]


@pytest.mark.parametrize(
    ("conditions", "rating"),
    [
        ("ABABABABAB", "meets"),  # 5 each
        ("ABBAABBAABAB", "meets"),  # 6 each, runs of 2
        ("ABABABAB", "meets_with_reservations"),  # 4 each
        ("ABABAB", "does_not_meet"),  # 3 each
        ("AAABABABABBB", "does_not_meet"),  # runs of 3
        ("AAAAA", "does_not_meet"),  # one condition
        ("ABCABCABCABCABC", "meets"),  # three conditions, 5 each
    ],
)
def test_alternating_treatments_thresholds(conditions: str, rating: str) -> None:
    assert alternating_treatments_standards(list(conditions)).rating == rating


def test_alternating_reasons_name_the_condition() -> None:
    result = alternating_treatments_standards(list("AAABABABABBB"))
    assert result.reasons == (
        "condition A runs 3 sessions in a row; at most 2 consecutive sessions of one condition "
        "are allowed",
        "condition B runs 3 sessions in a row; at most 2 consecutive sessions of one condition "
        "are allowed",
    )
    short = alternating_treatments_standards(list("ABABABABA"))  # A: 5, B: 4
    assert short.rating == "meets_with_reservations"
    assert short.reasons == (
        "condition B has 4 data points; 5 per condition are needed to meet standards without "
        "reservations",
    )


@pytest.mark.parametrize(
    ("lengths", "rating"),
    [
        ([5, 5, 5, 5], "meets"),
        ([6, 5, 5, 5, 7], "meets"),
        ([5, 3, 5, 5], "meets_with_reservations"),
        ([5, 2, 5, 5], "does_not_meet"),
        ([5, 5, 5], "does_not_meet"),  # two criterion changes
    ],
)
def test_changing_criterion_thresholds(lengths: list[int], rating: str) -> None:
    assert changing_criterion_standards(lengths).rating == rating


def test_dispatcher_and_json() -> None:
    assert sced_standards("ABAB", [5, 5, 5, 5]).rating == "meets"
    assert sced_standards("withdrawal", [5, 5, 5, 5]).rating == "meets"
    assert sced_standards("AB", [9, 9]).rating == "does_not_meet"
    assert sced_standards("multiple-baseline", [[5, 5], [5, 5], [5, 5]]).rating == "meets"
    assert sced_standards("alternating treatments", conditions=list("ABABABAB")).rating == (
        "meets_with_reservations"
    )
    assert sced_standards("changing_criterion", [3, 3, 3, 3]).rating == "meets_with_reservations"
    rating = sced_standards("abab", [5, 5, 5, 5])
    assert rating.to_json() == {"rating": "meets", "reasons": list(rating.reasons)}
    assert isinstance(rating, StandardsRating)


def test_dispatcher_bad_input_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        sced_standards("crossover", [5, 5])
    assert caught.value.field == "design"
    with pytest.raises(InputError) as caught:
        sced_standards("alternating_treatments", [5, 5])
    assert caught.value.field == "condition"
    with pytest.raises(InputError) as caught:
        sced_standards("abab")
    assert caught.value.field == "phase"
    with pytest.raises(InputError) as caught:
        sced_standards("abab", [5, -1, 5, 5])
    assert caught.value.field == "phase"
