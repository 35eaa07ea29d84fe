"""dbt's tests of the analyses' result tables, as Dagster checks of the assets that write them.

The tables are the dbt source `analyses` (dbt_project/models/staging/_analyses_sources.yml), the
analyses' Parquet result files, each mapped to the asset that writes it. dbt's build leaves their tests out
(dbt_project/selectors.yml): it runs before the analyses, and on a new warehouse before the
tables exist. Here one `dbt test` runs them after a protocol's analyses have written, and each
table's tests become the check `dbt_source_tests` of its asset. The tests read the whole table,
every protocol's rows.
"""

import os
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    Failure,
    MetadataValue,
    multi_asset_check,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from americano_pipelines.config import dbt_environment
from americano_pipelines.defs.resources import SettingsResource
from americano_pipelines.defs.transform.assets import warehouse_models

SOURCE = "analyses"
CHECK_NAME = "dbt_source_tests"
# dbt's statuses of a test that holds ("warn": a test configured as a warning only).
PASSING = ("pass", "warn")


def source_tables(
    manifest: Mapping[str, Any], translator: DagsterDbtTranslator
) -> dict[str, AssetKey]:
    """Each table of the source `analyses` and the key of the asset that writes it."""
    return {
        props["name"]: translator.get_asset_key(props)
        for props in manifest["sources"].values()
        if props["source_name"] == SOURCE
    }


def source_test_outcomes(
    manifest: Mapping[str, Any], run_results: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """The results in dbt's run_results.json of the tests of each `analyses` table: the test's
    name, its status (pass, fail, error, warn), failing rows and dbt's message."""
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for result in run_results.get("results", []):
        node = manifest["nodes"].get(result["unique_id"], {})
        for source_name, table in node.get("sources", []):
            if source_name == SOURCE:
                outcomes.setdefault(table, []).append(
                    {
                        "test": node["name"],
                        "status": result["status"],
                        "failures": result.get("failures"),
                        "message": result.get("message"),
                    }
                )
    return outcomes


_MANIFEST, _TRANSLATOR, _ = get_manifest_and_translator_from_dbt_assets([warehouse_models])
TABLE_ASSETS = source_tables(_MANIFEST, _TRANSLATOR)


@multi_asset_check(
    name="analyses_dbt_source_tests",
    specs=[
        AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=f"dbt's tests of {SOURCE}.{table} pass (keys, enums, p-values and other "
            "probabilities in [0, 1]: dbt_project/models/staging/_analyses_sources.yml).",
        )
        for table, key in sorted(TABLE_ASSETS.items())
    ],
    can_subset=True,
)
def analyses_source_tests(
    context: AssetCheckExecutionContext, dbt: DbtCliResource, settings: SettingsResource
) -> Iterator[AssetCheckResult]:
    selected = {
        table: key
        for table, key in TABLE_ASSETS.items()
        if AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys
    }
    # dbt reads the result files' folder from these (see the source's external_location); the
    # target `results` is an in-memory database, so the tests never hold the warehouse's lock.
    os.environ.update(dbt_environment(settings.get()))
    selection = " ".join(f"source:{SOURCE}.{table}" for table in sorted(selected))
    invocation = dbt.cli(
        ["test", "--target", "results", "--select", selection],
        manifest=_MANIFEST,
        raise_on_error=False,
    ).wait()
    try:
        run_results = invocation.get_artifact("run_results.json")
    except FileNotFoundError:
        raise Failure(
            f"dbt test --select {selection} did not run: {invocation.get_error()}"
        ) from None
    outcomes = source_test_outcomes(_MANIFEST, run_results)
    for table, key in sorted(selected.items()):
        results = outcomes.get(table, [])
        failed = [r for r in results if r["status"] not in PASSING]
        yield AssetCheckResult(
            asset_key=key,
            check_name=CHECK_NAME,
            passed=bool(results) and not failed,
            metadata={
                "table": f"{SOURCE}.{table}",
                "tests": len(results),
                "failed": MetadataValue.json(failed),
            },
        )


analyses_checks = [analyses_source_tests]
