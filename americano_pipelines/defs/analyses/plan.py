"""Which protocols' analyses are out of date, and the runs that bring them up to date.

An analysis of a protocol is current when the data version of its last materialization equals
the one its inputs give now (`factory.analysis_data_version`: its code version, the protocol's
input fingerprint of what the analysis reads, the default run config). The `new_protocols`
sensor and `americano demo` ask this module; a protocol whose analyses are all current gets no
run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, AssetSelection, DagsterInstance, RunRequest

from americano_pipelines.defs.analyses.factory import AnalysisSpec, analysis_data_version
from americano_pipelines.defs.versions import last_materialization_by_partition
from americano_pipelines.warehouse import tables


@dataclass(frozen=True)
class InputFingerprints:
    """Every protocol's input fingerprints (`tables.protocol_input_fingerprints`): of its own
    inputs (`reads` `()`), and with each set of extra inputs an analysis `reads`."""

    by_reads: Mapping[tuple[str, ...], Mapping[str, str]]

    @classmethod
    def read(cls, conn: Any, specs: Sequence[AnalysisSpec]) -> InputFingerprints:
        """The fingerprints the analyses of `specs` need, one query per set of `reads`."""
        wanted = {(), *(spec.reads for spec in specs)}
        return cls({reads: tables.protocol_input_fingerprints(conn, reads) for reads in wanted})

    @property
    def protocol_ids(self) -> list[str]:
        return sorted(self.by_reads[()])

    def of(self, spec: AnalysisSpec, protocol_id: str) -> str | None:
        """The fingerprint of what `spec` reads of the protocol."""
        return self.by_reads[spec.reads].get(protocol_id)


@dataclass(frozen=True)
class ProtocolPlan:
    """A protocol whose analyses are out of date: which, and the versions they will have."""

    protocol_id: str
    stale: tuple[AssetKey, ...]
    expected: Mapping[AssetKey, str]

    @property
    def run_key(self) -> str:
        """One run per protocol and set of inputs: a sensor asked twice launches once."""
        versions = ",".join(self.expected[key] for key in sorted(self.expected))
        return f"analyses:{self.protocol_id}:{versions}"

    def run_request(self, selection: Sequence[AssetKey]) -> RunRequest:
        return RunRequest(
            run_key=self.run_key,
            partition_key=self.protocol_id,
            asset_selection=list(selection),
            tags={"americano/reason": "inputs changed"},
        )


def stale_protocols(
    instance: DagsterInstance, specs: Sequence[AnalysisSpec], fingerprints: InputFingerprints
) -> list[ProtocolPlan]:
    """The protocols (of `fingerprints`) with an analysis whose last materialization is missing
    or of another data version."""
    protocol_ids = fingerprints.protocol_ids
    expected = {
        protocol_id: {
            spec.key: analysis_data_version(
                spec.code_version, fingerprints.of(spec, protocol_id), spec.default_run_config()
            )
            for spec in specs
        }
        for protocol_id in protocol_ids
    }
    recorded = {
        spec.key: last_materialization_by_partition(instance, spec.key, protocol_ids)
        for spec in specs
    }
    plans = []
    for protocol_id in protocol_ids:
        stale = tuple(
            spec.key
            for spec in specs
            if (last := recorded[spec.key].get(protocol_id)) is None
            or last.data_version != expected[protocol_id][spec.key]
        )
        if stale:
            plans.append(ProtocolPlan(protocol_id, stale, expected[protocol_id]))
    return plans


def with_downstream(stale: Sequence[AssetKey], within: Sequence[AssetKey], graph) -> list[AssetKey]:
    """`stale` and what depends on it among `within` (the randomization test marks the change
    points on its plot, so it follows them)."""
    keys = AssetSelection.assets(*stale).downstream().resolve(graph)
    return sorted(key for key in keys if key in set(within))
