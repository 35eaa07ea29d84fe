"""Which protocols need a run of `protocol_analyses`: their analyses out of date
(`defs.analyses.plan`), or only their CENT report (`report_data_versions`: new code, a renderer
installed, an upstream materialized since). A protocol whose analyses run gets its report in
the same run (it depends on them); one whose analyses and report are current gets no run. The
`new_protocols` sensor and `americano demo` ask this module."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, DagsterInstance, RunRequest

from americano_pipelines.defs.analyses.jobs import ANALYSES
from americano_pipelines.defs.analyses.plan import (
    InputFingerprints,
    ProtocolPlan,
    stale_protocols,
    with_downstream,
)
from americano_pipelines.defs.reports.assets import CENT_REPORT, report_data_versions
from americano_pipelines.defs.versions import last_materialization_by_partition

PROTOCOL_ASSETS: tuple[AssetKey, ...] = (*(spec.key for spec in ANALYSES), CENT_REPORT)
"""Every per-protocol asset of the `protocol_analyses` job."""


def protocol_plans(
    instance: DagsterInstance, fingerprints: InputFingerprints
) -> list[ProtocolPlan]:
    """The protocols with an analysis or a report out of date, each with what is stale and the
    versions expected (the report's as its inputs give it now, so that a run key changes with
    it)."""
    from americano_pipelines.reports.cent import pdf_renderer

    renderer, _ = pdf_renderer()
    analyses = {
        plan.protocol_id: plan for plan in stale_protocols(instance, ANALYSES, fingerprints)
    }
    protocol_ids = fingerprints.protocol_ids
    own = fingerprints.by_reads[()]
    reports = report_data_versions(instance, {p: own.get(p) for p in protocol_ids}, renderer)
    recorded = last_materialization_by_partition(instance, CENT_REPORT, protocol_ids)
    plans = []
    for protocol_id in protocol_ids:
        plan = analyses.get(protocol_id)
        version = reports[protocol_id]
        last = recorded.get(protocol_id)
        if plan is None and last is not None and last.data_version == version:
            continue
        stale = (*(() if plan is None else plan.stale), CENT_REPORT)
        expected = {**({} if plan is None else plan.expected), CENT_REPORT: version}
        plans.append(ProtocolPlan(protocol_id, stale, expected))
    return plans


def protocol_run_requests(plans: Sequence[ProtocolPlan], graph) -> list[RunRequest]:
    """One run per plan: what is stale and what depends on it among the protocol's assets (the
    randomization test follows the change points; the report follows every analysis)."""
    return [plan.run_request(with_downstream(plan.stale, PROTOCOL_ASSETS, graph)) for plan in plans]
