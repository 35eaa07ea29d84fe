"""Protocol files and their randomized schedules (americano_pipelines.registration.protocol_file).

Checks: every documented example parses and draws; each bad field gives an InputError whose
message starts with that field; schedules are reproducible from their seed, admissible (phase
lengths >= minPhaseLength, total = plannedLength, consecutive days) and drawn from exactly the
admissible set the randomization tests enumerate (hand-countable small cases).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections import Counter
from itertools import groupby, product
from pathlib import Path

import pytest
import yaml

from americano_pipelines.errors import InputError
from americano_pipelines.registration.protocol_file import (
    MAX_CONSECUTIVE_CAP,
    MAX_CRITERIA,
    MAX_FILE_BYTES,
    MAX_INTERIM_LOOKS,
    MAX_PLANNED_LENGTH,
    MAX_SAMPLE_SIZE_TARGET,
    MAX_SEED,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
    TEXT_LIMITS,
    PhaseSchedule,
    ProtocolRegistration,
    draw_schedule,
    load_protocol_file,
    parse_protocol_yaml,
    registration_day,
    validate_protocol,
)
from americano_pipelines.stats.sced import (
    admissible_phase_changes,
    multiple_baseline_start_windows,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-yaml.md"
# The registration day of the files below, whose schedules start on 2025-11-03.
TODAY = dt.date(2025, 11, 1)
validate = functools.partial(validate_protocol, today=TODAY)
parse = functools.partial(parse_protocol_yaml, today=TODAY)

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
    return validate(protocol(**changes))


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
        parsed = parse(text)
        assert parsed.design_type == design
        schedule = draw_schedule(parsed)
        assert sum(lengths(schedule)) >= parsed.planned_length
        json.dumps(schedule.to_json(), allow_nan=False)


def test_abab_file_fields() -> None:
    parsed = parse(documented_examples()["ABAB"])
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
    assert load_protocol_file(path, today=TODAY) == registration()
    with pytest.raises(InputError, match=r"^file: .*does not exist") as raised:
        load_protocol_file(tmp_path / "missing.yaml", today=TODAY)
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
    ({"userId": "user_001"}, "userId", "at most one of userId and userEmail"),
    ({"userEmail": "kevy"}, "userEmail", "email address"),
    ({"sampleSize": 40}, "sampleSize", "unknown field; did you mean sampleSizeTarget?"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"cases": ["a", "b"]}, "cases", "only used with designType MULTIPLE_BASELINE"),
    ({"maxConsecutive": 2}, "maxConsecutive", "only used with designType ALTERNATING"),
    (
        {"designType": "ALTERNATING", "minBPhaseLength": 2},
        "minBPhaseLength",
        "only used with designType ABAB or MULTIPLE_BASELINE",
    ),
    ({"minBPhaseLength": 0}, "minBPhaseLength", "positive integer"),
    (
        {"minBPhaseLength": 16},
        "plannedLength",
        "4 phases of at least minPhaseLength = 5 (B: minBPhaseLength = 16) days need at least 42",
    ),
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
        validate(data)
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
    ({"designType": "ALTERNATING", "randomization": "coin"}, "randomization", "restricted, blocks"),
    (
        {"designType": "ALTERNATING", "randomization": "blocks", "maxConsecutive": 2},
        "maxConsecutive",
        "not with randomization: blocks",
    ),
    (
        {"designType": "ALTERNATING", "randomization": "blocks", "plannedLength": 21},
        "plannedLength",
        "whole blocks",
    ),
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
        validate({**ABAB, **changes})
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert fragment in str(raised.value), str(raised.value)


def test_missing_fields_are_all_listed() -> None:
    with pytest.raises(InputError) as raised:
        validate(protocol(hypothesis=None, analysisPlan=None))
    assert str(raised.value) == (
        "hypothesis: required field is missing (also missing: analysisPlan)"
    )


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "protocolName: x\nhypothesis: [unclosed\ndesignType: ABAB\n"
    with pytest.raises(InputError) as raised:
        parse(text, source="study.yaml")
    message = str(raised.value)
    assert raised.value.field == "yaml"
    assert message.startswith("yaml: study.yaml has a syntax error at line ")
    # PyYAML reports the unclosed flow sequence where it notices it, on line 3 or 4.
    assert int(re.search(r"at line (\d+)", message).group(1)) in (3, 4)


def test_bad_indentation_gives_the_line() -> None:
    text = "protocolName: x\n  hypothesis: y\n"
    with pytest.raises(InputError, match=r"^yaml: protocol has a syntax error at line 2"):
        parse(text)


def test_field_errors_give_the_line_of_the_field() -> None:
    text = yaml.safe_dump(protocol(sampleSizeTarget="ten"), sort_keys=False)
    line = text.splitlines().index("sampleSizeTarget: ten") + 1
    with pytest.raises(InputError) as raised:
        parse(text)
    assert str(raised.value) == (
        f"sampleSizeTarget: must be a positive integer, got 'ten' (line {line})"
    )


def test_unknown_and_nested_fields_give_their_line() -> None:
    text = yaml.safe_dump(protocol(sampleSize=40, sampleSizeTarget=None), sort_keys=False)
    line = text.splitlines().index("sampleSize: 40") + 1
    with pytest.raises(InputError, match=rf"^sampleSize: unknown field.*\(line {line}\)$"):
        parse(text)
    text = yaml.safe_dump(protocol(conditions={"A": {}}), sort_keys=False)
    line = text.splitlines().index("conditions:") + 1
    with pytest.raises(InputError, match=rf"^conditions\.B: missing.*\(line {line}\)$"):
        parse(text)


def test_duplicate_key_is_rejected() -> None:
    text = yaml.safe_dump(ABAB, sort_keys=False) + "seed: 99\n"
    with pytest.raises(InputError, match=r"^seed: given twice \(line \d+\)") as raised:
        parse(text)
    assert raised.value.field == "seed"


@pytest.mark.parametrize("text", ["", "just text", "- a\n- b\n"])
def test_file_must_be_a_mapping(text: str) -> None:
    with pytest.raises(InputError, match=r"^protocol: the file must be a YAML mapping"):
        parse(text)


def test_yaml_dates_and_iso_text_agree() -> None:
    text = yaml.safe_dump(ABAB, sort_keys=False).replace("'2025-11-03'", "2025-11-03")
    assert "startDate: 2025-11-03" in text
    assert parse(text).start_date == registration().start_date


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


def test_abab_b_phases_with_their_own_minimum() -> None:
    # 14 days, A phases at least 4, B phases at least 2: 2 spare days over 4 phases, C(5, 3) = 10
    # schedules, the set abab_randomization_test(min_phase_length=4, min_b_phase_length=2)
    # enumerates (scan's limit = c(4, 2)).
    admissible = {
        parts
        for parts in product(range(1, 15), repeat=4)
        if sum(parts) == 14 and min(parts[0::2]) >= 4 and min(parts[1::2]) >= 2
    }
    assert len(admissible) == 10
    base = registration(plannedLength=14, minPhaseLength=4, minBPhaseLength=2)
    assert base.min_b_phase_length == 2
    drawn = Counter(tuple(lengths(draw_schedule(base, seed))) for seed in range(400))
    assert set(drawn) == admissible
    assert all(15 <= count <= 80 for count in drawn.values()), drawn


def test_multiple_baseline_b_phases_with_their_own_minimum() -> None:
    # 12 days, A at least 5, B at least 3: starts on days 6..10 (0-based 5..9), split over 2 cases.
    base = multiple_baseline(
        plannedLength=12, minPhaseLength=5, minBPhaseLength=3, cases=["a", "b"]
    )
    starts = {
        tuple(p.start_date for p in draw_schedule(base, seed).phases if p.phase_type != "BASELINE")
        for seed in range(60)
    }
    offsets = {tuple((d - dt.date(2025, 11, 3)).days for d in pair) for pair in starts}
    assert {o for pair in offsets for o in pair} == {5, 6, 7, 8, 9}


@pytest.mark.parametrize(
    "design", ["ABAB", "ALTERNATING", "MULTIPLE_BASELINE", "CHANGING_CRITERION"]
)
def test_same_seed_same_schedule_other_seeds_differ(design: str) -> None:
    parsed = parse(documented_examples()[design])
    first = draw_schedule(parsed, 424242)
    assert draw_schedule(parsed, 424242) == first
    assert draw_schedule(parsed, 424242).to_json() == first.to_json()
    others = {json.dumps(draw_schedule(parsed, seed).to_json()) for seed in range(20)}
    # Hundreds of admissible schedules in each example: 20 seeds give many distinct ones.
    assert len(others) >= 10


def test_seed_from_the_file_is_used_and_recorded() -> None:
    parsed = parse(documented_examples()["ABAB"])
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


def test_alternating_blocks_draw_one_a_and_one_b_per_block() -> None:
    # 8 sessions in 4 blocks: each block AB or BA, 2^4 = 16 sequences, drawn uniformly.
    base = alternating(plannedLength=8, randomization="blocks")
    assert base.randomization == "blocks" and base.max_consecutive is None
    drawn = Counter(
        "".join(p.intervention_params["condition"] for p in draw_schedule(base, seed).phases)
        for seed in range(800)
    )
    assert len(drawn) == 16
    assert all(sorted(seq[i : i + 2]) == ["A", "B"] for seq in drawn for i in range(0, 8, 2))
    # Each expected 50 times (binomial SD 6.8); 20..80 lies over 4 SD out.
    assert all(20 <= count <= 80 for count in drawn.values()), drawn
    assert draw_schedule(base, 3) == draw_schedule(base, 3)


def test_alternating_defaults_to_the_restricted_draw() -> None:
    parsed = alternating()
    assert (parsed.randomization, parsed.max_consecutive) == ("restricted", 2)
    assert registration().randomization is None  # ABAB


def test_blocks_leave_the_cap_out_of_the_randomization_test() -> None:
    parsed = alternating(plannedLength=20, randomization="blocks", analyses=["randomization_test"])
    test = parsed.analyses.get("randomization_test")
    assert test.max_consecutive is None
    with pytest.raises(InputError, match="drawn in blocks") as raised:
        alternating(
            plannedLength=20,
            randomization="blocks",
            analyses=[{"analysis": "randomization_test", "maxConsecutive": 2}],
        )
    assert raised.value.field == "analyses[1].maxConsecutive"


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


# ----------------------------------------------------------------------------- hostile files
# Each of these crashed, hung or reached the database before the checks: every one must be an
# InputError with one line naming the field.


def abab_text(**changes) -> str:
    return yaml.safe_dump(protocol(**changes), sort_keys=False)


def with_conditions(block: str, **changes) -> str:
    """The ABAB file with its conditions written as `block` (YAML lines under `conditions:`)."""
    return abab_text(conditions=None, **changes) + "conditions:\n" + block


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def refused(text: str, field: str, fragment: str, *, today: dt.date = TODAY) -> str:
    with pytest.raises(InputError) as raised:
        parse_protocol_yaml(text, today=today)
    message = str(raised.value)
    assert raised.value.field == field, message
    assert message.startswith(f"{field}: "), message
    assert fragment in message, message
    assert "\n" not in message, message
    return message


def test_billion_laughs_is_refused_at_its_first_anchor() -> None:
    # Nine levels of nine aliases: 387,420,489 copies of "lol" once expanded.
    levels = ["    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)
    ]
    text = with_conditions("  A: {}\n  B:\n" + "\n".join(levels) + "\n")
    line = line_of(text, "&l0")
    refused(
        text,
        "conditions.B.l0",
        f"YAML anchors and aliases are not supported (anchor &l0 at line {line})",
    )


@pytest.mark.parametrize(
    ("block", "field", "anchor"),
    [
        ("  A: &a [*a]\n  B: {}\n", "conditions.A", "&a"),
        ("  A: {}\n  B: &b {x: *b}\n", "conditions.B", "&b"),
    ],
)
def test_recursive_alias_is_refused(block: str, field: str, anchor: str) -> None:
    text = with_conditions(block)
    line = line_of(text, anchor)
    refused(text, field, f"anchors and aliases are not supported (anchor {anchor} at line {line})")


def test_alias_of_a_plain_value_is_refused_too() -> None:
    text = abab_text(seed=None) + "seed: *s\n"
    refused(text, "seed", f"(alias *s at line {line_of(text, 'seed: *s')})")


def test_twenty_megabyte_hypothesis_is_refused_by_the_size_cap(tmp_path: Path) -> None:
    text = abab_text(hypothesis="HYPOTHESIS").replace("HYPOTHESIS", "x" * 20_000_000)
    refused(text, "file", f"is larger than {MAX_FILE_BYTES // 1024} KiB")
    path = tmp_path / "big.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"^file: {re.escape(str(path))} is larger than"):
        load_protocol_file(path, today=TODAY)


def test_a_file_of_exactly_the_cap_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    text = abab_text()
    padded = text + "#" * (MAX_FILE_BYTES - len(text.encode()) - 1) + "\n"
    assert len(padded.encode()) == MAX_FILE_BYTES
    path = tmp_path / "p.yaml"
    path.write_text(padded)
    assert load_protocol_file(path, today=TODAY) == registration()
    path.write_text(padded + "\n")
    with pytest.raises(InputError, match=r"^file: .* is larger than 256 KiB"):
        load_protocol_file(path, today=TODAY)


@pytest.mark.parametrize(("field", "limit"), sorted(TEXT_LIMITS.items()))
def test_text_fields_are_capped(field: str, limit: int) -> None:
    def value(n: int) -> str:
        return "a" * (n - len("@example.org")) + "@example.org" if field == "userEmail" else "a" * n

    who = {"userEmail": None} if field == "userId" else {}
    assert getattr(registration(**who, **{field: value(limit)}), _snake(field)) == value(limit)
    with pytest.raises(InputError) as raised:
        validate(protocol(**who, **{field: value(limit + 1)}))
    assert str(raised.value) == (
        f"{field}: must be at most {limit:,} characters, got {limit + 1:,}"
    )


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


@pytest.mark.parametrize("written", ["2026-02-30", "2026-13-01", "0000-01-01"])
def test_impossible_yaml_dates_are_field_errors(written: str) -> None:
    text = abab_text().replace("startDate: '2025-11-03'", f"startDate: {written}")
    assert f"startDate: {written}" in text
    refused(text, "startDate", f"must be a date YYYY-MM-DD, got '{written}' (")


def test_dates_in_parameters_stay_the_text_written() -> None:
    text = with_conditions("  A: {}\n  B: {from: 2026-02-30, until: 2026-03-01}\n")
    parsed = parse(text)
    assert parsed.conditions["B"] == {"from": "2026-02-30", "until": "2026-03-01"}


@pytest.mark.parametrize("written", ["0001-01-01", "1900-01-01", "2025-10-31"])
def test_start_before_the_registration_day_is_refused(written: str) -> None:
    text = abab_text(startDate=written)
    line = line_of(text, "startDate")
    assert refused(text, "startDate", "before today") == (
        f"startDate: {written} is before today (2025-11-01); a pre-registered protocol starts "
        f"on or after the day it is registered (line {line})"
    )
    assert registration(startDate="2025-11-01").start_date == TODAY


def test_start_at_most_five_years_ahead() -> None:
    assert registration(startDate="2030-11-01").end_date == dt.date(2030, 12, 10)
    for written in ("2030-11-02", "9999-12-31"):
        refused(
            abab_text(startDate=written),
            "startDate",
            f"{written} is more than 5 years after today (2025-11-01); the latest start is "
            "2030-11-01",
        )
    leap = validate(protocol(startDate="2029-02-28"), today=dt.date(2024, 2, 29))
    assert leap.start_date == dt.date(2029, 2, 28)


def test_today_is_the_registration_day_in_the_platform_timezone(monkeypatch) -> None:
    # UTC+14 and UTC-11 are 25 hours apart: their dates always differ.
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Pacific/Kiritimati")
    east = registration_day()
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Pacific/Pago_Pago")
    west = registration_day()
    assert 1 <= (east - west).days <= 2
    monkeypatch.delenv("AMERICANO_TIMEZONE")
    before = dt.datetime.now(dt.UTC).date()
    day = registration_day()
    assert day in (before, dt.datetime.now(dt.UTC).date())  # UTC by default
    with pytest.raises(InputError, match=r"^startDate: 2000-01-01 is before today \("):
        validate_protocol(protocol(startDate="2000-01-01"))


def test_unknown_timezone_is_one_line_naming_the_setting(monkeypatch) -> None:
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(InputError) as raised:
        validate_protocol(protocol())
    assert raised.value.field == "AMERICANO_TIMEZONE"
    assert str(raised.value) == (
        "AMERICANO_TIMEZONE: unknown timezone 'Mars/Olympus_Mons'; use an IANA name such as "
        "UTC or Europe/Berlin"
    )


INTEGER_FIELDS = [
    ("sampleSizeTarget", {}, MAX_SAMPLE_SIZE_TARGET),
    ("plannedLength", {}, MAX_PLANNED_LENGTH),
    ("minPhaseLength", {}, MAX_PLANNED_LENGTH),
    ("interimLooks", {}, MAX_INTERIM_LOOKS),
    ("seed", {}, MAX_SEED),
    ("maxConsecutive", {"designType": "ALTERNATING"}, MAX_CONSECUTIVE_CAP),
]


@pytest.mark.parametrize(("field", "changes", "cap"), INTEGER_FIELDS)
@pytest.mark.parametrize("value", [2**31, 2**63, 10**30])
def test_integers_beyond_postgres_integer_are_refused(field, changes, cap, value) -> None:
    text = abab_text(**changes, **{field: value})
    message = refused(text, field, f"must be at most {cap}, got ")
    assert message.endswith(f"(line {line_of(text, field + ':')})")


@pytest.mark.parametrize(("field", "changes", "cap"), INTEGER_FIELDS)
def test_integers_of_thousands_of_digits_are_refused(field, changes, cap) -> None:
    # Python refuses to convert more than 4,300 digits; PyYAML let that ValueError escape.
    text = abab_text(**changes, **{field: 7}).replace(f"{field}: 7", f"{field}: {'9' * 5000}")
    refused(text, field, "cannot read '9999")


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ('hypothesis: "before \\0 after"', "hypothesis", "NUL character (\\0) at character 8"),
        ('hypothesis: "x\\x00"', "hypothesis", "NUL character"),
        ('protocolName: "\\0"', "protocolName", "NUL character"),
        (
            'hypothesis: "before \\ud800 after"',
            "hypothesis",
            "lone surrogate \\ud800 at character 8",
        ),
        ('hypothesis: "\\ud83d\\ude00"', "hypothesis", "lone surrogate \\ud83d"),
        ('analysisPlan: "\\udfff"', "analysisPlan", "lone surrogate \\udfff"),
    ],
)
def test_nul_and_lone_surrogates_in_text_are_refused(line: str, field: str, fragment: str) -> None:
    key = line.split(":")[0]
    text = re.sub(rf"^{key}: .*$", line.replace("\\", "\\\\"), abab_text(), count=1, flags=re.M)
    assert line in text
    refused(text, field, fragment)


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        ('  B: {note: "a\\0b"}', "conditions.B.note", "NUL character"),
        ('  B: {notes: [ok, "\\ud800"]}', "conditions.B.notes[2]", "lone surrogate \\ud800"),
        ('  B: {deep: {er: ["\\0"]}}', "conditions.B.deep.er[1]", "NUL character"),
        ('  B: {"bad\\0key": 1}', "conditions.B", "keys must be printable text"),
        ('  B: {"\\ud800": 1}', "conditions.B", "keys must be printable text"),
    ],
)
def test_nul_and_lone_surrogates_in_parameters_are_refused(block, field, fragment) -> None:
    refused(with_conditions("  A: {}\n" + block + "\n"), field, fragment)


def test_nul_and_surrogates_in_parameters_given_as_data_are_refused() -> None:
    # validate_protocol also serves callers that hand it parsed data (not YAML).
    for params, field in (
        ({"a\x00": 1}, "conditions.B"),
        ({"\ud800": 1}, "conditions.B"),
        ({"a": ["x", {"b": "\ud800"}]}, "conditions.B.a[2].b"),
    ):
        with pytest.raises(InputError) as raised:
            validate(protocol(conditions={"A": {}, "B": params}))
        assert raised.value.field == field, str(raised.value)
        str(raised.value).encode("utf-8")  # the message itself can be printed


def test_literal_nul_byte_in_the_file_names_its_line() -> None:
    text = abab_text().replace("hypothesis: A 20%", "hypothesis: A\x0020%")
    refused(text, "yaml", "character YAML does not allow at line 2, column 14: U+0000")


@pytest.mark.parametrize(
    ("value", "field"),
    [([1, 2**53], "criteria[2]"), ([-(2**60)], "criteria[1]")],
)
def test_criteria_beyond_exact_json_integers_are_refused(value, field) -> None:
    text = abab_text(designType="CHANGING_CRITERION", criteria=value)
    refused(text, field, "integers must lie within ±9,007,199,254,740,991")


def test_parameter_integers_beyond_exact_json_are_refused() -> None:
    text = with_conditions(f"  A: {{}}\n  B: {{dose: {2**64}}}\n")
    refused(text, "conditions.B.dose", "integers must lie within")


def test_more_than_the_cap_of_criteria_is_refused() -> None:
    levels = list(range(1, MAX_CRITERIA + 2))
    text = abab_text(designType="CHANGING_CRITERION", criteria=levels, plannedLength=3000)
    refused(text, "criteria", f"at most {MAX_CRITERIA} criterion levels, got {MAX_CRITERIA + 1}")


@pytest.mark.parametrize("spare", [0, 2])
def test_one_hundred_criteria_draw_admissible_schedules(spare: int) -> None:
    # 101 phases: the unranking table would overflow int64 (from about 97 criteria) and drew
    # phases of 6, 5, 4 ... days where every one must last 3.
    n = (MAX_CRITERIA + 1) * 3 + spare
    parsed = registration(
        designType="CHANGING_CRITERION",
        criteria=list(range(1, MAX_CRITERIA + 1)),
        plannedLength=n,
        minPhaseLength=3,
    )
    for seed in range(5):
        schedule = draw_schedule(parsed, seed)
        assert [p.label for p in schedule.phases] == ["baseline_1"] + [
            f"criterion_{j}" for j in range(1, MAX_CRITERIA + 1)
        ]
        assert min(lengths(schedule)) >= 3
        assert sum(lengths(schedule)) == n
        assert_back_to_back(schedule, parsed.start_date, n)


def test_long_changing_criterion_designs_draw() -> None:
    # 15 criteria over a year: C(300, 15), about 8e24 schedules, too many for int64 ranks.
    parsed = registration(
        designType="CHANGING_CRITERION",
        criteria=list(range(10, 160, 10)),
        plannedLength=365,
        minPhaseLength=5,
    )
    schedules = [draw_schedule(parsed, seed) for seed in range(5)]
    assert len({tuple(lengths(schedule)) for schedule in schedules}) == 5
    for schedule in schedules:
        assert len(schedule.phases) == 16 and min(lengths(schedule)) >= 5
        assert_back_to_back(schedule, parsed.start_date, 365)


def test_yaml_tags_other_than_plain_types_are_refused() -> None:
    for value, tag in (
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!python/object/apply:os.system [true]", "!!python/object/apply:os.system"),
        ("!!timestamp 2026-02-30", "!!timestamp"),
        ("!custom x", "!custom"),
    ):
        text = with_conditions(f"  A: {{}}\n  B: {{p: {value}}}\n")
        refused(text, "conditions.B.p", f"the YAML tag '{tag}' at line 15 is not supported")


def test_deep_nesting_and_too_many_values_are_refused() -> None:
    deep = abab_text(hypothesis="H").replace("hypothesis: H", "hypothesis: " + "[" * 10_000)
    # The file's mapping is the first level, the outermost list the second.
    refused(deep, "hypothesis" + "[1]" * (MAX_YAML_DEPTH - 1), f"nested more than {MAX_YAML_DEPTH}")
    many = abab_text(designType="CHANGING_CRITERION", criteria=[1] * (MAX_YAML_VALUES + 1))
    refused(many, "yaml", f"holds more than {MAX_YAML_VALUES:,} values")
