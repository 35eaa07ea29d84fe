"""Protocol files and their randomized schedules (americano_pipelines.protocols).

Checks: every documented example parses and draws; each bad field gives an InputError whose
message starts with that field; schedules are reproducible from their seed, admissible (phase
lengths >= minPhaseLength, total = plannedLength, consecutive days) and drawn from exactly the
admissible set the randomization tests enumerate (hand-countable small cases).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from itertools import groupby, product
from pathlib import Path

import pytest
import yaml

from americano_pipelines.errors import InputError
from americano_pipelines.protocols import (
    MAX_SEED,
    PhaseSchedule,
    ProtocolRegistration,
    draw_schedule,
    load_protocol_file,
    parse_protocol_yaml,
    validate_protocol,
)
from americano_pipelines.stats.sced import (
    admissible_phase_changes,
    multiple_baseline_start_windows,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-yaml.md"

ABAB = {
    "protocolName": "Reward probability 15% vs 20%",
    "hypothesis": "A 20% reward probability raises the daily engagement score.",
    "designType": "ABAB",
    "primaryOutcome": "engagement_score",
    "sampleSizeTarget": 40,
    "analysisPlan": "Randomization test of B-A (SCRT); alpha 0.05.",
    "userEmail": "kevy@americano.dev",
    "startDate": "2025-11-03",
    "plannedLength": 40,
    "minPhaseLength": 5,
    "interimLooks": 2,
    "seed": 12345,
    "conditions": {"A": {"reward_probability": 0.15}, "B": {"reward_probability": 0.20}},
}


def protocol(**changes) -> dict:
    """The ABAB example with fields changed (None removes a field)."""
    data = {**ABAB, **changes}
    return {key: value for key, value in data.items() if value is not None}


def registration(**changes) -> ProtocolRegistration:
    return validate_protocol(protocol(**changes))


def documented_examples() -> dict[str, str]:
    """The YAML examples of docs/protocol-yaml.md, by design type."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    examples = {}
    for block in blocks:
        match = re.search(r"^designType: (\w+)$", block, flags=re.M)
        if match:
            examples[match.group(1)] = block
    return examples


def lengths(schedule: PhaseSchedule) -> list[int]:
    return [p.planned_duration for p in schedule.phases]


def assert_back_to_back(schedule: PhaseSchedule, start: dt.date, planned_length: int) -> None:
    """Phases cover the planned days in order, each on consecutive days, no gaps or overlaps."""
    day = start
    for phase in schedule.phases:
        assert phase.start_date == day
        assert (phase.end_date - phase.start_date).days + 1 == phase.planned_duration
        day = phase.end_date + dt.timedelta(days=1)
    assert day == start + dt.timedelta(days=planned_length)


# ----------------------------------------------------------------------------- parsing


def test_documented_examples_cover_every_design_and_draw() -> None:
    examples = documented_examples()
    assert sorted(examples) == ["ABAB", "ALTERNATING", "CHANGING_CRITERION", "MULTIPLE_BASELINE"]
    for design, text in examples.items():
        parsed = parse_protocol_yaml(text)
        assert parsed.design_type == design
        schedule = draw_schedule(parsed)
        assert sum(lengths(schedule)) >= parsed.planned_length
        json.dumps(schedule.to_json(), allow_nan=False)


def test_abab_file_fields() -> None:
    parsed = parse_protocol_yaml(documented_examples()["ABAB"])
    assert parsed.protocol_name == "Reward probability 15% vs 20%"
    assert parsed.sample_size_target == 40
    assert parsed.start_date == dt.date(2025, 11, 3)
    assert parsed.end_date == dt.date(2025, 12, 12)  # 40 days: Nov 3 .. Dec 12
    assert parsed.min_phase_length == 5
    assert parsed.interim_looks == 2
    assert parsed.alpha == 0.05
    assert parsed.seed == 20251103
    assert parsed.user_email == "kevy@americano.dev" and parsed.user_id is None
    assert parsed.conditions == {
        "A": {"reward_probability": 0.15},
        "B": {"reward_probability": 0.20},
    }
    assert parsed.analysis_plan.startswith("Randomization test of B-A (SCRT)")


def test_defaults() -> None:
    parsed = registration(minPhaseLength=None, interimLooks=None, seed=None)
    assert parsed.min_phase_length == 3
    assert parsed.interim_looks == 0
    assert parsed.alpha == 0.05
    assert parsed.seed is None
    alternating = registration(designType="ALTERNATING")
    assert alternating.max_consecutive == 2


def test_design_type_is_case_insensitive() -> None:
    assert registration(designType="multiple_baseline", cases=["a", "b"]).design_type == (
        "MULTIPLE_BASELINE"
    )


def test_load_protocol_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(ABAB))
    assert load_protocol_file(path) == registration()
    with pytest.raises(InputError, match=r"^file: .*does not exist") as raised:
        load_protocol_file(tmp_path / "missing.yaml")
    assert raised.value.field == "file"


BAD_FIELDS = [
    # (changes, field, message fragment)
    ({"sampleSizeTarget": "ten"}, "sampleSizeTarget", "must be a positive integer"),
    ({"sampleSizeTarget": 0}, "sampleSizeTarget", "must be a positive integer"),
    ({"sampleSizeTarget": 12.5}, "sampleSizeTarget", "must be a positive integer"),
    ({"sampleSizeTarget": True}, "sampleSizeTarget", "must be a positive integer"),
    ({"plannedLength": -3}, "plannedLength", "must be a positive integer"),
    ({"plannedLength": 5000}, "plannedLength", "at most 3660"),
    ({"plannedLength": 18}, "plannedLength", "need at least 20 days"),
    ({"minPhaseLength": 0}, "minPhaseLength", "must be a positive integer"),
    ({"interimLooks": -1}, "interimLooks", "at least 0"),
    ({"alpha": 1.5}, "alpha", "strictly between 0 and 1"),
    ({"alpha": "low"}, "alpha", "strictly between 0 and 1"),
    ({"seed": -1}, "seed", "at least 0"),
    ({"seed": 2**31}, "seed", f"at most {MAX_SEED}"),
    ({"seed": "abc"}, "seed", "at least 0"),
    ({"startDate": "03/11/2025"}, "startDate", "YYYY-MM-DD"),
    ({"startDate": "2025-02-30"}, "startDate", "YYYY-MM-DD"),
    ({"startDate": dt.datetime(2025, 11, 3, 9)}, "startDate", "without a time"),
    ({"designType": "AB"}, "designType", "ABAB, MULTIPLE_BASELINE, ALTERNATING"),
    ({"protocolName": ""}, "protocolName", "must be non-empty text"),
    ({"hypothesis": "   "}, "hypothesis", "non-empty text"),
    ({"primaryOutcome": 42}, "primaryOutcome", "non-empty text"),
    ({"analysisPlan": None}, "analysisPlan", "required field is missing"),
    ({"userEmail": None}, "userId", "exactly one of userId and userEmail"),
    ({"userId": "user_001"}, "userId", "exactly one of userId and userEmail"),
    ({"userEmail": "kevy"}, "userEmail", "email address"),
    ({"sampleSize": 40}, "sampleSize", "unknown field; did you mean sampleSizeTarget?"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"cases": ["a", "b"]}, "cases", "only used with designType MULTIPLE_BASELINE"),
    ({"maxConsecutive": 2}, "maxConsecutive", "only used with designType ALTERNATING"),
    ({"criteria": [1, 2]}, "criteria", "only used with designType CHANGING_CRITERION"),
    ({"conditions": "A then B"}, "conditions", "must map each condition"),
    ({"conditions": {"A": {}}}, "conditions.B", "missing"),
    ({"conditions": {"A": {}, "B": {}, "C": {}}}, "conditions.C", "unknown condition"),
    ({"conditions": {"A": {}, "B": [0.2]}}, "conditions.B", "must be a mapping"),
    ({"conditions": {"A": {}, "B": {"condition": "x"}}}, "conditions.B.condition", "reserved"),
    ({"conditions": {"A": {}, "B": {"p": float("nan")}}}, "conditions.B.p", "finite number"),
    ({"conditions": {"A": {}, "B": {"p": b"x"}}}, "conditions.B.p", "must be text, a number"),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), BAD_FIELDS)
def test_bad_field_names_the_field(changes: dict, field: str, fragment: str) -> None:
    data = {**ABAB, **changes}
    with pytest.raises(InputError) as raised:
        validate_protocol(data)
    message = str(raised.value)
    assert raised.value.field == field
    assert message.startswith(f"{field}: "), message
    assert fragment in message, message
    assert "\n" not in message


DESIGN_BAD_FIELDS = [
    ({"designType": "MULTIPLE_BASELINE"}, "cases", "required for MULTIPLE_BASELINE"),
    ({"designType": "MULTIPLE_BASELINE", "cases": ["only"]}, "cases", "at least two names"),
    ({"designType": "MULTIPLE_BASELINE", "cases": "a, b"}, "cases", "at least two names"),
    ({"designType": "MULTIPLE_BASELINE", "cases": ["a", "a"]}, "cases[2]", "listed twice"),
    ({"designType": "MULTIPLE_BASELINE", "cases": ["a", "b c"]}, "cases[2]", "letters, digits"),
    ({"designType": "MULTIPLE_BASELINE", "cases": ["a", True]}, "cases[2]", "letters, digits"),
    # 12 days, minimum 5: starts 5, 6, 7 only, fewer than four cases need.
    (
        {"designType": "MULTIPLE_BASELINE", "cases": list("abcd"), "plannedLength": 12},
        "plannedLength",
        "leave 3 possible intervention starts",
    ),
    ({"designType": "ALTERNATING", "maxConsecutive": 0}, "maxConsecutive", "positive integer"),
    ({"designType": "ALTERNATING", "maxConsecutive": 11}, "maxConsecutive", "at most 10"),
    ({"designType": "ALTERNATING", "plannedLength": 9}, "plannedLength", "at least 10 sessions"),
    ({"designType": "ALTERNATING", "plannedLength": 401}, "plannedLength", "at most 400"),
    ({"designType": "CHANGING_CRITERION"}, "criteria", "required for CHANGING_CRITERION"),
    ({"designType": "CHANGING_CRITERION", "criteria": []}, "criteria", "list of criterion"),
    ({"designType": "CHANGING_CRITERION", "criteria": [10, "x"]}, "criteria[2]", "a number"),
    (
        {"designType": "CHANGING_CRITERION", "criteria": [10, 20, 30, 40, 50, 60, 70, 80]},
        "plannedLength",
        "9 phases of at least minPhaseLength = 5 days need at least 45 days",
    ),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), DESIGN_BAD_FIELDS)
def test_bad_design_field_names_the_field(changes: dict, field: str, fragment: str) -> None:
    with pytest.raises(InputError) as raised:
        validate_protocol({**ABAB, **changes})
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert fragment in str(raised.value), str(raised.value)


def test_missing_fields_are_all_listed() -> None:
    with pytest.raises(InputError) as raised:
        validate_protocol(protocol(hypothesis=None, analysisPlan=None))
    assert str(raised.value) == (
        "hypothesis: required field is missing (also missing: analysisPlan)"
    )


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "protocolName: x\nhypothesis: [unclosed\ndesignType: ABAB\n"
    with pytest.raises(InputError) as raised:
        parse_protocol_yaml(text, source="study.yaml")
    message = str(raised.value)
    assert raised.value.field == "yaml"
    assert message.startswith("yaml: study.yaml has a syntax error at line ")
    # PyYAML reports the unclosed flow sequence where it notices it, on line 3 or 4.
    assert int(re.search(r"at line (\d+)", message).group(1)) in (3, 4)


def test_bad_indentation_gives_the_line() -> None:
    text = "protocolName: x\n  hypothesis: y\n"
    with pytest.raises(InputError, match=r"^yaml: protocol has a syntax error at line 2"):
        parse_protocol_yaml(text)


def test_field_errors_give_the_line_of_the_field() -> None:
    text = yaml.safe_dump(protocol(sampleSizeTarget="ten"), sort_keys=False)
    line = text.splitlines().index("sampleSizeTarget: ten") + 1
    with pytest.raises(InputError) as raised:
        parse_protocol_yaml(text)
    assert str(raised.value) == (
        f"sampleSizeTarget: must be a positive integer, got 'ten' (line {line})"
    )


def test_unknown_and_nested_fields_give_their_line() -> None:
    text = yaml.safe_dump(protocol(sampleSize=40, sampleSizeTarget=None), sort_keys=False)
    line = text.splitlines().index("sampleSize: 40") + 1
    with pytest.raises(InputError, match=rf"^sampleSize: unknown field.*\(line {line}\)$"):
        parse_protocol_yaml(text)
    text = yaml.safe_dump(protocol(conditions={"A": {}}), sort_keys=False)
    line = text.splitlines().index("conditions:") + 1
    with pytest.raises(InputError, match=rf"^conditions\.B: missing.*\(line {line}\)$"):
        parse_protocol_yaml(text)


def test_duplicate_key_is_rejected() -> None:
    text = yaml.safe_dump(ABAB, sort_keys=False) + "seed: 99\n"
    with pytest.raises(InputError, match=r"^seed: given twice \(line \d+\)") as raised:
        parse_protocol_yaml(text)
    assert raised.value.field == "seed"


@pytest.mark.parametrize("text", ["", "just text", "- a\n- b\n"])
def test_file_must_be_a_mapping(text: str) -> None:
    with pytest.raises(InputError, match=r"^protocol: the file must be a YAML mapping"):
        parse_protocol_yaml(text)


def test_yaml_dates_and_iso_text_agree() -> None:
    text = yaml.safe_dump(ABAB, sort_keys=False).replace("'2025-11-03'", "2025-11-03")
    assert "startDate: 2025-11-03" in text
    assert parse_protocol_yaml(text).start_date == registration().start_date


def test_parameters_keep_nested_values_and_dates_become_text() -> None:
    parsed = registration(
        conditions={"A": None, "B": {"prompts": [{"at": dt.date(2025, 1, 2)}], "on": True}}
    )
    assert parsed.conditions == {"A": {}, "B": {"prompts": [{"at": "2025-01-02"}], "on": True}}


# ----------------------------------------------------------------------------- schedules


def test_abab_schedule_rows() -> None:
    parsed = registration()
    schedule = draw_schedule(parsed)
    assert schedule.seed == 12345
    assert [p.label for p in schedule.phases] == [
        "baseline_1",
        "intervention_1",
        "baseline_2",
        "intervention_2",
    ]
    assert [p.phase_type for p in schedule.phases] == [
        "BASELINE",
        "INTERVENTION_A",
        "BASELINE",
        "INTERVENTION_A",
    ]
    assert [p.intervention_params for p in schedule.phases] == [
        {"reward_probability": 0.15, "condition": "A"},
        {"reward_probability": 0.20, "condition": "B"},
        {"reward_probability": 0.15, "condition": "A"},
        {"reward_probability": 0.20, "condition": "B"},
    ]
    assert_back_to_back(schedule, dt.date(2025, 11, 3), 40)
    assert sum(lengths(schedule)) == 40
    assert min(lengths(schedule)) >= 5


def test_abab_with_no_slack_has_one_schedule() -> None:
    # 12 days, minimum 3: the only admissible ABAB schedule is 3 + 3 + 3 + 3.
    schedule = draw_schedule(registration(plannedLength=12, minPhaseLength=3, seed=987))
    assert [(p.start_date.isoformat(), p.end_date.isoformat()) for p in schedule.phases] == [
        ("2025-11-03", "2025-11-05"),
        ("2025-11-06", "2025-11-08"),
        ("2025-11-09", "2025-11-11"),
        ("2025-11-12", "2025-11-14"),
    ]


def test_abab_draws_exactly_the_admissible_set() -> None:
    # 14 days, minimum 3: four phases of 3 plus two spare days, so C(5, 3) = 10 schedules
    # (SCRT `quantity`), listed here by brute force. Over 400 seeds every one appears, and
    # nothing else does; they are the schedules the randomization test enumerates.
    admissible = {parts for parts in product(range(3, 15), repeat=4) if sum(parts) == 14}
    assert len(admissible) == math.comb(5, 3)
    test_set = {
        (b1, a2 - b1, b2 - a2, 14 - b2)
        for b1, a2, b2 in admissible_phase_changes(14, 4, 3).tolist()
    }
    assert test_set == admissible
    base = registration(plannedLength=14, minPhaseLength=3)
    drawn = Counter(tuple(lengths(draw_schedule(base, seed))) for seed in range(400))
    assert set(drawn) == admissible
    # Uniform: each expected 40 times (binomial SD 6); 15..80 lies over 4 SD out.
    assert all(15 <= count <= 80 for count in drawn.values()), drawn


@pytest.mark.parametrize(
    "design", ["ABAB", "ALTERNATING", "MULTIPLE_BASELINE", "CHANGING_CRITERION"]
)
def test_same_seed_same_schedule_other_seeds_differ(design: str) -> None:
    parsed = parse_protocol_yaml(documented_examples()[design])
    first = draw_schedule(parsed, 424242)
    assert draw_schedule(parsed, 424242) == first
    assert draw_schedule(parsed, 424242).to_json() == first.to_json()
    others = {json.dumps(draw_schedule(parsed, seed).to_json()) for seed in range(20)}
    # Hundreds of admissible schedules in each example: 20 seeds give many distinct ones.
    assert len(others) >= 10


def test_seed_from_the_file_is_used_and_recorded() -> None:
    parsed = parse_protocol_yaml(documented_examples()["ABAB"])
    assert draw_schedule(parsed) == draw_schedule(parsed, 20251103)
    assert draw_schedule(parsed).seed == 20251103


def test_without_a_seed_one_is_drawn_and_recorded() -> None:
    parsed = registration(seed=None)
    seeds = set()
    for _ in range(5):
        schedule = draw_schedule(parsed)
        assert 0 <= schedule.seed <= MAX_SEED
        # The recorded seed reproduces the schedule.
        assert draw_schedule(parsed, schedule.seed) == schedule
        seeds.add(schedule.seed)
    assert len(seeds) > 1


def test_schedule_to_json_keys() -> None:
    payload = draw_schedule(registration()).to_json()
    assert {"seed", "phases"} <= set(payload)
    for phase in payload["phases"]:
        assert {"label", "phaseType", "startDate", "endDate"} <= set(phase)
        dt.date.fromisoformat(phase["startDate"])
        dt.date.fromisoformat(phase["endDate"])


def alternating(**changes) -> ProtocolRegistration:
    return registration(**{"designType": "ALTERNATING", "minPhaseLength": 3, **changes})


def test_alternating_one_row_per_session() -> None:
    schedule = draw_schedule(alternating(plannedLength=21, maxConsecutive=2, seed=5))
    assert len(schedule.phases) == 21
    assert_back_to_back(schedule, dt.date(2025, 11, 3), 21)
    sequence = []
    for number, phase in enumerate(schedule.phases, start=1):
        condition = phase.intervention_params["condition"]
        sequence.append(condition)
        assert phase.label == f"session_{number:02d}_{condition}"
        assert phase.phase_type == {"A": "BASELINE", "B": "INTERVENTION_A"}[condition]
        assert phase.planned_duration == 1
        assert phase.intervention_params["session"] == number
        assert phase.intervention_params["reward_probability"] == (
            0.15 if condition == "A" else 0.20
        )
    assert Counter(sequence) == {"A": 11, "B": 10}
    assert max(len(list(run)) for _, run in groupby(sequence)) <= 2


def test_alternating_labels_pad_to_the_session_count() -> None:
    schedule = draw_schedule(alternating(plannedLength=120, seed=1))
    assert schedule.phases[0].label[:12] == "session_001_"
    assert schedule.phases[-1].label[:12] == "session_120_"


def test_alternating_draws_exactly_the_admissible_set() -> None:
    # 6 sessions, 3 A and 3 B, at most 2 in a row. Of the C(6, 3) = 20 orderings, AAA appears
    # as a block in 4 (it can start at session 1, 2, 3 or 4), BBB in 4, both in 2 (AAABBB,
    # BBBAAA): 20 - (4 + 4 - 2) = 14 admissible sequences, the SCRT "ATD" set with limit 2.
    base = alternating(plannedLength=6, minPhaseLength=3, maxConsecutive=2)
    drawn = Counter()
    for seed in range(600):
        schedule = draw_schedule(base, seed)
        drawn["".join(p.intervention_params["condition"] for p in schedule.phases)] += 1
    assert len(drawn) == 14
    assert all(seq.count("A") == 3 and "AAA" not in seq and "BBB" not in seq for seq in drawn)
    # Uniform: each expected 600 / 14 ≈ 43 times (binomial SD 6.3); 15..80 lies over 4 SD out.
    assert all(15 <= count <= 80 for count in drawn.values()), drawn


def test_alternating_cap_of_one_alternates_strictly() -> None:
    base = alternating(plannedLength=8, minPhaseLength=3, maxConsecutive=1)
    sequences = {
        "".join(p.intervention_params["condition"] for p in draw_schedule(base, seed).phases)
        for seed in range(40)
    }
    assert sequences == {"ABABABAB", "BABABABA"}


def multiple_baseline(**changes) -> ProtocolRegistration:
    return registration(designType="MULTIPLE_BASELINE", **changes)


def test_multiple_baseline_rows() -> None:
    cases = ["flashcards", "quizzes", "lectures"]
    parsed = multiple_baseline(cases=cases, plannedLength=30, minPhaseLength=5, seed=3)
    schedule = draw_schedule(parsed)
    by_label = {p.label: p for p in schedule.phases}
    assert sorted(by_label) == sorted(
        [f"baseline_{c}" for c in cases] + [f"intervention_{c}" for c in cases]
    )
    windows = multiple_baseline_start_windows(30, 3, 5)
    first_day = dt.date(2025, 11, 3)
    last_day = first_day + dt.timedelta(days=29)
    starts = []
    for case, window in zip(cases, windows, strict=True):
        baseline, intervention = by_label[f"baseline_{case}"], by_label[f"intervention_{case}"]
        assert baseline.phase_type == "BASELINE" and intervention.phase_type == "INTERVENTION_A"
        assert baseline.intervention_params == {
            "reward_probability": 0.15,
            "condition": "A",
            "case": case,
        }
        assert intervention.intervention_params["case"] == case
        assert baseline.start_date == first_day and intervention.end_date == last_day
        assert intervention.start_date == baseline.end_date + dt.timedelta(days=1)
        assert baseline.planned_duration + intervention.planned_duration == 30
        assert min(baseline.planned_duration, intervention.planned_duration) >= 5
        start = (intervention.start_date - first_day).days
        assert start in window
        starts.append(start)
    assert starts == sorted(starts) and len(set(starts)) == 3


def test_multiple_baseline_hand_checked_windows() -> None:
    # 8 days, minimum 3, two cases: admissible starts are days 3, 4, 5 (0-based), split into
    # windows {3, 4} and {5}: the second case always starts on day 5 (Nov 8).
    base = multiple_baseline(cases=["a", "b"], plannedLength=8, minPhaseLength=3)
    first_starts = set()
    for seed in range(30):
        by_label = {p.label: p for p in draw_schedule(base, seed).phases}
        assert by_label["intervention_b"].start_date == dt.date(2025, 11, 8)
        first_starts.add(by_label["intervention_a"].start_date)
    assert first_starts == {dt.date(2025, 11, 6), dt.date(2025, 11, 7)}


def test_changing_criterion_rows() -> None:
    parsed = registration(
        designType="CHANGING_CRITERION",
        criteria=[20, 30, 40],
        plannedLength=32,
        minPhaseLength=4,
        conditions={"A": {}, "B": {"goal_unit": "cards"}},
    )
    for seed in range(25):
        schedule = draw_schedule(parsed, seed)
        assert [p.label for p in schedule.phases] == [
            "baseline_1",
            "criterion_1",
            "criterion_2",
            "criterion_3",
        ]
        assert [p.phase_type for p in schedule.phases] == ["BASELINE"] + ["INTERVENTION_A"] * 3
        assert [p.intervention_params.get("criterion") for p in schedule.phases] == [
            None,
            20,
            30,
            40,
        ]
        assert schedule.phases[1].intervention_params == {
            "goal_unit": "cards",
            "condition": "B",
            "criterion": 20,
        }
        assert_back_to_back(schedule, dt.date(2025, 11, 3), 32)
        assert min(lengths(schedule)) >= 4


def test_changing_criterion_with_no_slack() -> None:
    parsed = registration(
        designType="CHANGING_CRITERION", criteria=[1, 2], plannedLength=9, minPhaseLength=3
    )
    assert lengths(draw_schedule(parsed, 11)) == [3, 3, 3]


@pytest.mark.parametrize(
    ("changes", "planned_length", "minimum"),
    [
        ({}, 23, 5),
        ({}, 60, 3),
        ({"designType": "CHANGING_CRITERION", "criteria": [5, 10, 15, 20]}, 47, 6),
        ({"designType": "CHANGING_CRITERION", "criteria": [5]}, 11, 2),
    ],
)
def test_phase_designs_are_always_admissible(changes, planned_length: int, minimum: int) -> None:
    parsed = registration(plannedLength=planned_length, minPhaseLength=minimum, **changes)
    for seed in range(0, 10_000, 97):
        schedule = draw_schedule(parsed, seed)
        assert sum(lengths(schedule)) == planned_length
        assert min(lengths(schedule)) >= minimum
        assert_back_to_back(schedule, parsed.start_date, planned_length)


def test_bad_seed_argument_names_seed() -> None:
    with pytest.raises(InputError, match=r"^seed: "):
        draw_schedule(registration(), -5)
