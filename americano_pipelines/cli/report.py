"""`americano report --protocol ID [--pdf]`: the protocol's CENT 2015 report.

Reads the warehouse (read-only), the protocol's result files and its analysis runs, writes
`<AMERICANO_HOME>/reports/<protocol>/cent_report.html` (self-contained: its figures are data
URIs) and, when a renderer is installed (headless Chromium, else WeasyPrint), a PDF of the same
page beside it; prints one JSON object:
`{"protocolId", "html", "pdf", "pdfReason", "items", "missing"}`. `pdf` is null when no PDF was
written, and `pdfReason` says why; `--pdf` makes the PDF required: without a renderer the
command exits 2 with the reason (the HTML is still written). An unknown protocol, or no
warehouse, exits 2 naming it. Runs that cannot be read (PostgreSQL down) leave the report's
provenance item saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, fail, print_json
from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError

__all__ = ["report_command"]


@answered
def report_command(
    protocol: Annotated[str, typer.Option("--protocol", metavar="ID", help="The protocol's id.")],
    pdf: Annotated[
        bool,
        typer.Option("--pdf", help="Require the PDF too: exit 2 when no renderer is installed."),
    ] = False,
) -> None:
    """Write the protocol's CENT 2015 report (HTML; a PDF when a renderer is installed) and
    print where, with the checklist items the data does not fully answer."""
    import duckdb
    import psycopg

    from americano_pipelines.db.connection import database_url
    from americano_pipelines.provenance.runs import list_analysis_runs
    from americano_pipelines.reports import cent
    from americano_pipelines.warehouse import tables

    settings = get_settings()
    if not settings.duckdb_path.startswith("md:") and not Path(settings.duckdb_path).exists():
        raise InputError(
            f"AMERICANO_DUCKDB_PATH: no warehouse at {settings.duckdb_path}; run americano demo",
            field="AMERICANO_DUCKDB_PATH",
        )
    runs: list[dict] = []
    note = None
    try:
        runs = [run.to_json() for run in list_analysis_runs(database_url(), protocol)]
    except psycopg.Error as error:
        note = f"analysis_runs could not be read: {' '.join(str(error).split())}"
    with duckdb.connect(settings.duckdb_path, read_only=True) as conn:
        if protocol not in tables.protocol_ids(conn):
            raise InputError(f"protocol: {protocol!r} is not in marts.protocols", field="protocol")
        inputs = cent.read_cent_inputs(
            conn, settings.results_dir, protocol, runs=runs, runs_note=note
        )
    report = cent.cent_report(inputs)
    html_path, pdf_path = cent.report_paths(settings.reports_dir, protocol)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(cent.render_html(report), encoding="utf-8")
    written, reason = cent.render_pdf(html_path, pdf_path)
    if pdf and written is None:
        fail(f"--pdf: {reason}; the HTML report is at {html_path}")
    print_json(
        {
            "protocolId": protocol,
            "html": str(html_path),
            "pdf": None if written is None else str(written),
            "pdfReason": reason,
            "items": len(report.items),
            "missing": report.missing,
        }
    )
