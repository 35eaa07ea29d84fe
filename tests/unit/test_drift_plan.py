"""Which weekly_drift partitions `make demo` runs: the ISO weeks of the users' days (the latest
AMERICANO_DEMO_DRIFT_WEEKS), less those computed from the same raw data by the same code."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetMaterialization, DagsterInstance, DataVersion

from americano_pipelines.config import get_settings
from americano_pipelines.defs.drift.assets import CODE_VERSION, KEY
from americano_pipelines.defs.drift.plan import plan_drift, week_keys
from americano_pipelines.defs.versions import CODE_VERSION_TAG, DATA_VERSION_TAG
from americano_pipelines.errors import InputError

RANGES = {
    "u1": (dt.date(2025, 9, 3), dt.date(2025, 9, 20)),
    "u2": (dt.date(2025, 9, 8), dt.date(2025, 9, 29)),
}


def test_the_weeks_run_from_the_first_day_to_the_last_keyed_by_monday() -> None:
    assert week_keys(dt.date(2025, 9, 3), dt.date(2025, 9, 29)) == [
        "2025-09-01",
        "2025-09-08",
        "2025-09-15",
        "2025-09-22",
        "2025-09-29",
    ]


def _materialize(instance: DagsterInstance, week: str, data_version: str, code: str) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key=KEY,
            partition=week,
            tags={CODE_VERSION_TAG: code, DATA_VERSION_TAG: data_version},
        )
    )


def test_only_weeks_not_computed_from_this_data_by_this_code_are_stale() -> None:
    with DagsterInstance.ephemeral() as instance:
        plan = plan_drift(instance, RANGES, latest=None)
        assert plan.weeks == plan.stale and len(plan.weeks) == 5
        assert plan_drift(instance, RANGES, latest=2).weeks == ("2025-09-22", "2025-09-29")
        assert plan_drift(instance, RANGES, latest=9).weeks == plan.weeks
        assert plan_drift(instance, {}, latest=None).run_requests() == []
        # no raw data version yet: a week recorded without one is current
        _materialize(instance, "2025-09-22", DataVersion("x").value, CODE_VERSION)
        _materialize(instance, "2025-09-29", DataVersion("x").value, "old")
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key=["raw", "data_version"], metadata={"dvc_hash": "x"})
        )
        stale = plan_drift(instance, RANGES, latest=2)
        assert stale.stale == ("2025-09-29",)  # other code
        assert [r.partition_key for r in stale.run_requests()] == ["2025-09-29"]


def test_the_week_count_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMERICANO_DEMO_DRIFT_WEEKS", raising=False)
    assert get_settings().demo_drift_week_count == 4
    monkeypatch.setenv("AMERICANO_DEMO_DRIFT_WEEKS", "all")
    assert get_settings().demo_drift_week_count is None
    monkeypatch.setenv("AMERICANO_DEMO_DRIFT_WEEKS", "-1")
    with pytest.raises(InputError) as error:
        get_settings().demo_drift_week_count  # noqa: B018
    assert error.value.field == "AMERICANO_DEMO_DRIFT_WEEKS"
