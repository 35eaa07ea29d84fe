"""Protocols, context entries, analysis runs and the CENT report (CONTRACTS.md §5).

PostgreSQL work runs on the caller's session (row-level security); the report reads the
warehouse through the caller's `UserWarehouse`. Another user's protocol is 404, as one that does
not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse

from americano_pipelines.api.auth import Caller, caller, check_user
from americano_pipelines.api.models import (
    AnalysisRun,
    ContextMetadataRequest,
    ContextMetadataResponse,
    ProtocolITSResponse,
    ProtocolRandomizationTestResponse,
    ProtocolResponse,
)
from americano_pipelines.api.responses import ERRORS, ResultJSON
from americano_pipelines.errors import InputError, NotFoundError
from americano_pipelines.warehouse import tables
from americano_pipelines.warehouse.scoped import UserWarehouse, open_user_warehouse

__all__ = ["router"]

router = APIRouter(tags=["research"])

PROTOCOL_EXAMPLE = {
    "protocolName": "Variable rewards and engagement",
    "hypothesis": "Variable rewards raise the daily engagement score.",
    "designType": "ABAB",
    "primaryOutcome": "engagement_score",
    "sampleSizeTarget": 56,
    "analysisPlan": "ABAB randomization test of B-A at alpha 0.05.",
    "startDate": "2030-01-07",
    "plannedLength": 56,
    "conditions": {"A": {}, "B": {"reward_probability": 0.3}},
}


@router.post(
    "/api/research/protocols", status_code=201, response_model=ProtocolResponse, responses=ERRORS
)
def register_protocol(
    body: dict[str, Any] = Body(
        description="A protocol file's fields as JSON (docs/protocol-yaml.md); the guide's "
        "ExperimentProtocolFormData and the schedule's.",
        examples=[PROTOCOL_EXAMPLE],
    ),
    who: Caller = Depends(caller),
) -> ResultJSON:
    """Validate and pre-register a protocol and its randomized schedule, as `americano protocol
    register FILE.yaml` does with the same fields."""
    from americano_pipelines.db.protocols import preregister
    from americano_pipelines.registration.protocol_file import validate_protocol

    stored = preregister(who.session, validate_protocol(body))
    return ResultJSON(stored.to_json(), status_code=201)


@router.get("/api/research/protocols", response_model=list[ProtocolResponse], responses=ERRORS)
def list_protocols(who: Caller = Depends(caller)) -> ResultJSON:
    """The caller's protocols, oldest registration first."""
    from americano_pipelines.db.protocols import list_protocols as protocols

    return ResultJSON([stored.to_json() for stored in protocols(who.session)])


@router.get(
    "/api/research/protocols/{protocol_id}", response_model=ProtocolResponse, responses=ERRORS
)
def get_protocol(protocol_id: str, who: Caller = Depends(caller)) -> ResultJSON:
    """One of the caller's protocols."""
    from americano_pipelines.db.protocols import read_protocol

    return ResultJSON(read_protocol(who.session, protocol_id).to_json())


@router.get(
    "/api/research/protocols/{protocol_id}/report",
    responses={
        **ERRORS,
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "The report, one self-contained HTML page",
        },
    },
)
def protocol_report(request: Request, protocol_id: str, who: Caller = Depends(caller)) -> Any:
    """The protocol's CENT 2015 report as one self-contained HTML page (`americano report`)."""
    from americano_pipelines.db.protocols import read_protocol
    from americano_pipelines.provenance.runs import list_session_runs
    from americano_pipelines.reports import cent

    read_protocol(who.session, protocol_id)  # 404 unless it is the caller's
    runs = [run.to_json() for run in list_session_runs(who.session, protocol_id)]
    settings = request.app.state.settings
    with open_user_warehouse(settings.duckdb_path, who.user_id) as warehouse:
        inputs = cent.read_cent_inputs(
            warehouse.protocol_connection(protocol_id), settings.results_dir, protocol_id, runs=runs
        )
    return HTMLResponse(cent.render_html(cent.cent_report(inputs)))


def _stored_result(warehouse: UserWarehouse, protocol_id: str, table: tables.Table) -> dict:
    result = warehouse.protocol_result(protocol_id, table)
    if result is None:
        raise NotFoundError(
            f"protocolId: protocol {protocol_id!r} has no {table.name} result yet (it runs "
            "with the protocol's analyses: nightly, at a phase end, or americano demo)",
            field="protocolId",
        )
    return result


@router.get(
    "/api/research/protocols/{protocol_id}/its",
    response_model=ProtocolITSResponse,
    responses=ERRORS,
)
def protocol_its(request: Request, protocol_id: str, who: Caller = Depends(caller)) -> ResultJSON:
    """The protocol's Bayesian ITS as its registered analysis computed it (the ITS dashboard):
    the causal effect, the counterfactual, the diagnostics and the interpretation."""
    with open_user_warehouse(request.app.state.settings.duckdb_path, who.user_id) as warehouse:
        return ResultJSON(_stored_result(warehouse, protocol_id, tables.ITS_EFFECTS))


@router.get(
    "/api/research/protocols/{protocol_id}/randomization-test",
    response_model=ProtocolRandomizationTestResponse,
    responses=ERRORS,
)
def protocol_randomization_test(
    request: Request, protocol_id: str, who: Caller = Depends(caller)
) -> ResultJSON:
    """The protocol's randomization test as its registered analysis computed it (the ABAB
    view): p, the permutation distribution, effect sizes, the WWC rating, and the observations
    in time order."""
    import pandas as pd

    with open_user_warehouse(request.app.state.settings.duckdb_path, who.user_id) as warehouse:
        result = _stored_result(warehouse, protocol_id, tables.RANDOMIZATION_TESTS)
        frame = warehouse.phase_observations(protocol_id)
    frame = frame.sort_values(["observation_date", "observation_index"])
    result["observations"] = [
        {
            "date": pd.Timestamp(day).date().isoformat(),
            "phase": str(phase),
            "condition": str(condition),
            "value": float(value),
        }
        for day, phase, condition, value in zip(
            frame["observation_date"],
            frame["phase_label"],
            frame["condition"],
            frame["value"],
            strict=True,
        )
    ]
    return ResultJSON(result)


@router.post(
    "/api/context-metadata",
    status_code=201,
    response_model=ContextMetadataResponse,
    responses=ERRORS,
)
def record_context(body: ContextMetadataRequest, who: Caller = Depends(caller)) -> ResultJSON:
    """Save a context entry (the context capture widget) for the caller."""
    from americano_pipelines.db.context import record_context as record

    check_user(who, body.userId)
    if body.timestamp is not None and body.timestamp.tzinfo is None:
        raise InputError(
            "timestamp: needs a UTC offset, e.g. 2025-10-15T08:00:00Z", field="timestamp"
        )
    entry = record(
        who.session,
        mood=body.mood,
        energy=body.energy,
        location=body.location,
        notes=body.notes,
        timestamp=body.timestamp,
    )
    return ResultJSON(entry.to_json(), status_code=201)


@router.get("/api/research/runs", response_model=list[AnalysisRun], responses=ERRORS)
def list_runs(protocolId: str | None = None, who: Caller = Depends(caller)) -> ResultJSON:  # noqa: N803
    """The caller's analysis runs, newest first, with the guide's AnalysisRun fields (as
    `americano runs list`); `protocolId` keeps one protocol's."""
    from americano_pipelines.provenance.runs import list_session_runs

    return ResultJSON([run.to_json() for run in list_session_runs(who.session, protocolId)])
