"""The guide's four analytics endpoints, `POST /api/analytics/research/…` (CONTRACTS.md §5).

Each reads its input through the caller's `UserWarehouse` (or none: sequential boundaries), calls
the same `stats` function as `americano analyze …` with the CLI's defaults, and answers the
result's `to_json()` serialized as the CLI prints it, so the same analysis gives the same JSON
byte for byte. Endpoints that touch only the warehouse or compute are plain functions (FastAPI
runs them in its thread pool); the ITS is a coroutine that waits on the worker processes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from americano_pipelines.api.auth import Caller, caller, check_user
from americano_pipelines.api.models import (
    ABABRandomizationTestRequest,
    ABABRandomizationTestResponse,
    BayesianITSRequest,
    BayesianITSResponse,
    ChangePointRequest,
    ChangePointResponse,
    SequentialBoundariesRequest,
    SequentialBoundariesResponse,
)
from americano_pipelines.api.responses import ERRORS, ResultJSON
from americano_pipelines.errors import InputError
from americano_pipelines.warehouse.scoped import open_user_warehouse

__all__ = ["router"]

router = APIRouter(prefix="/api/analytics/research", tags=["analytics"])

CHANGE_POINT_BOOTSTRAP = 200
"""`americano analyze changepoints --bootstrap`'s default: the same confidence as the CLI's."""


def _no_days(metric: str, what: str) -> InputError:
    return InputError(f"metric: this user has no days of {metric!r} {what}", field="metric")


def _its_input(request: Request, body: BayesianITSRequest, user_id: str) -> dict[str, Any]:
    with open_user_warehouse(request.app.state.settings.duckdb_path, user_id) as warehouse:
        frame = warehouse.daily_series(body.metric)
    if frame.empty:
        raise _no_days(body.metric, "in marts.daily_metrics")
    prior = body.priorParams
    return {
        "dates": [day.date().isoformat() for day in frame["metric_date"]],
        "values": [float(value) for value in frame["value"]],
        "intervention_date": body.interventionDate.isoformat(),
        "pre_period_days": body.prePeriodDays,
        "post_period_days": body.postPeriodDays,
        "effect_prior_mean": None if prior is None else prior.effectMean,
        "effect_prior_sd": None if prior is None else prior.effectSd,
        "seed": body.seed,
        "draws": body.draws,
        "tune": body.tune,
        "chains": body.chains,
    }


@router.post(
    "/bayesian-its",
    response_model=BayesianITSResponse,
    responses={**ERRORS, 504: ERRORS[503] | {"description": "The fit ran past the timeout"}},
)
async def bayesian_its(
    request: Request, body: BayesianITSRequest, who: Caller = Depends(caller)
) -> ResultJSON:
    """Bayesian interrupted time series of the user's daily `metric` (`americano analyze its`)."""
    check_user(who, body.userId)
    arguments = await run_in_threadpool(_its_input, request, body, who.user_id)
    return ResultJSON(await request.app.state.its_pool.fit(arguments))


@router.post(
    "/abab-randomization-test", response_model=ABABRandomizationTestResponse, responses=ERRORS
)
def abab_randomization_test(
    request: Request, body: ABABRandomizationTestRequest, who: Caller = Depends(caller)
) -> ResultJSON:
    """ABAB randomization test of the protocol's observations (`americano analyze abab` with the
    protocol's minimum phase lengths)."""
    from americano_pipelines.protocol_analyses.inputs import observed_series
    from americano_pipelines.stats.sced import abab_randomization_test as test

    check_user(who, body.userId)
    with open_user_warehouse(request.app.state.settings.duckdb_path, who.user_id) as warehouse:
        protocol = warehouse.protocol(body.protocolId)
        observations = warehouse.phase_observations(body.protocolId)
    if body.metric != protocol["primary_outcome"]:
        raise InputError(
            f"metric: protocol {body.protocolId!r} observes its primary outcome "
            f"{protocol['primary_outcome']!r}, not {body.metric!r}",
            field="metric",
        )
    if protocol["design_type"] != "ABAB":
        raise InputError(
            f"protocolId: protocol {body.protocolId!r} is a {protocol['design_type']} design, "
            "not ABAB",
            field="protocolId",
        )
    if observations.empty:
        raise InputError(
            f"protocolId: {body.protocolId!r} has no observations yet", field="protocolId"
        )
    series = observed_series(observations)
    min_b = protocol.get("min_b_phase_length")
    result = test(
        series.conditions,
        series.values,
        min_phase_length=int(protocol["min_phase_length"]),
        min_b_phase_length=None if min_b is None else int(min_b),
        permutations=body.nPermutations,
    )
    return ResultJSON(result.to_json())


@router.post("/change-points", response_model=ChangePointResponse, responses=ERRORS)
def change_points(
    request: Request, body: ChangePointRequest, who: Caller = Depends(caller)
) -> ResultJSON:
    """Change points of the user's daily `metric` from `startDate` to `endDate` inclusive
    (`americano analyze changepoints`)."""
    from americano_pipelines.api.models import MAX_PERIOD_DAYS
    from americano_pipelines.stats.changepoints import detect_change_points

    check_user(who, body.userId)
    if body.endDate < body.startDate:
        raise InputError("endDate: comes before startDate", field="endDate")
    if (body.endDate - body.startDate).days + 1 > MAX_PERIOD_DAYS:
        raise InputError(
            f"endDate: the period is longer than {MAX_PERIOD_DAYS} days", field="endDate"
        )
    with open_user_warehouse(request.app.state.settings.duckdb_path, who.user_id) as warehouse:
        frame = warehouse.daily_series(body.metric, body.startDate, body.endDate)
    if len(frame) < 2:
        raise _no_days(body.metric, "from startDate to endDate (two are needed)")
    result = detect_change_points(
        [float(value) for value in frame["value"]],
        [day.date() for day in frame["metric_date"]],
        min_segment_length=body.minSegmentLength,
        n_bootstrap=CHANGE_POINT_BOOTSTRAP,
    )
    return ResultJSON(result.to_json())


@router.post(
    "/sequential-boundaries", response_model=SequentialBoundariesResponse, responses=ERRORS
)
def sequential_boundaries(
    body: SequentialBoundariesRequest, who: Caller = Depends(caller)
) -> ResultJSON:
    """Group-sequential boundaries (`americano analyze sequential`); reads no data."""
    from americano_pipelines.stats.sequential import group_sequential_design

    result = group_sequential_design(
        alpha=body.alphaLevel,
        spending=body.spendingFunction,
        max_n=body.maxN,
        looks=body.nInterimAnalyses,
    )
    return ResultJSON(result.to_json())
