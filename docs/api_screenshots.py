"""The README's pictures of the screens `americano serve` shows (docs/img/screen-*.png): part of
`make screenshots`.

Over the home that `make demo` filled (AMERICANO_HOME, as every command): issues a short-lived
API token for the first protocol's user, serves `create_app` on a free loopback port, and drives
Debian's chromium (Playwright, never a downloaded browser) through

- screen-protocols.png: the signed-in user's protocols;
- screen-protocol-form.png: the protocol form with the registration's own message at the field
  it names (a planned length too short for the design);
- screen-protocol-schedule.png: the drawn schedule after registering (this registers one
  example protocol, "Screenshot example", for that user; `--no-register` skips it);
- screen-its.png: the first protocol's Bayesian ITS dashboard;
- screen-abab.png: its ABAB results view;
- screen-context.png: the context capture widget after saving (this saves one context entry;
  not with `--no-register`).

The token is revoked at the end. Each PNG is reduced to a palette (Pillow) to keep the
repository small; the script prints one JSON line with each picture's size.

Usage: python docs/api_screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]
       [--no-register]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docs.cent_screenshots import _first_protocol, _optimized  # noqa: E402
from tests.integration.api_server import running_api  # noqa: E402

WIDTH = 1100


def _shoot(page, scratch: Path, out: Path, name: str, sizes: dict, full: bool = True) -> None:
    shot = scratch / f"{name}.png"
    page.screenshot(path=str(shot), full_page=full)
    sizes[name] = _optimized(shot, out / name)


def _ready(page) -> None:
    page.wait_for_function("document.body.dataset.ready !== undefined")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument(
        "--no-register", action="store_true", help="write nothing: no protocol, no context entry"
    )
    options = parser.parse_args()

    import datetime as dt

    import duckdb
    import psycopg
    from playwright.sync_api import sync_playwright

    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import database_url
    from americano_pipelines.db.tokens import issue_token, revoke_token
    from americano_pipelines.warehouse.tables import protocol_row

    settings = get_settings()
    protocol = _first_protocol()
    with duckdb.connect(settings.duckdb_path, read_only=True) as conn:
        user = str(protocol_row(conn, protocol)["user_id"])
    owner_url = database_url(settings)
    with psycopg.connect(owner_url) as owner:
        issued = issue_token(
            owner, user, kind="api", name="docs/api_screenshots.py", ttl=dt.timedelta(hours=1)
        )
    options.out.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    try:
        with (
            running_api(settings) as url,
            tempfile.TemporaryDirectory() as folder,
            sync_playwright() as playwright,
        ):
            scratch = Path(folder)
            browser = playwright.chromium.launch(
                executable_path=options.chromium, args=["--no-sandbox"]
            )
            page = browser.new_page(base_url=url, viewport={"width": WIDTH, "height": 480})
            page.goto("/")
            page.get_by_label("API token").fill(issued.token)
            page.keyboard.press("Enter")
            page.wait_for_selector("#protocols:not([hidden])")
            _ready(page)
            _shoot(page, scratch, options.out, "screen-protocols.png", sizes)

            page.goto("/protocols/new")
            _ready(page)
            page.get_by_label("Experiment name").fill("Screenshot example")
            page.get_by_label("Hypothesis").fill(
                "A 20% reward probability raises the daily engagement score compared with 15%."
            )
            page.get_by_label("Sample size target (observations)").fill("40")
            page.get_by_label("Analysis plan").fill(
                "Randomization test of B-A (SCRT) over the admissible ABAB schedules; alpha 0.05."
            )
            page.get_by_label("Planned length (days)").fill("12")
            page.get_by_label("Shortest phase (days)").fill("5")
            page.get_by_role("button", name="Register protocol").click()
            page.wait_for_selector("#error-summary:not([hidden])")
            page.get_by_label("Planned length (days)").focus()
            _shoot(page, scratch, options.out, "screen-protocol-form.png", sizes)
            if not options.no_register:
                page.get_by_label("Planned length (days)").fill("40")
                page.get_by_role("button", name="Register protocol").click()
                page.wait_for_selector("#schedule:not([hidden])")
                _shoot(page, scratch, options.out, "screen-protocol-schedule.png", sizes)

            for name, path in (
                ("screen-its.png", f"/protocols/{protocol}/its"),
                ("screen-abab.png", f"/protocols/{protocol}/abab"),
            ):
                page.goto(path)
                _ready(page)
                _shoot(page, scratch, options.out, name, sizes)

            page.goto("/context")
            _ready(page)
            page.get_by_label("High").check()
            page.get_by_label("Energy (1 = drained, 10 = full)").fill("7")
            page.get_by_label("Location").select_option("LIBRARY")
            page.get_by_label("Notes").fill("Flashcards after lunch; a little tired.")
            if not options.no_register:
                page.get_by_role("button", name="Save").click()
                page.wait_for_selector("#context-status[data-entry-id]")
            _shoot(page, scratch, options.out, "screen-context.png", sizes)
            browser.close()
    finally:
        with psycopg.connect(owner_url) as owner:
            revoke_token(owner, issued.token_id)
    print(json.dumps({"protocol": protocol, "user": user, "pictures": sizes}))


if __name__ == "__main__":
    main()
