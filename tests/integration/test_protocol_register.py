"""`americano protocol register FILE.yaml` against a real PostgreSQL: the protocol and its
phase_assignments are written in one transaction, visible to their user only (row-level
security), frozen by the pre-registration triggers, and reproducible from the seed."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import yaml

from americano_pipelines.db.connection import user_session
from americano_pipelines.db.protocols import read_protocol, record_deviation, register_protocol
from americano_pipelines.db.tokens import issue_token
from americano_pipelines.errors import InputError
from americano_pipelines.registration.protocol_file import (
    MAX_CRITERIA,
    PhaseSchedule,
    draw_schedule,
    parse_protocol_yaml,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-yaml.md"
OWNER, OWNER_EMAIL = "pr_owner", "owner@example.org"
OTHER = "pr_other"
# Protocols start after the day they are registered; a month ahead holds in every timezone.
START = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)

ABAB_FILE = {
    "protocolName": "Reward probability 15% vs 20%",
    "hypothesis": "A 20% reward probability raises the daily engagement score.",
    "designType": "ABAB",
    "primaryOutcome": "engagement_score",
    "sampleSizeTarget": 40,
    "analysisPlan": "Randomization test of B-A (SCRT); alpha 0.05.",
    "userEmail": OWNER_EMAIL,
    "startDate": START.isoformat(),
    "plannedLength": 40,
    "minPhaseLength": 5,
    "interimLooks": 2,
    "seed": 12345,
    "conditions": {"A": {"reward_probability": 0.15}, "B": {"reward_probability": 0.20}},
}


@pytest.fixture(scope="module")
def users(migrated_database: str) -> str:
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES (%s, %s), (%s, %s)",
            (OWNER, OWNER_EMAIL, OTHER, "other@example.org"),
        )
    return migrated_database


@pytest.fixture
def owner_token(users: str) -> str:
    with psycopg.connect(users) as conn:
        return issue_token(conn, OWNER, kind="api", name="tests").token


@pytest.fixture
def cli(
    users: str,
    platform_env: Path,
    owner_token: str,
    monkeypatch: pytest.MonkeyPatch,
    protocol_cli,
):
    """Run `americano protocol …` as the real CLI registers it, in the owner's session; return
    (exit code, stdout, stderr)."""
    monkeypatch.setenv("AMERICANO_USER_TOKEN", owner_token)
    return protocol_cli


def write_yaml(tmp_path: Path, data: dict, name: str = "protocol.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def protocol_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM experiment_protocols").fetchone()[0]


def test_register_prints_the_contract_and_writes_rows(cli, users: str, tmp_path: Path) -> None:
    code, out, err = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert code == 0, err
    printed = json.loads(out)
    # CONTRACTS.md §4
    assert {"protocolId", "seed", "phases"} <= set(printed)
    assert printed["seed"] == 12345
    assert [p["label"] for p in printed["phases"]] == [
        "baseline_1",
        "intervention_1",
        "baseline_2",
        "intervention_2",
    ]
    for phase in printed["phases"]:
        assert {"label", "phaseType", "startDate", "endDate"} <= set(phase)
    assert printed["phases"][0]["startDate"] == START.isoformat()
    assert printed["phases"][-1]["endDate"] == (START + dt.timedelta(days=39)).isoformat()
    assert printed["userId"] == OWNER

    # The rows, read directly as the owner (row-level security applies).
    with user_session(OWNER, owner_url=users) as conn:
        protocol = conn.execute(
            "SELECT user_id, protocol_name, design_type::text, sample_size_target, "
            "min_phase_length, planned_length, interim_looks, alpha, randomization_seed, "
            "start_date, end_date FROM experiment_protocols WHERE id = %s",
            (printed["protocolId"],),
        ).fetchone()
        phases = conn.execute(
            "SELECT phase_label, phase_type::text, start_date, end_date, planned_duration, "
            "randomization_seed, intervention_params FROM phase_assignments "
            "WHERE protocol_id = %s ORDER BY start_date",
            (printed["protocolId"],),
        ).fetchall()
    assert protocol == (
        OWNER,
        "Reward probability 15% vs 20%",
        "ABAB",
        40,
        5,
        40,
        2,
        0.05,
        12345,
        START,
        START + dt.timedelta(days=39),
    )
    assert [row[0] for row in phases] == [p["label"] for p in printed["phases"]]
    assert [row[1] for row in phases] == ["BASELINE", "INTERVENTION_A"] * 2
    assert [row[2].isoformat() for row in phases] == [p["startDate"] for p in printed["phases"]]
    assert [row[3].isoformat() for row in phases] == [p["endDate"] for p in printed["phases"]]
    assert sum(row[4] for row in phases) == 40 and min(row[4] for row in phases) >= 5
    assert {row[5] for row in phases} == {12345}
    assert phases[1][6] == {"reward_probability": 0.2, "condition": "B"}
    # What was stored is what the pure schedule draws from that seed.
    expected = draw_schedule(parse_protocol_yaml(yaml.safe_dump(ABAB_FILE)))
    assert printed["phases"] == [p.to_json() for p in expected.phases]


def test_protocol_is_invisible_to_another_user(cli, users: str, tmp_path: Path) -> None:
    code, out, _ = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert code == 0
    protocol_id = json.loads(out)["protocolId"]
    with user_session(OWNER, owner_url=users) as session:
        assert read_protocol(session, protocol_id).protocol_id == protocol_id
    with user_session(OTHER, owner_url=users) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM experiment_protocols WHERE id = %s", (protocol_id,)
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM phase_assignments WHERE protocol_id = %s",
                (protocol_id,),
            ).fetchone()[0]
            == 0
        )
        with pytest.raises(InputError, match=r"^protocolId: no protocol"):
            read_protocol(conn, protocol_id)
    with psycopg.connect(users) as conn:
        # The superuser sees all four phases, so the other user's zero is RLS, not absence.
        assert (
            conn.execute(
                "SELECT count(*) FROM phase_assignments WHERE protocol_id = %s", (protocol_id,)
            ).fetchone()[0]
            == 4
        )


def test_same_seed_registers_the_same_schedule(cli, tmp_path: Path) -> None:
    path = write_yaml(tmp_path, ABAB_FILE)
    first = json.loads(cli("register", str(path))[1])
    second = json.loads(cli("register", str(path))[1])
    assert first["protocolId"] != second["protocolId"]
    assert first["seed"] == second["seed"] == 12345
    assert first["phases"] == second["phases"]
    other = json.loads(cli("register", str(write_yaml(tmp_path, {**ABAB_FILE, "seed": 1})))[1])
    assert other["phases"] != first["phases"]  # 1,771 admissible schedules


def test_without_a_seed_the_drawn_seed_is_recorded(cli, users: str, tmp_path: Path) -> None:
    data = {key: value for key, value in ABAB_FILE.items() if key != "seed"}
    code, out, err = cli("register", str(write_yaml(tmp_path, data)))
    assert code == 0, err
    printed = json.loads(out)
    with user_session(OWNER, owner_url=users) as conn:
        seeds = conn.execute(
            "SELECT p.randomization_seed, a.randomization_seed FROM experiment_protocols p "
            "JOIN phase_assignments a ON a.protocol_id = p.id WHERE p.id = %s",
            (printed["protocolId"],),
        ).fetchall()
    assert {row for row in seeds} == {(printed["seed"], printed["seed"])}
    # Re-drawing with the recorded seed reproduces the stored schedule.
    redrawn = draw_schedule(parse_protocol_yaml(yaml.safe_dump(data)), printed["seed"])
    assert printed["phases"] == [p.to_json() for p in redrawn.phases]


def test_preregistered_fields_cannot_be_edited(cli, users: str, tmp_path: Path) -> None:
    protocol_id = json.loads(cli("register", str(write_yaml(tmp_path, ABAB_FILE)))[1])["protocolId"]
    with user_session(OWNER, owner_url=users) as conn:
        conn.autocommit = True
        for statement in (
            "UPDATE experiment_protocols SET hypothesis = 'changed' WHERE id = %s",
            "UPDATE experiment_protocols SET randomization_seed = 1 WHERE id = %s",
            "UPDATE experiment_protocols SET min_phase_length = 1 WHERE id = %s",
            "UPDATE phase_assignments SET start_date = start_date + 1 WHERE protocol_id = %s",
            "UPDATE phase_assignments SET planned_duration = 1 WHERE protocol_id = %s",
            "UPDATE phase_assignments SET end_date = start_date + 9 WHERE protocol_id = %s",
            "DELETE FROM phase_assignments WHERE protocol_id = %s",
            "DELETE FROM experiment_protocols WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="pre-registered"):
                conn.execute(statement, (protocol_id,))
        # A phase's actual end is a deviation; the schedule keeps its registration.
        stored = record_deviation(
            conn,
            protocol_id,
            timestamp=dt.datetime.now(dt.UTC),
            reason="travel",
            description="baseline ended on day 10",
            phase="baseline_1",
            actual_end_date=START + dt.timedelta(days=9),
        )
    assert stored.hypothesis == ABAB_FILE["hypothesis"]
    assert stored.deviations[0]["actualEndDate"] == (START + dt.timedelta(days=9)).isoformat()
    assert stored.phases[0].end_date != START + dt.timedelta(days=9)


def documented_examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    return [block for block in blocks if "designType:" in block]


@pytest.mark.parametrize("index", range(4))
def test_every_documented_design_registers(cli, tmp_path: Path, index: int) -> None:
    data = yaml.safe_load(documented_examples()[index])
    data.pop("userId", None)
    data["userEmail"] = OWNER_EMAIL
    data["startDate"] = START.isoformat()  # the examples' 2025-11-03 is past
    code, out, err = cli("register", str(write_yaml(tmp_path, data)))
    assert code == 0, err
    printed = json.loads(out)
    # Examples without a seed get a fresh one; the printed seed reproduces the schedule.
    assert printed["seed"] == data.get("seed", printed["seed"])
    expected = draw_schedule(parse_protocol_yaml(yaml.safe_dump(data)), printed["seed"])
    assert printed["designType"] == data["designType"]
    assert printed["phases"] == [p.to_json() for p in expected.phases]


def test_a_file_naming_another_user_exits_2_and_writes_nothing(
    cli, users: str, tmp_path: Path
) -> None:
    """The owner's session registers only the owner's protocols, whoever the file names."""
    before = protocol_count(users)
    path = write_yaml(tmp_path, {**ABAB_FILE, "userEmail": "other@example.org"})
    code, out, err = cli("register", str(path))
    assert (code, out) == (2, "")
    assert err == (
        "error: userEmail: this session acts for user 'pr_owner'; a protocol is registered "
        "only for the session's own user, not 'other@example.org'\n"
    )
    data = {k: v for k, v in ABAB_FILE.items() if k != "userEmail"} | {"userId": OTHER}
    code, _, err = cli("register", str(write_yaml(tmp_path, data)))
    assert code == 2
    assert err.startswith("error: userId: this session acts for user 'pr_owner'")
    assert protocol_count(users) == before


def test_without_a_user_session_register_exits_2(
    cli, users: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = protocol_count(users)
    monkeypatch.delenv("AMERICANO_USER_TOKEN")
    code, out, err = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert (code, out) == (2, "")
    assert err.startswith("error: AMERICANO_USER_TOKEN: not set") and err.count("\n") == 1
    monkeypatch.setenv("AMERICANO_USER_TOKEN", "amr_not_a_token")
    code, _, err = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert code == 2 and err == "error: token: unknown, expired or revoked\n"
    assert protocol_count(users) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("protocolName: x\nhypothesis: [unclosed\n", r"^error: yaml: .* syntax error at line \d"),
        (
            yaml.safe_dump({**ABAB_FILE, "sampleSizeTarget": 0}, sort_keys=False),
            r"^error: sampleSizeTarget: must be a positive integer, got 0 \(line 5\)$",
        ),
        (
            yaml.safe_dump({**ABAB_FILE, "bogus": 1}, sort_keys=False),
            r"^error: bogus: unknown field",
        ),
    ],
)
def test_bad_yaml_exits_2_naming_the_field(cli, tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, out, err = cli("register", str(path))
    assert code == 2
    assert out == ""
    assert re.match(expected, err.rstrip("\n")), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_exits_2(cli, tmp_path: Path) -> None:
    code, _, err = cli("register", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert err.startswith("error: file: ") and "does not exist" in err


def test_write_is_one_transaction(users: str) -> None:
    """A phase that cannot be written (a duplicate label) leaves no protocol behind."""
    registration = parse_protocol_yaml(yaml.safe_dump(ABAB_FILE))
    schedule = draw_schedule(registration)
    broken = PhaseSchedule(
        design_type=schedule.design_type,
        seed=schedule.seed,
        phases=(*schedule.phases, replace(schedule.phases[0])),
    )
    before = protocol_count(users)
    with user_session(OWNER, owner_url=users) as session:
        with pytest.raises(psycopg.errors.UniqueViolation):
            register_protocol(session, registration, broken)
        session.rollback()
        # The session is usable afterwards and still its user's.
        assert session.execute("SELECT americano_current_user_id()").fetchone()[0] == OWNER
    assert protocol_count(users) == before


@pytest.mark.parametrize("autocommit", [False, True])
def test_register_commits_in_either_connection_mode(users: str, autocommit: bool) -> None:
    registration = parse_protocol_yaml(yaml.safe_dump({**ABAB_FILE, "seed": 99}))
    with user_session(OWNER, owner_url=users) as session:
        session.autocommit = autocommit
        stored = register_protocol(session, registration)
    assert stored.user_id == OWNER and stored.seed == 99
    with user_session(OWNER, owner_url=users) as session:
        assert read_protocol(session, stored.protocol_id) == stored


def test_deviation_command_records_an_actual_phase_end(cli, tmp_path: Path) -> None:
    protocol_id = json.loads(cli("register", str(write_yaml(tmp_path, ABAB_FILE)))[1])["protocolId"]
    ended = (START + dt.timedelta(days=8)).isoformat()
    code, out, err = cli(
        "deviation",
        protocol_id,
        "--reason",
        "illness",
        "--description",
        "baseline ended early",
        "--phase",
        "baseline_1",
        "--actual-end-date",
        ended,
    )
    assert code == 0, err
    (entry,) = json.loads(out)["deviations"]
    assert (entry["reason"], entry["phase"], entry["actualEndDate"]) == (
        "illness",
        "baseline_1",
        ended,
    )
    assert "recordedAt" in entry
    code, _, err = cli(
        "deviation", protocol_id, "--reason", "r", "--description", "d", "--phase", "nope"
    )
    assert code == 2 and err.startswith("error: phase: protocol") and err.count("\n") == 1


# ----------------------------------------------------------------------------- hostile files


def abab_text(**changes) -> str:
    data = {**ABAB_FILE, **changes}
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False)


def replaced(text: str, key: str, line: str) -> str:
    """The file with the line of `key` replaced by `line` (YAML written by hand)."""
    new, count = re.subn(rf"^{key}: .*$", line.replace("\\", "\\\\"), text, flags=re.M)
    assert count == 1
    return new


def with_conditions(block: str) -> str:
    return abab_text(conditions=None) + "conditions:\n  A: {}\n" + block + "\n"


BILLION_LAUGHS = with_conditions(
    "  B:\n    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "\n".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10))
)
BEFORE_TODAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)  # in every timezone
CRITERIA = list(range(1, MAX_CRITERIA + 1))

HOSTILE = {
    # name: (file text, field named by the one error line)
    "billion laughs": (BILLION_LAUGHS, "conditions.B.l0"),
    "recursive alias": (with_conditions("  B: &b {x: *b}"), "conditions.B"),
    "20 MB hypothesis": (abab_text(hypothesis="HYPOTHESIS"), "file"),
    "2026-02-30": (replaced(abab_text(), "startDate", "startDate: 2026-02-30"), "startDate"),
    "9999-12-31": (replaced(abab_text(), "startDate", "startDate: 9999-12-31"), "startDate"),
    "year 1": (abab_text(startDate="0001-01-01"), "startDate"),
    "year 1900": (abab_text(startDate="1900-01-01"), "startDate"),
    "two days ago": (abab_text(startDate=BEFORE_TODAY.isoformat()), "startDate"),
    "sampleSizeTarget 2**31": (abab_text(sampleSizeTarget=2**31), "sampleSizeTarget"),
    "interimLooks 2**31": (abab_text(interimLooks=2**31), "interimLooks"),
    "minPhaseLength 2**31": (abab_text(minPhaseLength=2**31), "minPhaseLength"),
    "seed 2**63": (abab_text(seed=2**63), "seed"),
    "integer of 5,000 digits": (
        replaced(abab_text(), "sampleSizeTarget", "sampleSizeTarget: " + "9" * 5000),
        "sampleSizeTarget",
    ),
    "NUL in hypothesis": (
        replaced(abab_text(), "hypothesis", 'hypothesis: "before \\0 after"'),
        "hypothesis",
    ),
    "NUL in a parameter": (with_conditions('  B: {note: "a\\0b"}'), "conditions.B.note"),
    "lone surrogate in hypothesis": (
        replaced(abab_text(), "hypothesis", 'hypothesis: "before \\ud800 after"'),
        "hypothesis",
    ),
    "lone surrogate in a parameter name": (with_conditions('  B: {"\\udc00": 1}'), "conditions.B"),
    "101 criteria": (
        abab_text(
            designType="CHANGING_CRITERION",
            criteria=[*CRITERIA, MAX_CRITERIA + 1],
            plannedLength=306,
            minPhaseLength=3,
        ),
        "criteria",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_exits_2_with_one_line(cli, users: str, tmp_path: Path, name: str) -> None:
    text, field = HOSTILE[name]
    if name == "20 MB hypothesis":  # built here, not on import
        text = text.replace("HYPOTHESIS", "x" * 20_000_000)
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    before = protocol_count(users)
    code, out, err = cli("register", str(path))
    assert code == 2, err
    assert out == ""
    assert err.startswith(f"error: {field}: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert protocol_count(users) == before


def test_past_start_date_is_refused_naming_today(cli, tmp_path: Path) -> None:
    path = write_yaml(tmp_path, {**ABAB_FILE, "startDate": "1900-01-01"})
    code, _, err = cli("register", str(path))
    today = dt.datetime.now(dt.UTC).date()
    assert code == 2
    assert re.fullmatch(
        r"error: startDate: 1900-01-01 is before today \((\d{4}-\d{2}-\d{2})\); a pre-registered "
        r"protocol starts on or after the day it is registered \(line 8\)\n",
        err,
    ), err
    shown = dt.date.fromisoformat(re.search(r"today \(([\d-]+)\)", err).group(1))
    assert abs((shown - today).days) <= 1  # the platform's timezone, UTC by default


def test_unknown_timezone_exits_2_with_one_line(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AMERICANO_TIMEZONE", "Nowhere/Special")
    code, out, err = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert (code, out) == (2, "")
    assert err == (
        "error: AMERICANO_TIMEZONE: unknown timezone 'Nowhere/Special'; use an IANA name such "
        "as UTC or Europe/Berlin\n"
    )


@pytest.mark.parametrize("spare", [0, 5])
def test_one_hundred_criteria_register(cli, tmp_path: Path, spare: int) -> None:
    # About 97 criteria overflowed int64 in the schedule draw and hit a CHECK violation.
    n = (MAX_CRITERIA + 1) * 3 + spare
    data = {
        **ABAB_FILE,
        "designType": "CHANGING_CRITERION",
        "criteria": CRITERIA,
        "plannedLength": n,
        "minPhaseLength": 3,
    }
    code, out, err = cli("register", str(write_yaml(tmp_path, data)))
    assert code == 0, err
    phases = json.loads(out)["phases"]
    assert [p["label"] for p in phases] == ["baseline_1"] + [f"criterion_{j}" for j in CRITERIA]
    assert sum(p["plannedDuration"] for p in phases) == n
    assert min(p["plannedDuration"] for p in phases) >= 3
    assert [p["interventionParams"].get("criterion") for p in phases] == [None, *CRITERIA]


def test_the_installed_command_refuses_a_bomb_in_one_line(users, platform_env: Path) -> None:
    """The real `americano` process, not CliRunner: one stderr line, exit 2, no traceback."""
    path = platform_env / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    americano = Path(sys.executable).with_name("americano")
    done = subprocess.run(
        [str(americano), "protocol", "register", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("error: conditions.B.l0: YAML anchors and aliases are not")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_register_stores_the_simulated_power_as_the_sample_size_justification(
    cli, users: str, tmp_path: Path
) -> None:
    power = {"effect": 5.0, "sd": 8.0, "autocorrelation": 0.2, "simulations": 200, "seed": 3}
    code, out, err = cli("register", str(write_yaml(tmp_path, {**ABAB_FILE, "power": power})))
    assert code == 0, err
    printed = json.loads(out)
    justification = printed["sampleSizeJustification"]
    # What `americano protocol power` prints for the same file.
    code, simulated, err = cli("power", str(write_yaml(tmp_path, {**ABAB_FILE, "power": power})))
    assert code == 0, err
    assert justification == json.loads(simulated)
    assert justification["simulations"] == 200 and justification["method"] == "thresholds"
    with user_session(OWNER, owner_url=users) as conn:
        stored = conn.execute(
            "SELECT sample_size_justification FROM experiment_protocols WHERE id = %s",
            (printed["protocolId"],),
        ).fetchone()[0]
        assert stored == justification
        # Frozen with the rest of the pre-registration (migration 0009).
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="sample_size"):
            conn.execute(
                "UPDATE experiment_protocols SET sample_size_justification = '{}'::jsonb "
                "WHERE id = %s",
                (printed["protocolId"],),
            )


def test_register_without_power_stores_no_justification(cli, tmp_path: Path) -> None:
    code, out, err = cli("register", str(write_yaml(tmp_path, ABAB_FILE)))
    assert code == 0, err
    assert json.loads(out)["sampleSizeJustification"] is None
