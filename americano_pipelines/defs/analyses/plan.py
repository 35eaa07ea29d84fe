"""Which protocols' analyses are out of date, and the runs that bring them up to date.

An analysis of a protocol is current when the data version of its last materialization equals
the one its inputs give now (`factory.analysis_data_version`: its code version, the protocol's
input fingerprint, the default run config). The `new_protocols` sensor and `americano demo` ask
this module; a protocol whose analyses are all current gets no run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster import AssetKey, AssetSelection, DagsterInstance, RunRequest

from americano_pipelines.defs.analyses.factory import AnalysisSpec, analysis_data_version
from americano_pipelines.defs.versions import last_materialization_by_partition


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
    instance: DagsterInstance, specs: Sequence[AnalysisSpec], fingerprints: Mapping[str, str]
) -> list[ProtocolPlan]:
    """The protocols (of `fingerprints`, from `tables.protocol_input_fingerprints`) with an
    analysis whose last materialization is missing or of another data version."""
    expected = {
        protocol_id: {
            spec.key: analysis_data_version(
                spec.code_version, fingerprint, spec.default_run_config()
            )
            for spec in specs
        }
        for protocol_id, fingerprint in fingerprints.items()
    }
    recorded = {
        spec.key: last_materialization_by_partition(instance, spec.key, fingerprints)
        for spec in specs
    }
    plans = []
    for protocol_id in sorted(fingerprints):
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
