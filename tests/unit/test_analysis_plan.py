"""The analyses planner: a protocol runs when, and only when, an analysis's data version differs
from the one its inputs give now."""

from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance

from americano_pipelines.definitions import defs
from americano_pipelines.defs.analyses.factory import analysis_data_version
from americano_pipelines.defs.analyses.jobs import ANALYSES
from americano_pipelines.defs.analyses.plan import (
    InputFingerprints,
    stale_protocols,
    with_downstream,
)
from americano_pipelines.defs.versions import DATA_VERSION_TAG


def _prints(fingerprints: dict[str, str], **by_reads: dict[str, str]) -> InputFingerprints:
    """The same fingerprints for whatever an analysis reads, but those given by `reads` name."""
    every = {(), *(spec.reads for spec in ANALYSES)}
    return InputFingerprints(
        {reads: by_reads.get("_".join(reads), fingerprints) for reads in every}
    )


def _record(instance: DagsterInstance, protocol_id: str, fingerprint: str, specs=ANALYSES) -> None:
    for spec in specs:
        version = analysis_data_version(spec.code_version, fingerprint, spec.default_run_config())
        instance.report_runless_asset_event(
            AssetMaterialization(spec.key, partition=protocol_id, tags={DATA_VERSION_TAG: version})
        )


def test_never_analysed_protocols_are_stale_in_every_analysis() -> None:
    with DagsterInstance.ephemeral() as instance:
        plans = stale_protocols(instance, ANALYSES, _prints({"p1": "f1", "p2": "f2"}))
    assert [plan.protocol_id for plan in plans] == ["p1", "p2"]
    assert all(set(plan.stale) == {spec.key for spec in ANALYSES} for plan in plans)


def test_current_protocols_get_no_run_and_changed_inputs_do() -> None:
    with DagsterInstance.ephemeral() as instance:
        _record(instance, "p1", "f1")
        _record(instance, "p2", "f2")
        assert stale_protocols(instance, ANALYSES, _prints({"p1": "f1", "p2": "f2"})) == []
        plans = stale_protocols(instance, ANALYSES, _prints({"p1": "f1", "p2": "f2-new"}))
        assert [plan.protocol_id for plan in plans] == ["p2"]
        # the newest materialization of a partition is the one compared
        _record(instance, "p2", "f2-new")
        assert stale_protocols(instance, ANALYSES, _prints({"p1": "f1", "p2": "f2-new"})) == []


def test_a_new_code_version_reruns_that_analysis_and_what_follows_it() -> None:
    change_points, randomization, *others = ANALYSES
    with DagsterInstance.ephemeral() as instance:
        _record(instance, "p1", "f1", specs=(randomization, *others))
        _record(instance, "p1", "old-code", specs=(change_points,))
        (plan,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f1"}))
    assert plan.stale == (change_points.key,)
    keys = [spec.key for spec in ANALYSES]
    selection = with_downstream(plan.stale, keys, defs.resolve_asset_graph())
    # the randomization test's plot marks the change points: it follows them
    assert set(selection) == {change_points.key, randomization.key}


def test_what_an_analysis_reads_besides_reruns_that_analysis_only() -> None:
    """New wearable days rerun the wearable links, new donor days the synthetic control; the
    analyses that read neither stay current."""
    by_key = {spec.key.path[-1]: spec for spec in ANALYSES}
    wearable_links, synthetic_control = by_key["wearable_links"], by_key["synthetic_control"]
    with DagsterInstance.ephemeral() as instance:
        _record(instance, "p1", "f1")
        assert stale_protocols(instance, ANALYSES, _prints({"p1": "f1"})) == []
        (plan,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f1"}, wearables={"p1": "w"}))
        assert plan.stale == (wearable_links.key,)
        (plan,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f1"}, donors={"p1": "d"}))
        assert plan.stale == (synthetic_control.key,)


def test_the_run_key_names_the_protocol_and_its_inputs() -> None:
    with DagsterInstance.ephemeral() as instance:
        (first,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f1"}))
        (again,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f1"}))
        (changed,) = stale_protocols(instance, ANALYSES, _prints({"p1": "f2"}))
    assert first.run_key == again.run_key != changed.run_key
    assert first.run_key.startswith("analyses:p1:")
    request = first.run_request([spec.key for spec in ANALYSES])
    assert request.partition_key == "p1"


def test_the_data_version_follows_code_inputs_and_run_config() -> None:
    base = analysis_data_version("1", "f", {"draws": 500})
    assert base == analysis_data_version("1", "f", {"draws": 500})
    assert (
        len(
            {
                base,
                analysis_data_version("2", "f", {"draws": 500}),
                analysis_data_version("1", "g", {"draws": 500}),
                analysis_data_version("1", "f", {"draws": 100}),
            }
        )
        == 4
    )
