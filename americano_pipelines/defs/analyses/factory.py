"""One factory for the per-protocol analysis assets, fed by a small spec.

Every analysis asset does the same thing for its partition (a protocol): read its inputs from
the warehouse (read-only), call one compute function, write any artifact (a posterior), replace
the protocol's result file of its table (`warehouse.tables.write_protocol_results`; the
warehouse reads the files as the views `analyses.*`), draw its plots, record the run (`provenance.runs.record`:
an `analysis_runs` row as the protocol's user and an MLflow run) and report metadata. A protocol
that did not register the analysis stops after the read (`defs.analyses.registered`).

The metadata derive from the result itself: its `params()` and `headline()` (the same
dictionaries the run records), their scalar entries under snake_case names (`pValue` ->
`p_value`), its notes, then what the spec adds for the UI (`metadata`: text, tables, figures the
headline holds nested), the plots (inline image and path), the artifacts, the table and the
run's ids. Entries without a value are left out.

Each asset has a `code_version`, and its data version comes from its inputs: a hash of that
code version, the protocol's input fingerprint (`warehouse.tables.protocol_input_fingerprints`,
with what the spec `reads` besides) and the run config (`analysis_data_version`). The planner
(`defs.analyses.plan`) compares it with the data version of the partition's last
materialization and runs only what differs.

Compute functions import the statistics when they run (pymc, ruptures, scipy.stats and
matplotlib are not loaded with the definitions).
"""

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    DagsterInstance,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

from americano_pipelines.config import Settings
from americano_pipelines.defs.analyses.partitions import protocols
from americano_pipelines.defs.analyses.registered import registration
from americano_pipelines.defs.ownership import OWNER
from americano_pipelines.defs.resources import SettingsResource, WarehouseResource
from americano_pipelines.warehouse import tables

GROUP = "analyses"
REPORTS_GROUP = "reports"
"""The per-protocol reports that follow the analyses (defs/reports/), in the same job."""

PROTOCOLS = AssetKey(["marts", "protocols"])
PHASE_OBSERVATIONS = AssetKey(["marts", "phase_observations"])
DAILY_METRICS = AssetKey(["marts", "daily_metrics"])
WEARABLE_DAILY = AssetKey(["marts", "wearable_daily"])
RAW_DATA_VERSION = AssetKey(["raw", "data_version"])

Inputs = tuple[dict[str, Any], Any]
"""A protocol's `marts.protocols` row and the data its analysis reads."""


@dataclass(frozen=True)
class AnalysisCheck:
    """An asset check evaluated on every result: its name, description and evaluation."""

    name: str
    description: str
    evaluate: Callable[[Any], AssetCheckResult]


@dataclass(frozen=True)
class AnalysisSpec:
    """What makes one per-protocol analysis asset.

    - `name`: the asset key is `analyses/<name>`;
    - `inputs`: the upstream assets; `read(conn, protocol_id)` reads the protocol's row and
      data from the warehouse; `reads`: what it reads beyond the protocol's own inputs
      (`tables.READS`), so that its input fingerprint covers them;
    - `compute(row, data, run_config)`: the analysis (a result with `params()`, `headline()`,
      `to_rows()`, `analysis_type`, `title`);
    - `table`: the result table whose protocol file the rows replace;
    - `plot(result, row, folder, settings)`: draws PNGs into the protocol's reports folder and
      returns them by metadata name;
    - `store(result, settings)`: writes other artifacts (returned by metadata name, shown as
      paths), and `rows(result, stored)` fills the table from the result and them;
    - `metadata(result)`: what the UI shows besides the result's params and headline;
    - `config`: the run config class, if any; `check`: an asset check, if any;
    - `code_version`: raise it when a change to the analysis changes its results;
    - `analysis`: its name in a protocol's registered analyses (`registration.analyses`): a
      protocol that did not register it is not analysed (None: every protocol is).
    """

    name: str
    description: str
    inputs: tuple[AssetKey, ...]
    read: Callable[[Any, str], Inputs]
    compute: Callable[[dict[str, Any], Any, dict[str, Any]], Any]
    table: tables.Table
    plot: Callable[[Any, dict[str, Any], Path, Settings], dict[str, Path]] | None = None
    store: Callable[[Any, Settings], dict[str, Path]] | None = None
    rows: Callable[[Any, Mapping[str, Path]], list[dict[str, Any]]] = lambda result, stored: (
        result.to_rows()
    )
    metadata: Callable[[Any], dict[str, Any]] = lambda result: {}
    config: type[Config] | None = None
    check: AnalysisCheck | None = None
    kinds: tuple[str, ...] = ("python", "parquet")
    code_version: str = "1"
    analysis: str | None = None
    reads: tuple[str, ...] = ()

    @property
    def key(self) -> AssetKey:
        return AssetKey([GROUP, self.name])

    def default_run_config(self) -> dict[str, Any]:
        """The run config of a run that sets none (scheduled and sensor runs)."""
        return {} if self.config is None else self.config().model_dump()


def analysis_data_version(
    code_version: str | None, input_fingerprint: str | None, run_config: Mapping[str, Any]
) -> str:
    """The data version of a protocol's analysis: it changes when the code, the inputs or the
    run config do, and only then."""
    text = json.dumps([code_version, input_fingerprint, run_config], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------- helpers


def raw_data_version(context: AssetExecutionContext) -> str | None:
    """The DVC hash of the raw data the marts were built from (latest `raw/data_version`)."""
    return current_raw_data_version(context.instance)


def current_raw_data_version(instance: DagsterInstance) -> str | None:
    """`raw_data_version` from the instance, for the planners that run before any asset."""
    event = instance.get_latest_materialization_event(RAW_DATA_VERSION)
    materialization = None if event is None else event.asset_materialization
    value = None if materialization is None else materialization.metadata.get("dvc_hash")
    return None if value is None else str(value.value)


def metadata_without_none(**items: Any) -> dict[str, Any]:
    """Metadata without the entries that have no value."""
    return {key: value for key, value in items.items() if value is not None}


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(key: str) -> str:
    """`pValue` -> `p_value`, `passesSCEDStandards` -> `passes_sced_standards`."""
    return _WORD_BOUNDARY.sub("_", key).lower()


def result_metadata(result: Any) -> dict[str, Any]:
    """The scalar entries of the result's `params()` then `headline()`, snake_case, and its
    notes joined; entries without a value left out."""
    from americano_pipelines.provenance.runs import plain_json  # psycopg, MLflow: when run

    out: dict[str, Any] = {}
    for source in (result.params(), result.headline()):
        for key, value in plain_json(source).items():
            if value is not None and not isinstance(value, dict | list):
                out[snake_case(key)] = value
    notes = "; ".join(getattr(result, "notes", ()))
    if notes:
        out["notes"] = notes
    return out


def image(path: Path, title: str) -> MetadataValue:
    """A PNG inline, as markdown."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def _read_gate_metadata(data: Any) -> dict[str, Any]:
    """What the quality gates of the marts read (`tables.gate_counts`) let through and left out,
    summed over the frames read, prefixed `read_`."""
    frames = data if isinstance(data, tuple) else (data,)
    counts = [c for c in (tables.gate_counts(frame) for frame in frames) if c is not None]
    if not counts:
        return {}
    total = sum(counts[1:], counts[0])
    return {f"read_{key}": value for key, value in total.to_metadata().items()}


def _plot_metadata(plots: Mapping[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in plots.items():
        out[name] = image(path, name.replace("_", " "))
        out[f"{name}_path"] = MetadataValue.path(str(path))
    return out


# ----------------------------------------------------------------------------- the factory


def _materialize(
    spec: AnalysisSpec,
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    settings: SettingsResource,
    run_config: dict[str, Any],
) -> MaterializeResult:
    started_at = dt.datetime.now(dt.UTC)
    protocol_id = context.partition_key
    current = settings.get()
    with warehouse.get_connection(read_only=True) as conn:
        row, data = spec.read(conn, protocol_id)
        fingerprint = tables.protocol_input_fingerprints(conn, spec.reads).get(protocol_id)
    registered = registration(spec.analysis, row, context.run.tags)
    version = registered.data_version(
        analysis_data_version(spec.code_version, fingerprint, run_config)
    )
    if not registered.runs:
        return registered.not_run(
            version,
            tables.result_path(current.results_dir, spec.table, protocol_id),
            None if spec.check is None else spec.check.name,
        )
    result = spec.compute(row, data, run_config)
    stored = spec.store(result, current) if spec.store is not None else {}
    data_version = raw_data_version(context)
    written = tables.write_protocol_results(
        current.results_dir,
        spec.table,
        protocol_id,
        spec.rows(result, stored),
        data_version=data_version,
    )
    folder = Path(current.reports_dir) / tables.protocol_folder(protocol_id)
    plots = spec.plot(result, row, folder, current) if spec.plot is not None else {}
    from americano_pipelines.provenance.runs import record

    run = record(
        result,
        row,
        data_version_hash=data_version,
        started_at=started_at,
        artifact_paths=[*plots.values(), *stored.values()],
        settings=current,
        tags={"dagster.run_id": context.run_id},
    )
    metadata = {
        **result_metadata(result),
        **_read_gate_metadata(data),
        **metadata_without_none(**spec.metadata(result)),
        **_plot_metadata(plots),
        **{name: MetadataValue.path(str(path)) for name, path in stored.items()},
        **metadata_without_none(
            rows_written=written,
            table=spec.table.qualified_name,
            result_file=MetadataValue.path(
                str(tables.result_path(current.results_dir, spec.table, protocol_id))
            ),
            data_version=data_version,
            input_fingerprint=fingerprint,
            analysis_run_id=run.id,
            mlflow_run_id=run.mlflow_run_id,
        ),
    }
    checks = [] if spec.check is None else [spec.check.evaluate(result)]
    return MaterializeResult(
        metadata=metadata,
        check_results=checks or None,
        data_version=DataVersion(version),
    )


def analysis_asset(spec: AnalysisSpec) -> AssetsDefinition:
    """The partitioned asset `analyses/<spec.name>` (one partition per protocol)."""
    check_specs = (
        None
        if spec.check is None
        else [AssetCheckSpec(spec.check.name, asset=spec.key, description=spec.check.description)]
    )
    decorate = asset(
        key=spec.key,
        group_name=GROUP,
        partitions_def=protocols,
        deps=list(spec.inputs),
        kinds=set(spec.kinds),
        description=spec.description,
        check_specs=check_specs,
        code_version=spec.code_version,
        owners=[OWNER],
    )
    if spec.config is None:

        def materialize(
            context: AssetExecutionContext,
            warehouse: WarehouseResource,
            settings: SettingsResource,
        ) -> MaterializeResult:
            return _materialize(spec, context, warehouse, settings, {})

        return decorate(materialize)

    config_class = spec.config

    def materialize_with_config(
        context: AssetExecutionContext,
        config: config_class,  # type: ignore[valid-type]
        warehouse: WarehouseResource,
        settings: SettingsResource,
    ) -> MaterializeResult:
        return _materialize(spec, context, warehouse, settings, config.model_dump())

    return decorate(materialize_with_config)
