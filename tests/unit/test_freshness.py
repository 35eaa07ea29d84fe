"""An asset the nightly plan found current (not rebuilt) passes its freshness check: the
observation that says so is read by Dagster's last-update check."""

from __future__ import annotations

from dagster import AssetSelection, asset, materialize
from dagster._core.test_utils import instance_for_test

from americano_pipelines.defs.freshness import freshness_checks, record_verified_current


@asset
def mart() -> int:
    return 1


def test_an_asset_verified_current_after_its_materialization_passes_its_freshness_check() -> None:
    checks = freshness_checks([mart.key])
    with instance_for_test() as instance:
        assert materialize([mart], instance=instance).success
        record_verified_current(instance, [mart.key], by="nightly_refresh")
        result = materialize(
            [mart, *checks], instance=instance, selection=AssetSelection.checks(*checks)
        )
        assert result.success
        assert [evaluation.passed for evaluation in result.get_asset_check_evaluations()] == [True]
