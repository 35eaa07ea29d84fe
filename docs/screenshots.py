"""The README's pictures of the Dagster UI (docs/img/): `make screenshots`.

Starts `americano ui` over the home that `make demo` filled (AMERICANO_HOME, as every command),
waits until the webserver has loaded the code location and the daemon's first runs have
finished, and takes five pictures with Debian's chromium through Playwright (never a downloaded browser):

- lineage.png: the global asset lineage, group by group: extract (raw/*) → staging →
  intermediate → marts → analyses → results;
- lineage_upstream.png: the assets one analysis is computed from, raw/* to analyses/its_posterior;
- materialization.png, materialization_plot.png: the latest materialization of the ITS
  posterior, its metadata, and its plot as the UI opens it;
- automation.png: the schedule and the sensors, running.

Usage: python docs/screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1800, "height": 1100}
# The analysis whose materialization is shown; its plot is in its metadata.
ANALYSIS = "analyses/its_posterior"

_LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
_ACTIVE_RUNS = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
  ... on Runs { results { runId } } } }"""
_PARTITIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1) { partition } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    return response.json()["data"]


def _wait_until_loaded(base: str, ui: subprocess.Popen, timeout: float = 600) -> None:
    """Until the code location is LOADED (a load error is raised, not photographed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ui.poll() is not None:
            raise SystemExit(f"americano ui exited with {ui.returncode}")
        try:
            entries = _graphql(base, _LOCATIONS)["workspaceOrError"]["locationEntries"]
        except (httpx.HTTPError, KeyError, TypeError):
            entries = []
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            for entry in entries:
                location = entry["locationOrLoadError"]
                if location and location["__typename"] == "PythonError":
                    raise SystemExit(f"code location {entry['name']}: {location['message']}")
            return
        time.sleep(2)
    raise SystemExit(f"the UI did not load its code location within {timeout:.0f} s")


def _latest_partition(base: str, key: str) -> str:
    asset = _graphql(base, _PARTITIONS, {"key": {"path": key.split("/")}})["assetOrError"]
    materializations = asset.get("assetMaterializations") or []
    if not materializations:
        raise SystemExit(f"{key} has never been materialized here: run `make demo` first")
    return materializations[0]["partition"]


def _wait_for_runs(base: str, timeout: float = 900) -> None:
    """Until the runs the daemon launched on its first ticks (the phase-end sensor fires for
    the demo's ended phases) have finished: stopping the UI would cut them short."""
    time.sleep(30)  # the daemon's first sensor ticks
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _graphql(base, _ACTIVE_RUNS)["runsOrError"]["results"]
        if not runs:
            return
        time.sleep(5)
    raise SystemExit(f"runs still going after {timeout:.0f} s")


def _lineage(page, base: str) -> None:
    page.goto(f"{base}/asset-groups", wait_until="networkidle", timeout=120_000)
    page.wait_for_selector("text=analyses", timeout=120_000)
    # Group by group, left to right: extract → staging (with seeds) → intermediate → marts →
    # analyses → results. Expanded, the 40 assets no longer fit one readable picture.


def _upstream(page, base: str) -> None:
    """The assets themselves, on one analysis's lineage tab: everything it is computed from."""
    page.goto(
        f"{base}/assets/{ANALYSIS}?view=lineage&lineageScope=upstream&lineageDepth=6",
        wait_until="networkidle",
        timeout=120_000,
    )
    page.wait_for_selector("text=daily_metrics", timeout=120_000)


def _plot(page) -> None:
    """The counterfactual plot of the materialization on screen, as the UI opens it."""
    page.get_by_text("counterfactual_plot", exact=True).first.locator(
        "xpath=ancestor::tr[1]"
    ).get_by_text("[Show Markdown]").click()
    page.locator("img[src^='data:image/png']").first.wait_for(timeout=60_000)


def _materialization(page, base: str, partition: str) -> None:
    page.goto(
        f"{base}/assets/{ANALYSIS}?view=events&partition={partition}",
        wait_until="networkidle",
        timeout=120_000,
    )
    page.wait_for_selector("text=Metadata", timeout=120_000)
    # the counterfactual plot's row (an inline PNG), with the headline numbers above it
    row = page.get_by_text("counterfactual_plot", exact=True).first
    row.wait_for(timeout=120_000)
    row.scroll_into_view_if_needed()


def _automation(page, base: str) -> None:
    page.goto(f"{base}/automation", wait_until="networkidle", timeout=120_000)
    page.wait_for_selector("text=nightly_refresh", timeout=120_000)


def _photograph(base: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    partition = _latest_partition(base, ANALYSIS)
    shots = {
        "lineage.png": lambda page: _lineage(page, base),
        "lineage_upstream.png": lambda page: _upstream(page, base),
        "materialization.png": lambda page: _materialization(page, base, partition),
        "materialization_plot.png": _plot,
        "automation.png": lambda page: _automation(page, base),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        page.goto(base, wait_until="networkidle", timeout=120_000)
        page.get_by_text("Hide navigation").click()  # the pages get the whole width
        for name, show in shots.items():
            try:
                show(page)
            except Exception:
                page.screenshot(path=out / f"failed_{name}")
                raise
            page.wait_for_timeout(2_000)  # layouts and images settle after the data arrive
            page.screenshot(path=out / name)
            written.append(out / name)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"{args.chromium}: no such browser (apt-get install -y chromium)")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    americano = Path(sys.executable).parent / "americano"
    ui = subprocess.Popen(
        [americano, "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the webserver and the daemon go down with it
        env=os.environ,
    )
    try:
        _wait_until_loaded(base, ui)
        _wait_for_runs(base)
        for path in _photograph(base, args.out, args.chromium):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
