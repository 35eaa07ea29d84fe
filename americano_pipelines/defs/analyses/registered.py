"""Pre-registration honored: a protocol's partition runs only the analyses it registered.

Scheduled runs (the nightly schedule, the phase-end sensor, `make demo`) materialize every
analysis asset of a protocol's partition; an analysis the protocol did not register (its
`analyses:` list, or the defaults without one: `registration.analyses`) is then not run. Its
materialization computes and writes nothing and says so: `registered: false`,
`status: skipped`, and why.

A run launched by hand with the tag `americano/exploratory=true` (the launchpad's tags, or
`dagster asset materialize … --tags`) runs it anyway; the result marks itself `exploratory`
(its JSON, its metadata, its `analysis_runs.input_params`), as `americano analyze protocol`
does from the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MaterializeResult

from americano_pipelines.registration.analyses import is_registered, registered_analyses

__all__ = ["EXPLORATORY_TAG", "unregistered_result"]

EXPLORATORY_TAG = "americano/exploratory"
"""Run tag: "true" runs analyses a protocol did not register, as exploratory."""


def unregistered_result(
    analysis: str | None,
    row: Mapping[str, Any],
    run_tags: Mapping[str, str],
    check_name: str | None = None,
) -> MaterializeResult | None:
    """None when `analysis` runs for the protocol of `row` (registered, or the run is tagged
    exploratory, or the asset is not a registrable analysis); otherwise the result of a
    partition that is not run, with the asset's check (if any) answered too."""
    if analysis is None or is_registered(row, analysis):
        return None
    if run_tags.get(EXPLORATORY_TAG, "").strip().lower() == "true":
        return None
    protocol_id = str(row.get("protocol_id"))
    registered = ", ".join(registered_analyses(row).names)
    reason = (
        f"{analysis} is not among the analyses protocol {protocol_id} registered "
        f"({registered}); a run tagged {EXPLORATORY_TAG}=true runs it as exploratory"
    )
    checks = None
    if check_name is not None:
        checks = [
            AssetCheckResult(
                check_name=check_name,
                passed=False,
                severity=AssetCheckSeverity.WARN,
                description=f"{protocol_id}: not run: {reason}",
                metadata={"protocol_id": protocol_id, "registered": False},
            )
        ]
    return MaterializeResult(
        metadata={
            "registered": False,
            "status": "skipped",
            "reason": reason,
            "registered_analyses": registered,
        },
        check_results=checks,
    )
