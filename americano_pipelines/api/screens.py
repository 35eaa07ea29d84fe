"""The three screens of the guide ("Frontend Integration") and the ABAB results view, served by
the API's own app at `/`: server-rendered Jinja2 pages (`api/templates/`) and static assets
(`api/static/`, Chart.js vendored under `static/vendor/chart.js/` with its licence; no build
step).

- `/`: sign in with an API token (`americano users token create`), kept in the browser's
  session storage and sent as `Authorization: Bearer`, and the signed-in user's protocols;
- `/protocols/new`: the experiment protocol form (its registered analyses and power simulation
  included), posted to `POST /api/research/protocols`
  (the same checks as `americano protocol register`; a 422 is shown at the field it names),
  then the drawn schedule;
- `/protocols/{id}/its`: the Bayesian ITS dashboard of the protocol's stored ITS
  (`GET /api/research/protocols/{id}/its`);
- `/protocols/{id}/abab`: the ABAB results view (`GET …/randomization-test`);
- `/context`: the context capture widget, saved through `POST /api/context-metadata`.

The pages hold no user data: every number comes from the JSON endpoints, called with the
user's token, so a page shows only what the API lets that user see (row-level security and the
scoped warehouse reader). The pages are left out of the OpenAPI schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from americano_pipelines.db.context import LOCATIONS, MOODS
from americano_pipelines.registration import analyses, power_settings, protocol_file, vocabulary

__all__ = ["CHART_JS_VERSION", "router", "static_files"]

HERE = Path(__file__).parent
CHART_JS_VERSION = "4.6.1"
"""The vendored Chart.js (`static/vendor/chart.js/`); part of its URL, so an upgrade is never
served from a stale cache."""

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    chart_js=f"/static/vendor/chart.js/chart.umd.min.js?v={CHART_JS_VERSION}",
    design_types=vocabulary.DESIGN_TYPES,
    randomizations=vocabulary.ALTERNATING_RANDOMIZATIONS,
    moods=MOODS,
    locations=LOCATIONS,
    limits={
        "text": protocol_file.TEXT_LIMITS,
        "sample_size": protocol_file.MAX_SAMPLE_SIZE_TARGET,
        "planned_length": protocol_file.MAX_PLANNED_LENGTH,
        "interim_looks": protocol_file.MAX_INTERIM_LOOKS,
        "max_consecutive": protocol_file.MAX_CONSECUTIVE_CAP,
        "default_max_consecutive": protocol_file.DEFAULT_MAX_CONSECUTIVE,
        "seed": protocol_file.MAX_SEED,
    },
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class FormOption:
    """One setting of a registered analysis as the form offers it: its key in the `analyses:`
    item, its label, how the script reads it (`integer`, `number`, `choice`, `list`: comma-
    separated names, `penalty`: a name or a number) and, for a choice, the accepted values."""

    key: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    hint: str | None = None


@cache
def analysis_options() -> dict[str, tuple[FormOption, ...]]:
    """Each analysis the form lists (`analyses.ANALYSIS_NAMES`, in that order) with its main
    settings; the others stay the analysis's defaults (a protocol file can give them all). The
    choices are the statistics modules' own, read on the form's first view (importing them
    costs seconds, which the registration of such a list pays anyway)."""
    from americano_pipelines.stats import changepoint_costs, its, sced, sequential

    options = {
        analyses.RANDOMIZATION_TEST: (
            FormOption("statistic", "Test statistic", "choice", sced.STATISTICS),
            FormOption(
                "permutations",
                "Random permutations",
                "integer",
                hint="Empty: every admissible schedule when they are few enough",
            ),
        ),
        analyses.ITS: (
            FormOption("postWindow", "Post period", "choice", analyses.POST_WINDOWS),
            FormOption("seasonality", "Seasonality", "choice", its.SEASONALITIES),
            FormOption("prePeriodDays", "Pre-period (days)", "integer"),
        ),
        analyses.CHANGE_POINTS: (
            FormOption("cost", "Change in", "choice", changepoint_costs.COSTS),
            FormOption("minSegmentLength", "Shortest segment (days)", "integer"),
            FormOption(
                "penalty",
                "Penalty",
                "penalty",
                hint=f"{' or '.join(changepoint_costs.PENALTIES)}, or a number",
            ),
        ),
        analyses.SEQUENTIAL_MONITORING: (
            FormOption("spending", "Alpha spending", "choice", sequential.SPENDING_FUNCTIONS),
            FormOption("testType", "Test type (gsDesign 1-6)", "integer"),
        ),
        analyses.SYNTHETIC_CONTROL: (
            FormOption("donors", "Donors", "choice", analyses.DONOR_KINDS),
            FormOption(
                "donorMetrics",
                "Donor metrics",
                "list",
                hint="With donors = metrics: comma-separated metric names",
            ),
        ),
        analyses.WEARABLE_LINKS: (
            FormOption(
                "predictors",
                "Wearable measures",
                "list",
                hint=f"Comma-separated; empty: {', '.join(analyses.DEFAULT_PREDICTORS)}",
            ),
            FormOption("maxLag", "Longest lag (days)", "integer"),
        ),
        analyses.SERIES_OF_N1: (
            FormOption("members", "Series members", "choice", analyses.SERIES_MEMBERS),
        ),
    }
    assert tuple(options) == analyses.ANALYSIS_NAMES, "the form must list every analysis"
    return options


ANALYSIS_LABELS = {
    analyses.RANDOMIZATION_TEST: "Randomization test, effect sizes and WWC rating",
    analyses.ITS: "Bayesian interrupted time series",
    analyses.CHANGE_POINTS: "Change points",
    analyses.SEQUENTIAL_MONITORING: "Sequential monitoring (group-sequential boundaries)",
    analyses.SYNTHETIC_CONTROL: "Bayesian synthetic control",
    analyses.WEARABLE_LINKS: "Wearable links (lagged correlations, Granger tests)",
    analyses.SERIES_OF_N1: "Series of N-of-1 trials",
}
"""The form's name of each analysis (the protocol file's name is shown next to it)."""

POWER_OPTIONS = (
    FormOption(
        "effect", "Effect on B days", "number", hint="In the outcome's units; empty: one SD"
    ),
    FormOption("sd", "Noise SD", "number", hint="Empty: 1"),
    FormOption("autocorrelation", "Lag-one autocorrelation", "number", hint="Empty: 0"),
    FormOption(
        "simulations",
        "Simulated studies",
        "integer",
        hint=f"2 to {power_settings.MAX_REGISTRATION_SIMULATIONS:,}; empty: 1,000",
    ),
    FormOption("seed", "Simulation seed", "integer", hint="Empty: 0"),
)
"""The `power:` mapping's settings (`registration.power_settings`), as the form offers them."""


def static_files() -> StaticFiles:
    """The screens' stylesheet, script and vendored chart library, mounted at `/static`."""
    return StaticFiles(directory=HERE / "static")


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return _page(request, "home.html", page="home", title="Sign in")


@router.get("/protocols/new", response_class=HTMLResponse)
def protocol_form(request: Request) -> HTMLResponse:
    return _page(
        request,
        "protocol_form.html",
        page="protocol-form",
        title="New protocol",
        today=protocol_file.registration_day().isoformat(),
        analysis_options=analysis_options(),
        analysis_labels=ANALYSIS_LABELS,
        default_analyses=analyses.DEFAULT_ANALYSES,
        power_options=POWER_OPTIONS,
        power_designs=" ".join(
            d for d in vocabulary.DESIGN_TYPES if d != vocabulary.CHANGING_CRITERION
        ),
    )


PROTOCOL_VIEWS = {
    "its": ("its_dashboard.html", "Bayesian ITS"),
    "abab": ("abab_results.html", "ABAB results"),
}
"""`/protocols/{id}/<view>`: the template and title of each protocol's dashboard."""


def _protocol_view(view: str, template: str, title: str):
    def show(request: Request, protocol_id: str) -> HTMLResponse:
        return _page(request, template, page=view, title=title, protocol_id=protocol_id)

    show.__name__ = f"{view}_view"
    return show


for _view, (_template, _title) in PROTOCOL_VIEWS.items():
    router.add_api_route(
        f"/protocols/{{protocol_id}}/{_view}",
        _protocol_view(_view, _template, _title),
        methods=["GET"],
        response_class=HTMLResponse,
    )


@router.get("/context", response_class=HTMLResponse)
def context_capture(request: Request) -> HTMLResponse:
    return _page(request, "context.html", page="context", title="How are you feeling?")
