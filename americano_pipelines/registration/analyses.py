"""The analyses a protocol pre-registers: the `analyses:` list of its file (docs/protocol-yaml.md).

Each item names one analysis and, optionally, its settings:

    analyses:
      - analysis: randomization_test
        statistic: PB-PA
      - analysis: its
        seasonality: day_of_week
      - change_points              # a bare name: the analysis with its default settings

The names (`ANALYSIS_NAMES`) are those of the modules of `americano_pipelines.protocol_analyses`
(synthetic control and wearable links live in `causal_tools`). A setting left out (or null)
takes the analysis's default, which the analysis itself states; a given setting is validated
here, before anything reaches the database, with the choices the statistics accept (their
modules are imported only when a list needs them: the CLI and the Dagster definitions import
this module, and load no statistics with it).

A protocol without the list runs `DEFAULT_ANALYSES` with the settings its free-text or JSON
`analysisPlan` gives (`protocol_analyses.inputs.parse_analysis_plan`), as before the list
existed. Scheduled runs execute exactly the protocol's list; an analysis run by hand for a
protocol whose list does not name it is exploratory.

Pure: no database, no Dagster. Bad input raises `InputError` naming the field, list items as
`analyses[2]`, their settings as `analyses[2].statistic`.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from americano_pipelines.errors import InputError
from americano_pipelines.registration.vocabulary import ALTERNATING, BLOCKS, MULTIPLE_BASELINE
from americano_pipelines.stats.limits import MAX_ABS_VALUE, MAX_EXACT, MAX_PENALTY, MAX_PERMUTATIONS

if TYPE_CHECKING:
    from americano_pipelines.stats.effect_sizes import EffectSizeOptions

__all__ = [
    "ANALYSIS_NAMES",
    "CHANGE_POINTS",
    "DEFAULT_ANALYSES",
    "DEFAULT_ANALYSIS_LIST",
    "DEFAULT_PREDICTORS",
    "DEFAULT_SCALING",
    "DONOR_KINDS",
    "ITS",
    "POST_WINDOWS",
    "RANDOMIZATION_TEST",
    "SEQUENTIAL_MONITORING",
    "SERIES_MEMBERS",
    "SERIES_OF_N1",
    "SYNTHETIC_CONTROL",
    "WEARABLE_LINKS",
    "AnalysisList",
    "ChangePoints",
    "InterruptedTimeSeries",
    "RandomizationTest",
    "RegisteredAnalysis",
    "SequentialMonitoring",
    "SeriesOfN1",
    "SyntheticControl",
    "WearableLinks",
    "analyses_from_json",
    "is_registered",
    "parse_analyses",
    "registered_analyses",
]

RANDOMIZATION_TEST = "randomization_test"
ITS = "its"
CHANGE_POINTS = "change_points"
SEQUENTIAL_MONITORING = "sequential_monitoring"
SYNTHETIC_CONTROL = "synthetic_control"
WEARABLE_LINKS = "wearable_links"
SERIES_OF_N1 = "series_of_n1"
DEFAULT_ANALYSES = (RANDOMIZATION_TEST, ITS, CHANGE_POINTS, SEQUENTIAL_MONITORING)
"""What a protocol registered without an `analyses:` list runs (what every protocol ran before
the list existed)."""

POST_WINDOWS: tuple[str, ...] = ("first_phase", "protocol_end")
"""The ITS post periods: the first intervention phase (the default), or to the protocol's end."""
DONOR_KINDS: tuple[str, ...] = ("metrics", "users")
"""Synthetic control donors: the user's other metrics, or the same metric of other users."""
DEFAULT_SCALING = {"users": "treated_sd", "metrics": "zscore"}
"""The synthetic control's scaling by donor kind: users share a unit, metrics do not."""
SERIES_MEMBERS: tuple[str, ...] = ("same_conditions", "same_outcome")
"""Which protocols a series of N-of-1 trials pools: those with the protocol's primary outcome and
the same intervention parameters of A and B (the default), or every one with its outcome."""
DEFAULT_PREDICTORS: tuple[str, ...] = ("sleep_hours", "hrv_rmssd_ms", "resting_heart_rate_bpm")
"""The wearable measures linked to the outcome when a list names none."""

# Integer settings stay within what PostgreSQL integer columns and every JSON reader hold.
_INTEGER_MAX = 2**31 - 1
_MAX_NAMES = 50  # predictors, donor metrics
_MAX_LAGS = 30
_MAX_LAG_DAYS = 90
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


# ----------------------------------------------------------------------------- settings

Check = Callable[[Any, str], Any]


def _describe(value: Any) -> str:
    text = repr(value[:40] if isinstance(value, str) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(minimum: int, maximum: int = _INTEGER_MAX) -> Check:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(
                f"{where}: must be a whole number, got {_describe(value)}", field=where
            )
        if not minimum <= value <= maximum:
            raise InputError(
                f"{where}: must be from {minimum} to {maximum}, got {value}", field=where
            )
        return value

    return check


def _number(*, positive: bool = False, maximum: float = MAX_ABS_VALUE) -> Check:
    def check(value: Any, where: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > maximum
        ):
            raise InputError(
                f"{where}: must be a finite number, got {_describe(value)}", field=where
            )
        if positive and value <= 0:
            raise InputError(f"{where}: must be a positive number, got {value}", field=where)
        return float(value)

    return check


def _non_negative(maximum: float) -> Check:
    finite = _number(maximum=maximum)

    def check(value: Any, where: str) -> float:
        number = finite(value, where)
        if number < 0:
            raise InputError(f"{where}: must be at least 0, got {value}", field=where)
        return number

    return check


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: must be true or false, got {_describe(value)}", field=where)
    return value


def _choice(choices: Callable[[], tuple[str, ...]]) -> Check:
    """One of `choices()` (a function, so a statistics module loads only when a list needs it)."""

    def check(value: Any, where: str) -> str:
        allowed = choices()
        if not isinstance(value, str) or value.strip() not in allowed:
            raise InputError(
                f"{where}: must be one of {', '.join(allowed)}, got {_describe(value)}",
                field=where,
            )
        return value.strip()

    return check


def _statistic(value: Any, where: str) -> str:
    from americano_pipelines.stats.sced import STATISTICS

    statistic = value.replace(" ", "").upper() if isinstance(value, str) else None
    if statistic not in STATISTICS:
        raise InputError(
            f"{where}: must be one of the SCRT statistics {', '.join(STATISTICS)}, got "
            f"{_describe(value)}",
            field=where,
        )
    return statistic


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > _MAX_NAMES:
        raise InputError(
            f"{where}: must be a list of 1 to {_MAX_NAMES} column names, got {_describe(value)}",
            field=where,
        )
    names: list[str] = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, str) or not _NAME.fullmatch(item):
            raise InputError(
                f"{where}[{index}]: must be a column name (letters, digits and _, at most 100), "
                f"got {_describe(item)}",
                field=f"{where}[{index}]",
            )
        if item in names:
            raise InputError(
                f"{where}[{index}]: {item!r} is listed twice", field=f"{where}[{index}]"
            )
        names.append(item)
    return tuple(names)


def _lags(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or len(value) > _MAX_LAGS:
        raise InputError(
            f"{where}: must be a list of 1 to {_MAX_LAGS} lags in days, got {_describe(value)}",
            field=where,
        )
    day = _whole(0, _MAX_LAG_DAYS)
    lags = tuple(day(item, f"{where}[{i}]") for i, item in enumerate(value, start=1))
    if len(set(lags)) != len(lags):
        raise InputError(f"{where}: each lag once, got {list(lags)}", field=where)
    return lags


def _stats_names(module: str, name: str) -> Callable[[], tuple[str, ...]]:
    """The choices `stats.<module>.<name>` defines, read when first needed (importing a
    statistics module costs seconds)."""

    def choices() -> tuple[str, ...]:
        return getattr(importlib.import_module(f"americano_pipelines.stats.{module}"), name)

    return choices


def _expression(value: Any, where: str) -> str:
    """A user's statistic (stats.user_statistic), checked now so that a bad one fails at
    registration, not in the nightly run."""
    from americano_pipelines.stats.user_statistic import UserStatistic

    if not isinstance(value, str):
        raise InputError(f"{where}: give the expression as text", field=where)
    try:
        return UserStatistic(value).expression
    except InputError as error:
        raise InputError(
            f"{where}: {str(error).removeprefix('statistic_expression: ')}", field=where
        ) from None


def _effect_size_options(value: Any, where: str) -> EffectSizeOptions:
    """The randomization test's `effectSizes:` mapping (SingleCaseES's arguments), checked now
    by `stats.effect_sizes.EffectSizeOptions` (imported only when a list has the mapping)."""
    from americano_pipelines.stats.effect_sizes import EffectSizeOptions

    return EffectSizeOptions.from_json(value, where)


def _penalty(value: Any, where: str) -> float | str:
    """A change-point penalty: a name (bic, mbic) or a number from 0 to MAX_PENALTY."""
    if isinstance(value, str):
        named = value.strip().lower()
        allowed = _stats_names("changepoint_costs", "PENALTIES")()
        if named not in allowed:
            raise InputError(
                f"{where}: must be {', '.join(allowed)} or a number of at least 0, got "
                f"{_describe(value)}",
                field=where,
            )
        return named
    return _non_negative(MAX_PENALTY)(value, where)


def _setting(key: str, check: Check) -> Any:
    """A setting: its camelCase key in the file and its check; None (left out) = the default."""
    return field(default=None, metadata={"key": key, "check": check})


# ----------------------------------------------------------------------------- the analyses


@dataclass(frozen=True)
class _Analysis:
    """One registered analysis; each setting None unless the file gives it."""

    name: ClassVar[str]

    def settings(self) -> dict[str, Any]:
        """The settings the file gives, by field name (snake_case)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def to_json(self) -> dict[str, Any]:
        """`{"analysis": name, <camelCase setting>: value, …}`: the item as the file writes it."""
        out: dict[str, Any] = {"analysis": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif hasattr(value, "given"):  # a nested mapping (effectSizes): what the file gave
                value = value.given()
            if value is not None:
                out[f.metadata["key"]] = value
        return out


@dataclass(frozen=True)
class RandomizationTest(_Analysis):
    """The design's single-case randomization test, with its effect sizes and WWC rating.

    `max_consecutive` is the alternating design's cap on runs of one condition: the one its
    schedule was drawn with (filled in from `maxConsecutive` at registration). `effect_sizes`:
    the settings of the effect sizes it reports (`stats.effect_sizes.EffectSizeOptions`)."""

    name: ClassVar[str] = RANDOMIZATION_TEST
    statistic: str | None = _setting("statistic", _statistic)
    permutations: int | None = _setting("permutations", _whole(1, MAX_PERMUTATIONS))
    max_exact: int | None = _setting("maxExact", _whole(0, MAX_EXACT))
    seed: int | None = _setting("seed", _whole(0))
    max_consecutive: int | None = _setting("maxConsecutive", _whole(1))
    exclude_equal: bool | None = _setting("excludeEqual", _flag)
    statistic_expression: str | None = _setting("statisticExpression", _expression)
    combine: str | None = _setting("combine", _choice(_stats_names("sced", "COMBINATIONS")))
    effect_sizes: EffectSizeOptions | None = _setting("effectSizes", _effect_size_options)


@dataclass(frozen=True)
class InterruptedTimeSeries(_Analysis):
    """The Bayesian interrupted time series at the first intervention."""

    name: ClassVar[str] = ITS
    post_window: str | None = _setting("postWindow", _choice(lambda: POST_WINDOWS))
    pre_period_days: int | None = _setting("prePeriodDays", _whole(1))
    seasonality: str | None = _setting("seasonality", _choice(_stats_names("its", "SEASONALITIES")))
    ar1: bool | None = _setting("ar1", _flag)
    fit: str | None = _setting("fit", _choice(_stats_names("its", "FITS")))
    effect_prior_mean: float | None = _setting("effectPriorMean", _number())
    effect_prior_sd: float | None = _setting("effectPriorSd", _number(positive=True))
    seed: int | None = _setting("seed", _whole(0))


@dataclass(frozen=True)
class ChangePoints(_Analysis):
    """Change points in the mean (or the variance, both, a linear trend, the ranks: `cost`) of
    the primary outcome."""

    name: ClassVar[str] = CHANGE_POINTS
    algorithm: str | None = _setting(
        "algorithm", _choice(_stats_names("changepoints", "ALGORITHMS"))
    )
    cost: str | None = _setting("cost", _choice(_stats_names("changepoint_costs", "COSTS")))
    min_segment_length: int | None = _setting("minSegmentLength", _whole(1))
    penalty: float | str | None = _setting("penalty", _penalty)
    seed: int | None = _setting("seed", _whole(0))


@dataclass(frozen=True)
class SequentialMonitoring(_Analysis):
    """Group-sequential monitoring at the protocol's `interimLooks`, in the direction of the
    randomization test's statistic."""

    name: ClassVar[str] = SEQUENTIAL_MONITORING
    spending: str | None = _setting(
        "spending", _choice(_stats_names("sequential", "SPENDING_FUNCTIONS"))
    )
    hsd_gamma: float | None = _setting("hsdGamma", _number(maximum=40.0))
    rho: float | None = _setting("rho", _number(positive=True, maximum=50.0))
    test_type: int | None = _setting("testType", _whole(1, 6))
    beta: float | None = _setting("beta", _number(positive=True, maximum=0.999999))
    futility_spending: str | None = _setting(
        "futilitySpending", _choice(_stats_names("sequential", "FUTILITY_SPENDING_FUNCTIONS"))
    )
    futility_hsd_gamma: float | None = _setting("futilityHsdGamma", _number(maximum=40.0))
    futility_rho: float | None = _setting("futilityRho", _number(positive=True, maximum=50.0))
    effect: float | None = _setting("effect", _number(positive=True))


@dataclass(frozen=True)
class SyntheticControl(_Analysis):
    """The Bayesian synthetic control of the primary outcome at the first intervention."""

    name: ClassVar[str] = SYNTHETIC_CONTROL
    donors: str | None = _setting("donors", _choice(lambda: DONOR_KINDS))
    donor_metrics: tuple[str, ...] | None = _setting("donorMetrics", _names)
    scaling: str | None = _setting(
        "scaling", _choice(_stats_names("synthetic_control", "SCALINGS"))
    )
    seed: int | None = _setting("seed", _whole(0))


@dataclass(frozen=True)
class WearableLinks(_Analysis):
    """Lagged correlations and Granger tests of wearable measures against the outcome."""

    name: ClassVar[str] = WEARABLE_LINKS
    predictors: tuple[str, ...] | None = _setting("predictors", _names)
    lags: tuple[int, ...] | None = _setting("lags", _lags)
    max_lag: int | None = _setting("maxLag", _whole(1, _MAX_LAG_DAYS))
    method: str | None = _setting("method", _choice(_stats_names("granger", "CORRELATION_METHODS")))
    correction: str | None = _setting("correction", _choice(_stats_names("granger", "CORRECTIONS")))


@dataclass(frozen=True)
class SeriesOfN1(_Analysis):
    """The protocol as one person of a series of N-of-1 trials of its intervention (a Bayesian
    hierarchical model over every protocol of the series)."""

    name: ClassVar[str] = SERIES_OF_N1
    members: str | None = _setting("members", _choice(lambda: SERIES_MEMBERS))
    noise: str | None = _setting("noise", _choice(_stats_names("series_of_n1", "NOISE_MODELS")))
    statistic: str | None = _setting(
        "statistic", _choice(_stats_names("sced", "CONDITION_STATISTICS"))
    )
    seed: int | None = _setting("seed", _whole(0))


RegisteredAnalysis = (
    RandomizationTest
    | InterruptedTimeSeries
    | ChangePoints
    | SequentialMonitoring
    | SyntheticControl
    | WearableLinks
    | SeriesOfN1
)
_KINDS: dict[str, type[_Analysis]] = {
    kind.name: kind
    for kind in (
        RandomizationTest,
        InterruptedTimeSeries,
        ChangePoints,
        SequentialMonitoring,
        SyntheticControl,
        WearableLinks,
        SeriesOfN1,
    )
}
ANALYSIS_NAMES: tuple[str, ...] = tuple(_KINDS)
"""Every analysis a protocol can register, in the order the documentation lists them."""


@dataclass(frozen=True)
class AnalysisList:
    """A protocol's analyses, in the order registered. `explicit`: the file's own `analyses:`
    list; False for the defaults of a protocol registered without one."""

    analyses: tuple[RegisteredAnalysis, ...]
    explicit: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(analysis.name for analysis in self.analyses)

    def includes(self, name: str) -> bool:
        """Whether `name` is registered: a run of it is confirmatory, not exploratory."""
        return name in self.names

    def get(self, name: str) -> RegisteredAnalysis | None:
        """The registered analysis `name` with its settings, None when it is not registered."""
        return next((a for a in self.analyses if a.name == name), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [analysis.to_json() for analysis in self.analyses]


DEFAULT_ANALYSIS_LIST = AnalysisList(
    tuple(_KINDS[name]() for name in DEFAULT_ANALYSES),  # type: ignore[misc]
    explicit=False,
)
"""The analyses of a protocol without a list; their settings come from its analysis plan."""


# ----------------------------------------------------------------------------- parsing


def _item(raw: Any, where: str) -> RegisteredAnalysis:
    if isinstance(raw, str):
        name, given = raw.strip(), {}
    elif isinstance(raw, Mapping):
        name = raw.get("analysis")
        given = {str(key): value for key, value in raw.items() if key != "analysis"}
        if name is None:
            raise InputError(
                f"{where}.analysis: required: which analysis ({', '.join(ANALYSIS_NAMES)})",
                field=f"{where}.analysis",
            )
    else:
        raise InputError(
            f"{where}: must be an analysis name or a mapping with `analysis:` and its settings, "
            f"got {_describe(raw)}",
            field=where,
        )
    kind = _KINDS.get(name.strip()) if isinstance(name, str) else None
    if kind is None:
        named = where if isinstance(raw, str) else f"{where}.analysis"
        guess = difflib.get_close_matches(str(name), ANALYSIS_NAMES, n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        raise InputError(
            f"{named}: unknown analysis {_describe(name)}{hint}; the analyses are "
            f"{', '.join(ANALYSIS_NAMES)}",
            field=named,
        )
    settings = {f.metadata["key"]: f for f in fields(kind)}
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key not in settings:
            guess = difflib.get_close_matches(key, settings, n=1)
            hint = (
                f"did you mean {guess[0]}?"
                if guess
                else f"its settings: {', '.join(settings) or 'none'}"
            )
            raise InputError(
                f"{where}.{key}: not a setting of {kind.name}; {hint}", field=f"{where}.{key}"
            )
        if value is not None:
            setting = settings[key]
            values[setting.name] = setting.metadata["check"](value, f"{where}.{key}")
    return kind(**values)  # type: ignore[return-value]


def parse_analyses(
    value: Any,
    *,
    design_type: str | None = None,
    interim_looks: int | None = None,
    max_consecutive: int | None = None,
    randomization: str | None = None,
    planned_length: int | None = None,
    primary_outcome: str | None = None,
    where: str = "analyses",
) -> AnalysisList:
    """The `analyses:` list of a protocol file (or as stored): each analysis once, its settings
    checked. With the protocol's design (`design_type`, `interim_looks`, `max_consecutive`,
    `randomization`, `planned_length`, `primary_outcome`), also what the design allows, and a
    restricted alternating design's cap is filled into the randomization test. Raises InputError naming the item and
    setting."""
    if not isinstance(value, list) or not value:
        raise InputError(
            f"{where}: must be a list of one or more analyses ({', '.join(ANALYSIS_NAMES)}); "
            "leave it out for the defaults",
            field=where,
        )
    analyses: list[RegisteredAnalysis] = []
    for index, raw in enumerate(value, start=1):
        item_where = f"{where}[{index}]"
        analysis = _item(raw, item_where)
        earlier = [a.name for a in analyses]
        if analysis.name in earlier:
            first = f"{where}[{earlier.index(analysis.name) + 1}]"
            raise InputError(
                f"{item_where}: {analysis.name} is already {first}; list each analysis once",
                field=item_where,
            )
        if design_type is not None:
            analysis = _for_design(
                analysis,
                item_where,
                design_type=design_type,
                interim_looks=interim_looks or 0,
                max_consecutive=max_consecutive,
                randomization=randomization,
                planned_length=planned_length,
                primary_outcome=primary_outcome,
            )
        analyses.append(analysis)
    _check_sequential_sides(analyses, where)
    return AnalysisList(tuple(analyses))


def _check_sequential_design(analysis: SequentialMonitoring, where: str) -> None:
    """What a sequential design cannot combine (stats.sequential refuses it too, at run time)."""
    futility = analysis.test_type is not None and analysis.test_type >= 3
    if not futility:
        for key, value in (
            ("futilitySpending", analysis.futility_spending),
            ("futilityHsdGamma", analysis.futility_hsd_gamma),
            ("futilityRho", analysis.futility_rho),
        ):
            if value is not None:
                raise InputError(
                    f"{where}.{key}: only test types 3-6 have a futility bound; set testType",
                    field=f"{where}.{key}",
                )
    classic = _stats_names("sequential", "CLASSIC_BOUNDARIES")
    if futility and analysis.spending in classic():
        raise InputError(
            f"{where}.spending: the classic {analysis.spending} boundaries exist for test types "
            "1 and 2 only (as in gsDesign)",
            field=f"{where}.spending",
        )


def _check_sequential_sides(analyses: list[RegisteredAnalysis], where: str) -> None:
    """A sequential design's testType must fit the sides of the randomization test's statistic:
    2 for an absolute statistic (two-sided), 1 or 3-6 for a directional one."""
    monitoring = next((a for a in analyses if isinstance(a, SequentialMonitoring)), None)
    if monitoring is None or monitoring.test_type is None:
        return
    index = analyses.index(monitoring)
    test = next((a for a in analyses if isinstance(a, RandomizationTest)), None)
    statistic = (test.statistic if test is not None else None) or "B-A"
    two_sided = statistic.startswith("|")
    if two_sided != (monitoring.test_type == 2):
        item = f"{where}[{index + 1}].testType"
        needed = "2" if two_sided else "1 or 3-6"
        raise InputError(
            f"{item}: the statistic {statistic} is {'two' if two_sided else 'one'}-sided; "
            f"use testType {needed}",
            field=item,
        )


def _for_design(
    analysis: RegisteredAnalysis,
    where: str,
    *,
    design_type: str,
    interim_looks: int,
    max_consecutive: int | None,
    randomization: str | None,
    planned_length: int | None,
    primary_outcome: str | None,
) -> RegisteredAnalysis:
    """What the protocol's design allows of the analysis, and what the design sets in it."""
    from americano_pipelines.stats.sced import CONDITION_STATISTICS

    if isinstance(analysis, RandomizationTest):
        if design_type == ALTERNATING:
            if analysis.statistic is not None and analysis.statistic not in CONDITION_STATISTICS:
                raise InputError(
                    f"{where}.statistic: an ALTERNATING design has no phases; use one of "
                    f"{', '.join(CONDITION_STATISTICS)}, not {analysis.statistic}",
                    field=f"{where}.statistic",
                )
            if analysis.statistic_expression is not None:
                raise InputError(
                    f"{where}.statisticExpression: an ALTERNATING design's test takes one of "
                    f"{', '.join(CONDITION_STATISTICS)}, not an expression",
                    field=f"{where}.statisticExpression",
                )
            if analysis.max_consecutive is not None and randomization == BLOCKS:
                raise InputError(
                    f"{where}.maxConsecutive: the sessions are drawn in blocks (randomization: "
                    "blocks), and the test enumerates the blocks' orders; leave it out",
                    field=f"{where}.maxConsecutive",
                )
            if analysis.max_consecutive not in (None, max_consecutive):
                raise InputError(
                    f"{where}.maxConsecutive: the schedule is drawn with maxConsecutive "
                    f"{max_consecutive}, and the test must enumerate the same schedules; leave "
                    "it out",
                    field=f"{where}.maxConsecutive",
                )
            if randomization == BLOCKS:
                return analysis
            return RandomizationTest(**{**analysis.settings(), "max_consecutive": max_consecutive})
        if analysis.max_consecutive is not None:
            raise InputError(
                f"{where}.maxConsecutive: only for an ALTERNATING design, not {design_type}",
                field=f"{where}.maxConsecutive",
            )
    if (
        isinstance(analysis, RandomizationTest)
        and analysis.combine is not None
        and design_type != MULTIPLE_BASELINE
    ):
        raise InputError(
            f"{where}.combine: only for a MULTIPLE_BASELINE design, whose cases it combines, "
            f"not {design_type}",
            field=f"{where}.combine",
        )
    if (
        isinstance(analysis, ChangePoints)
        and analysis.min_segment_length is not None
        and planned_length is not None
        and 2 * analysis.min_segment_length > planned_length
    ):
        raise InputError(
            f"{where}.minSegmentLength: two segments of {analysis.min_segment_length} need "
            f"{2 * analysis.min_segment_length} days, more than plannedLength = {planned_length}",
            field=f"{where}.minSegmentLength",
        )
    if (
        isinstance(analysis, InterruptedTimeSeries)
        and analysis.effect_prior_mean is not None
        and analysis.effect_prior_sd is None
    ):
        raise InputError(
            f"{where}.effectPriorMean: give effectPriorSd with it (the prior is "
            "Normal(effectPriorMean, effectPriorSd))",
            field=f"{where}.effectPriorMean",
        )
    if (
        isinstance(analysis, InterruptedTimeSeries)
        and analysis.fit == "pre_period"
        and analysis.effect_prior_sd is not None
    ):
        raise InputError(
            f"{where}.fit: an effect prior needs fit: joint (the pre-period fit has no effect "
            "parameter to put it on)",
            field=f"{where}.fit",
        )
    if isinstance(analysis, SequentialMonitoring) and interim_looks < 1:
        raise InputError(
            f"{where}: sequential_monitoring needs interim looks; set interimLooks to the number "
            "of interim analyses planned (at least 1)",
            field=where,
        )
    if isinstance(analysis, SequentialMonitoring):
        _check_sequential_design(analysis, where)
    if isinstance(analysis, SyntheticControl):
        if analysis.donor_metrics is not None and analysis.donors != "metrics":
            raise InputError(
                f"{where}.donorMetrics: only with donors: metrics", field=f"{where}.donorMetrics"
            )
        if primary_outcome in (analysis.donor_metrics or ()):
            raise InputError(
                f"{where}.donorMetrics: {primary_outcome!r} is the primary outcome, the treated "
                "series; donors are other metrics",
                field=f"{where}.donorMetrics",
            )
    if isinstance(analysis, WearableLinks) and primary_outcome in (analysis.predictors or ()):
        raise InputError(
            f"{where}.predictors: {primary_outcome!r} is the primary outcome",
            field=f"{where}.predictors",
        )
    return analysis


def analyses_from_json(value: Any) -> AnalysisList | None:
    """A stored list (the JSON of `AnalysisList.to_json`, as text or parsed); None when the
    protocol has none (NULL, NaN). Raises InputError (field `analyses`) when it cannot be read."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InputError(f"analyses: not JSON: {error}", field="analyses") from None
    if value is None:
        return None
    return parse_analyses(value)


def registered_analyses(row: Mapping[str, Any]) -> AnalysisList:
    """The analyses of a protocol row (`marts.protocols`, `experiment_protocols`): its stored
    list, or `DEFAULT_ANALYSIS_LIST` when it was registered without one. InputError (field
    `analyses`) when the list cannot be read."""
    listed = analyses_from_json(row.get("analyses"))
    return DEFAULT_ANALYSIS_LIST if listed is None else listed


def is_registered(row: Mapping[str, Any], name: str) -> bool:
    """Whether the protocol of `row` registered analysis `name`: a run of it is confirmatory, a
    run of another one exploratory. True when the list cannot be read, so the analysis runs and
    its result says why it was skipped."""
    try:
        return registered_analyses(row).includes(name)
    except InputError:
        return True
