"""The three screens of the guide ("Frontend Integration") and the ABAB results view, served by
the API's own app at `/`: server-rendered Jinja2 pages (`api/templates/`) and static assets
(`api/static/`, Chart.js vendored under `static/vendor/chart.js/` with its licence; no build
step).

- `/`: sign in with an API token (`americano users token create`), kept in the browser's
  session storage and sent as `Authorization: Bearer`, and the signed-in user's protocols;
- `/protocols/new`: the experiment protocol form, posted to `POST /api/research/protocols`
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

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from americano_pipelines.db.context import LOCATIONS, MOODS
from americano_pipelines.registration import protocol_file, vocabulary

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
