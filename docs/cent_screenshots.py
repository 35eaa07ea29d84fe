"""The README's pictures of one protocol's CENT report (docs/img/cent-report-*.png): part of
`make screenshots`.

Over the home that `make demo` filled (AMERICANO_HOME, as every command): writes the protocol's
report again with `americano report --protocol ID --pdf` (headless Chromium prints the PDF),
then

- cent-report-page-N.png: every page of the PDF, rasterized by poppler's pdftoppm (what a
  reader of the PDF sees, page margins included);
- cent-report-html.png: the top of the HTML page as headless Chromium shows it (Playwright
  driving Debian's chromium, never a downloaded browser).

Each PNG is reduced to a palette (Pillow) to keep the repository small; the script prints one
JSON line: the pages, the PDF's size, the render time and each picture's size.

Usage: python docs/cent_screenshots.py [--protocol ID] [--out docs/img] [--dpi 60]
       [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _americano(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "americano_pipelines.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"americano {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def _optimized(source: Path, target: Path, colors: int = 96) -> int:
    """`source` as a palette PNG at `target`; its size in bytes."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(
            target, optimize=True
        )
    return target.stat().st_size


def _first_protocol() -> str:
    import duckdb

    from americano_pipelines.config import get_settings
    from americano_pipelines.warehouse.tables import protocol_ids

    with duckdb.connect(get_settings().duckdb_path, read_only=True) as conn:
        ids = protocol_ids(conn)
    if not ids:
        raise SystemExit("no protocol in the warehouse: run make demo first")
    return ids[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", help="the protocol (default: the first in the warehouse)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--dpi", type=int, default=60, help="resolution of the page pictures")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    options = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm is missing: apt-get install -y poppler-utils")
    protocol = options.protocol or _first_protocol()
    started = time.perf_counter()
    written = _americano("report", "--protocol", protocol, "--pdf")
    render_seconds = time.perf_counter() - started
    pdf, html = Path(written["pdf"]), Path(written["html"])
    options.out.mkdir(parents=True, exist_ok=True)
    for old in options.out.glob("cent-report-page-*.png"):
        old.unlink()
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["pdftoppm", "-r", str(options.dpi), "-png", str(pdf), f"{scratch}/page"], check=True
        )
        pages = sorted(Path(scratch).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
        for number, page in enumerate(pages, start=1):
            target = options.out / f"cent-report-page-{number}.png"
            sizes[target.name] = _optimized(page, target)

        from playwright.sync_api import sync_playwright

        shot = Path(scratch) / "html.png"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=options.chromium, args=["--no-sandbox"]
            )
            view = browser.new_page(viewport={"width": 1100, "height": 1300})
            view.goto(html.resolve().as_uri())
            view.screenshot(path=str(shot))
            browser.close()
        target = options.out / "cent-report-html.png"
        sizes[target.name] = _optimized(shot, target)
    print(
        json.dumps(
            {
                "protocol": protocol,
                "pages": len(pages),
                "pdf_bytes": pdf.stat().st_size,
                "html_bytes": html.stat().st_size,
                "report_seconds": round(render_seconds, 2),
                "pictures": sizes,
            }
        )
    )


if __name__ == "__main__":
    main()
