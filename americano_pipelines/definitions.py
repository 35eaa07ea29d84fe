"""The one Definitions object: assembled from defs/, nothing defined here."""

from dagster import Definitions

from americano_pipelines.defs.analyses.assets import protocol_analysis_assets
from americano_pipelines.defs.analyses.checks import analyses_checks
from americano_pipelines.defs.analyses.its import its_assets
from americano_pipelines.defs.analyses.jobs import protocol_analyses_job
from americano_pipelines.defs.analyses.sensors import (
    protocol_partitions_sensor,
    protocol_phase_end_sensor,
)
from americano_pipelines.defs.extract.assets import extract_assets
from americano_pipelines.defs.extract.checks import row_conservation_checks
from americano_pipelines.defs.resources import build_resources
from americano_pipelines.defs.transform.assets import warehouse_models

defs = Definitions(
    # its_assets carry their own check (its_converged) as a check spec.
    assets=[*extract_assets, warehouse_models, *protocol_analysis_assets, *its_assets],
    asset_checks=[*row_conservation_checks, *analyses_checks],
    jobs=[protocol_analyses_job],
    sensors=[protocol_partitions_sensor, protocol_phase_end_sensor],
    resources=build_resources(),
)
