"""The HTTP API on a real uvicorn over real PostgreSQL and a dbt-built warehouse: the guide's
bodies, the CLI's JSON byte for byte, two users who cannot see each other's data through any
endpoint, and bad input as 422 naming the field."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import httpx
import hypothesis
import pytest
import typer
from typer.testing import CliRunner

from americano_pipelines.cli.analyze import analyze_app
from tests.integration.api_server import PROTOCOLS, START

TINY = {"draws": 30, "tune": 30, "chains": 1}
ANALYTICS = "/api/analytics/research"


def client(api_study: dict, user: str | None = "user_001") -> httpx.Client:
    headers = {} if user is None else {"Authorization": f"Bearer {api_study['tokens'][user]}"}
    return httpx.Client(base_url=api_study["url"], headers=headers, timeout=300)


def cli(*args: str) -> str:
    app = typer.Typer()
    app.add_typer(analyze_app, name="analyze")
    result = CliRunner().invoke(app, ["analyze", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def warehouse_rows(api_study: dict, query: str, params: list) -> list[tuple]:
    with duckdb.connect(api_study["settings"].duckdb_path, read_only=True) as conn:
        return conn.execute(query, params).fetchall()


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return str(path)


def daily_csv(api_study: dict, user: str, tmp_path: Path, start=None, end=None) -> str:
    rows = warehouse_rows(
        api_study,
        "SELECT metric_date, value FROM marts.daily_metrics WHERE user_id = ? AND metric = "
        "'engagement_score' AND value IS NOT NULL AND metric_date BETWEEN ? AND ? "
        "ORDER BY metric_date",
        [user, start or START, end or "2100-01-01"],
    )
    return write_csv(
        tmp_path / f"{user}.csv", ("date", "value"), [(d.isoformat(), v) for d, v in rows]
    )


# ----------------------------------------------------------------------------- auth


def test_health_needs_no_token_and_the_rest_does(api_study: dict) -> None:
    anonymous = client(api_study, None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/openapi.json").status_code == 200
    for method, path in (
        ("POST", f"{ANALYTICS}/sequential-boundaries"),
        ("GET", "/api/research/protocols"),
        ("GET", "/api/research/runs"),
        ("POST", "/api/context-metadata"),
    ):
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    bad = anonymous.get("/api/research/protocols", headers={"Authorization": "Bearer amr_nope"})
    assert bad.status_code == 401


# ----------------------------------------------------------------------------- CLI parity


def test_sequential_boundaries_are_the_clis_json(api_study: dict) -> None:
    body = {
        "alphaLevel": 0.05,
        "spendingFunction": "obrien_fleming",
        "maxN": 100,
        "nInterimAnalyses": 4,
    }
    response = client(api_study).post(f"{ANALYTICS}/sequential-boundaries", json=body)
    assert response.status_code == 200, response.text
    expected = cli(
        "sequential", "--alpha", "0.05", "--spending", "obrien_fleming", "--max-n", "100",
        "--looks", "4",
    )  # fmt: skip
    assert response.text == expected
    assert [b["n"] for b in response.json()["boundaries"]] == [25, 50, 75, 100]


def test_change_points_are_the_clis_json_on_the_users_own_series(
    api_study: dict, tmp_path: Path
) -> None:
    for user in ("user_001", "user_002"):
        body = {
            "userId": user,
            "metric": "engagement_score",
            "startDate": START.isoformat(),
            "endDate": "2025-10-31",
            "minSegmentLength": 7,
        }
        response = client(api_study, user).post(f"{ANALYTICS}/change-points", json=body)
        assert response.status_code == 200, response.text
        path = daily_csv(api_study, user, tmp_path, end="2025-10-31")
        assert response.text == cli("changepoints", "--input", path, "--min-segment-length", "7")


def test_abab_is_the_clis_json_on_the_protocols_observations(
    api_study: dict, tmp_path: Path
) -> None:
    protocol = PROTOCOLS["user_001"]
    rows = warehouse_rows(
        api_study,
        "SELECT condition, value FROM marts.phase_observations WHERE protocol_id = ? "
        "ORDER BY observation_date, observation_index",
        [protocol],
    )
    (min_phase,) = warehouse_rows(
        api_study, "SELECT min_phase_length FROM marts.protocols WHERE protocol_id = ?", [protocol]
    )[0]
    body = {
        "userId": "user_001",
        "protocolId": protocol,
        "metric": "engagement_score",
        "nPermutations": 2000,
    }
    response = client(api_study).post(f"{ANALYTICS}/abab-randomization-test", json=body)
    assert response.status_code == 200, response.text
    path = write_csv(tmp_path / "abab.csv", ("phase", "value"), rows)
    expected = cli(
        "abab", "--input", path, "--min-phase-length", str(min_phase), "--permutations", "2000"
    )
    assert response.text == expected
    answer = response.json()
    for key in ("observedEffect", "pValue", "effectSize", "interpretation",
                "permutationDistribution", "passesSCEDStandards"):  # fmt: skip
        assert key in answer


def test_its_is_the_clis_json_and_its_worker_stays_warm(api_study: dict, tmp_path: Path) -> None:
    body = {
        "userId": "user_001",
        "metric": "engagement_score",
        "interventionDate": "2025-10-06",
        "prePeriodDays": 30,
        "postPeriodDays": 14,
        **TINY,
    }
    with client(api_study) as api:
        first = api.post(f"{ANALYTICS}/bayesian-its", json=body)
        assert first.status_code == 200, first.text
        second = api.post(f"{ANALYTICS}/bayesian-its", json=body)  # the warm worker
        # While the worker samples, the event loop still answers.
        assert api.get("/healthz").status_code == 200
    assert second.text == first.text
    path = daily_csv(api_study, "user_001", tmp_path)
    expected = cli(
        "its", "--input", path, "--intervention-date", "2025-10-06", "--pre-period-days", "30",
        "--post-period-days", "14", "--draws", "30", "--tune", "30", "--chains", "1",
    )  # fmt: skip
    assert first.text == expected
    answer = first.json()
    assert set(answer["causalEffect"]) >= {"mean", "sd", "hdi95", "probability_positive"}
    assert answer["counterfactual"]["dates"][-1] == "2025-10-19"  # the 14th post day


# ----------------------------------------------------------------------------- two users


def test_a_body_naming_another_user_is_403_on_every_endpoint_that_takes_one(
    api_study: dict,
) -> None:
    other = client(api_study, "user_002")
    bodies = {
        "bayesian-its": {
            "userId": "user_001", "metric": "engagement_score", "interventionDate": "2025-10-06",
            "prePeriodDays": 30, "postPeriodDays": 14, **TINY,
        },
        "abab-randomization-test": {
            "userId": "user_001", "protocolId": PROTOCOLS["user_001"],
            "metric": "engagement_score", "nPermutations": 100,
        },
        "change-points": {
            "userId": "user_001", "metric": "engagement_score", "startDate": "2025-09-01",
            "endDate": "2025-10-31", "minSegmentLength": 7,
        },
    }  # fmt: skip
    for name, body in bodies.items():
        response = other.post(f"{ANALYTICS}/{name}", json=body)
        assert response.status_code == 403, (name, response.text)
    context = other.post(
        "/api/context-metadata", json={"userId": "user_001", "mood": "HIGH", "location": "HOME"}
    )
    assert context.status_code == 403


def test_another_users_protocol_is_404_as_one_that_does_not_exist(api_study: dict) -> None:
    other = client(api_study, "user_002")
    theirs, missing = PROTOCOLS["user_001"], "protocol_999"
    for protocol in (theirs, missing):
        abab = other.post(
            f"{ANALYTICS}/abab-randomization-test",
            json={"userId": "user_002", "protocolId": protocol, "metric": "engagement_score",
                  "nPermutations": 100},
        )  # fmt: skip
        assert abab.status_code == 404, abab.text
        assert other.get(f"/api/research/protocols/{protocol}").status_code == 404
        assert other.get(f"/api/research/protocols/{protocol}/report").status_code == 404
        for stored in ("its", "randomization-test"):  # the dashboards' data
            answer = other.get(f"/api/research/protocols/{protocol}/{stored}")
            assert answer.status_code == 404 and "of this user" in answer.text, answer.text
    assert [p["protocolId"] for p in other.get("/api/research/protocols").json()] == [
        PROTOCOLS["user_002"]
    ]
    runs = other.get("/api/research/runs", params={"protocolId": theirs})
    assert runs.status_code == 200 and runs.json() == []
    # Their own protocol, report included, is theirs to see.
    own = other.get(f"/api/research/protocols/{PROTOCOLS['user_002']}")
    assert own.status_code == 200 and own.json()["userId"] == "user_002"
    # Before its analyses have run, its stored results are not there yet, and say so.
    not_yet = other.get(f"/api/research/protocols/{PROTOCOLS['user_002']}/its")
    assert not_yet.status_code == 404 and "no its_effects result yet" in not_yet.text
    report = other.get(f"/api/research/protocols/{PROTOCOLS['user_002']}/report")
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/html")
    assert PROTOCOLS["user_002"] in report.text and PROTOCOLS["user_001"] not in report.text


def test_a_users_series_comes_from_their_own_rows_only(api_study: dict) -> None:
    """The ITS and change points read the caller's days: user_002 asking with their own id gets
    their series, never user_001's (the warehouse has no RLS; the scoped reader is the guard)."""
    bodies = {
        user: {
            "userId": user, "metric": "engagement_score", "startDate": "2025-09-01",
            "endDate": "2025-10-31", "minSegmentLength": 7,
        }
        for user in ("user_001", "user_002")
    }  # fmt: skip
    answers = {
        user: client(api_study, user).post(f"{ANALYTICS}/change-points", json=body).json()
        for user, body in bodies.items()
    }
    assert answers["user_001"] != answers["user_002"]


# ----------------------------------------------------------------------------- research


def protocol_body(**changes: object) -> dict:
    import datetime as dt

    body = {
        "protocolName": "Variable rewards",
        "hypothesis": "Variable rewards raise the engagement score.",
        "designType": "ABAB",
        "primaryOutcome": "engagement_score",
        "sampleSizeTarget": 40,
        "analysisPlan": "ABAB randomization test, B-A.",
        "startDate": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
        "plannedLength": 40,
        "conditions": {"A": {}, "B": {"reward_probability": 0.3}},
        "seed": 11,
    }
    return {**body, **changes}


def test_a_protocol_registers_as_the_cli_registers_it(
    api_study: dict, protocol_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    mine = client(api_study, "user_002")
    created = mine.post("/api/research/protocols", json=protocol_body())
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["userId"] == "user_002" and stored["seed"] == 11
    listed = [p["protocolId"] for p in mine.get("/api/research/protocols").json()]
    assert stored["protocolId"] in listed
    assert (
        client(api_study).get(f"/api/research/protocols/{stored['protocolId']}").status_code == 404
    )
    # The CLI draws the same schedule from the same fields and seed.
    monkeypatch.setenv("AMERICANO_USER_TOKEN", api_study["tokens"]["user_002"])
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol_body()))
    code, out, err = protocol_cli("register", str(path))
    assert code == 0, err
    assert json.loads(out)["phases"] == stored["phases"]
    # The same checks: a bad field is the CLI's message, as a 422 naming the field.
    bad = mine.post("/api/research/protocols", json=protocol_body(sampleSizeTarget=0))
    assert bad.status_code == 422
    (detail,) = bad.json()["detail"]
    assert detail["loc"] == ["body", "sampleSizeTarget"]
    path.write_text(yaml.safe_dump(protocol_body(sampleSizeTarget=0)))
    code, _, err = protocol_cli("register", str(path))
    assert code == 2 and detail["msg"].split(" (line")[0] in err
    other_user = mine.post("/api/research/protocols", json=protocol_body(userId="user_001"))
    assert other_user.status_code == 422 and other_user.json()["detail"][0]["loc"][-1] == "userId"


def test_context_entries_are_saved_for_the_caller(api_study: dict) -> None:
    mine = client(api_study, "user_002")
    saved = mine.post(
        "/api/context-metadata",
        json={"mood": "HIGH", "energy": 7, "location": "LIBRARY", "notes": "after lunch"},
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["userId"] == "user_002" and saved.json()["energy"] == 7
    bad = mine.post("/api/context-metadata", json={"mood": "HIGH", "energy": 11, "location": "X"})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "energy"),
        ("body", "location"),
    }


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_422_naming_the_field_never_500(api_study: dict) -> None:
    api = client(api_study)
    cases = {
        "abab-randomization-test": (
            {"userId": "user_001", "protocolId": PROTOCOLS["user_001"],
             "metric": "engagement_score", "nPermutations": 1_000_001},
            "nPermutations",
        ),
        "sequential-boundaries": (
            {"alphaLevel": 1.5, "spendingFunction": "obrien_fleming", "maxN": 10,
             "nInterimAnalyses": 2},
            "alphaLevel",
        ),
        "change-points": (
            {"userId": "user_001", "metric": "engagement_score", "startDate": "2025-09-01",
             "endDate": "2045-09-01", "minSegmentLength": 7},
            "endDate",
        ),
        "bayesian-its": (
            {"userId": "user_001", "metric": "engagement_score", "interventionDate": "2025-10-06",
             "prePeriodDays": 30, "postPeriodDays": 14, "draws": 10**6},
            "draws",
        ),
    }  # fmt: skip
    for name, (body, field) in cases.items():
        response = api.post(f"{ANALYTICS}/{name}", json=body)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", field], response.text
    # An InputError of the statistics names its field the same way.
    unknown = api.post(
        f"{ANALYTICS}/abab-randomization-test",
        json={"userId": "user_001", "protocolId": PROTOCOLS["user_001"], "metric": "streak",
              "nPermutations": 100},
    )  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "metric"]
    extra = api.post(
        f"{ANALYTICS}/sequential-boundaries",
        json={"alphaLevel": 0.05, "spendingFunction": "pocock", "maxN": 10,
              "nInterimAnalyses": 2, "bogus": 1},
    )  # fmt: skip
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "bogus"]
    huge = api.post(
        "/api/context-metadata",
        content=json.dumps({"mood": "LOW", "location": "HOME", "notes": "x" * 2_000_000}),
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    chunked = api.post(
        "/api/context-metadata",
        content=iter([b'{"mood": "LOW", "notes": "', b"x" * 1_100_000, b'"}']),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    not_json = api.post(
        f"{ANALYTICS}/sequential-boundaries",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 422


# ----------------------------------------------------------------------------- schemathesis


SCHEMA_EXAMPLES = 25
"""Generated requests per operation (positive and negative): bounded, so the test stays short."""


def test_schemathesis_finds_no_500_and_no_schema_violation(api_study: dict) -> None:
    """Every operation of /openapi.json, fuzzed by schemathesis as the token's user: no 500, and
    every answer is one the schema declares, in the declared shape."""
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{api_study['url']}/openapi.json")
    headers = {"Authorization": f"Bearer {api_study['tokens']['user_001']}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=SCHEMA_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def fuzz(case) -> None:
            case.call_and_validate(headers=headers, checks=checks, timeout=120)

        fuzz()
