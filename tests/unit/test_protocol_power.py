"""A protocol file's power (americano_pipelines.protocol_analyses.power, `power:` in the file,
`americano protocol power FILE.yaml`): the registered test's settings reach the simulation, the
command line overrides the file, and bad settings name their field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.power import power_design, protocol_power
from americano_pipelines.registration.power_settings import PowerSettings
from americano_pipelines.registration.protocol_file import validate_protocol
from americano_pipelines.stats.power import PowerDesign, simulated_power

TODAY = dt.date(2025, 11, 1)
ABAB = {
    "protocolName": "Reward probability 15% vs 20%",
    "hypothesis": "A 20% reward probability raises the daily engagement score.",
    "designType": "ABAB",
    "primaryOutcome": "engagement_score",
    "sampleSizeTarget": 24,
    "analysisPlan": "Randomization test of B-A (SCRT); alpha 0.05.",
    "startDate": "2025-11-03",
    "plannedLength": 24,
    "minPhaseLength": 4,
    "seed": 12345,
    "conditions": {"A": {"reward_probability": 0.15}, "B": {"reward_probability": 0.20}},
}


def registration(**changes):
    data = {key: value for key, value in {**ABAB, **changes}.items() if value is not None}
    return validate_protocol(data, today=TODAY)


def test_the_power_mapping_is_parsed_with_defaults():
    assert registration().power is None
    settings = registration(power={"effect": 2.5, "simulations": 300}).power
    assert settings == PowerSettings(effect=2.5, simulations=300)
    assert registration(power={"sd": 2.0}).power.effect_or_default == 2.0


@pytest.mark.parametrize(
    ("power", "field"),
    [
        ({"sd": 0}, "power.sd"),
        ({"sd": "wide"}, "power.sd"),
        ({"autocorrelation": -1}, "power.autocorrelation"),
        ({"simulations": 1}, "power.simulations"),
        ({"simulations": 10**6}, "power.simulations"),
        ({"seed": -1}, "power.seed"),
        ({"effects": 1}, "power.effects"),
        ([1, 2], "power"),
    ],
)
def test_bad_power_settings_name_their_field(power, field):
    with pytest.raises(InputError) as raised:
        registration(power=power)
    assert raised.value.field == field
    assert str(raised.value).startswith(field)


def test_a_changing_criterion_design_has_no_power_to_simulate():
    with pytest.raises(InputError, match="^power: a changing criterion design"):
        registration(designType="CHANGING_CRITERION", criteria=[10, 20], power={"effect": 1})


def test_the_registered_test_settings_reach_the_simulation():
    registered = registration(
        minBPhaseLength=5,
        analyses=[
            {
                "analysis": "randomization_test",
                "statistic": "A-B",
                "permutations": 300,
                "maxExact": 0,
                "seed": 9,
                "excludeEqual": True,
            }
        ],
        alpha=0.1,
    )
    design = power_design(registered)
    assert design == PowerDesign(
        "ABAB",
        24,
        4,
        min_b_phase_length=5,
        statistic="A-B",
        permutations=300,
        max_exact=0,
        test_seed=9,
        alpha=0.1,
        exclude_equal=True,
    )
    body = protocol_power(registered, effect=-1.0, simulations=50, seed=3)
    expected = simulated_power(design, effect=-1.0, simulations=50, seed=3).to_json()
    assert {key: body[key] for key in expected} == expected
    assert body["test"]["maxExact"] == 0 and body["test"]["minBPhaseLength"] == 5
    assert body["minimumDetectableEffect"] < 0  # A-B expects B below A


def test_alternating_and_multiple_baseline_designs():
    blocks = registration(
        designType="ALTERNATING", randomization="blocks", plannedLength=16, minPhaseLength=2
    )
    assert power_design(blocks).randomization == "blocks"
    cases = registration(designType="MULTIPLE_BASELINE", cases=["a", "b", "c"], plannedLength=15)
    assert power_design(cases).n_cases == 3
    body = protocol_power(cases, simulations=40)
    assert body["method"] == "thresholds" and body["test"]["cases"] == 3


def test_the_file_settings_and_the_command_line_override_order():
    registered = registration(power={"effect": 3.0, "sd": 2.0, "simulations": 40, "seed": 5})
    from_file = protocol_power(registered)
    assert (from_file["effect"], from_file["sd"], from_file["simulations"]) == (3.0, 2.0, 40)
    overridden = protocol_power(registered, effect=1.0, simulations=30)
    assert (overridden["effect"], overridden["sd"], overridden["simulations"]) == (1.0, 2.0, 30)
    assert overridden["seed"] == 5


@pytest.fixture
def cli(protocol_cli):
    return protocol_cli


def _file(tmp_path: Path, **changes) -> str:
    start = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    data = {**ABAB, "startDate": start.isoformat(), **changes}
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_protocol_power_prints_one_json_object(cli, tmp_path):
    path = _file(tmp_path, power={"effect": 2.0, "simulations": 100})
    code, out, err = cli("power", path, "--sd", "1.5", "--autocorrelation", "0.2", "--seed", "4")
    assert code == 0, err
    body = json.loads(out)
    assert (body["effect"], body["sd"], body["autocorrelation"], body["seed"]) == (2.0, 1.5, 0.2, 4)
    assert body["simulations"] == 100 and body["nAdmissibleAssignments"] == 165
    assert 0 <= body["power"] <= 1 and body["mcse"] > 0
    code, again, _ = cli("power", path, "--sd", "1.5", "--autocorrelation", "0.2", "--seed", "4")
    assert again == out  # seeded


def test_protocol_power_refuses_bad_input_in_one_line(cli, tmp_path):
    code, out, err = cli("power", _file(tmp_path), "--simulations", "1")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "simulations" in err
    criterion = _file(tmp_path, designType="CHANGING_CRITERION", criteria=[1, 2])
    code, _, err = cli("power", criterion)
    assert code == 2 and "no randomization test is defined" in err
