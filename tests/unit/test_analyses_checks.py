"""The analyses' dbt source tests become one check result per table, on the asset writing it."""

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator

from americano_pipelines.defs.analyses.checks import (
    TABLE_ASSETS,
    source_tables,
    source_test_outcomes,
)
from americano_pipelines.defs.transform.assets import translator

MANIFEST = {
    "sources": {
        "source.americano.analyses.change_points": {
            "resource_type": "source",
            "source_name": "analyses",
            "name": "change_points",
            "meta": {},
        },
        "source.americano.analyses.its_effects": {
            "resource_type": "source",
            "source_name": "analyses",
            "name": "its_effects",
            "meta": {"dagster": {"asset_key": ["analyses", "its_posterior"]}},
        },
        "source.americano.raw.users": {
            "resource_type": "source",
            "source_name": "raw",
            "name": "users",
            "meta": {},
        },
    },
    "nodes": {
        "test.americano.not_null_cp": {
            "name": "not_null_cp",
            "sources": [["analyses", "change_points"]],
        },
        "test.americano.range_cp": {"name": "range_cp", "sources": [["analyses", "change_points"]]},
        "test.americano.unique_its": {
            "name": "unique_its",
            "sources": [["analyses", "its_effects"]],
        },
        "test.americano.unique_users": {"name": "unique_users", "sources": [["raw", "users"]]},
    },
}


def test_each_analyses_table_maps_to_the_asset_writing_it() -> None:
    assert source_tables(MANIFEST, translator) == {
        "change_points": AssetKey(["analyses", "change_points"]),
        "its_effects": AssetKey(["analyses", "its_posterior"]),
    }
    assert source_tables(MANIFEST, DagsterDbtTranslator())["its_effects"] == AssetKey(
        ["analyses", "its_posterior"]
    )


def test_the_project_declares_every_table_the_analyses_write() -> None:
    """Each analysis asset's result table is a dbt source, mapped to that asset."""
    from americano_pipelines.defs.analyses.jobs import ANALYSES
    from americano_pipelines.warehouse.tables import DRIFT_COLUMNS

    assert {table: key.to_user_string() for table, key in TABLE_ASSETS.items()} == {
        **{spec.table.name: f"analyses/{spec.name}" for spec in ANALYSES},
        DRIFT_COLUMNS.name: "drift/weekly_drift",
    }


def test_outcomes_are_grouped_by_table_and_other_sources_ignored() -> None:
    run_results = {
        "results": [
            {"unique_id": "test.americano.not_null_cp", "status": "pass", "failures": 0},
            {
                "unique_id": "test.americano.range_cp",
                "status": "fail",
                "failures": 2,
                "message": "Got 2 results",
            },
            {"unique_id": "test.americano.unique_its", "status": "error", "message": "no table"},
            {"unique_id": "test.americano.unique_users", "status": "pass"},
        ]
    }
    outcomes = source_test_outcomes(MANIFEST, run_results)
    assert set(outcomes) == {"change_points", "its_effects"}
    assert [(o["test"], o["status"], o["failures"]) for o in outcomes["change_points"]] == [
        ("not_null_cp", "pass", 0),
        ("range_cp", "fail", 2),
    ]
    assert outcomes["its_effects"][0]["message"] == "no table"
