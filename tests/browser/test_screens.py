"""The screens in a real browser: Playwright (Python) driving Debian's chromium
(`executable_path`, never a downloaded browser) against the API on a real uvicorn over real
PostgreSQL and a dbt-built warehouse (`api_study`, shared with tests/integration/test_api.py).

The two demo protocols get their randomization test and a tiny-sampler ITS written to the result
tables by the functions the analysis assets call (`protocol_analyses`), so the dashboards show
what a nightly run would have stored. Every number on a screen is checked against the API's
JSON for the same user; the second user sees none of the first's.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest

from tests.integration.api_server import PROTOCOLS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no chromium at {CHROMIUM}: apt-get install chromium (CI installs it)",
    ),
    # The screens read what the API reads; the API's tests against each PostgreSQL cover that.
    pytest.mark.once,
]
TINY = {"draws": 20, "tune": 20, "chains": 2}  # two chains: an R-hat
TIMEOUT_MS = 30_000


def write_protocol_results(settings) -> None:
    """Each demo protocol's randomization test and ITS, computed and written as the analysis
    assets do (`analyses.sced_randomization_test`, `analyses.its_effects`)."""
    from americano_pipelines.protocol_analyses.its import its_for_protocol
    from americano_pipelines.protocol_analyses.randomization_test import (
        randomization_test_for_protocol,
    )
    from americano_pipelines.warehouse import tables

    with duckdb.connect(settings.duckdb_path, read_only=True) as conn:
        inputs = {}
        for protocol_id in PROTOCOLS.values():
            row = tables.protocol_row(conn, protocol_id)
            series = tables.daily_metric_series(conn, row["user_id"], row["primary_outcome"])
            inputs[protocol_id] = (row, series, tables.phase_observations(conn, protocol_id))
    for protocol_id, (row, series, observations) in inputs.items():
        test = randomization_test_for_protocol(row, observations)
        its = its_for_protocol(row, series, overrides=TINY)
        assert test.status == "ok" and its.status == "ok", (test.reason, its.reason)
        for table, result in ((tables.RANDOMIZATION_TESTS, test), (tables.ITS_EFFECTS, its)):
            tables.write_protocol_results(
                settings.results_dir, table, protocol_id, result.to_rows(), data_version="test"
            )


@pytest.fixture(scope="module")
def study(api_study: dict) -> dict:
    write_protocol_results(api_study["settings"])
    return api_study


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, study: dict) -> Iterator:
    context = browser.new_context(base_url=study["url"], viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def api(study: dict, user: str, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {study['tokens'][user]}"}
    return httpx.get(f"{study['url']}{path}", headers=headers, timeout=60)


def sign_in(page, study: dict, user: str) -> None:
    page.goto("/")
    page.get_by_label("API token").fill(study["tokens"][user])
    page.keyboard.press("Enter")
    page.wait_for_selector("#protocols:not([hidden])")
    wait_ready(page)


def wait_ready(page) -> None:
    page.wait_for_function("document.body.dataset.ready !== undefined")
    assert page.evaluate("document.body.dataset.ready") == "true"


def open_screen(page, path: str) -> None:
    page.goto(path)
    wait_ready(page)


def number(page, selector: str) -> float:
    return float(page.get_attribute(selector, "data-value"))


# ----------------------------------------------------------------------------- sign-in


def test_sign_in_keeps_the_token_in_the_session_and_lists_own_protocols(page, study: dict) -> None:
    page.goto("/")
    page.get_by_label("API token").fill("amr_not_a_token")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#token-error:not(:empty)")
    assert "unknown, expired or revoked" in page.inner_text("#token-error")
    assert page.get_attribute("#token", "aria-invalid") == "true"

    sign_in(page, study, "user_001")
    stored = page.evaluate("sessionStorage.getItem('americano.token')")
    assert stored == study["tokens"]["user_001"]
    listed = page.eval_on_selector_all(
        "#protocol-list tbody tr", "rows => rows.map(r => r.dataset.protocolId)"
    )
    expected = [p["protocolId"] for p in api(study, "user_001", "/api/research/protocols").json()]
    assert listed == expected and PROTOCOLS["user_001"] in listed
    assert PROTOCOLS["user_002"] not in listed
    # A screen opened without a token goes to the sign-in, and back after it.
    page.evaluate("sessionStorage.clear()")
    page.goto("/context")
    page.wait_for_url(re.compile(r"/\?next=%2Fcontext$"))
    page.get_by_label("API token").fill(study["tokens"]["user_001"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/context$"))


# ----------------------------------------------------------------------------- protocol form


def fill_protocol(page, planned_length: str) -> None:
    page.get_by_label("Experiment name").fill("Browser-registered reward protocol")
    page.get_by_label("Hypothesis").fill("A 20% reward probability raises engagement.")
    page.get_by_label("Design type").select_option("ABAB")
    page.get_by_label("Primary outcome").fill("engagement_score")
    page.get_by_label("Sample size target (observations)").fill("40")
    page.get_by_label("Analysis plan").fill("Randomization test of B-A at alpha 0.05.")
    page.get_by_label("Planned length (days)").fill(planned_length)
    page.get_by_label("Shortest phase (days)").fill("5")
    page.get_by_label("Randomization seed").fill("20251103")
    page.get_by_label("B (intervention) parameters").fill("reward_probability = 0.3")


def test_protocol_form_shows_the_registration_checks_then_the_drawn_schedule(
    page, study: dict
) -> None:
    from americano_pipelines.errors import InputError
    from americano_pipelines.registration.protocol_file import validate_protocol

    sign_in(page, study, "user_001")
    open_screen(page, "/protocols/new")
    fill_protocol(page, planned_length="12")  # ABAB needs 4 x 5 days
    page.get_by_role("button", name="Register protocol").click()
    page.wait_for_selector("#error-summary:not([hidden])")
    shown = page.inner_text("[data-field=plannedLength] .error")
    body = page.evaluate("protocolBody(document.getElementById('protocol-form'))")
    with pytest.raises(InputError) as refused:
        validate_protocol(body)
    assert refused.value.field == "plannedLength"
    assert shown == " ".join(str(refused.value).split())
    assert page.get_attribute("#plannedLength", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "error-summary"

    page.get_by_label("Planned length (days)").fill("40")
    page.get_by_role("button", name="Register protocol").click()
    page.wait_for_selector("#schedule:not([hidden])")
    protocol_id = page.get_attribute("#schedule", "data-protocol-id")
    shown_rows = page.eval_on_selector_all(
        "#schedule-table tbody tr",
        "rows => rows.map(r => [...r.cells].slice(0, 5).map(c => c.textContent))",
    )
    with psycopg.connect(study["database"]) as owner:
        stored = owner.execute(
            "SELECT phase_label, phase_type::text, start_date, end_date, planned_duration, "
            "randomization_seed FROM phase_assignments WHERE protocol_id = %s "
            "ORDER BY start_date",
            (protocol_id,),
        ).fetchall()
        (user,) = owner.execute(
            "SELECT user_id FROM experiment_protocols WHERE id = %s", (protocol_id,)
        ).fetchone()
    assert user == "user_001"
    assert shown_rows == [
        [label, kind, start.isoformat(), end.isoformat(), str(days)]
        for label, kind, start, end, days, _ in stored
    ]
    assert len(stored) == 4 and {row[5] for row in stored} == {20251103}
    assert page.inner_text("#schedule-seed") == "20251103"
    # The other user does not see it, in the list or by its id.
    other = api(study, "user_002", "/api/research/protocols").json()
    assert protocol_id not in [p["protocolId"] for p in other]
    assert api(study, "user_002", f"/api/research/protocols/{protocol_id}").status_code == 404


PLAN_YAML = """\
protocolName: Browser-registered reward protocol
hypothesis: A 20% reward probability raises engagement.
designType: ABAB
primaryOutcome: engagement_score
sampleSizeTarget: 40
analysisPlan: Randomization test of B-A at alpha 0.05.
startDate: {start}
plannedLength: 40
minPhaseLength: 5
interimLooks: 2
seed: 20251103
conditions:
  A: {{reward_probability: 0.15}}
  B: {{reward_probability: 0.3}}
analyses:
  - analysis: randomization_test
    statistic: PB-PA
  - analysis: its
    postWindow: protocol_end
  - analysis: change_points
    cost: variance
    minSegmentLength: 6
  - sequential_monitoring
power: {{effect: 1.0, sd: 1.5, autocorrelation: 0.2, simulations: 200, seed: 7}}
"""
"""What the form below registers, as a protocol file."""


def test_protocol_form_registers_an_analysis_plan_and_a_power_simulation_as_the_yaml_would(
    page, study: dict, tmp_path: Path
) -> None:
    from americano_pipelines.protocol_analyses.power import protocol_power
    from americano_pipelines.registration.protocol_file import load_protocol_file

    sign_in(page, study, "user_001")
    open_screen(page, "/protocols/new")
    fill_protocol(page, planned_length="40")
    page.get_by_label("A (baseline) parameters").fill("reward_probability = 0.15")
    page.get_by_label("Interim looks").fill("2")
    assert page.is_hidden("#analysis-its-postWindow")  # settings show once checked
    page.get_by_label("Randomization test, effect sizes and WWC rating").check()
    page.get_by_label("Test statistic").select_option("PB-PA")
    page.get_by_label("Bayesian interrupted time series").check()
    page.get_by_label("Post period").select_option("protocol_end")
    page.get_by_label("Change points").check()
    page.get_by_label("Change in").select_option("variance")
    page.get_by_label("Shortest segment (days)").fill("25")  # two segments need 50 > 40 days
    page.get_by_label("Sequential monitoring (group-sequential boundaries)").check()
    page.get_by_label("Simulate the power of this design").check()
    page.get_by_label("Effect on B days").fill("1.0")
    page.get_by_label("Noise SD").fill("1.5")
    page.get_by_label("Lag-one autocorrelation").fill("0.2")
    page.get_by_label("Simulated studies").fill("200")
    page.get_by_label("Simulation seed").fill("7")
    page.get_by_role("button", name="Register protocol").click()
    page.wait_for_selector("#error-summary:not([hidden])")
    setting = "[data-field=analysis-change_points-minSegmentLength]"
    assert page.inner_text(f"{setting} .error").startswith("analyses[3].minSegmentLength: two")
    assert page.get_attribute("#analysis-change_points-minSegmentLength", "aria-invalid") == "true"
    assert page.inner_text("#error-summary li").startswith("analyses[3].minSegmentLength:")

    page.get_by_label("Shortest segment (days)").fill("6")
    page.get_by_label("Noise SD").fill("0")  # the power settings' own check
    page.get_by_role("button", name="Register protocol").click()
    page.wait_for_selector("[data-field=power-sd] .error:not(:empty)")
    assert page.inner_text("[data-field=power-sd] .error") == "power.sd: must be above 0"
    assert page.inner_text(f"{setting} .error") == ""

    page.get_by_label("Noise SD").fill("1.5")
    page.get_by_role("button", name="Register protocol").click()
    page.wait_for_selector("#schedule:not([hidden])")
    protocol_id = page.get_attribute("#schedule", "data-protocol-id")
    with psycopg.connect(study["database"]) as owner:
        analyses, justification, start = owner.execute(
            "SELECT analyses, sample_size_justification, start_date FROM experiment_protocols "
            "WHERE id = %s",
            (protocol_id,),
        ).fetchone()
    # What `americano protocol register` stores from the same protocol as a file
    # (db.protocols.preregister: the validated list, and protocol_power of the registration).
    file = tmp_path / "protocol.yaml"
    file.write_text(PLAN_YAML.format(start=start.isoformat()))
    registration = load_protocol_file(file)
    assert analyses == registration.analyses.to_json()
    assert [a["analysis"] for a in analyses] == [
        "randomization_test",
        "its",
        "change_points",
        "sequential_monitoring",
    ]
    assert justification == protocol_power(registration)
    assert justification["simulations"] == 200 and justification["statistic"] == "PB-PA"


def test_protocol_form_without_analyses_or_power_sends_neither(page, study: dict) -> None:
    # Nothing checked: the file's defaults (no `analyses:`, no `power:`), as before the form had them.
    sign_in(page, study, "user_001")
    open_screen(page, "/protocols/new")
    fill_protocol(page, planned_length="40")
    page.get_by_label("Simulate the power of this design").check()
    page.get_by_label("Design type").select_option("CHANGING_CRITERION")  # no power for it
    assert page.is_hidden("#power")
    body = page.evaluate("protocolBody(document.getElementById('protocol-form'))")
    assert "analyses" not in body and "power" not in body


# ----------------------------------------------------------------------------- context widget


def test_context_widget_saves_by_keyboard_and_the_entry_is_in_postgresql(page, study: dict) -> None:
    sign_in(page, study, "user_001")
    open_screen(page, "/context")
    page.get_by_label("High").check()
    slider = page.get_by_label("Energy (1 = drained, 10 = full)")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # 5 -> 8, by keyboard
    assert page.inner_text("#energy-value") == "8"
    page.get_by_label("Location").select_option("LIBRARY")
    page.get_by_label("Notes").fill("After the browser-test session")
    page.get_by_label("Notes").focus()
    page.keyboard.press("Tab")  # to Save
    assert page.evaluate("document.activeElement.textContent") == "Save"
    page.keyboard.press("Enter")
    page.wait_for_selector("#context-status[data-entry-id]")
    entry_id = page.get_attribute("#context-status", "data-entry-id")
    with psycopg.connect(study["database"]) as owner:
        row = owner.execute(
            "SELECT user_id, mood::text, energy_level, location::text, notes "
            "FROM context_metadata WHERE id = %s",
            (entry_id,),
        ).fetchone()
    assert row == ("user_001", "HIGH", 8, "LIBRARY", "After the browser-test session")


# ----------------------------------------------------------------------------- ITS dashboard


def test_its_dashboard_draws_the_apis_numbers(page, study: dict) -> None:
    protocol = PROTOCOLS["user_001"]
    answer = api(study, "user_001", f"/api/research/protocols/{protocol}/its")
    assert answer.status_code == 200, answer.text
    stored = answer.json()
    effect = stored["result"]["causalEffect"]
    counterfactual = stored["result"]["counterfactual"]
    sign_in(page, study, "user_001")
    open_screen(page, f"/protocols/{protocol}/its")
    assert number(page, "#effect-mean") == effect["mean"]
    assert page.inner_text("#effect-mean") == f"{effect['mean']:.2f}"
    assert float(page.get_attribute("#effect-hdi", "data-low")) == effect["hdi95"][0]
    assert float(page.get_attribute("#effect-hdi", "data-high")) == effect["hdi95"][1]
    assert number(page, "#effect-probability") == effect["probability_positive"]
    assert number(page, "#diag-rhat") == stored["result"]["diagnostics"]["rhat"]
    assert number(page, "#diag-ess-bulk") == stored["result"]["diagnostics"]["ess_bulk"]
    assert page.inner_text("#interpretation") == stored["interpretation"]
    drawn = page.evaluate(
        """() => {
        const chart = Chart.getChart('its-chart');
        return {labels: chart.data.labels,
                sets: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data])),
                points: chart.data.datasets.map((_, i) => chart.getDatasetMeta(i).data.length),
                width: chart.width, height: chart.height};
        }"""
    )
    assert drawn["labels"] == counterfactual["dates"]
    assert drawn["sets"] == {
        "Upper 95%": counterfactual["upper95"],
        "95% credible band": counterfactual["lower95"],
        "Counterfactual (predicted)": counterfactual["predicted"],
        "Observed": counterfactual["observed"],
    }
    assert drawn["points"] == [len(counterfactual["dates"])] * 4  # every point laid out
    assert drawn["width"] > 300 and drawn["height"] > 200
    # The same numbers as a table, for a screen reader.
    page.get_by_text("The chart's numbers").click()
    assert page.locator("#its-table tbody tr").count() == len(counterfactual["dates"])


# ----------------------------------------------------------------------------- ABAB view


def test_abab_view_shows_the_test_its_distribution_and_links_the_report(page, study: dict) -> None:
    protocol = PROTOCOLS["user_001"]
    stored = api(study, "user_001", f"/api/research/protocols/{protocol}/randomization-test")
    assert stored.status_code == 200, stored.text
    result = stored.json()
    test = result["test"]
    sign_in(page, study, "user_001")
    open_screen(page, f"/protocols/{protocol}/abab")
    assert number(page, "#abab-observed") == test["observedEffect"]
    assert number(page, "#abab-p") == test["pValue"]
    assert number(page, "#abab-d") == test["effectSize"]
    assert page.get_attribute("#abab-rating", "data-value") == result["sced_standards"]["rating"]
    assert page.inner_text("#abab-interpretation") == test["interpretation"]
    indexes = page.eval_on_selector_all(
        "#effect-sizes tbody tr", "rows => rows.map(r => r.dataset.index)"
    )
    assert "nap" in indexes and "smd" in indexes
    drawn = page.evaluate(
        """() => {
        const series = Chart.getChart('series-chart');
        const dist = Chart.getChart('distribution-chart');
        return {values: series.data.datasets[0].data,
                bands: series.options.plugins.overlays.bands.map(b => [b.condition, b.from, b.to]),
                counts: dist.data.datasets[0].data};
        }"""
    )
    observations = result["observations"]
    assert drawn["values"] == [o["value"] for o in observations]
    conditions = [c for c, _, _ in drawn["bands"]]
    assert conditions == ["A", "B", "A", "B"]  # four phases shaded
    assert drawn["bands"][-1][2] == len(observations) - 1
    assert sum(drawn["counts"]) == len(test["permutationDistribution"])
    # The CENT report opens with the token (a plain link would carry none).
    page.get_by_role("link", name="Open the CENT report").click()
    page.wait_for_url(re.compile(r"^blob:"))
    assert "CENT" in page.content()


# ----------------------------------------------------------------------------- two users


def test_the_second_user_cannot_see_the_first_users_protocol(page, study: dict) -> None:
    protocol = PROTOCOLS["user_001"]
    sign_in(page, study, "user_002")
    for path in (f"/protocols/{protocol}/its", f"/protocols/{protocol}/abab"):
        open_screen(page, path)
        page.wait_for_selector("#load-error:not([hidden])")
        assert f"no protocol {protocol!r} of this user" in page.inner_text("#load-error")
        assert page.is_hidden("#its") if path.endswith("its") else page.is_hidden("#abab")
    # Their own dashboards show their own protocol.
    own = PROTOCOLS["user_002"]
    open_screen(page, f"/protocols/{own}/its")
    expected = api(study, "user_002", f"/api/research/protocols/{own}/its").json()
    assert number(page, "#effect-mean") == expected["result"]["causalEffect"]["mean"]


# ----------------------------------------------------------------------------- legible, by keyboard

SCREENS = ("/", "/protocols/new", "/context", "/protocols/{p}/its", "/protocols/{p}/abab")


def test_every_input_has_a_label_and_focus_is_visible(page, study: dict) -> None:
    sign_in(page, study, "user_001")
    for path in SCREENS:
        open_screen(page, path.format(p=PROTOCOLS["user_001"]))
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))
                .map(e => e.name || e.id)"""
        )
        assert unlabeled == [], (path, unlabeled)
        page.keyboard.press("Tab")  # the skip link first, then the rest in order
        outlines = []
        for _ in range(4):
            outlines.append(
                page.evaluate(
                    """() => { const s = getComputedStyle(document.activeElement);
                       return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"""
                )
            )
            page.keyboard.press("Tab")
        assert all(style != "none" and width != "0px" for _, style, width in outlines), (
            path,
            outlines,
        )
    # Text colour on the page background: WCAG AA (4.5:1) at least.
    ratio = page.evaluate(
        """() => {
        const rgb = c => c.match(/\\d+/g).slice(0, 3).map(Number).map(v => v / 255)
          .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        const lum = c => { const [r, g, b] = rgb(c); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const text = lum(getComputedStyle(document.body).color);
        const back = lum(getComputedStyle(document.documentElement).backgroundColor);
        return (Math.max(text, back) + 0.05) / (Math.min(text, back) + 0.05);
        }"""
    )
    assert ratio >= 4.5, ratio


def test_the_pages_are_not_in_the_api_schema(study: dict) -> None:
    schema = httpx.get(f"{study['url']}/openapi.json").json()
    paths = set(schema["paths"])
    assert "/api/research/protocols/{protocol_id}/its" in paths
    assert not {"/", "/context", "/protocols/new"} & paths
