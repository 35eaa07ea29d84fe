"""The CENT 2015 report (reports/cent.py) built from a small hand-made warehouse: one ABAB
protocol whose randomization test, change points and sequential monitoring are computed by the
platform's own protocol analyses, with a hand-written ITS row, two weeks of drift, one
quarantined event, one observation outside the schedule, a missing day and a deviation; and
`americano report --protocol ID` over the same warehouse (analysis_runs in PostgreSQL)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from americano_pipelines.cli.app import app
from americano_pipelines.protocol_analyses.change_points import change_points_for_protocol
from americano_pipelines.protocol_analyses.randomization_test import (
    randomization_test_for_protocol,
)
from americano_pipelines.protocol_analyses.sequential_monitoring import (
    sequential_monitoring_for_protocol,
)
from americano_pipelines.registration.analyses import parse_analyses
from americano_pipelines.reports import cent
from americano_pipelines.warehouse import tables

START = dt.date(2026, 1, 5)
PHASE_DAYS = 8
PROTOCOL = "p-cent"
USER = "u1"
MISSING_DAY = 10  # day index without an observation
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

PROTOCOL_ROW = {
    "protocol_id": PROTOCOL,
    "user_id": USER,
    "protocol_name": "Evening reading and focus",
    "hypothesis": "Reading before bed raises next-day focus minutes.",
    "design_type": "ABAB",
    "primary_outcome": "focus_minutes",
    "analysis_plan": "Randomization test of B-A (SCRT); alpha 0.05.",
    "analyses": json.dumps(
        parse_analyses(
            ["randomization_test", "change_points", "sequential_monitoring", "its"]
        ).to_json()
    ),
    "randomization": None,
    "max_consecutive": None,
    "sample_size_target": 32,
    "min_phase_length": 4,
    "min_b_phase_length": None,
    "sample_size_justification": json.dumps(
        {
            "power": 0.83,
            "mcse": 0.012,
            "effect": 5.0,
            "sd": 3.0,
            "autocorrelation": 0.2,
            "simulations": 1000,
            "statistic": "B-A",
            "method": "exact",
            "targetPower": 0.8,
            "minimumDetectableEffect": 4.6,
            "minimumDetectableEffectInterval": [4.3, 4.9],
        }
    ),
    "planned_length": 4 * PHASE_DAYS,
    "interim_looks": 1,
    "alpha": 0.05,
    "randomization_seed": 20260105,
    "registered_at": dt.datetime(2026, 1, 4, 9, 30),
    "start_date": START,
    "end_date": START + dt.timedelta(days=4 * PHASE_DAYS - 1),
    "n_phases": 4,
    "schedule_start_date": START,
    "schedule_end_date": START + dt.timedelta(days=4 * PHASE_DAYS - 1),
    "first_intervention_date": START + dt.timedelta(days=PHASE_DAYS),
    "n_deviations": 1,
    "status": "completed",
}


def _observations() -> list[dict]:
    rng = np.random.default_rng(11)
    rows = []
    labels = ("A1", "B1", "A2", "B2")
    for day in range(4 * PHASE_DAYS):
        if day == MISSING_DAY:
            continue
        label = labels[day // PHASE_DAYS]
        rows.append(
            {
                "protocol_id": PROTOCOL,
                "user_id": USER,
                "case_name": "all",
                "phase_label": label,
                "phase_type": "BASELINE" if label[0] == "A" else "INTERVENTION_A",
                "phase_index": day // PHASE_DAYS,
                "condition": label[0],
                "observation_date": START + dt.timedelta(days=day),
                "metric": "focus_minutes",
                "value": float(round(50 + 6 * (label[0] == "B") + rng.normal(0, 2), 2)),
            }
        )
    # one row dated after the schedule: the quality gate quarantines it
    rows.append({**rows[-1], "observation_date": START + dt.timedelta(days=40)})
    for index, row in enumerate(rows, start=1):
        row["observation_index"] = index
    return rows


def _create(conn, name: str, rows: list[dict]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)  # noqa: F841 - read by DuckDB's replacement scan
    conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")


@pytest.fixture
def warehouse(tmp_path):
    """The warehouse file, the results folder, and the protocol's runs."""
    path = tmp_path / "warehouse.duckdb"
    results = tmp_path / "project" / "data" / "analyses"  # where the settings look
    observations = _observations()
    row = {
        **PROTOCOL_ROW,
        "observed_days": len(observations),
        "last_observation_date": max(r["observation_date"] for r in observations),
    }
    with duckdb.connect(str(path)) as conn:
        for schema in ("marts", "staging", "quarantine"):
            conn.execute(f"CREATE SCHEMA {schema}")
        _create(conn, "marts.protocols", [row])
        _create(conn, "marts.phase_observations", observations)
        _create(
            conn,
            "staging.stg_app__phase_assignments",
            [
                {
                    "protocol_id": PROTOCOL,
                    "phase_label": label,
                    "phase_type": "BASELINE" if label[0] == "A" else "INTERVENTION_A",
                    "start_date": START + dt.timedelta(days=k * PHASE_DAYS),
                    "end_date": START + dt.timedelta(days=(k + 1) * PHASE_DAYS - 1),
                    "planned_duration": PHASE_DAYS,
                    "randomization_seed": 20260105,
                    "intervention_params": json.dumps(
                        {"condition": label[0], "reading_minutes": 0 if label[0] == "A" else 20}
                    ),
                }
                for k, label in enumerate(("A1", "B1", "A2", "B2"))
            ],
        )
        _create(
            conn,
            "staging.stg_app__experiment_protocols",
            [
                {
                    "protocol_id": PROTOCOL,
                    "deviations": json.dumps(
                        [
                            {
                                "timestamp": "2026-01-15T20:00:00+00:00",
                                "reason": "travel",
                                "description": "no reading on the 15th",
                                "phase": "B1",
                            }
                        ]
                    ),
                }
            ],
        )
        _create(
            conn,
            "quarantine.behavioral_events",
            [
                {
                    "id": "e1",
                    "rules": "session_performance_score_in_range",
                    "quarantined_at": dt.datetime(2026, 2, 7),
                    "row": json.dumps({"user_id": USER, "timestamp": "2026-01-12T08:00:00Z"}),
                },
                {
                    "id": "e2",  # another user's: not this protocol's
                    "rules": "session_performance_score_in_range",
                    "quarantined_at": dt.datetime(2026, 2, 7),
                    "row": json.dumps({"user_id": "u2", "timestamp": "2026-01-12T08:00:00Z"}),
                },
            ],
        )
        gated = tables.phase_observations(conn, PROTOCOL)
        protocol = tables.protocol_row(conn, PROTOCOL)
    for table, result in (
        (tables.RANDOMIZATION_TESTS, randomization_test_for_protocol(protocol, gated)),
        (tables.CHANGE_POINTS, change_points_for_protocol(protocol, gated)),
        (tables.SEQUENTIAL_LOOKS, sequential_monitoring_for_protocol(protocol, gated)),
    ):
        tables.write_protocol_results(
            results, table, PROTOCOL, result.to_rows(), data_version="dv-abc123"
        )
    tables.write_protocol_results(
        results, tables.ITS_EFFECTS, PROTOCOL, [_its_row()], data_version="dv-abc123"
    )
    for week, score, drifted in (("2026-W03", 0.41, False), ("2026-W04", 0.01, True)):
        tables.write_week_results(
            results,
            tables.DRIFT_COLUMNS,
            week,
            [
                _drift_row(week, "outcome_focus_minutes", score, drifted),
                _drift_row(week, "mood", 0.001, True),
            ],
            data_version="dv-abc123",
        )
    runs = [
        {
            "id": f"run-{kind}",
            "protocolId": PROTOCOL,
            "runName": f"{PROTOCOL}/{kind}",
            "analysisType": kind,
            "codeCommitHash": "0123abc",
            "dataVersionHash": "dv-abc123",
            "mlflowRunId": f"mlflow-{kind}",
            "startedAt": "2026-02-08T02:00:00+00:00",
            "exploratory": kind == "WEARABLE_LINKS",
        }
        for kind in ("ABAB_RANDOMIZATION", "CHANGE_POINTS", "WEARABLE_LINKS")
    ]
    return path, results, runs


def _its_row() -> dict:
    days = [START + dt.timedelta(days=i) for i in range(2 * PHASE_DAYS)]
    counterfactual = {
        "dates": [d.isoformat() for d in days],
        "predicted": [50.0] * len(days),
        "observed": [50.0 + 6 * (i >= PHASE_DAYS) for i in range(len(days))],
        "lower95": [47.0] * len(days),
        "upper95": [53.0] * len(days),
    }
    row = dict.fromkeys(tables.ITS_EFFECTS.column_names)
    row.update(
        protocol_id=PROTOCOL,
        user_id=USER,
        metric="focus_minutes",
        status="ok",
        intervention_date=START + dt.timedelta(days=PHASE_DAYS),
        effect_mean=6.1,
        effect_sd=1.2,
        effect_hdi95_low=3.8,
        effect_hdi95_high=8.4,
        probability_positive=1.0,
        rhat=1.004,
        ess_bulk=812.0,
        ess_tail=640.0,
        divergences=0,
        converged=True,
        interpretation="The intervention raised focus minutes.",
        result_json=json.dumps({"result": {"counterfactual": counterfactual}}),
    )
    return row


def _drift_row(week: str, column: str, score: float, drifted: bool) -> dict:
    row = dict.fromkeys(tables.DRIFT_COLUMNS.column_names)
    row.update(
        week=week,
        user_id=USER,
        status="ok",
        column_name=column,
        drifted=drifted,
        stat_test="K-S p_value",
        score=score,
        threshold=0.05,
        n_reference=8,
        n_current=7,
    )
    return row


def _inputs(warehouse, **options):
    path, results, runs = warehouse
    with duckdb.connect(str(path), read_only=True) as conn:
        return cent.read_cent_inputs(conn, results, PROTOCOL, runs=options.get("runs", runs))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.items: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag == "tr" and (attributes.get("id") or "").startswith("item-"):
            self.items.append(attributes["id"][len("item-") :])
        for name in ("href", "src"):
            if tag != "img" and attributes.get(name):
                self.links.append(attributes[name])


def test_every_cent_item_has_a_status_and_an_answer(warehouse) -> None:
    report = cent.cent_report(_inputs(warehouse))
    assert [item.number for item in report.items] == [n for n, _, _ in cent.CENT_ITEMS]
    for item in report.items:
        assert item.status in cent.STATUSES and item.answer.strip() and item.source.strip()
    by_number = {item.number: item for item in report.items}
    assert by_number["2b"].answer == f"Pre-registered hypothesis: “{PROTOCOL_ROW['hypothesis']}”."
    assert "seed 20260105" in by_number["3a"].answer
    assert "A1 (BASELINE): planned 2026-01-05–2026-01-12" in by_number["3a"].answer
    assert (
        "B1 (INTERVENTION_A): planned 2026-01-13–2026-01-20, observed 2026-01-13–2026-01-20 "
        "(7 days)" in by_number["3a"].answer
    )  # the missing day
    assert "travel" in by_number["3b"].answer
    assert "power of the registered test (B-A, exact) 0.83" in by_number["7a"].answer
    assert by_number["7a"].status == cent.REPORTED
    assert (
        "randomization_test, change_points, sequential_monitoring, its" in by_number["12a"].answer
    )
    assert "Exploratory runs: WEARABLE_LINKS" in by_number["12a"].answer
    for number in ("11a", "19", "25"):
        assert by_number[number].status == cent.NOT_RECORDED
    assert set(report.missing) == {i.number for i in report.items if i.status != cent.REPORTED}


def test_a_change_point_run_that_found_none_is_told_from_one_that_never_ran(warehouse) -> None:
    path, results, runs = warehouse
    tables.write_protocol_results(results, tables.CHANGE_POINTS, PROTOCOL, [], data_version="x")
    found_none = cent.cent_report(_inputs(warehouse))
    figure = next(f for f in found_none.figures if f.key == "change_points")
    assert figure.png is not None and "none found" in figure.caption
    assert (
        "change points: none found" in next(i for i in found_none.items if i.number == "18").answer
    )
    tables.result_path(results, tables.CHANGE_POINTS, PROTOCOL).unlink()
    never_ran = cent.cent_report(_inputs(warehouse))
    figure = next(f for f in never_ran.figures if f.key == "change_points")
    assert figure.png is None and "has not run" in figure.reason
    assert "change points: not run" in next(i for i in never_ran.items if i.number == "18").answer


def test_the_flow_conserves_the_observations(warehouse) -> None:
    report = cent.cent_report(_inputs(warehouse))
    flow = report.flow
    assert flow.planned == 4 * PHASE_DAYS
    assert flow.observed == 4 * PHASE_DAYS  # 31 scheduled days observed + 1 outside
    assert flow.quarantined == 1 and flow.analysed == 4 * PHASE_DAYS - 1
    assert flow.observed == flow.analysed + flow.quarantined
    assert flow.quarantined_events == 1  # u1's event in the window; u2's is not counted
    assert flow.missing == 1 and "observation_within_protocol_dates: 1" in next(
        i.answer for i in report.items if i.number == "13b"
    )


def test_results_tables_carry_the_registered_numbers(warehouse) -> None:
    inputs = _inputs(warehouse)
    report = cent.cent_report(inputs)
    test = inputs.rows(tables.RANDOMIZATION_TESTS)[0]
    by_key = {table.key: table for table in report.tables}
    (row,) = by_key["test"].rows
    assert row[1] == "B-A" and row[3] == f"{test['p_value']:.4g}"
    assert by_key["effect_sizes"].rows and all(len(r) == 5 for r in by_key["effect_sizes"].rows)
    (its,) = by_key["its"].rows
    assert its[1:5] == ("6.1", "1.2", "3.8", "8.4")
    (wwc,) = by_key["wwc"].rows
    assert wwc[0] == test["rating"]


def test_html_is_self_contained_with_png_images_and_the_runs(warehouse) -> None:
    report = cent.cent_report(_inputs(warehouse))
    html = cent.render_html(report)
    page = _Page()
    page.feed(html)
    assert page.items == [n for n, _, _ in cent.CENT_ITEMS]
    assert len(page.images) == 6  # every figure drawn: series, ITS, permutations, CPs, looks, drift
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png.startswith(PNG_MAGIC)
    assert page.links == []  # nothing to fetch: no stylesheet, script or image by URL
    for kind in ("ABAB_RANDOMIZATION", "CHANGE_POINTS", "WEARABLE_LINKS"):
        assert f"americano runs reproduce run-{kind}" in html
        assert f"mlflow-{kind}" in html
    assert "0123abc" in html and "dv-abc123" in html
    assert not re.search(r"<td[^>]*>\s*</td>", html)  # no blank cell


def test_missing_results_are_named_never_blank(warehouse, tmp_path) -> None:
    path, _, _ = warehouse
    with duckdb.connect(str(path), read_only=True) as conn:
        inputs = cent.read_cent_inputs(
            conn, tmp_path / "no-results", PROTOCOL, runs_note="analysis_runs could not be read"
        )
    report = cent.cent_report(inputs)
    assert [f.png for f in report.figures if f.key != "series"] == [None] * 5
    assert all(f.reason for f in report.figures if f.png is None)
    item = {i.number: i for i in report.items}
    assert item["17a"].status == cent.NOT_AVAILABLE
    assert "has not run" in item["17a"].answer
    assert item["P"].status == cent.NOT_AVAILABLE
    assert "analysis_runs could not be read" in item["P"].answer
    html = cent.render_html(report)
    assert html.count("Not available:") >= 5 + 4  # five figures and four tables say why
    page = _Page()
    page.feed(html)
    for src in page.images:
        base64.b64decode(src.split(",", 1)[1], validate=True)


def test_pdf_says_plainly_when_no_renderer_is_installed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cent.shutil, "which", lambda name: None)
    import builtins

    real_import = builtins.__import__

    def no_weasyprint(name, *args, **kwargs):
        if name == "weasyprint":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>")
    pdf, reason = cent.render_pdf(html, tmp_path / "r.pdf")
    assert pdf is None and "no PDF renderer is installed" in reason
    assert not (tmp_path / "r.pdf").exists()


def test_report_command_writes_the_html_and_says_why_there_is_no_pdf(
    warehouse, platform_env, monkeypatch
) -> None:
    path, _, _ = warehouse
    monkeypatch.setenv("AMERICANO_DUCKDB_PATH", str(path))
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--protocol", PROTOCOL])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"protocolId", "html", "pdf", "pdfReason", "items", "missing"}
    assert out["protocolId"] == PROTOCOL and out["items"] == len(cent.CENT_ITEMS)
    html = (platform_env / "home" / "reports" / PROTOCOL / "cent_report.html").read_text()
    assert out["html"].endswith(f"reports/{PROTOCOL}/cent_report.html")
    page = _Page()
    page.feed(html)
    assert page.items == [n for n, _, _ in cent.CENT_ITEMS] and len(page.images) == 6
    # the test database has no analysis runs: the provenance item says so, from the tables
    assert "P" in out["missing"] and "No analysis run is recorded" in html
    renderer, reason = cent.pdf_renderer()
    if renderer is None:
        assert out["pdf"] is None and out["pdfReason"] == reason
        required = runner.invoke(app, ["report", "--protocol", PROTOCOL, "--pdf"])
        assert required.exit_code == 2
        assert "no PDF renderer is installed" in required.stderr
    else:
        assert out["pdf"] and (Path(out["pdf"]).read_bytes()[:5] == b"%PDF-")


def test_report_command_refuses_an_unknown_protocol(warehouse, platform_env, monkeypatch):
    monkeypatch.setenv("AMERICANO_DUCKDB_PATH", str(warehouse[0]))
    result = CliRunner().invoke(app, ["report", "--protocol", "nope"])
    assert result.exit_code == 2
    assert "protocol: 'nope' is not in marts.protocols" in result.stderr


def _fake_chromium(folder: Path, body: str) -> None:
    """An executable named chromium (none is installed here): the renderer's command line is
    what it sees."""
    script = folder / "chromium"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def test_pdf_goes_through_headless_chromium_when_it_is_on_path(tmp_path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_chromium(
        bin_dir,
        'for a in "$@"; do case "$a" in --print-to-pdf=*) out="${a#--print-to-pdf=}";; '
        'file://*) src="$a";; esac; done\n'
        'case " $* " in *" --headless "*) ;; *) exit 3;; esac\n'
        'printf "%%PDF-1.4 %s" "$src" > "$out"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>")
    assert cent.pdf_renderer() == ("chromium", str(bin_dir / "chromium"))
    pdf, reason = cent.render_pdf(html, tmp_path / "out" / "r.pdf")
    assert reason is None and pdf == tmp_path / "out" / "r.pdf"
    assert pdf.read_text() == f"%PDF-1.4 {html.resolve().as_uri()}"

    _fake_chromium(bin_dir, 'echo "cannot open display" >&2\nexit 1\n')
    pdf, reason = cent.render_pdf(html, tmp_path / "other.pdf")
    assert pdf is None and reason == "Chromium could not print the report: cannot open display"
