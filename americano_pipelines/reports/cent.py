"""A protocol's CENT 2015 report: the checklist filled item by item from the protocol and its
results, with figures, result tables and provenance, as one self-contained HTML file (and a PDF
of the same page when a renderer is installed).

CENT 2015 (Vohra et al., "CONSORT extension for reporting N-of-1 trials", BMJ 2015;350:h1738)
lists what a report of an N-of-1 trial gives. Each item here gets a status and an answer that
says where it comes from (`marts.protocols.hypothesis`, `analyses.its_effects`, ...):

- `reported`: the warehouse answers it;
- `partial`: it answers part of it, and the answer says which part is missing;
- `not available`: the item is one the platform keeps, but this protocol has no value yet
  (an analysis not run, a table not built), and the answer says so;
- `not recorded`: the platform records nothing that answers it (blinding, harms, funding): the
  investigator must write it.

No item is ever blank. The pieces are kept apart: `read_cent_inputs` reads (DuckDB warehouse
and the result files, through `warehouse.tables`), `cent_report` builds the report from plain
data, `render_html` renders the jinja2 template `templates/cent.html.j2` with every figure as a
`data:image/png;base64,` URI, and `render_pdf` prints that HTML with Chromium (headless
print-to-PDF) or WeasyPrint, whichever is installed, or says that neither is. matplotlib and
jinja2 are imported when a report is built; nothing here imports Dagster.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from markupsafe import Markup

    from americano_pipelines.config import Settings

__all__ = [
    "CENT_ITEMS",
    "CentFigure",
    "CentInputs",
    "CentItem",
    "CentReport",
    "ObservationFlow",
    "ResultTable",
    "STATUSES",
    "WrittenReport",
    "cent_report",
    "pdf_renderer",
    "read_cent_inputs",
    "read_protocol_runs",
    "render_html",
    "render_pdf",
    "report_paths",
    "write_cent_report",
]

REPORTED, PARTIAL, NOT_AVAILABLE, NOT_RECORDED = (
    "reported",
    "partial",
    "not available",
    "not recorded",
)
STATUSES = (REPORTED, PARTIAL, NOT_AVAILABLE, NOT_RECORDED)

CENT_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1a", "Title", "Identification as an N-of-1 trial in the title"),
    ("1b", "Abstract", "Structured summary of trial design, methods, results and conclusions"),
    ("2a", "Background", "Scientific background and explanation of rationale"),
    ("2b", "Objectives", "Specific objectives or hypotheses"),
    (
        "3a",
        "Trial design",
        "Description of the design (number and duration of periods), the "
        "randomization and its seed, and the schedule as planned and as run",
    ),
    (
        "3b",
        "Changes to methods",
        "Important changes to methods after trial commencement, with reasons (deviations)",
    ),
    ("4a", "Participants", "Diagnosis or disorder, eligibility criteria"),
    ("4b", "Setting", "Settings and locations where the data were collected"),
    ("5", "Interventions", "The interventions of each period, with enough detail to replicate"),
    (
        "6a",
        "Outcomes",
        "Completely defined pre-specified primary outcome, how and when it is measured",
    ),
    ("6b", "Changes to outcomes", "Any changes to trial outcomes after the trial commenced"),
    (
        "7a",
        "Sample size",
        "How the sample size (number of periods and measurements) was determined",
    ),
    ("7b", "Interim analyses", "Interim analyses and stopping guidelines"),
    (
        "8a",
        "Sequence generation",
        "Whether the order of treatment periods was randomized, and "
        "the method used to generate the sequence",
    ),
    ("8b", "Type of randomization", "Type of randomization; details of any restriction"),
    ("9", "Allocation concealment", "Mechanism used to implement the random sequence"),
    (
        "10",
        "Implementation",
        "Who generated the sequence, enrolled the participant and assigned the interventions",
    ),
    ("11a", "Blinding", "Who was blinded after assignment to interventions, and how"),
    (
        "12a",
        "Statistical methods",
        "Statistical methods used to compare interventions; the "
        "analysis plan, registered vs exploratory analyses",
    ),
    ("12b", "Additional analyses", "Methods for additional analyses (change points, ITS, drift)"),
    (
        "13a",
        "Participant flow",
        "Number of periods and measurements planned, observed, missing, "
        "quarantined and analysed (CONSORT-style flow)",
    ),
    (
        "13b",
        "Losses and exclusions",
        "Losses and exclusions of periods or measurements, with reasons",
    ),
    ("14a", "Recruitment", "Dates defining the periods of recruitment and follow-up"),
    ("14b", "Why the trial ended", "Why the trial ended or was stopped"),
    ("15", "Baseline data", "Baseline characteristics of the participant"),
    ("16", "Numbers analysed", "Number of periods and measurements analysed for each intervention"),
    (
        "17a",
        "Outcomes and estimation",
        "For each outcome, the result for each period and the "
        "estimated effect size with its precision (CI, HDI)",
    ),
    (
        "18",
        "Ancillary analyses",
        "Results of any other analyses, distinguishing pre-specified from exploratory",
    ),
    ("19", "Harms", "All harms or unintended effects"),
    ("20", "Limitations", "Trial limitations, sources of bias and imprecision; carryover"),
    ("21", "Generalisability", "Generalisability (applicability) of the trial findings"),
    (
        "22",
        "Interpretation",
        "Interpretation consistent with results, balancing benefits and harms",
    ),
    ("23", "Registration", "Registration and the registry"),
    ("24", "Protocol", "Where the trial protocol can be accessed"),
    ("25", "Funding", "Sources of funding and other support"),
    (
        "P",
        "Provenance",
        "Code commit, data version, MLflow runs and the command that reproduces each number",
    ),
)
"""(number, topic, what the item asks) of every item the report fills, in CENT 2015's order
(its items 1a-25, worded after the checklist), then the platform's own provenance item."""

_ITEM_NUMBERS = tuple(number for number, _, _ in CENT_ITEMS)


# ----------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class CentItem:
    """One checklist item: its status (`STATUSES`), its answer, and where the answer is."""

    number: str
    topic: str
    description: str
    status: str
    answer: str
    source: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: {self.status!r} is none of {', '.join(STATUSES)}")
        if not self.answer.strip() or not self.source.strip():
            raise ValueError(f"item {self.number}: an item is never blank")

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "topic": self.topic,
            "description": self.description,
            "status": self.status,
            "answer": self.answer,
            "source": self.source,
        }


@dataclass(frozen=True)
class CentFigure:
    """A figure: its PNG, or the reason there is none (the caption says it either way)."""

    key: str
    caption: str
    source: str
    png: bytes | None = field(default=None, repr=False)
    reason: str | None = None

    @property
    def data_uri(self) -> str | None:
        if self.png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "caption": self.caption,
            "source": self.source,
            "drawn": self.png is not None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ResultTable:
    """A result table: its caption, column headings and rows of text, or why it is empty."""

    key: str
    caption: str
    source: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "caption": self.caption,
            "source": self.source,
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CentInputs:
    """Everything a report reads, as plain data.

    `protocol`: the `marts.protocols` row; `phases`: the `stg_app__phase_assignments` rows in
    time order; `deviations`: the protocol's deviation log; `observations`: its
    `marts.phase_observations` rows; `gate`: the quality gate's counts on them (`rows_in`,
    `rows_out`, `rows_quarantined`, `by_rule`), None without a schedule;
    `quarantined_events`: raw behavioral events of the user within the schedule that the
    extraction's gate refused (`quarantine.behavioral_events`), None when the view is missing;
    `results`: the rows of each `analyses.*` table of the protocol, by table name; `drift`: the
    user's rows of `analyses.drift_columns` for `outcome_<primaryOutcome>`; `runs`: the
    protocol's analysis runs as `americano runs list` prints them; `runs_note`: why there are
    none when they could not be read; `ran`: the tables whose analysis has written a result
    file for the protocol (a change-point run that found none writes a file without rows)."""

    protocol: Mapping[str, Any]
    phases: Sequence[Mapping[str, Any]] = ()
    deviations: Sequence[Mapping[str, Any]] = ()
    observations: Sequence[Mapping[str, Any]] = ()
    gate: Mapping[str, Any] | None = None
    quarantined_events: int | None = None
    results: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    drift: Sequence[Mapping[str, Any]] = ()
    runs: Sequence[Mapping[str, Any]] = ()
    runs_note: str | None = None
    ran: frozenset[str] = frozenset()

    @property
    def protocol_id(self) -> str:
        return str(self.protocol["protocol_id"])

    def rows(self, table: tables.Table) -> list[Mapping[str, Any]]:
        return list(self.results.get(table.name, ()))


@dataclass(frozen=True)
class ObservationFlow:
    """The CONSORT-style flow of a protocol's observations (days): planned, scheduled to date,
    observed, missing, quarantined by the quality gate, analysed; and the raw events the
    extraction's gate refused. None: the warehouse cannot say."""

    planned: int | None
    scheduled_to_date: int | None
    observed: int
    missing: int | None
    quarantined: int | None
    analysed: int | None
    quarantined_events: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "scheduledToDate": self.scheduled_to_date,
            "observed": self.observed,
            "missing": self.missing,
            "quarantined": self.quarantined,
            "analysed": self.analysed,
            "quarantinedEvents": self.quarantined_events,
        }


@dataclass(frozen=True)
class CentReport:
    protocol_id: str
    title: str
    items: tuple[CentItem, ...]
    figures: tuple[CentFigure, ...]
    tables: tuple[ResultTable, ...]
    provenance: tuple[dict[str, Any], ...]
    flow: ObservationFlow
    generated_at: dt.datetime

    @property
    def missing(self) -> list[str]:
        """The items the data does not (fully) answer."""
        return [item.number for item in self.items if item.status != REPORTED]

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "title": self.title,
            "generatedAt": self.generated_at.isoformat(),
            "items": [item.to_json() for item in self.items],
            "missing": self.missing,
            "figures": [figure.to_json() for figure in self.figures],
            "tables": [table.to_json() for table in self.tables],
            "provenance": list(self.provenance),
            "flow": self.flow.to_json(),
        }


# ----------------------------------------------------------------------------- reading


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(row) for row in frame.to_dict(orient="records")]


def _json_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return list(value or [])


def read_phases(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> list[dict[str, Any]]:
    """The protocol's phases as registered (`staging.stg_app__phase_assignments`), in time
    order; empty when the staging view is missing."""
    if not tables.table_exists(conn, "staging", "stg_app__phase_assignments"):
        return []
    return _records(
        conn.execute(
            "SELECT phase_label, phase_type, start_date, end_date, planned_duration, "
            "randomization_seed, CAST(intervention_params AS VARCHAR) AS intervention_params "
            "FROM staging.stg_app__phase_assignments WHERE protocol_id = ? "
            "ORDER BY start_date, end_date NULLS LAST, phase_label",
            [protocol_id],
        ).df()
    )


def read_deviations(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> list[dict[str, Any]]:
    """The protocol's deviation log (`staging.stg_app__experiment_protocols.deviations`)."""
    if not tables.table_exists(conn, "staging", "stg_app__experiment_protocols"):
        return []
    row = conn.execute(
        "SELECT CAST(deviations AS VARCHAR) FROM staging.stg_app__experiment_protocols "
        "WHERE protocol_id = ?",
        [protocol_id],
    ).fetchone()
    return [] if row is None else _json_list(row[0])


def read_quarantined_events(
    conn: duckdb.DuckDBPyConnection, user_id: str, start: Any, end: Any
) -> int | None:
    """How many of the user's raw behavioral events dated within [start, end] the extraction's
    quality gate refused (`quarantine.behavioral_events`); None when the view is missing."""
    if start is None or not tables.table_exists(conn, "quarantine", "behavioral_events"):
        return None
    row = conn.execute(
        "SELECT count(*) FROM quarantine.behavioral_events "
        "WHERE json_extract_string(\"row\", '$.user_id') = ? "
        "AND TRY_CAST(json_extract_string(\"row\", '$.timestamp') AS DATE) "
        "BETWEEN ? AND coalesce(?, DATE '9999-12-31')",
        [user_id, start, end],
    ).fetchone()
    return int(row[0])


_PROTOCOL_TABLES = (
    tables.RANDOMIZATION_TESTS,
    tables.CHANGE_POINTS,
    tables.SEQUENTIAL_LOOKS,
    tables.ITS_EFFECTS,
    tables.SYNTHETIC_CONTROL,
    tables.WEARABLE_LINKS,
    tables.SERIES_OF_N1,
)


def read_cent_inputs(
    conn: duckdb.DuckDBPyConnection,
    results_dir: Path,
    protocol_id: str,
    *,
    runs: Sequence[Mapping[str, Any]] = (),
    runs_note: str | None = None,
) -> CentInputs:
    """The report's inputs from the warehouse (`conn`) and the result files (`results_dir`);
    KeyError when the protocol is not in `marts.protocols`."""
    protocol = tables.protocol_row(conn, protocol_id)
    observations = tables.phase_observations(conn, protocol_id)
    counts = tables.gate_counts(observations)
    gate = (
        None
        if counts is None
        else {
            "rows_in": counts.rows_in,
            "rows_out": counts.rows_out,
            "rows_quarantined": counts.rows_quarantined,
            "by_rule": dict(counts.by_rule),
        }
    )
    outcome = f"outcome_{protocol.get('primary_outcome')}"
    drift = [
        row
        for row in tables.read_results(results_dir, tables.DRIFT_COLUMNS)
        if row["user_id"] == protocol["user_id"] and row["column_name"] == outcome
    ]
    return CentInputs(
        protocol=protocol,
        phases=read_phases(conn, protocol_id),
        deviations=read_deviations(conn, protocol_id),
        observations=_records(observations),
        gate=gate,
        quarantined_events=read_quarantined_events(
            conn,
            str(protocol["user_id"]),
            protocol.get("schedule_start_date"),
            protocol.get("schedule_end_date"),
        ),
        results={
            table.name: tables.read_results(results_dir, table, protocol_id)
            for table in _PROTOCOL_TABLES
        },
        drift=sorted(drift, key=lambda row: str(row["week"])),
        runs=list(runs),
        runs_note=runs_note,
        ran=frozenset(
            table.name
            for table in _PROTOCOL_TABLES
            if tables.result_path(results_dir, table, protocol_id).exists()
        ),
    )


def report_paths(reports_dir: Path, protocol_id: str) -> tuple[Path, Path]:
    """Where the protocol's report goes: `<reports>/<protocol>/cent_report.{html,pdf}`, beside
    its analyses' plots."""
    folder = Path(reports_dir) / tables.protocol_folder(protocol_id)
    return folder / "cent_report.html", folder / "cent_report.pdf"


def read_protocol_runs(owner_url: str, protocol_id: str) -> tuple[list[dict[str, Any]], str | None]:
    """The protocol's analysis runs (as `americano runs list` prints them), and why there are
    none when PostgreSQL cannot be read (the provenance item then says so)."""
    import psycopg

    from americano_pipelines.provenance.runs import list_analysis_runs

    try:
        return [run.to_json() for run in list_analysis_runs(owner_url, protocol_id)], None
    except psycopg.Error as error:
        return [], f"analysis_runs could not be read: {' '.join(str(error).split())}"


@dataclass(frozen=True)
class WrittenReport:
    """A report written to disk: its HTML, its PDF (None, with the reason, when no renderer
    printed it) and the report itself."""

    report: CentReport
    html: Path
    pdf: Path | None
    pdf_reason: str | None
    runs_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.report.protocol_id,
            "html": str(self.html),
            "pdf": None if self.pdf is None else str(self.pdf),
            "pdfReason": self.pdf_reason,
            "items": len(self.report.items),
            "missing": self.report.missing,
        }


def write_cent_report(
    conn: duckdb.DuckDBPyConnection, settings: Settings, protocol_id: str
) -> WrittenReport:
    """Read the protocol's inputs (the warehouse `conn`, the result files and the analysis runs
    of `settings`), build its report and write it as `report_paths(settings.reports_dir,
    protocol_id)`: the HTML always, the PDF when a renderer is installed (a PDF of an earlier
    report is removed when none is). What `americano report` and the asset
    `reports/cent_report` both call."""
    from americano_pipelines.db.connection import database_url

    runs, runs_note = read_protocol_runs(database_url(settings), protocol_id)
    inputs = read_cent_inputs(
        conn, settings.results_dir, protocol_id, runs=runs, runs_note=runs_note
    )
    report = cent_report(inputs)
    html_path, pdf_path = report_paths(settings.reports_dir, protocol_id)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(report), encoding="utf-8")
    written, reason = render_pdf(html_path, pdf_path)
    if written is None:
        pdf_path.unlink(missing_ok=True)  # never a PDF of other content beside the HTML
    return WrittenReport(report, html_path, written, reason, runs_note)


# ----------------------------------------------------------------------------- formatting


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _fmt(value: Any, digits: int = 4) -> str:
    if _blank(value):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, dt.datetime):  # pandas reads a DATE as a Timestamp at midnight
        if value.tzinfo is None and value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp
        return value.date().isoformat()
    return str(value)


def _json(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _day(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _item(number: str, status: str, answer: str, source: str) -> CentItem:
    _, topic, description = CENT_ITEMS[_ITEM_NUMBERS.index(number)]
    return CentItem(number, topic, description, status, answer, source)


def _not_recorded(number: str, what: str) -> CentItem:
    return _item(
        number,
        NOT_RECORDED,
        f"The platform records no {what}; the investigator must report it.",
        "not in the warehouse",
    )


def _first(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return rows[0] if rows else None


def _result_json(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    parsed = _json(row.get("result_json"))
    return parsed if isinstance(parsed, dict) else {}


def _skipped(row: Mapping[str, Any] | None, table: tables.Table) -> str | None:
    """Why the analysis of `table` gives no result: not run, or run and skipped (with why)."""
    if row is None:
        return f"{table.qualified_name} has no row for this protocol (the analysis has not run)"
    if row.get("status") not in (None, "ok"):
        reason = row.get("skip_reason")
        return f"{table.qualified_name}: {row.get('status')}" + (
            "" if _blank(reason) else f" ({reason})"
        )
    return None


# ----------------------------------------------------------------------------- the flow


def _flow(inputs: CentInputs) -> ObservationFlow:
    protocol = inputs.protocol
    start, end = _day(protocol.get("schedule_start_date")), _day(protocol.get("schedule_end_date"))
    planned = None if start is None or end is None else (end - start).days + 1
    last = _day(protocol.get("last_observation_date"))
    to_date = planned
    if planned is not None and protocol.get("status") != "completed" and last is not None:
        to_date = min(planned, (last - start).days + 1)  # a running protocol: days so far
    observed = int(protocol.get("observed_days") or 0)
    gate = inputs.gate
    quarantined = None if gate is None else int(gate["rows_quarantined"])
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    analysed = None
    if test is not None and not _blank(test.get("n_observations")):
        analysed = int(test["n_observations"])
    elif gate is not None:
        analysed = int(gate["rows_out"])
    # the scheduled days without a kept observation (a day of several cases counts once)
    days = {_day(row.get("observation_date")) for row in inputs.observations}
    missing = None if to_date is None else max(to_date - len(days - {None}), 0)
    return ObservationFlow(
        planned, to_date, observed, missing, quarantined, analysed, inputs.quarantined_events
    )


# ----------------------------------------------------------------------------- the items


def _design_items(inputs: CentInputs) -> list[CentItem]:
    p = inputs.protocol
    design, name = p.get("design_type"), p.get("protocol_name")
    items = []
    if _blank(name):
        items.append(
            _item("1a", NOT_AVAILABLE, "The protocol has no name.", "marts.protocols.protocol_name")
        )
    else:
        items.append(
            _item(
                "1a",
                REPORTED,
                f"“{name}”: an N-of-1 trial, {design or 'design not recorded'} design.",
                "marts.protocols.protocol_name, design_type",
            )
        )
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    its = _first(inputs.rows(tables.ITS_EFFECTS))
    summary = [f"{design} design on {p.get('primary_outcome')}"]
    if test is not None and not _blank(test.get("p_value")):
        summary.append(
            f"randomization test {test.get('statistic')} = {_fmt(test.get('observed_effect'))}, "
            f"p = {_fmt(test.get('p_value'))}"
        )
    if its is not None and not _blank(its.get("effect_mean")):
        summary.append(
            f"ITS effect {_fmt(its.get('effect_mean'))} (95% HDI "
            f"{_fmt(its.get('effect_hdi95_low'))} to {_fmt(its.get('effect_hdi95_high'))})"
        )
    items.append(
        _item(
            "1b",
            REPORTED if len(summary) > 1 else PARTIAL,
            "; ".join(summary) + ("" if len(summary) > 1 else "; no analysis result yet") + ".",
            "marts.protocols; analyses.sced_randomization_test; analyses.its_effects",
        )
    )
    hypothesis = p.get("hypothesis")
    items.append(
        _item(
            "2a",
            PARTIAL if not _blank(hypothesis) else NOT_AVAILABLE,
            f"The pre-registration holds the hypothesis but no separate rationale: “{hypothesis}”."
            if not _blank(hypothesis)
            else "No hypothesis or rationale recorded.",
            "marts.protocols.hypothesis",
        )
    )
    items.append(
        _item(
            "2b",
            REPORTED if not _blank(hypothesis) else NOT_AVAILABLE,
            f"Pre-registered hypothesis: “{hypothesis}”."
            if not _blank(hypothesis)
            else "No hypothesis recorded.",
            "marts.protocols.hypothesis",
        )
    )
    items.append(_schedule_item(inputs))
    deviations = list(inputs.deviations)
    if deviations:
        listed = "; ".join(
            f"{_fmt(d.get('timestamp'))[:10]}: {d.get('reason')}: {d.get('description')}"
            + (f" (phase {d['phase']}" if d.get("phase") else "")
            + (
                f", ended {d['actualEndDate']})"
                if d.get("actualEndDate")
                else (")" if d.get("phase") else "")
            )
            for d in deviations
        )
        answer = f"{len(deviations)} deviation(s) logged: {listed}."
    else:
        answer = "No deviation was logged: the trial ran as registered."
    items.append(_item("3b", REPORTED, answer, "staging.stg_app__experiment_protocols.deviations"))
    return items


def _phase_runs(inputs: CentInputs) -> dict[str, tuple[dt.date, dt.date, int]]:
    """Each phase's first and last observed day and its number of observations."""
    out: dict[str, tuple[dt.date, dt.date, int]] = {}
    for row in inputs.observations:
        label, day = str(row["phase_label"]), _day(row["observation_date"])
        if day is None:
            continue
        first, last, n = out.get(label, (day, day, 0))
        out[label] = (min(first, day), max(last, day), n + 1)
    return out


def _planned_end(phase: Mapping[str, Any]) -> dt.date | None:
    start, duration = _day(phase.get("start_date")), phase.get("planned_duration")
    if start is None or _blank(duration):
        return _day(phase.get("end_date"))
    return start + dt.timedelta(days=int(duration) - 1)


def _schedule_item(inputs: CentInputs) -> CentItem:
    p = inputs.protocol
    seed = p.get("randomization_seed")
    head = (
        f"{p.get('design_type')} design, {_fmt(p.get('n_phases'))} phases from "
        f"{_fmt(p.get('schedule_start_date'))} to {_fmt(p.get('schedule_end_date'))} "
        f"({_fmt(p.get('planned_length'))} days planned); schedule drawn at registration "
        f"with seed {_fmt(seed)}"
    )
    if not _blank(p.get("randomization")):
        head += f", randomization {p.get('randomization')}"
    if not inputs.phases:
        return _item(
            "3a", PARTIAL, head + "; the phase schedule is not in the warehouse.", "marts.protocols"
        )
    ran = _phase_runs(inputs)
    ended = {d.get("phase"): d.get("actualEndDate") for d in inputs.deviations if d.get("phase")}
    parts = []
    for phase in inputs.phases:
        label = str(phase["phase_label"])
        planned = f"{_fmt(phase.get('start_date'))}–{_fmt(_planned_end(phase))}"
        if label in ran:
            first, last, n = ran[label]
            run = f"observed {first.isoformat()}–{last.isoformat()} ({n} days)"
        else:
            run = "no observation"
        if ended.get(label):
            run += f", ended {ended[label]} (deviation)"
        parts.append(f"{label} ({phase.get('phase_type')}): planned {planned}, {run}")
    return _item(
        "3a",
        REPORTED,
        head + ". Schedule as planned and as run: " + "; ".join(parts) + ".",
        "marts.protocols; staging.stg_app__phase_assignments; marts.phase_observations",
    )


def _method_items(inputs: CentInputs) -> list[CentItem]:
    from americano_pipelines.errors import InputError
    from americano_pipelines.registration.analyses import registered_analyses

    p = inputs.protocol
    items = [
        _not_recorded("4a", "diagnosis or eligibility criteria"),
        _not_recorded("4b", "setting or location"),
    ]
    conditions = {}
    for phase in inputs.phases:
        params = _json(phase.get("intervention_params")) or {}
        condition = params.get("condition") if isinstance(params, dict) else None
        shown = {k: v for k, v in params.items() if k != "condition"} if params else {}
        if condition and condition not in conditions:
            conditions[condition] = shown
    if conditions:
        answer = "; ".join(
            f"condition {c}: {json.dumps(v, sort_keys=True) if v else 'no parameters'}"
            for c, v in sorted(conditions.items())
        )
        items.append(
            _item(
                "5",
                REPORTED,
                answer + ".",
                "staging.stg_app__phase_assignments.intervention_params",
            )
        )
    else:
        items.append(
            _item(
                "5",
                NOT_AVAILABLE,
                "No intervention parameters are recorded.",
                "staging.stg_app__phase_assignments.intervention_params",
            )
        )
    outcome = p.get("primary_outcome")
    metrics = sorted({str(row.get("metric")) for row in inputs.observations})
    items.append(
        _item(
            "6a",
            REPORTED if not _blank(outcome) else NOT_AVAILABLE,
            f"Primary outcome {outcome}: one value per day from the study app's behavioral "
            f"events (marts.daily_metrics), observed on each scheduled day "
            f"({', '.join(metrics) or 'no observation yet'} in marts.phase_observations)."
            if not _blank(outcome)
            else "No primary outcome recorded.",
            "marts.protocols.primary_outcome; marts.phase_observations.metric",
        )
    )
    items.append(
        _item(
            "6b",
            REPORTED,
            "The outcome is frozen by the pre-registration triggers; it cannot change after "
            "registration." + (" Deviations logged: see 3b." if inputs.deviations else ""),
            "migrations (pre-registration triggers); staging.stg_app__experiment_protocols",
        )
    )
    justification = _json(p.get("sample_size_justification"))
    target = p.get("sample_size_target")
    if isinstance(justification, dict):
        interval = justification.get("minimumDetectableEffectInterval") or [None, None]
        items.append(
            _item(
                "7a",
                REPORTED,
                f"Target {_fmt(target)} observations. Simulated power of the registered test "
                f"({justification.get('statistic')}, {justification.get('method')}) "
                f"{_fmt(justification.get('power'), 3)} (MCSE {_fmt(justification.get('mcse'), 2)}) "
                f"for an effect of {_fmt(justification.get('effect'))} with SD "
                f"{_fmt(justification.get('sd'))} and autocorrelation "
                f"{_fmt(justification.get('autocorrelation'))}, {justification.get('simulations')} "
                f"simulations; minimum detectable effect {_fmt(justification.get('minimumDetectableEffect'))}"
                f" ({_fmt(interval[0])} to {_fmt(interval[1])}) at power "
                f"{_fmt(justification.get('targetPower'))}.",
                "marts.protocols.sample_size_justification (the protocol file's power:)",
            )
        )
    else:
        items.append(
            _item(
                "7a",
                PARTIAL,
                f"Target {_fmt(target)} observations; no justification: the protocol file had "
                "no power: section.",
                "marts.protocols.sample_size_target, sample_size_justification",
            )
        )
    items.append(_interim_item(inputs))
    seed = p.get("randomization_seed")
    items.append(
        _item(
            "8a",
            REPORTED if not _blank(seed) else NOT_AVAILABLE,
            f"Randomized: the phase-change moments (or session order) were drawn by the platform "
            f"at registration from seed {_fmt(seed)}; the same seed redraws the same schedule."
            if not _blank(seed)
            else "No randomization seed is recorded.",
            "marts.protocols.randomization_seed",
        )
    )
    design = p.get("design_type")
    kind = {
        "ABAB": "restricted: the three phase-change moments, each phase at least "
        f"{_fmt(p.get('min_phase_length'))} days"
        + (
            ""
            if _blank(p.get("min_b_phase_length"))
            else f" (B phases at least {_fmt(p.get('min_b_phase_length'))})"
        ),
        "MULTIPLE_BASELINE": "staggered start points per case, each phase at least "
        f"{_fmt(p.get('min_phase_length'))} days",
        "ALTERNATING": f"session order ({p.get('randomization')}, runs of at most "
        f"{_fmt(p.get('max_consecutive'))})",
    }.get(str(design), f"{design}")
    items.append(
        _item(
            "8b",
            REPORTED,
            f"{design}: {kind}.",
            "marts.protocols.design_type, min_phase_length, randomization",
        )
    )
    items.append(
        _item(
            "9",
            REPORTED,
            "The schedule is stored whole at registration and frozen by database triggers; each "
            "phase is revealed by the app on its start date.",
            "phase_assignments (pre-registration triggers)",
        )
    )
    items.append(
        _item(
            "10",
            REPORTED,
            f"The platform generated the sequence at registration "
            f"({_fmt(p.get('registered_at'))}) on the participant's own session "
            f"(user {p.get('user_id')}); the app assigns each phase's intervention.",
            "marts.protocols.registered_at, user_id",
        )
    )
    items.append(_not_recorded("11a", "blinding"))
    try:
        listed = registered_analyses(p)
        names, explicit = listed.names, listed.explicit
    except InputError as error:
        names, explicit = (), False
        plan_note = f" The analyses list cannot be read: {error}."
    else:
        plan_note = ""
    exploratory = sorted(
        {str(run.get("analysisType")) for run in inputs.runs if run.get("exploratory")}
    )
    plan = p.get("analysis_plan")
    items.append(
        _item(
            "12a",
            REPORTED if names and not _blank(plan) else PARTIAL,
            f"Analysis plan: “{_fmt(plan)}”. Registered analyses "
            f"({'the protocol file’s analyses: list' if explicit else 'the defaults'}): "
            f"{', '.join(names) or 'none'}. Exploratory runs: "
            f"{', '.join(exploratory) or 'none'}.{plan_note}",
            "marts.protocols.analysis_plan, analyses; analysis_runs.inputParams.exploratory",
        )
    )
    extra = []
    for table in (
        tables.CHANGE_POINTS,
        tables.ITS_EFFECTS,
        tables.SYNTHETIC_CONTROL,
        tables.WEARABLE_LINKS,
        tables.SERIES_OF_N1,
    ):
        if table.name in inputs.ran:
            extra.append(table.name)
    if inputs.drift:
        extra.append("drift_columns (weekly Evidently drift)")
    items.append(
        _item(
            "12b",
            REPORTED if extra else NOT_AVAILABLE,
            f"Additional analyses with results: {', '.join(extra)}."
            if extra
            else "No additional analysis has a result for this protocol.",
            "analyses.*",
        )
    )
    return items


def _interim_item(inputs: CentInputs) -> CentItem:
    p = inputs.protocol
    looks = inputs.rows(tables.SEQUENTIAL_LOOKS)
    if not looks:
        return _item(
            "7b",
            REPORTED if not p.get("interim_looks") else NOT_AVAILABLE,
            f"{_fmt(p.get('interim_looks'))} interim looks planned"
            + (
                "; no sequential monitoring result yet."
                if p.get("interim_looks")
                else "; no stopping rule."
            ),
            "marts.protocols.interim_looks; analyses.sequential_monitoring",
        )
    first = looks[0]
    reached = [row for row in looks if row.get("reached")]
    return _item(
        "7b",
        REPORTED,
        f"{len(looks)} looks, {first.get('spending')} alpha spending, {first.get('sides')}-sided, "
        f"alpha {_fmt(first.get('alpha'))}, max n {_fmt(first.get('max_n'))}; "
        f"{len(reached)} reached; decision: {first.get('decision')}.",
        "analyses.sequential_monitoring",
    )


def _result_items(inputs: CentInputs, flow: ObservationFlow) -> list[CentItem]:
    p = inputs.protocol
    items = []
    flow_text = (
        f"Planned days {_fmt(flow.planned)} (scheduled to date {_fmt(flow.scheduled_to_date)}), "
        f"observed {flow.observed}, missing {_fmt(flow.missing)}, quarantined by the quality "
        f"gate {_fmt(flow.quarantined)}, analysed {_fmt(flow.analysed)}; raw events "
        f"quarantined upstream {_fmt(flow.quarantined_events)}."
    )
    complete = flow.planned is not None and flow.quarantined is not None
    items.append(
        _item(
            "13a",
            REPORTED if complete and flow.quarantined_events is not None else PARTIAL,
            flow_text
            + (
                ""
                if flow.quarantined_events is not None
                else " quarantine.behavioral_events is not in the warehouse."
            ),
            "marts.protocols; marts.phase_observations through its gate; quarantine.*",
        )
    )
    rules = (inputs.gate or {}).get("by_rule") or {}
    reasons = ", ".join(f"{rule}: {n}" for rule, n in sorted(rules.items()) if n)
    items.append(
        _item(
            "13b",
            REPORTED if inputs.gate is not None else NOT_AVAILABLE,
            f"{_fmt(flow.missing)} scheduled day(s) without an observation; "
            f"{_fmt(flow.quarantined)} observation(s) refused"
            + (f" ({reasons})" if reasons else "")
            + "."
            if inputs.gate is not None
            else "The protocol has no schedule to hold observations to.",
            "marts.phase_observations (quality gate rules)",
        )
    )
    items.append(
        _item(
            "14a",
            REPORTED,
            f"Registered {_fmt(p.get('registered_at'))}; follow-up from "
            f"{_fmt(p.get('schedule_start_date'))} to {_fmt(p.get('schedule_end_date'))}; last "
            f"observation {_fmt(p.get('last_observation_date'))}.",
            "marts.protocols.registered_at, schedule_*_date, last_observation_date",
        )
    )
    looks = inputs.rows(tables.SEQUENTIAL_LOOKS)
    stopped = next((row for row in looks if row.get("crossed")), None)
    status = p.get("status")
    ended = {
        "completed": "The trial ran its whole schedule.",
        "running": "The trial is still running.",
        "planned": "The trial has not started.",
    }.get(str(status), f"Status {status}.")
    if stopped is not None:
        ended += f" A sequential boundary was crossed at look {stopped.get('look')}."
    items.append(
        _item(
            "14b", REPORTED, ended, "marts.protocols.status; analyses.sequential_monitoring.crossed"
        )
    )
    baseline = [
        float(row["value"])
        for row in inputs.observations
        if str(row.get("condition")) == "A" and not _blank(row.get("value"))
    ]
    items.append(
        _item(
            "15",
            PARTIAL if baseline else NOT_AVAILABLE,
            (
                f"Baseline (condition A) {p.get('primary_outcome')}: mean "
                f"{_fmt(sum(baseline) / len(baseline))} over {len(baseline)} days. The participant's "
                "characteristics are not recorded."
            )
            if baseline
            else "No baseline observation; the participant's characteristics are not recorded.",
            "marts.phase_observations (condition A)",
        )
    )
    by_condition: dict[str, int] = {}
    for row in inputs.observations:
        by_condition[str(row.get("condition"))] = by_condition.get(str(row.get("condition")), 0) + 1
    items.append(
        _item(
            "16",
            REPORTED if by_condition else NOT_AVAILABLE,
            (
                "Analysed "
                + ", ".join(f"{n} day(s) of condition {c}" for c, n in sorted(by_condition.items()))
                + "."
            )
            if by_condition
            else "No observation analysed.",
            "marts.phase_observations (after the quality gate)",
        )
    )
    items.append(_estimation_item(inputs))
    items.append(_ancillary_item(inputs))
    items.append(_not_recorded("19", "harms or unintended effects"))
    items.append(_limitations_item(inputs))
    items.append(_not_recorded("21", "statement on generalisability"))
    items.append(_interpretation_item(inputs))
    items.append(
        _item(
            "23",
            REPORTED,
            f"Pre-registered on this platform as protocol {inputs.protocol_id} at "
            f"{_fmt(p.get('registered_at'))}; no external registry is recorded.",
            "marts.protocols.protocol_id, registered_at",
        )
    )
    items.append(
        _item(
            "24",
            REPORTED,
            f"The frozen protocol {inputs.protocol_id} and its schedule: experiment_protocols and "
            f"phase_assignments (GET /api/research/protocols/{inputs.protocol_id}); their "
            "warehouse copy is marts.protocols.",
            "experiment_protocols; marts.protocols",
        )
    )
    items.append(_not_recorded("25", "funding"))
    return items


def _estimation_item(inputs: CentInputs) -> CentItem:
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    its = _first(inputs.rows(tables.ITS_EFFECTS))
    parts, missing = [], []
    if _skipped(test, tables.RANDOMIZATION_TESTS) is None and test is not None:
        parts.append(
            f"randomization test {test.get('statistic')} = {_fmt(test.get('observed_effect'))}, "
            f"p = {_fmt(test.get('p_value'))} ({test.get('n_assignments')} assignments, "
            f"{'exact' if test.get('exact') else 'sampled'}); NAP {_fmt(test.get('nap'))} "
            f"(SE {_fmt(test.get('nap_se'))}), SMD {_fmt(test.get('smd'))} "
            f"(SE {_fmt(test.get('smd_se'))})"
        )
    else:
        missing.append(_skipped(test, tables.RANDOMIZATION_TESTS))
    if _skipped(its, tables.ITS_EFFECTS) is None and its is not None:
        parts.append(
            f"ITS effect {_fmt(its.get('effect_mean'))} (95% HDI "
            f"{_fmt(its.get('effect_hdi95_low'))} to {_fmt(its.get('effect_hdi95_high'))}, "
            f"P(effect > 0) = {_fmt(its.get('probability_positive'), 3)})"
        )
    else:
        missing.append(_skipped(its, tables.ITS_EFFECTS))
    status = REPORTED if not missing else PARTIAL if parts else NOT_AVAILABLE
    answer = "; ".join(parts) if parts else "No effect estimate"
    if missing:
        answer += ". Not available: " + "; ".join(str(m) for m in missing)
    return _item(
        "17a",
        status,
        answer + ". Tables 1–4 give every estimate.",
        "analyses.sced_randomization_test; analyses.its_effects",
    )


def _ancillary_item(inputs: CentInputs) -> CentItem:
    parts = []
    points = inputs.rows(tables.CHANGE_POINTS)
    if tables.CHANGE_POINTS.name in inputs.ran:
        dates = ", ".join(_fmt(row.get("change_date")) for row in points) or "none found"
        parts.append(f"change points: {dates}")
    else:
        parts.append("change points: not run")
    for row in inputs.drift:
        if row.get("drifted"):
            parts.append(
                f"drift of outcome_{inputs.protocol.get('primary_outcome')} in {row.get('week')}"
            )
    runs = inputs.runs
    exploratory = [r for r in runs if r.get("exploratory")]
    parts.append(f"{len(exploratory)} exploratory run(s)")
    return _item(
        "18",
        REPORTED if tables.CHANGE_POINTS.name in inputs.ran or inputs.drift else PARTIAL,
        "; ".join(parts) + ".",
        "analyses.change_points; analyses.drift_columns; analysis_runs",
    )


def _limitations_item(inputs: CentInputs) -> CentItem:
    notes = []
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    if test is not None and not _blank(test.get("rating")):
        notes.append(
            f"WWC design rating {test.get('rating')}"
            + (
                ""
                if _blank(test.get("standards_reasons"))
                else f" ({test.get('standards_reasons')})"
            )
        )
    its = _first(inputs.rows(tables.ITS_EFFECTS))
    if its is not None and its.get("converged") is False:
        notes.append("the ITS sampler did not converge")
    if not notes:
        return _item(
            "20",
            NOT_AVAILABLE,
            "No design rating or diagnostic is available to state limitations.",
            "analyses.sced_randomization_test.rating",
        )
    return _item(
        "20",
        PARTIAL,
        "; ".join(notes) + ". Carryover and other biases are the investigator's to discuss.",
        "analyses.sced_randomization_test.rating; analyses.its_effects.converged",
    )


def _interpretation_item(inputs: CentInputs) -> CentItem:
    texts = [
        str(row.get("interpretation"))
        for table in (tables.RANDOMIZATION_TESTS, tables.ITS_EFFECTS)
        for row in inputs.rows(table)
        if not _blank(row.get("interpretation"))
    ]
    if not texts:
        return _item(
            "22",
            NOT_AVAILABLE,
            "No analysis has an interpretation yet.",
            "analyses.*.interpretation",
        )
    return _item(
        "22",
        PARTIAL,
        " ".join(texts) + " Harms are not recorded (19).",
        "analyses.sced_randomization_test.interpretation; analyses.its_effects",
    )


def _provenance(inputs: CentInputs) -> tuple[list[dict[str, Any]], CentItem]:
    runs = [
        {
            "id": run.get("id"),
            "analysisType": run.get("analysisType"),
            "runName": run.get("runName"),
            "codeCommitHash": run.get("codeCommitHash"),
            "dataVersionHash": run.get("dataVersionHash"),
            "mlflowRunId": run.get("mlflowRunId"),
            "startedAt": run.get("startedAt"),
            "exploratory": bool(run.get("exploratory")),
            "reproduce": f"americano runs reproduce {run.get('id')}",
        }
        for run in inputs.runs
    ]
    versions = sorted(
        {
            str(row["data_version"])
            for rows in inputs.results.values()
            for row in rows
            if not _blank(row.get("data_version"))
        }
    )
    if runs:
        commits = sorted({str(run["codeCommitHash"]) for run in runs})
        answer = (
            f"{len(runs)} analysis run(s); code commit(s) {', '.join(commits)}; data "
            f"version(s) {', '.join(sorted({str(r['dataVersionHash']) for r in runs}))}; "
            "each number is reproduced by the command next to its run (table P)."
        )
        status = REPORTED
    else:
        answer = (
            "No analysis run is recorded for this protocol"
            + (f" ({inputs.runs_note})" if inputs.runs_note else "")
            + f"; the result tables' data version(s): {', '.join(versions) or 'none'}."
        )
        status = NOT_AVAILABLE if not versions else PARTIAL
    return runs, _item("P", status, answer, "analysis_runs; MLflow; analyses.*.data_version")


# ----------------------------------------------------------------------------- tables


def _table(
    key: str,
    caption: str,
    source: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    reason: str | None,
) -> ResultTable:
    return ResultTable(
        key,
        caption,
        source,
        tuple(columns),
        tuple(tuple(_fmt(v) for v in row) for row in rows),
        None if rows else reason or "no rows",
    )


def _estimates(value: Any, prefix: str = "") -> list[tuple[str, Any, Any, Any, Any]]:
    """(index, estimate, SE, CI low, CI high) of every estimate in a nested effect-size JSON."""
    out: list[tuple[str, Any, Any, Any, Any]] = []
    if isinstance(value, dict):
        if "estimate" in value and not isinstance(value["estimate"], dict):
            ci = value.get("ci95") or [None, None]
            return [(prefix or "estimate", value.get("estimate"), value.get("se"), ci[0], ci[1])]
        for key, inner in value.items():
            out += _estimates(inner, f"{prefix}.{key}" if prefix else str(key))
    return out


def _result_tables(inputs: CentInputs) -> list[ResultTable]:
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    why_test = _skipped(test, tables.RANDOMIZATION_TESTS)
    out = [
        _table(
            "test",
            "Table 1. The registered randomization test.",
            "analyses.sced_randomization_test",
            (
                "design",
                "statistic",
                "observed",
                "p-value",
                "assignments",
                "exact",
                "alpha",
                "significant",
            ),
            []
            if why_test or test is None
            else [
                (
                    test.get("design"),
                    test.get("statistic"),
                    test.get("observed_effect"),
                    test.get("p_value"),
                    test.get("n_assignments"),
                    test.get("exact"),
                    test.get("alpha"),
                    test.get("significant"),
                )
            ],
            why_test,
        )
    ]
    sizes = _result_json(test)
    estimates = _estimates(sizes.get("effectSizes")) or _estimates(
        {"nap": sizes.get("nap"), "smd": sizes.get("smd")}
    )
    out.append(
        _table(
            "effect_sizes",
            "Table 2. Effect sizes with their standard errors and 95% CIs "
            "(SingleCaseES definitions).",
            "analyses.sced_randomization_test.result_json",
            ("index", "estimate", "SE", "CI low", "CI high"),
            estimates,
            why_test or "no effect size recorded",
        )
    )
    its = _first(inputs.rows(tables.ITS_EFFECTS))
    why_its = _skipped(its, tables.ITS_EFFECTS)
    out.append(
        _table(
            "its",
            "Table 3. Bayesian ITS effect (mean over the post period of observed minus "
            "counterfactual) with its 95% HDI and sampler diagnostics.",
            "analyses.its_effects",
            (
                "intervention",
                "effect",
                "SD",
                "HDI low",
                "HDI high",
                "P(>0)",
                "R-hat max",
                "ESS bulk min",
                "ESS tail min",
                "divergences",
                "converged",
            ),
            []
            if why_its or its is None
            else [
                (
                    its.get("intervention_date"),
                    its.get("effect_mean"),
                    its.get("effect_sd"),
                    its.get("effect_hdi95_low"),
                    its.get("effect_hdi95_high"),
                    its.get("probability_positive"),
                    its.get("rhat"),
                    its.get("ess_bulk"),
                    its.get("ess_tail"),
                    its.get("divergences"),
                    its.get("converged"),
                )
            ],
            why_its,
        )
    )
    out.append(
        _table(
            "wwc",
            "Table 4. What Works Clearinghouse design standard and its reasons.",
            "analyses.sced_randomization_test.rating, standards_reasons",
            ("rating", "passes", "reasons"),
            []
            if test is None or _blank(test.get("rating"))
            else [
                (test.get("rating"), test.get("passes"), test.get("standards_reasons") or "none")
            ],
            why_test or "no WWC rating recorded",
        )
    )
    return out


# ----------------------------------------------------------------------------- figures


# One size for every figure (the series' own plot, reports.sced_plots, is 9 x 4 in): at the
# page's one figure width their lettering is the same size; 120 dpi prints sharp at 160 mm.
FIGURE_SIZE = (9, 4)
FIGURE_DPI = 120


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _series_figures(inputs: CentInputs) -> list[CentFigure]:
    from americano_pipelines.reports.sced_plots import plot_phase_series

    rows = [row for row in inputs.observations if not _blank(row.get("value"))]
    outcome = str(inputs.protocol.get("primary_outcome") or "value")
    points = [
        d
        for d in (_day(r.get("change_date")) for r in inputs.rows(tables.CHANGE_POINTS))
        if d is not None
    ]
    if not rows:
        reason = "marts.phase_observations has no observation of this protocol"
        return [
            CentFigure(
                "series",
                "Figure 1. The primary outcome by phase.",
                "marts.phase_observations",
                reason=reason,
            ),
            CentFigure(
                "change_points",
                "Figure 4. Change points in the mean.",
                "analyses.change_points",
                reason=reason,
            ),
        ]
    args = (
        [_day(r["observation_date"]) for r in rows],
        [float(r["value"]) for r in rows],
        [str(r["condition"]) for r in rows],
    )
    labels = [str(r["phase_label"]) for r in rows]
    series = plot_phase_series(
        *args, phase_labels=labels, ylabel=outcome, title=f"{outcome} by phase", dpi=FIGURE_DPI
    )
    figures = [
        CentFigure(
            "series",
            f"Figure 1. {outcome} each day, each phase shaded by its condition, with the "
            "phase means.",
            "marts.phase_observations",
            png=series,
        )
    ]
    if tables.CHANGE_POINTS.name in inputs.ran:
        marked = plot_phase_series(
            *args,
            phase_labels=labels,
            change_point_dates=points,
            ylabel=outcome,
            title=f"{len(points)} change point(s)",
            dpi=FIGURE_DPI,
        )
        figures.append(
            CentFigure(
                "change_points",
                "Figure 4. Change points in the mean (dashed red): "
                + (", ".join(d.isoformat() for d in points) or "none found")
                + ".",
                "analyses.change_points",
                png=marked,
            )
        )
    else:
        figures.append(
            CentFigure(
                "change_points",
                "Figure 4. Change points in the mean.",
                "analyses.change_points",
                reason="analyses.change_points has not run for this protocol",
            )
        )
    return figures


def _its_figure(inputs: CentInputs) -> CentFigure:
    caption = "Figure 2. ITS: observed values, the counterfactual and its 95% HDI band."
    its = _first(inputs.rows(tables.ITS_EFFECTS))
    reason = _skipped(its, tables.ITS_EFFECTS)
    cf = ((_result_json(its).get("result") or {}).get("counterfactual")) or {}
    if reason is None and not cf.get("dates"):
        reason = "analyses.its_effects.result_json holds no counterfactual"
    if reason is not None:
        return CentFigure("its", caption, "analyses.its_effects", reason=reason)
    import numpy as np
    from matplotlib.figure import Figure

    dates = np.asarray(cf["dates"], dtype="datetime64[D]")
    figure = Figure(figsize=FIGURE_SIZE)
    ax = figure.subplots()
    ax.fill_between(
        dates, cf["lower95"], cf["upper95"], color="tab:orange", alpha=0.25, label="95% HDI"
    )
    ax.plot(dates, cf["predicted"], color="tab:orange", label="counterfactual")
    ax.plot(
        dates, cf["observed"], "o-", color="tab:blue", markersize=3, linewidth=1, label="observed"
    )
    ax.axvline(
        np.datetime64(_day(its["intervention_date"])),
        color="black",
        linestyle="--",
        label="intervention",
    )
    ax.set_xlabel("date")
    ax.set_ylabel(str(inputs.protocol.get("primary_outcome") or "value"))
    ax.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    return CentFigure("its", caption, "analyses.its_effects.result_json", png=_png(figure))


def _permutation_figure(inputs: CentInputs) -> CentFigure:
    caption = (
        "Figure 3. The randomization distribution of the test statistic, and the "
        "observed statistic (red)."
    )
    test = _first(inputs.rows(tables.RANDOMIZATION_TESTS))
    reason = _skipped(test, tables.RANDOMIZATION_TESTS)
    inner = _result_json(test).get("test") or {}
    distribution = inner.get("permutationDistribution") or []
    if reason is None and not distribution:
        reason = "the test's result_json holds no permutation distribution"
    if reason is not None:
        return CentFigure("permutation", caption, "analyses.sced_randomization_test", reason=reason)
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE)
    ax = figure.subplots()
    ax.hist(
        distribution,
        bins=min(40, max(5, len(set(distribution)))),
        color="#9db4c0",
        edgecolor="white",
    )
    observed = inner.get("observedEffect", test.get("observed_effect"))
    ax.axvline(observed, color="tab:red", linewidth=2, label=f"observed {_fmt(observed)}")
    ax.set_xlabel(f"statistic {test.get('statistic')}")
    ax.set_ylabel("assignments")
    ax.set_title(
        f"p = {_fmt(test.get('p_value'))}, {len(distribution)} assignments shown", fontsize=9
    )
    ax.legend(fontsize=8)
    return CentFigure(
        "permutation", caption, "analyses.sced_randomization_test.result_json", png=_png(figure)
    )


def _sequential_figure(inputs: CentInputs) -> CentFigure:
    caption = "Figure 5. Group-sequential boundaries and the observed z at each look."
    looks = inputs.rows(tables.SEQUENTIAL_LOOKS)
    if not looks:
        return CentFigure(
            "sequential",
            caption,
            "analyses.sequential_monitoring",
            reason="analyses.sequential_monitoring has no look for this protocol",
        )
    from matplotlib.figure import Figure

    looks = sorted(looks, key=lambda row: int(row["look"]))
    # a reached look's boundary is at its realized information (monitor recomputes it there)
    rates = [
        float(row["information_rate"] if row.get("reached") else row["planned_information_rate"])
        for row in looks
    ]
    bounds = [float(row["critical_value"]) for row in looks]
    figure = Figure(figsize=FIGURE_SIZE)
    ax = figure.subplots()
    ax.plot(rates, bounds, "s-", color="black", label="critical value")
    if int(looks[0].get("sides") or 1) == 2:
        ax.plot(rates, [-b for b in bounds], "s-", color="black")
    reached = [row for row in looks if row.get("reached") and not _blank(row.get("z_statistic"))]
    if reached:
        ax.plot(
            [float(r["information_rate"]) for r in reached],
            [float(r["z_statistic"]) for r in reached],
            "o",
            color="tab:red",
            markersize=7,
            label="observed z",
        )
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("information rate")
    ax.set_ylabel("z")
    ax.set_title(f"{looks[0].get('spending')}, decision: {looks[0].get('decision')}", fontsize=9)
    ax.legend(fontsize=8)
    return CentFigure("sequential", caption, "analyses.sequential_monitoring", png=_png(figure))


def _drift_figure(inputs: CentInputs) -> CentFigure:
    column = f"outcome_{inputs.protocol.get('primary_outcome')}"
    caption = (
        f"Figure 6. Weekly drift of {column} against the reference window (score of "
        "Evidently's test; red: drifted)."
    )
    rows = [row for row in inputs.drift if not _blank(row.get("score"))]
    if not rows:
        return CentFigure(
            "drift",
            caption,
            "analyses.drift_columns",
            reason=f"analyses.drift_columns has no week of {column} for user "
            f"{inputs.protocol.get('user_id')}",
        )
    from matplotlib.figure import Figure

    weeks = [str(row["week"]) for row in rows]
    figure = Figure(figsize=FIGURE_SIZE)
    ax = figure.subplots()
    ax.bar(
        weeks,
        [float(row["score"]) for row in rows],
        color=["tab:red" if row.get("drifted") else "#9db4c0" for row in rows],
    )
    thresholds = {float(row["threshold"]) for row in rows if not _blank(row.get("threshold"))}
    for threshold in thresholds:
        ax.axhline(
            threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}"
        )
    ax.set_ylabel(f"score ({rows[0].get('stat_test')})")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    if thresholds:
        ax.legend(fontsize=8)
    return CentFigure("drift", caption, "analyses.drift_columns", png=_png(figure))


def _figures(inputs: CentInputs) -> list[CentFigure]:
    series, change_points = _series_figures(inputs)
    return [
        series,
        _its_figure(inputs),
        _permutation_figure(inputs),
        change_points,
        _sequential_figure(inputs),
        _drift_figure(inputs),
    ]


# ----------------------------------------------------------------------------- the report


def cent_report(inputs: CentInputs, *, generated_at: dt.datetime | None = None) -> CentReport:
    """The protocol's CENT report: every item of `CENT_ITEMS` with a status, the figures, the
    result tables and the provenance."""
    flow = _flow(inputs)
    runs, provenance_item = _provenance(inputs)
    items = [
        *_design_items(inputs),
        *_method_items(inputs),
        *_result_items(inputs, flow),
        provenance_item,
    ]
    order = {number: i for i, number in enumerate(_ITEM_NUMBERS)}
    items.sort(key=lambda item: order[item.number])
    if [item.number for item in items] != list(_ITEM_NUMBERS):
        raise AssertionError("every CENT item is filled exactly once")
    name = inputs.protocol.get("protocol_name") or inputs.protocol_id
    return CentReport(
        protocol_id=inputs.protocol_id,
        title=f"{name}: CENT 2015 report of an N-of-1 trial",
        items=tuple(items),
        figures=tuple(_figures(inputs)),
        tables=tuple(_result_tables(inputs)),
        provenance=tuple(runs),
        flow=flow,
        generated_at=generated_at or dt.datetime.now(dt.UTC),
    )


def render_html(report: CentReport) -> str:
    """The report as one self-contained HTML page (figures as data URIs, the stylesheet
    inline)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("americano_pipelines.reports", "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["css_string"] = _css_string
    environment.tests["number"] = _looks_numeric
    environment.filters["breakable"] = _breakable
    return environment.get_template("cent.html.j2").render(report=report, flow=report.flow)


def _breakable(value: Any) -> Markup:
    """A dotted name (`marts.protocols.sample_size_justification`), escaped, with a line-break
    opportunity after each `.`, `_` and `/`: a narrow column wraps it between its parts."""
    from markupsafe import Markup, escape

    text = str(escape(value))
    for mark in "._/":
        text = text.replace(mark, mark + "<wbr>")
    return Markup(text)


def _looks_numeric(cell: Any) -> bool:
    """A table cell that is a number (right-aligned, in tabular figures)."""
    try:
        float(str(cell).replace(",", ""))
    except ValueError:
        return False
    return True


def _css_string(value: Any) -> Markup:
    """`value` as the body of a double-quoted CSS string inside <style>: quotes, backslashes,
    line breaks and `<` escaped (so it never ends the string, nor the style element)."""
    from markupsafe import Markup

    text = "".join(c if c.isalnum() or c in " -_.:/()," else f"\\{ord(c):x} " for c in str(value))
    return Markup(text)


# ----------------------------------------------------------------------------- PDF


_CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def pdf_renderer() -> tuple[str | None, str]:
    """The renderer that prints the HTML to PDF here: ("chromium", its path) for headless
    Chromium's print-to-PDF (preferred: it renders the print stylesheet as a browser does), or
    ("weasyprint", version); (None, the reason) when neither is installed."""
    for name in _CHROMIUM:
        path = shutil.which(name)
        if path is not None:
            return "chromium", path
    try:
        import weasyprint
    except ImportError:
        return None, (
            "no PDF renderer is installed: neither Chromium (chromium, google-chrome on PATH) "
            "nor the weasyprint package"
        )
    return "weasyprint", str(getattr(weasyprint, "__version__", "installed"))


def render_pdf(html_path: Path, pdf_path: Path) -> tuple[Path | None, str | None]:
    """Print the HTML file to `pdf_path`; returns (the path, None) or (None, why not)."""
    renderer, detail = pdf_renderer()
    if renderer is None:
        return None, detail
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    if renderer == "weasyprint":
        import weasyprint

        weasyprint.HTML(filename=str(html_path)).write_pdf(str(pdf_path))
        return pdf_path, None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                detail,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf_path}",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or not pdf_path.exists():
        tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return None, f"Chromium could not print the report: {tail[0]}"
    return pdf_path, None
