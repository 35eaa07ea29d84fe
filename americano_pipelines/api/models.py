"""Request and response bodies of the HTTP API: the guide's TypeScript interfaces
(seed/000_13b0253957e1ca28.txt, "API Endpoints") as pydantic models, field for field, camelCase
and the one snake_case `probability_positive` included.

Requests refuse unknown fields and bound every number that sizes work (`nPermutations` at most
1,000,000, periods at most `MAX_PERIOD_DAYS` days, the sampler as `stats.limits`), so bad input is
a 422 naming the field before any work starts. Fields the guide does not have are marked as
additions in their description (docs/contracts-additions.md, "HTTP API"). Responses list the
guide's fields; the API answers the result's whole `to_json()`, the CLI's JSON, so they allow
more.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from americano_pipelines.stats import limits
from americano_pipelines.stats.defaults import DEFAULT_PERMUTATIONS
from americano_pipelines.stats.sampler import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE

MAX_PERIOD_DAYS = 3660
"""Longest period of a series the API reads (ten years of days): bounds the work of a request."""
MAX_TEXT = 255
"""Longest user id, protocol id or metric name (the columns' own limit)."""
MAX_NOTES = 5000
MAX_SEED = 2**32 - 1

UserId = Field(min_length=1, max_length=MAX_TEXT, description="Must be the token's user.")
Metric = Field(
    min_length=1, max_length=MAX_TEXT, description='"engagement_score", "streak_days", etc.'
)


NO_NUL = r"^[^\x00]*$"
"""Text PostgreSQL can store: no NUL character."""


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- bayesian-its


class PriorParams(Request):
    effectMean: float = Field(ge=-limits.MAX_ABS_VALUE, le=limits.MAX_ABS_VALUE)
    effectSd: float = Field(gt=0, le=limits.MAX_ABS_VALUE)


class BayesianITSRequest(Request):
    userId: str = UserId
    metric: str = Metric
    interventionDate: dt.date = Field(description="ISO 8601 date when the intervention started")
    prePeriodDays: int = Field(ge=1, le=MAX_PERIOD_DAYS, description="Days before it")
    postPeriodDays: int = Field(ge=1, le=MAX_PERIOD_DAYS, description="Days from it")
    priorParams: PriorParams | None = None
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Addition: the sampler's seed.")
    draws: int = Field(
        DEFAULT_DRAWS, ge=1, le=limits.MAX_DRAWS, description="Addition: draws per chain."
    )
    tune: int = Field(
        DEFAULT_TUNE, ge=1, le=limits.MAX_TUNE, description="Addition: tuning steps per chain."
    )
    chains: int = Field(
        DEFAULT_CHAINS, ge=1, le=limits.MAX_CHAINS, description="Addition: Markov chains."
    )


class CausalEffect(Response):
    mean: float
    sd: float
    hdi95: tuple[float, float]
    probability_positive: float


class Counterfactual(Response):
    dates: list[str]
    predicted: list[float]
    observed: list[float]
    lower95: list[float]
    upper95: list[float]


class Diagnostics(Response):
    rhat: float
    ess_bulk: float
    ess_tail: float


class BayesianITSResponse(Response):
    causalEffect: CausalEffect
    counterfactual: Counterfactual
    diagnostics: Diagnostics
    interpretation: str


# ----------------------------------------------------------------------------- abab


class ABABRandomizationTestRequest(Request):
    userId: str = UserId
    protocolId: str = Field(min_length=1, max_length=MAX_TEXT)
    metric: str = Field(
        min_length=1, max_length=MAX_TEXT, description="The protocol's primary outcome."
    )
    nPermutations: int = Field(DEFAULT_PERMUTATIONS, ge=1, le=limits.MAX_PERMUTATIONS)


class ABABRandomizationTestResponse(Response):
    observedEffect: float
    pValue: float
    effectSize: float | None
    interpretation: str
    permutationDistribution: list[float]
    passesSCEDStandards: bool


# ----------------------------------------------------------------------------- change points


class ChangePointRequest(Request):
    userId: str = UserId
    metric: str = Metric
    startDate: dt.date
    endDate: dt.date
    minSegmentLength: int = Field(7, ge=1, le=MAX_PERIOD_DAYS)


class ChangePoint(Response):
    date: str
    confidence: float
    beforeMean: float
    afterMean: float
    percentChange: float | None


class ChangePointResponse(Response):
    changePoints: list[ChangePoint]
    algorithm: str


# ----------------------------------------------------------------------------- sequential

Spending = Literal[
    "obrien_fleming", "pocock", "hsd", "kim_demets", "obrien_fleming_classic", "pocock_classic"
]


class SequentialBoundariesRequest(Request):
    alphaLevel: float = Field(gt=0, lt=1, description="0.05 for 95% confidence")
    spendingFunction: Spending
    maxN: int = Field(ge=1, le=10**9, description="Maximum sample size")
    nInterimAnalyses: int = Field(
        ge=1, le=100, description="How many times you'll check (the looks, the final included)"
    )


class Boundary(Response):
    n: int
    criticalValue: float
    alphaSpent: float


class SequentialBoundariesResponse(Response):
    boundaries: list[Boundary]
    warning: str


# ----------------------------------------------------------------------------- research


class ContextMetadataRequest(Request):
    """The context capture widget's body (the guide's `{mood, energy, location, notes}`)."""

    mood: Literal["LOW", "MEDIUM", "HIGH"]
    energy: int = Field(5, ge=1, le=10)
    location: Literal["HOME", "LIBRARY", "CAFE", "CAMPUS", "OTHER"]
    notes: str | None = Field(None, max_length=MAX_NOTES)
    userId: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    timestamp: dt.datetime | None = Field(
        None, description="Addition: when (with a UTC offset); default now."
    )


class ContextMetadataResponse(Response):
    id: str
    userId: str
    timestamp: str
    mood: str
    energy: int
    location: str
    notes: str | None


class Phase(Response):
    label: str
    phaseType: str
    startDate: str
    endDate: str


class ProtocolResponse(Response):
    protocolId: str
    seed: int | None
    phases: list[Phase]
    userId: str
    protocolName: str
    designType: str


class ProtocolITSResponse(Response):
    """A protocol's Bayesian ITS as its registered analysis computed it (`analyses.its_effects`,
    the ITS dashboard's data): `result` is the guide's `BayesianITSResponse` (null when the
    analysis was skipped, `reason` says why)."""

    protocolId: str
    status: str
    reason: str | None
    metric: str | None
    interventionDate: str | None
    result: BayesianITSResponse | None
    interpretation: str | None
    dataVersion: str | None
    computedAt: str | None


class Observation(Response):
    date: str
    phase: str
    condition: str
    value: float


class ProtocolRandomizationTestResponse(Response):
    """A protocol's randomization test as its registered analysis computed it
    (`analyses.sced_randomization_test`, the ABAB view's data): `test` is the guide's
    `ABABRandomizationTestResponse` (null when skipped), with the effect sizes, the WWC rating
    (`sced_standards`) and the observations it was computed on."""

    protocolId: str
    design: str
    status: str
    reason: str | None
    test: ABABRandomizationTestResponse | None
    observations: list[Observation]
    dataVersion: str | None
    computedAt: str | None


class AnalysisRun(Response):
    id: str
    protocolId: str
    runName: str | None
    analysisType: str


class Error(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(BaseModel):
    detail: list[FieldError]
