"""Pre-registration honored: a protocol's partition runs only the analyses it registered.

Scheduled runs (the nightly schedule, the sensors, `americano demo`) materialize a protocol's
analysis assets; an analysis the protocol did not register (its `analyses:` list, or the
defaults without one: `registration.analyses`) is then not run. Its materialization computes
nothing, removes the partition's result file if an exploratory run left one (the warehouse's
`analyses.*` views hold registered analyses only), and says so: `registered: false`,
`status: skipped`, and why. It carries the data version its inputs give, so the planners
(`defs.analyses.plan`) count it as current and do not ask again until the inputs change.

A run launched by hand with the tag `americano/exploratory=true` (the launchpad's tags) runs it
anyway; the result marks itself `exploratory` (its JSON, its metadata, its
`analysis_runs.input_params`), as `americano analyze protocol` does from the command line. Its
data version differs from the one the inputs give, so the next scheduled pass runs the
partition again, as not run: the exploratory result stays in the run's history and provenance,
not in the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, DataVersion, MaterializeResult

from americano_pipelines.registration.analyses import is_registered, registered_analyses

__all__ = ["EXPLORATORY_TAG", "Registration", "registration"]

EXPLORATORY_TAG = "americano/exploratory"
"""Run tag: "true" runs analyses a protocol did not register, as exploratory."""


@dataclass(frozen=True)
class Registration:
    """Whether a partition's analysis runs: `registered` by its protocol, or asked for by hand
    (`requested`, the exploratory tag)."""

    analysis: str | None
    protocol_id: str
    registered: bool
    requested: bool
    registered_names: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        return self.registered or self.requested

    @property
    def exploratory(self) -> bool:
        """Runs although its protocol did not register it."""
        return self.requested and not self.registered

    def data_version(self, inputs_version: str) -> str:
        """The data version of the materialization: its inputs' one, marked when exploratory."""
        return f"{inputs_version}-exploratory" if self.exploratory else inputs_version

    def not_run(
        self, data_version: str, result_file: Path, check_name: str | None = None
    ) -> MaterializeResult:
        """The materialization of an analysis the protocol did not register: nothing computed,
        the partition's result file gone, the asset's check (if any) answered."""
        Path(result_file).unlink(missing_ok=True)
        reason = (
            f"{self.analysis} is not among the analyses protocol {self.protocol_id} registered "
            f"({', '.join(self.registered_names)}); a run tagged {EXPLORATORY_TAG}=true runs it "
            "as exploratory"
        )
        checks = None
        if check_name is not None:
            checks = [
                AssetCheckResult(
                    check_name=check_name,
                    passed=False,
                    severity=AssetCheckSeverity.WARN,
                    description=f"{self.protocol_id}: not run: {reason}",
                    metadata={"protocol_id": self.protocol_id, "registered": False},
                )
            ]
        return MaterializeResult(
            metadata={
                "registered": False,
                "status": "skipped",
                "reason": reason,
                "registered_analyses": ", ".join(self.registered_names),
            },
            check_results=checks,
            data_version=DataVersion(data_version),
        )


def registration(
    analysis: str | None, row: Mapping[str, Any], run_tags: Mapping[str, str]
) -> Registration:
    """Whether `analysis` runs for the protocol of `row` in a run with `run_tags`. An asset that
    is no registrable analysis (`analysis` None) always runs, as registered."""
    protocol_id = str(row.get("protocol_id"))
    if analysis is None or is_registered(row, analysis):
        return Registration(analysis, protocol_id, registered=True, requested=False)
    return Registration(
        analysis,
        protocol_id,
        registered=False,
        requested=run_tags.get(EXPLORATORY_TAG, "").strip().lower() == "true",
        registered_names=registered_analyses(row).names,
    )
