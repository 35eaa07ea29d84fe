"""`reports/cent_report`: each protocol's CENT 2015 report, after its analyses.

One partition per protocol, like the analyses. It reads the warehouse (read-only), the
protocol's result files and its analysis runs, and calls `reports.cent.write_cent_report`, what
`americano report --protocol ID` calls: `<reports>/<protocol>/cent_report.html` always, and
`cent_report.pdf` when headless Chromium (or WeasyPrint) is installed; the materialization links
both and says plainly when there is no PDF, and why.

It depends on every analysis of the protocol and on the weekly drift reports (every week: the
report shows the primary outcome's drift), so the UI draws it after them; it runs in the same
job (`protocol_analyses`), so the phase-end sensor, the nightly chain and `americano demo`
launch it with the analyses. Its data version (`report_data_version`) is a hash of its code
version, the protocol's input fingerprint, the last materialization of each upstream partition
and of the drift reports, and which renderer prints the PDF: the planner
(`defs.reports.plan`) runs it only when one of them changed.
"""

import hashlib
import json
from collections.abc import Mapping

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

from americano_pipelines.defs.analyses.factory import (
    REPORTS_GROUP,
    metadata_without_none,
    raw_data_version,
)
from americano_pipelines.defs.analyses.jobs import ANALYSES
from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.drift.assets import KEY as DRIFT_KEY
from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.defs.versions import (
    last_materialization,
    last_materialization_by_partition,
)
from americano_pipelines.warehouse import tables

__all__ = ["CENT_REPORT", "CODE_VERSION", "cent_report", "report_assets", "report_data_version"]

CENT_REPORT = AssetKey([REPORTS_GROUP, "cent_report"])
CODE_VERSION = "1"
"""Raise it when what the report shows or how it looks changes (reports/cent.py, its template):
every protocol's report is then written again, and nothing else."""
UPSTREAM = tuple(spec.key for spec in ANALYSES)


def _storage_id(recorded) -> int | None:
    return None if recorded is None else recorded.storage_id


def report_data_versions(
    instance: DagsterInstance, fingerprints: Mapping[str, str | None], renderer: str | None
) -> dict[str, str]:
    """The data version each protocol's report (of `fingerprints`: protocol id -> its input
    fingerprint) has when made now: a hash of the report's code version, the fingerprint, the
    last materialization of each analysis partition and of the drift reports, and `renderer`
    (`reports.cent.pdf_renderer()`'s name: installing Chromium later makes the PDF)."""
    protocol_ids = sorted(fingerprints)
    upstream = {
        key: last_materialization_by_partition(instance, key, protocol_ids) for key in UPSTREAM
    }
    drift = _storage_id(last_materialization(instance, DRIFT_KEY))
    versions = {}
    for protocol_id in protocol_ids:
        parts = [
            CODE_VERSION,
            fingerprints[protocol_id],
            {key.to_user_string(): _storage_id(upstream[key].get(protocol_id)) for key in UPSTREAM},
            drift,
            renderer,
        ]
        text = json.dumps(parts, sort_keys=True, default=str)
        versions[protocol_id] = hashlib.sha256(text.encode()).hexdigest()[:24]
    return versions


def report_data_version(
    instance: DagsterInstance, protocol_id: str, fingerprint: str | None, renderer: str | None
) -> str:
    """`report_data_versions` of one protocol."""
    return report_data_versions(instance, {protocol_id: fingerprint}, renderer)[protocol_id]


@asset(
    key=CENT_REPORT,
    group_name=REPORTS_GROUP,
    partitions_def=protocols,
    deps=[
        *UPSTREAM,
        # every week's drift: the report shows the drift of the protocol's primary outcome
        AssetDep(DRIFT_KEY, partition_mapping=AllPartitionMapping()),
    ],
    kinds={"python", "html", "pdf"},
    code_version=CODE_VERSION,
    owners=[OWNER],
    description="The protocol's CENT 2015 report (checklist, observation flow, figures, result "
    "tables, provenance) as one self-contained HTML file and, when headless Chromium is "
    "installed, a PDF of the same content: reports/<protocol>/cent_report.{html,pdf}.",
)
def cent_report(
    context: AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsResource
) -> MaterializeResult:
    from americano_pipelines.reports import cent

    protocol_id = context.partition_key
    current = settings.get()
    renderer, _ = cent.pdf_renderer()
    with warehouse.get_connection(read_only=True) as conn:
        fingerprint = tables.protocol_input_fingerprints(conn).get(protocol_id)
        written = cent.write_cent_report(conn, current, protocol_id)
    version = report_data_version(context.instance, protocol_id, fingerprint, renderer)
    report = written.report
    if written.pdf is None:
        context.log.warning(f"{protocol_id}: no PDF of the CENT report: {written.pdf_reason}")
    return MaterializeResult(
        metadata={
            "html": MetadataValue.path(str(written.html)),
            "html_url": MetadataValue.url(written.html.resolve().as_uri()),
            **(
                {
                    "pdf": MetadataValue.path(str(written.pdf)),
                    "pdf_url": MetadataValue.url(written.pdf.resolve().as_uri()),
                }
                if written.pdf is not None
                else {"pdf": "not written", "pdf_reason": written.pdf_reason}
            ),
            "pdf_renderer": renderer or "none",
            "items": len(report.items),
            "items_not_fully_answered": len(report.missing),
            "missing": ", ".join(report.missing) or "none",
            "figures_drawn": sum(figure.png is not None for figure in report.figures),
            "analysis_runs": len(report.provenance),
            **metadata_without_none(
                runs_note=written.runs_note,
                input_fingerprint=fingerprint,
                data_version=raw_data_version(context),
            ),
        },
        data_version=DataVersion(version),
    )


report_assets = [cent_report]
