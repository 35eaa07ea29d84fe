"""Provenance of every analysis run: an `analysis_runs` row in PostgreSQL and an MLflow run.

`record_analysis_run` is the one call an analysis makes when it has finished. It

1. opens an MLflow run (tracking URI `settings.mlflow_tracking_uri`) in the protocol's
   experiment `protocol/<protocol_id>`, with params = the input parameters (flattened, `a.b`),
   metrics = the numeric leaves of the results summary (booleans as 0/1), the plots as
   artifacts under `plots/`, `input_params.json`, `results_summary.json` and (when given) the
   whole result as `result.json`, and tags for the
   code commit (`mlflow.source.git.commit`, `americano.code_commit`), the data version
   (`americano.data_version`), the protocol, the analysis type and the `analysis_runs` id;
2. writes the `analysis_runs` row (the guide's AnalysisRun) acting as the protocol's user
   (`user_session`: row-level security admits only rows of that user's protocols), with the
   MLflow run id, and commits;
3. returns it as an `AnalysisRunRecord`, whose `to_json()` has the guide's field names.

Runs are history: a rerun adds a row and an MLflow run, it never replaces one. With a database
tracking URI (the default `sqlite:///$AMERICANO_HOME/mlflow.db`) MLflow would put artifacts in
`./mlruns` under the current directory; experiments created here store them under
`$AMERICANO_HOME/mlflow-artifacts/` instead. MLflow is imported only when a run is recorded
(the import takes seconds).

`record(result, protocol_row, …)` records any per-protocol analysis result: each result states
its analysis type, title, parameters (`params()`) and headline numbers (`headline()`) once, and
`describe` turns them into the run's name, input parameters and results summary. A result's
parameters say whether it is `exploratory` (run for a protocol that did not register the
analysis); the run's input parameters and `AnalysisRunRecord.exploratory` carry it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from americano_pipelines.config import Settings, get_settings

__all__ = [
    "UNKNOWN_DATA_VERSION",
    "AnalysisResult",
    "AnalysisRunRecord",
    "list_session_runs",
    "RunDescription",
    "describe",
    "experiment_name",
    "flatten",
    "list_analysis_runs",
    "plain_json",
    "record",
    "record_analysis_run",
]

UNKNOWN_DATA_VERSION = "unknown"
"""Stored as the data version when the raw data were never versioned (no DVC hash)."""

_COLUMNS = (
    "id, protocol_id, run_name, analysis_type, code_commit_hash, data_version_hash, "
    "input_params, mlflow_run_id, artifact_paths, results_summary, started_at, completed_at"
)
# What a row is read as: every field in the text its hash was computed over (migration 0004,
# `analysis_run_digest`), so the hash is checked here against exactly what is shown.
_UTC_TEXT = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_CANONICAL_COLUMNS = ", ".join(
    (
        "id, protocol_id, run_name, analysis_type, code_commit_hash, data_version_hash",
        "input_params::text, mlflow_run_id, array_to_json(artifact_paths)::text",
        "results_summary::text",
        _UTC_TEXT.format("started_at"),
        _UTC_TEXT.format("completed_at"),
        "chain_index, previous_hash, row_hash",
    )
)
ROW_HASH_TAG = "americano.row_hash"
"""The MLflow tag that holds a run's row hash: a copy of the chain outside PostgreSQL."""
_PLOT_SUFFIXES = {".png", ".svg", ".pdf", ".jpg", ".jpeg"}
# MLflow's limits (mlflow.utils.validation): param values, tag values, batch sizes.
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_BATCH = 100
_MLFLOW_KEY = re.compile(r"[^\w\-. /:]")


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RunIntegrity:
    """Whether a recorded run is what was recorded: its row hash matches its fields, it links
    to the run before it, and (when checked) MLflow holds the same hash."""

    chain_index: int
    previous_hash: str | None
    row_hash: str
    problems: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "chainIndex": self.chain_index,
            "previousHash": self.previous_hash,
            "rowHash": self.row_hash,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class AnalysisRunRecord:
    """One `analysis_runs` row (the guide's AnalysisRun) and its place in the hash chain."""

    id: str
    protocol_id: str
    run_name: str
    analysis_type: str
    code_commit_hash: str
    data_version_hash: str
    input_params: dict[str, Any]
    mlflow_run_id: str | None
    artifact_paths: tuple[str, ...]
    results_summary: dict[str, Any]
    started_at: dt.datetime
    completed_at: dt.datetime | None
    integrity: RunIntegrity

    @property
    def exploratory(self) -> bool:
        """Run by hand for a protocol that did not register the analysis (`inputParams`)."""
        return self.input_params.get("exploratory") is True

    def to_json(self) -> dict[str, Any]:
        """The guide's AnalysisRun field names (timestamps ISO 8601 in UTC), then `exploratory`
        and `integrity`."""
        return {
            "id": self.id,
            "protocolId": self.protocol_id,
            "runName": self.run_name,
            "analysisType": self.analysis_type,
            "codeCommitHash": self.code_commit_hash,
            "dataVersionHash": self.data_version_hash,
            "inputParams": self.input_params,
            "mlflowRunId": self.mlflow_run_id,
            "artifactPaths": list(self.artifact_paths),
            "resultsSummary": self.results_summary,
            "startedAt": _utc(self.started_at).isoformat(),
            "completedAt": None
            if self.completed_at is None
            else _utc(self.completed_at).isoformat(),
            "exploratory": self.exploratory,
            "integrity": self.integrity.to_json(),
        }

    @classmethod
    def from_canonical_row(cls, row: Sequence[Any]) -> AnalysisRunRecord:
        """From the columns of `_CANONICAL_COLUMNS`, in order; `integrity.problems` says
        whether the row hash matches the fields (the chain is checked by `verify_chains`)."""
        *fields, chain_index, previous_hash, row_hash = row
        # The digest's field order: the previous hash and the index, then the row as read.
        digest = run_digest(previous_hash, str(chain_index), *fields)
        (
            rid,
            protocol_id,
            name,
            kind,
            commit,
            data,
            params,
            mlflow_id,
            paths,
            summary,
            start,
            end,
        ) = fields
        problems = () if digest == row_hash else ("row hash does not match the recorded fields",)
        return cls(
            id=str(rid),
            protocol_id=str(protocol_id),
            run_name=str(name),
            analysis_type=str(kind),
            code_commit_hash=str(commit),
            data_version_hash=str(data),
            input_params=json.loads(params),
            mlflow_run_id=None if mlflow_id is None else str(mlflow_id),
            artifact_paths=tuple(json.loads(paths) or ()),
            results_summary=json.loads(summary),
            started_at=_parse_utc(start),
            completed_at=None if end is None else _parse_utc(end),
            integrity=RunIntegrity(int(chain_index), previous_hash, str(row_hash), problems),
        )

    def with_problems(self, *problems: str) -> AnalysisRunRecord:
        if not problems:
            return self
        integrity = replace(self.integrity, problems=(*self.integrity.problems, *problems))
        return replace(self, integrity=integrity)


def run_digest(*fields: str | None) -> str:
    """sha256 of the fields, each as `length:text` (None as `-1:`), as migration 0004's
    `analysis_run_digest` computes it in PostgreSQL."""
    text = "".join("-1:" if f is None else f"{len(f)}:{f}" for f in fields)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chains(records: Sequence[AnalysisRunRecord]) -> list[AnalysisRunRecord]:
    """`records` (every run of the protocols they belong to), each with the problems of its
    link in its protocol's chain: a gap in the chain indices (runs deleted), or a previous
    hash that is not the row hash of the run before."""
    by_protocol: dict[str, list[AnalysisRunRecord]] = {}
    for record in records:
        by_protocol.setdefault(record.protocol_id, []).append(record)
    checked: dict[str, AnalysisRunRecord] = {}
    for runs in by_protocol.values():
        runs.sort(key=lambda r: r.integrity.chain_index)
        before: AnalysisRunRecord | None = None
        for run in runs:
            expected_index = 1 if before is None else before.integrity.chain_index + 1
            expected_previous = None if before is None else before.integrity.row_hash
            problems = []
            if run.integrity.chain_index != expected_index:
                problems.append(
                    f"runs {expected_index}..{run.integrity.chain_index - 1} of this protocol's "
                    "chain are missing"
                )
            if run.integrity.previous_hash != expected_previous:
                problems.append("previous hash does not match the run before it")
            checked[run.id] = run.with_problems(*problems)
            before = run
    return [checked[record.id] for record in records]


def _parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


# ----------------------------------------------------------------------------- JSON helpers


def plain_json(value: Any) -> Any:
    """`value` as plain JSON data: numpy scalars as Python numbers, NaN/inf as None, dates and
    paths as strings, tuples and sets as lists, mappings with string keys."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_json(item) for item in value]
    if isinstance(value, dt.date):  # also datetime
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
        if isinstance(value, bool):
            return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) of nested mappings and lists: {"a": {"b": [1, 2]}} gives
    ("a.b.0", 1), ("a.b.1", 2)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, value


def _metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Numeric leaves of the summary (booleans as 0/1), finite only."""
    out: dict[str, float] = {}
    for key, value in flatten(summary):
        # bool is an int: True/False become 1.0/0.0
        if isinstance(value, int | float) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    """Every leaf as a string (JSON for non-strings), cut to MLflow's limit. An empty list or
    mapping is a leaf too, so no parameter disappears."""
    out: dict[str, str] = {}
    for key, value in params.items():
        leaves = list(flatten(value, str(key))) if value not in ({}, []) else [(str(key), value)]
        for name, leaf in leaves:
            text = leaf if isinstance(leaf, str) else json.dumps(leaf)
            out[name] = text[:_MAX_PARAM_VALUE]
    return out


# ----------------------------------------------------------------------------- MLflow


def experiment_name(protocol_id: str) -> str:
    """The MLflow experiment of a protocol's runs."""
    return f"protocol/{protocol_id}"


def _mlflow_key(key: str) -> str:
    return _MLFLOW_KEY.sub("_", key)[:250] or "_"


def _local_artifact_location(settings: Settings, name: str) -> str | None:
    """A folder under AMERICANO_HOME for a database-backed tracking store (else MLflow's own
    default would be `./mlruns` in the current directory); None for servers and file stores."""
    scheme = settings.mlflow_tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in {"sqlite", "postgresql", "mysql", "mssql"}:
        return None
    folder = settings.home / "mlflow-artifacts" / re.sub(r"[^\w.-]", "_", name)
    return folder.resolve().as_uri()


def _experiment_id(client: Any, name: str, settings: Settings) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(
            client.create_experiment(
                name, artifact_location=_local_artifact_location(settings, name)
            )
        )
    except MlflowException:  # created by a concurrent run in the meantime
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _quiet_mlflow_logs() -> None:
    """MLflow logs its database setup at INFO on first use; a library call should not."""
    for name in ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _millis(moment: dt.datetime) -> int:
    return int(_utc(moment).timestamp() * 1000)


def _mlflow_lock(settings: Settings):
    """Runs of several protocols start at once: the first to open a new store creates its
    tables (MLflow's migrations), and two doing so together fail; so do two creating one
    experiment. Those steps take this lock, one process at a time."""
    from filelock import FileLock

    settings.home.mkdir(parents=True, exist_ok=True)
    return FileLock(settings.home / "mlflow.lock")


def mlflow_client(settings: Settings) -> Any:
    """An MlflowClient of `settings.mlflow_tracking_uri`, its store opened under the lock."""
    from mlflow.tracking import MlflowClient

    _quiet_mlflow_logs()
    with _mlflow_lock(settings):
        return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def _open_mlflow_run(
    settings: Settings,
    *,
    protocol_id: str,
    run_name: str,
    started_at: dt.datetime,
    tags: Mapping[str, str],
) -> tuple[Any, str]:
    client = mlflow_client(settings)
    with _mlflow_lock(settings):
        experiment_id = _experiment_id(client, experiment_name(protocol_id), settings)
        run = client.create_run(
            experiment_id,
            start_time=_millis(started_at),
            tags={key: value[:_MAX_TAG_VALUE] for key, value in tags.items()},
            run_name=run_name,
        )
    return client, run.info.run_id


def _log_mlflow_run(
    client: Any,
    run_id: str,
    *,
    input_params: Mapping[str, Any],
    results_summary: Mapping[str, Any],
    artifact_paths: Sequence[str],
    completed_at: dt.datetime,
    result_json: Mapping[str, Any] | None = None,
) -> None:
    from mlflow.entities import Metric, Param

    stamp = _millis(completed_at)
    params = [Param(_mlflow_key(k), v) for k, v in _params(input_params).items()]
    metrics = [Metric(_mlflow_key(k), v, stamp, 0) for k, v in _metrics(results_summary).items()]
    for start in range(0, max(len(params), len(metrics)), _BATCH):
        client.log_batch(
            run_id,
            metrics=metrics[start : start + _BATCH],
            params=params[start : start + _BATCH],
        )
    for path in artifact_paths:
        if Path(path).suffix.lower() in _PLOT_SUFFIXES and Path(path).is_file():
            client.log_artifact(run_id, str(path), artifact_path="plots")
    client.log_dict(run_id, dict(input_params), "input_params.json")
    client.log_dict(run_id, dict(results_summary), "results_summary.json")
    if result_json is not None:
        client.log_dict(run_id, dict(result_json), "result.json")


# ----------------------------------------------------------------------------- PostgreSQL


def _insert(owner_url: str, user_id: str, values: Mapping[str, Any]) -> AnalysisRunRecord:
    """Append the row on `user_id`'s session; the database computes its place in the chain."""
    from americano_pipelines.db.connection import user_session

    with user_session(user_id, owner_url=owner_url) as session:
        with session.transaction():
            row = session.execute(
                f"""INSERT INTO analysis_runs ({_COLUMNS})
                    VALUES (%(id)s, %(protocol_id)s, %(run_name)s, %(analysis_type)s,
                            %(code_commit_hash)s, %(data_version_hash)s, %(input_params)s,
                            %(mlflow_run_id)s, %(artifact_paths)s, %(results_summary)s,
                            %(started_at)s, %(completed_at)s)
                    RETURNING {_CANONICAL_COLUMNS}""",
                values,
            ).fetchone()
        session.commit()
    if row is None:  # the policies hid the row just written: a broken RLS setup
        raise RuntimeError(f"analysis run {values['id']} was written but is not visible")
    return AnalysisRunRecord.from_canonical_row(row)


def _runs_query(protocol_id: str | None) -> tuple[str, tuple[str, ...]]:
    where = "" if protocol_id is None else "WHERE protocol_id = %s"
    query = (
        f"SELECT {_CANONICAL_COLUMNS} FROM analysis_runs {where} "
        "ORDER BY started_at DESC, completed_at DESC NULLS LAST, id"
    )
    return query, () if protocol_id is None else (protocol_id,)


def list_session_runs(
    session: psycopg.Connection, protocol_id: str | None = None
) -> list[AnalysisRunRecord]:
    """As `list_analysis_runs`, on a user's session (`db.connection.token_session`): row-level
    security shows that user's protocols' runs only."""
    query, params = _runs_query(protocol_id)
    rows = session.execute(query, params).fetchall()
    if not session.autocommit:
        session.commit()
    return verify_chains([AnalysisRunRecord.from_canonical_row(row) for row in rows])


def list_analysis_runs(
    owner_url: str,
    protocol_id: str | None = None,
    *,
    user_id: str | None = None,
) -> list[AnalysisRunRecord]:
    """Analysis runs, newest first (by `started_at`, then `completed_at`), of one protocol or
    all, each with its integrity checked: its row hash and its link in its protocol's chain.
    Read on `user_id`'s session (row-level security: that user's protocols only) when given,
    else with the read-everything extraction role."""
    from americano_pipelines.db.connection import extract_session, user_session

    query, params = _runs_query(protocol_id)
    if user_id is not None:
        with user_session(user_id, owner_url=owner_url) as session:
            rows = session.execute(query, params).fetchall()
    else:
        with psycopg.connect(owner_url) as conn, extract_session(conn):
            rows = conn.execute(query, params).fetchall()
    return verify_chains([AnalysisRunRecord.from_canonical_row(row) for row in rows])


def verify_with_mlflow(
    records: Sequence[AnalysisRunRecord], settings: Settings | None = None
) -> list[AnalysisRunRecord]:
    """`records`, each also checked against its MLflow run: the run's `americano.row_hash`
    tag must be the row's hash. A superuser can rewrite rows and recompute the chain inside
    PostgreSQL; the copy in the MLflow store is what catches that. Slow (imports MLflow)."""
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    client = mlflow_client(settings)
    checked = []
    for record in records:
        if record.mlflow_run_id is None:
            checked.append(record.with_problems("no MLflow run holds a copy of its hash"))
            continue
        try:
            tags = client.get_run(record.mlflow_run_id).data.tags
        except MlflowException:
            checked.append(record.with_problems("its MLflow run is missing"))
            continue
        if tags.get(ROW_HASH_TAG) != record.integrity.row_hash:
            checked.append(record.with_problems("row hash differs from its MLflow run's copy"))
        elif tags.get("americano.analysis_run_id") != record.id:
            checked.append(record.with_problems("its MLflow run is another run's"))
        else:
            checked.append(record)
    return checked


def runs_missing_from_database(
    records: Sequence[AnalysisRunRecord],
    protocol_ids: Sequence[str],
    settings: Settings | None = None,
) -> list[tuple[str, str, str]]:
    """(protocol id, analysis run id, MLflow run id) of each run that MLflow holds as recorded
    (finished, with its row hash) for these protocols but that is not among `records`: rows
    deleted from the end of a chain, which leave no gap in PostgreSQL."""

    settings = settings or get_settings()
    client = mlflow_client(settings)
    present = {record.id for record in records}
    missing = []
    for protocol_id in protocol_ids:
        experiment = client.get_experiment_by_name(experiment_name(protocol_id))
        if experiment is None:
            continue
        for run in client.search_runs(
            [experiment.experiment_id], "attributes.status = 'FINISHED'", max_results=50_000
        ):
            tags = run.data.tags
            run_id = tags.get("americano.analysis_run_id")
            if ROW_HASH_TAG in tags and run_id and run_id not in present:
                missing.append((protocol_id, run_id, run.info.run_id))
    return missing


# ----------------------------------------------------------------------------- recording


def record_analysis_run(
    *,
    protocol_id: str,
    user_id: str,
    run_name: str,
    analysis_type: str,
    input_params: Mapping[str, Any],
    results_summary: Mapping[str, Any],
    data_version_hash: str | None,
    started_at: dt.datetime,
    completed_at: dt.datetime | None = None,
    artifact_paths: Sequence[str | Path] = (),
    code_commit_hash: str | None = None,
    settings: Settings | None = None,
    database_url: str | None = None,
    tags: Mapping[str, str] | None = None,
    result_json: Mapping[str, Any] | None = None,
) -> AnalysisRunRecord:
    """Record one finished analysis: an MLflow run, then its `analysis_runs` row written as
    `user_id` (the protocol's user). Returns the stored row. `result_json`, the whole result,
    goes to the MLflow run as `result.json`.

    `code_commit_hash` defaults to `data_version.code_version()`; a missing data version is
    stored as "unknown". `completed_at` defaults to now. `tags` are extra MLflow tags (e.g. the
    Dagster run id). An MLflow error or a database error raises; when the row cannot be
    written the MLflow run is marked FAILED.
    """
    from americano_pipelines.db.connection import database_url as default_database_url
    from americano_pipelines.provenance.data_version import code_version

    settings = settings or get_settings()
    if not user_id:
        raise ValueError(f"protocol {protocol_id!r}: no user id to record its analysis run as")
    completed_at = completed_at or dt.datetime.now(dt.UTC)
    commit = code_commit_hash or code_version()
    data_version = data_version_hash or UNKNOWN_DATA_VERSION
    params = plain_json(dict(input_params))
    summary = plain_json(dict(results_summary))
    paths = [str(Path(path)) for path in artifact_paths]
    run_id = str(uuid.uuid4())

    client, mlflow_run_id = _open_mlflow_run(
        settings,
        protocol_id=protocol_id,
        run_name=run_name,
        started_at=started_at,
        tags={
            "americano.protocol_id": protocol_id,
            "americano.analysis_type": analysis_type,
            "americano.analysis_run_id": run_id,
            "americano.code_commit": commit,
            "americano.data_version": data_version,
            "americano.artifact_paths": json.dumps(paths),
            "mlflow.source.git.commit": commit.removesuffix("-dirty"),
            **dict(tags or {}),
        },
    )
    try:
        _log_mlflow_run(
            client,
            mlflow_run_id,
            input_params=params,
            results_summary=summary,
            artifact_paths=paths,
            completed_at=completed_at,
            result_json=None if result_json is None else plain_json(dict(result_json)),
        )
        record = _insert(
            database_url or default_database_url(settings),
            user_id,
            {
                "id": run_id,
                "protocol_id": protocol_id,
                "run_name": run_name,
                "analysis_type": analysis_type,
                "code_commit_hash": commit,
                "data_version_hash": data_version,
                "input_params": Jsonb(params),
                "mlflow_run_id": mlflow_run_id,
                "artifact_paths": paths,
                "results_summary": Jsonb(summary),
                "started_at": _utc(started_at),
                "completed_at": _utc(completed_at),
            },
        )
    except BaseException:
        client.set_terminated(mlflow_run_id, "FAILED", end_time=int(time.time() * 1000))
        raise
    client.set_tag(mlflow_run_id, ROW_HASH_TAG, record.integrity.row_hash)
    client.set_terminated(mlflow_run_id, "FINISHED", end_time=_millis(completed_at))
    return record


# ----------------------------------------------------------------------------- analyses


class AnalysisResult(Protocol):
    """What every per-protocol analysis result states about itself, once: its analysis type,
    the title of its runs, its parameters and its headline numbers."""

    @property
    def protocol_id(self) -> str: ...

    @property
    def analysis_type(self) -> str: ...

    @property
    def title(self) -> str: ...

    def params(self) -> dict[str, Any]: ...

    def headline(self) -> dict[str, Any]: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RunDescription:
    """What an analysis records besides its provenance: name, type, inputs and findings."""

    run_name: str
    analysis_type: str
    input_params: dict[str, Any]
    results_summary: dict[str, Any]


def _protocol_label(protocol_row: Mapping[str, Any]) -> str:
    name = protocol_row.get("protocol_name")
    return str(name) if isinstance(name, str) and name.strip() else str(protocol_row["protocol_id"])


def describe(result: AnalysisResult, protocol_row: Mapping[str, Any]) -> RunDescription:
    """The run of `result`: named "<title> — <protocol name>", its input parameters the
    protocol's (id, design, outcome, plan) then `result.params()`, its results summary
    `result.headline()`; all as plain JSON."""
    return RunDescription(
        run_name=f"{result.title} — {_protocol_label(protocol_row)}",
        analysis_type=result.analysis_type,
        input_params=plain_json(
            {
                "protocolId": protocol_row.get("protocol_id"),
                "designType": protocol_row.get("design_type"),
                "primaryOutcome": protocol_row.get("primary_outcome"),
                "analysisPlan": protocol_row.get("analysis_plan"),
                **result.params(),
            }
        ),
        results_summary=plain_json(result.headline()),
    )


def record(
    result: AnalysisResult,
    protocol_row: Mapping[str, Any],
    *,
    data_version_hash: str | None,
    started_at: dt.datetime,
    artifact_paths: Sequence[str | Path] = (),
    settings: Settings | None = None,
    tags: Mapping[str, str] | None = None,
) -> AnalysisRunRecord:
    """Record a finished analysis of one protocol (`describe`, then `record_analysis_run` as
    the protocol's user, completed now)."""
    description = describe(result, protocol_row)
    return record_analysis_run(
        protocol_id=result.protocol_id,
        user_id=str(protocol_row.get("user_id") or ""),
        run_name=description.run_name,
        analysis_type=description.analysis_type,
        input_params=description.input_params,
        results_summary=description.results_summary,
        data_version_hash=data_version_hash,
        started_at=started_at,
        completed_at=dt.datetime.now(dt.UTC),
        artifact_paths=artifact_paths,
        settings=settings,
        tags=tags,
        result_json=result.to_json(),
    )
