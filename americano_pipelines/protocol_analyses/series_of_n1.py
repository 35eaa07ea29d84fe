"""A protocol as one person of a series of N-of-1 trials of its intervention.

Pure: a protocol row (a mapping with the columns of `marts.protocols`) and the observations a
series may pool (a frame of every protocol's `marts.phase_observations` of the primary outcome,
with `design_type`, `min_phase_length`, `analyses` and each row's phase `intervention_params`;
`tables.series_observations` reads them) go in; `ProtocolSeriesOfN1` comes out, with
`to_json()` and `to_rows()` (the row of `analyses.series_of_n1`). Nothing is read or written
here. Bad or insufficient data never raise: the result says `status="skipped"` and why.

The series
----------
Its persons are the protocols (one person's trial each) of two-condition, single-series designs
(ABAB and ALTERNATING) with the protocol's primary outcome and, with `members="same_conditions"`
(the default), the same intervention: the same parameters of condition A and of condition B
(`intervention_params` without the keys the schedule sets itself, `condition`, `case`,
`criterion`, `session`). `members="same_outcome"` pools every such protocol of the outcome.
Rows of another condition (C) are left out and counted (`nExcluded`). The model and each
person's randomization test are `stats.series_of_n1`'s, each person tested with their own
protocol's `minPhaseLength` (and an alternating design's `maxConsecutive`). Every protocol of
a series fits the same model on the same data with the same seed, so they report the same
population; each row holds its own protocol's shrunken effect. At least 2 protocols.

Options
-------
`series_of_n1_options(protocol_row, **overrides)`: the defaults (`americano analyze
series-of-n1`'s: members same_conditions, noise person, statistic B-A, seed 0, draws=1000,
tune=1000, chains=2, sampler auto), then the protocol's registered `series_of_n1` settings,
then the overrides that are not None (a run's configuration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.inputs import (
    Protocol,
    Status,
    column,
    has_column,
    option_overrides,
)
from americano_pipelines.protocol_analyses.its import (
    ConvergenceCheck,
    convergence_check,
    convergence_columns,
    effect_columns,
)
from americano_pipelines.registration.analyses import (
    RANDOMIZATION_TEST,
    SERIES_MEMBERS,
    SERIES_OF_N1,
    is_registered,
    registered_analyses,
)
from americano_pipelines.registration.vocabulary import ALTERNATING
from americano_pipelines.stats.defaults import DEFAULT_MIN_PHASE_LENGTH
from americano_pipelines.stats.sampler import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_TUNE,
    check_sampler_settings,
)

__all__ = [
    "SERIES_DESIGNS",
    "ProtocolSeriesOfN1",
    "SeriesOfN1Options",
    "protocol_series_of_n1",
    "series_of_n1_options",
]

SERIES_DESIGNS = ("ABAB", ALTERNATING)
"""The designs whose protocols are persons of a series: two conditions, one series."""
_SCHEDULE_KEYS = frozenset({"condition", "case", "criterion", "session"})
"""Keys the schedule sets in every phase's parameters: not part of the intervention."""


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SeriesOfN1Options:
    """Which protocols, the noise model, the persons' test statistic and the sampler."""

    members: str = "same_conditions"
    noise: str = "person"
    statistic: str = "B-A"
    seed: int = 0
    draws: int = DEFAULT_DRAWS
    tune: int = DEFAULT_TUNE
    chains: int = DEFAULT_CHAINS
    sampler: str = "auto"

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_OPTION_NAMES = frozenset(f.name for f in fields(SeriesOfN1Options))


def series_of_n1_options(protocol_row: Mapping[str, Any], **overrides: Any) -> SeriesOfN1Options:
    """Defaults, then the protocol's registered settings, then `overrides` that are not None.
    Raises InputError for an unknown override, an unreadable list of analyses or a bad option
    (the statistic and noise model are checked by the fit)."""
    registered = registered_analyses(protocol_row).get(SERIES_OF_N1)
    values = {} if registered is None else registered.settings()
    values.update(option_overrides(overrides, _OPTION_NAMES, "a series of N-of-1 trials"))
    options = replace(SeriesOfN1Options(), **values)
    if options.members not in SERIES_MEMBERS:
        raise InputError(
            f"members: unknown option {options.members!r}; use one of {', '.join(SERIES_MEMBERS)}",
            field="members",
        )
    check_sampler_settings(
        seed=options.seed,
        draws=options.draws,
        tune=options.tune,
        chains=options.chains,
        sampler=options.sampler,
    )
    return options


# ----------------------------------------------------------------------------- the series


@dataclass(frozen=True)
class _Member:
    protocol_id: str
    user_id: str | None
    conditions: list[str]
    values: list[float]
    signature: str
    min_phase_length: int
    max_consecutive: int | None
    n_excluded: int


def _intervention(params: list[Any], conditions: list[str]) -> str:
    """The intervention of a protocol: per condition, its phases' parameters without the keys
    the schedule sets, as canonical JSON."""
    found: dict[str, set[str]] = {}
    for raw, condition in zip(params, conditions, strict=True):
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else {}
        except json.JSONDecodeError:
            parsed = {"unreadable": raw}
        own = {k: v for k, v in (parsed or {}).items() if k not in _SCHEDULE_KEYS}
        found.setdefault(condition, set()).add(json.dumps(own, sort_keys=True))
    return json.dumps({key: sorted(found[key]) for key in sorted(found)})


def _members(pool: Any) -> dict[str, _Member]:
    """Every protocol of the pool that can be a person of a series, by id."""
    if pool is None or not has_column(pool, "protocol_id") or not len(column(pool, "protocol_id")):
        return {}
    ids = column(pool, "protocol_id")
    rows_of: dict[str, list[int]] = {}
    for index, protocol_id in enumerate(ids):
        rows_of.setdefault(str(protocol_id), []).append(index)
    get = {name: column(pool, name) for name in _POOL_COLUMNS if has_column(pool, name)}
    out = {}
    for protocol_id, rows in rows_of.items():
        first = rows[0]
        if str(get["design_type"][first]).upper() not in SERIES_DESIGNS:
            continue
        kept = [i for i in rows if get["condition"][i] in ("A", "B")]
        conditions = [str(get["condition"][i]) for i in kept]
        row = {"analyses": get.get("analyses", [None] * len(ids))[first]}
        try:
            test = registered_analyses(row).get(RANDOMIZATION_TEST)
        except InputError:
            test = None
        minimum = get.get("min_phase_length", [None] * len(ids))[first]
        out[protocol_id] = _Member(
            protocol_id=protocol_id,
            user_id=None if get["user_id"][first] is None else str(get["user_id"][first]),
            conditions=conditions,
            values=[float(get["value"][i]) for i in kept],
            signature=_intervention(
                [get.get("intervention_params", [None] * len(ids))[i] for i in kept], conditions
            ),
            min_phase_length=DEFAULT_MIN_PHASE_LENGTH if minimum is None else int(minimum),
            max_consecutive=getattr(test, "max_consecutive", None) or 2,
            n_excluded=len(rows) - len(kept),
        )
    return out


_POOL_COLUMNS = (
    "design_type",
    "condition",
    "value",
    "user_id",
    "analyses",
    "min_phase_length",
    "intervention_params",
)


# ----------------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class ProtocolSeriesOfN1:
    """The series of N-of-1 trials a protocol belongs to and its own place in it, or why not."""

    protocol_id: str
    status: Status
    options: SeriesOfN1Options
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    members: tuple[str, ...] = ()
    n_excluded: int = 0
    result: Any = field(default=None, repr=False)  # stats.series_of_n1.SeriesOfN1Result
    convergence: ConvergenceCheck | None = None
    exploratory: bool = False

    analysis_type: ClassVar[str] = "series_of_n1"
    title: ClassVar[str] = "Series of N-of-1 trials"

    @property
    def notes(self) -> tuple[str, ...]:
        return () if self.result is None else self.result.warnings

    @property
    def person(self) -> Any:
        """This protocol's person of the series (`stats.series_of_n1.PersonEffect`)."""
        return None if self.result is None else self.result.person(self.protocol_id)

    @property
    def interpretation(self) -> str | None:
        return None if self.result is None else self.result.interpretation

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "metric": self.metric,
            "members": list(self.members),
            "nExcluded": self.n_excluded,
            "options": self.options.to_json(),
            "person": None if self.person is None else self.person.to_json(),
            "result": None if self.result is None else self.result.to_json(),
            "convergence": None if self.convergence is None else self.convergence.to_json(),
            "interpretation": self.interpretation,
            "notes": list(self.notes),
            "exploratory": self.exploratory,
        }

    def params(self) -> dict[str, Any]:
        """The options as given (`members` is the rule that picked them), the protocols the
        series pooled, and whether the run was registered."""
        return {
            **self.options.to_json(),
            "memberProtocols": list(self.members),
            "exploratory": self.exploratory,
        }

    def headline(self) -> dict[str, Any]:
        result, person = self.result, self.person
        return {
            "status": self.status,
            "reason": self.reason,
            "nPersons": len(self.members) or None,
            "populationEffect": None if result is None else result.population_effect.to_json(),
            "tau": None if result is None else result.tau.to_json(),
            "shrunkenEffect": None if person is None else person.effect.to_json(),
            "rawMeanDifference": None if person is None else person.raw_difference,
            "pValue": None if person is None else person.p_value,
            "diagnostics": None if result is None else result.diagnostics.to_json(),
            "converged": None if self.convergence is None else self.convergence.passed,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row for `analyses.series_of_n1` (without data_version/computed_at)."""
        result, person, options = self.result, self.person, self.options
        population = None if result is None else result.population_effect
        tau = None if result is None else result.tau
        diagnostics = None if result is None else result.diagnostics
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "metric": self.metric,
                "status": self.status,
                "skip_reason": self.reason,
                "members": ",".join(self.members) or None,
                "n_persons": len(self.members) or None,
                "n_observations": None if result is None else result.n_observations,
                "n_excluded": self.n_excluded,
                **{
                    f"population_{key}": value
                    for key, value in effect_columns(population).items()
                    if key != "probability_positive"
                },
                "population_probability_positive": None
                if population is None
                else population.probability_positive,
                "tau_mean": None if tau is None else tau.mean,
                "tau_hdi95_low": None if tau is None else tau.hdi95[0],
                "tau_hdi95_high": None if tau is None else tau.hdi95[1],
                **effect_columns(None if person is None else person.effect),
                "raw_mean_difference": None if person is None else person.raw_difference,
                "randomization_design": None if person is None else person.design,
                "p_value": None if person is None else person.p_value,
                **convergence_columns(
                    self.convergence, None if diagnostics is None else diagnostics.divergences
                ),
                "noise": options.noise,
                "draws": options.draws,
                "tune": options.tune,
                "chains": options.chains,
                "seed": options.seed,
                "interpretation": self.interpretation,
                "result_json": json.dumps(self.to_json(), allow_nan=False),
            }
        ]


def protocol_series_of_n1(
    protocol_row: Mapping[str, Any],
    pool: Any,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> ProtocolSeriesOfN1:
    """The series of N-of-1 trials of the protocol's intervention and outcome, from `pool`
    (module docstring). Skipped (never raised) when the options or the data do not allow it."""
    identity = Protocol.identity(protocol_row)
    base: dict[str, Any] = {
        "protocol_id": identity.protocol_id,
        "user_id": identity.user_id,
        "metric": identity.primary_outcome,
        "exploratory": not is_registered(protocol_row, SERIES_OF_N1),
    }
    try:
        options = series_of_n1_options(protocol_row, **dict(overrides or {}))
    except InputError as error:
        return ProtocolSeriesOfN1(
            status="skipped", reason=str(error), options=SeriesOfN1Options(), **base
        )
    members = _members(pool)
    own = members.get(identity.protocol_id)
    if own is None:
        design = identity.design_type
        reason = (
            f"design_type: a {design} protocol is no person of a series (two conditions in one "
            f"series: {', '.join(SERIES_DESIGNS)})"
            if design not in SERIES_DESIGNS
            else "value: the protocol has no observations of its primary outcome yet"
        )
        return ProtocolSeriesOfN1(status="skipped", reason=reason, options=options, **base)
    chosen = sorted(
        name
        for name, member in members.items()
        if options.members == "same_outcome" or member.signature == own.signature
    )
    chosen_members = [members[name] for name in chosen]
    excluded = sum(member.n_excluded for member in chosen_members)
    if len(chosen) < 2:
        return ProtocolSeriesOfN1(
            status="skipped",
            reason=f"person: no other protocol of {identity.primary_outcome!r} with the same "
            f"intervention ({own.signature}); a series of N-of-1 trials needs at least 2 "
            "(members: same_outcome pools every protocol of the outcome)",
            options=options,
            members=tuple(chosen),
            n_excluded=excluded,
            **base,
        )
    from americano_pipelines.stats.series_of_n1 import series_of_n1

    try:
        result = series_of_n1(
            [m.protocol_id for m in chosen_members for _ in m.values],
            [c for m in chosen_members for c in m.conditions],
            [v for m in chosen_members for v in m.values],
            noise=options.noise,
            statistic=options.statistic,
            min_phase_length={m.protocol_id: m.min_phase_length for m in chosen_members},
            max_consecutive={m.protocol_id: m.max_consecutive for m in chosen_members},
            seed=options.seed,
            draws=options.draws,
            tune=options.tune,
            chains=options.chains,
            sampler=options.sampler,
        )
    except InputError as error:
        return ProtocolSeriesOfN1(
            status="skipped",
            reason=str(error),
            options=options,
            members=tuple(chosen),
            n_excluded=excluded,
            **base,
        )
    diagnostics = result.diagnostics
    return ProtocolSeriesOfN1(
        status="ok",
        options=options,
        members=tuple(chosen),
        n_excluded=excluded,
        result=result,
        convergence=convergence_check(diagnostics.rhat, diagnostics.ess_bulk, diagnostics.ess_tail),
        **base,
    )
