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

    from americano_pipelines.reports import cent
    from americano_pipelines.warehouse import tables

    settings = get_settings()
    if not settings.duckdb_path.startswith("md:") and not Path(settings.duckdb_path).exists():
        raise InputError(
            f"AMERICANO_DUCKDB_PATH: no warehouse at {settings.duckdb_path}; run americano demo",
            field="AMERICANO_DUCKDB_PATH",
        )
    with duckdb.connect(settings.duckdb_path, read_only=True) as conn:
        if protocol not in tables.protocol_ids(conn):
            raise InputError(f"protocol: {protocol!r} is not in marts.protocols", field="protocol")
        written = cent.write_cent_report(conn, settings, protocol)
    if pdf and written.pdf is None:
        fail(f"--pdf: {written.pdf_reason}; the HTML report is at {written.html}")
    print_json(written.to_json())
