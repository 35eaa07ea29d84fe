"""The dbt project as Dagster assets: sources join the extract assets, so lineage runs from each
raw table through staging and intermediate models to the marts."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from americano_pipelines.config import dbt_environment, get_settings
from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.transform.project import dbt_project
from americano_pipelines.warehouse.tables import ensure_result_columns


class AmericanoDbtTranslator(DagsterDbtTranslator):
    """Keys by layer (`staging/stg_app__users`, `marts/daily_metrics`, `seeds/phase_conditions`);
    a source is `<source>/<table>` (`raw/users`, `analyses/change_points`), the key of the asset
    that writes it, or the key its `meta.dagster.asset_key` names (`analyses.its_effects` is
    written by `analyses/its_posterior`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return self._layer(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        # A model's own `meta.dagster.owners` wins; otherwise the team that owns every asset.
        return super().get_owners(dbt_resource_props) or [OWNER]

    @staticmethod
    def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"  # seeds/<name>.csv
        # models/<layer>/<name>.sql
        return dbt_resource_props["fqn"][1]


translator = AmericanoDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


# The `warehouse` selector (dbt_project/selectors.yml): everything but the views over the
# analyses' results and the tests of those results, which run after the analyses
# (defs/analyses/checks.py).
@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    project=dbt_project,
    selector="warehouse",
)
def warehouse_models(context: AssetExecutionContext, dbt: DbtCliResource):
    # dbt reads the warehouse path and the Parquet root from these (see profiles.yml).
    settings = get_settings()
    os.environ.update(dbt_environment(settings))
    from americano_pipelines.quality.boundary import ensure_quarantine_tables  # pyarrow

    ensure_quarantine_tables(settings.quarantine_dir)  # quarantine.<table> before any gate ran
    yield from dbt.cli(["build"], context=context).stream()


# The `results` selector: the views analyses.<table> over the analyses' result files. A view
# reads the files when it is queried, so it is built once, or when its SQL changes.
@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    project=dbt_project,
    selector="results",
    name="analysis_result_views",
)
def analysis_result_views(context: AssetExecutionContext, dbt: DbtCliResource):
    settings = get_settings()
    os.environ.update(dbt_environment(settings))
    ensure_result_columns(settings.results_dir)  # the views' columns before any result
    yield from dbt.cli(["build"], context=context).stream()


dbt_assets_defs = [warehouse_models, analysis_result_views]
