"""What a protocol's analyses read: its registered fields (`Protocol`), its registered analyses
and their settings (`AnalysisPlan`, read once, by one set of rules, for every analysis) and its
observations in time order (`ObservedSeries`), from a `marts.protocols` row and a frame.

Frames are pandas or polars DataFrames, or mappings of column name to values; nothing here reads
or writes. Bad input raises `InputError` naming the field; the analyses turn it into a
`status="skipped"` result that says why.

The settings come from the protocol's registered `analyses` list (the protocol file's
`analyses:`, `registration.analyses`) when it has one: each analysis's settings, the defaults
below for those it leaves out (`plan_from_analyses`). A protocol without a list runs
`DEFAULT_ANALYSES`, with the settings of its analysis plan (`analysis_plan`, free text or a
JSON object), as before the list existed:

- free text: the first SCRT statistic name written in it ("B-A", "A-B", "PB-PA", "PA-PB",
  "|A-B|", "|PA-PB|", or one of scan's: "Median B-A", "SMD hedges", "NAP", ... (stats.sced
  STATISTICS); default "B-A") and the alpha-spending function ("Pocock",
  "Hwang-Shih-DeCani" / "HSD"; default O'Brien-Fleming);
- JSON: the keys of `AnalysisPlan` (`statistic`, `spending`, `permutations`, `seed`,
  `maxExact`, `maxConsecutive`, `minSegmentLength`, `changePointAlgorithm`) and the ITS keys
  (`prePeriodDays`, `postWindow`, `seasonality`, `ar1`, `effectPriorMean`, `effectPriorSd`,
  `seed`) at the top level or under `"its"` (where they win). Keys are compared without case
  and without anything but letters and digits: "maxExact" = "max_exact" = "max-exact".

Defaults are the CLI's (`americano analyze abab`, `americano analyze its`), so the CLI, the
library and the assets agree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.registration.analyses import (
    CHANGE_POINTS,
    DEFAULT_ANALYSIS_LIST,
    ITS,
    RANDOMIZATION_TEST,
    SEQUENTIAL_MONITORING,
    AnalysisList,
    analyses_from_json,
)
from americano_pipelines.registration.vocabulary import RESTRICTED
from americano_pipelines.stats.defaults import (
    DEFAULT_MAX_EXACT,
    DEFAULT_MIN_PHASE_LENGTH,
    DEFAULT_PERMUTATIONS,
)
from americano_pipelines.stats.effect_sizes import DEFAULT_OPTIONS, EffectSizeOptions
from americano_pipelines.stats.sced import DECREASING_STATISTICS, STATISTICS, statistic_named
from americano_pipelines.stats.sequential import SPENDING_FUNCTIONS

__all__ = [
    "AnalysisPlan",
    "ObservedSeries",
    "PhaseBlock",
    "Protocol",
    "Status",
    "analysis_plan_of",
    "as_date",
    "column",
    "has_column",
    "observed_series",
    "option_overrides",
    "parse_analysis_plan",
    "plan_from_analyses",
    "present",
    "text_or_none",
]

Status = Literal["ok", "skipped"]

# SCRT statistic names in free text, longest first so "|A-B|" is not read as "A-B".
# Longest names first, so that "Median B-A" is not read as "B-A".
_STATISTIC_IN_TEXT = re.compile(
    r"(?<![\w|])("
    + "|".join(re.escape(name) for name in sorted(STATISTICS, key=len, reverse=True))
    + r")(?![\w|])"
)
_POCOCK_IN_TEXT = re.compile(r"pocock", re.IGNORECASE)
_HSD_IN_TEXT = re.compile(r"hwang|decani|\bhsd\b", re.IGNORECASE)
# JSON plan keys (see the module docstring): the randomization-test and monitoring options ...
_PLAN_KEYS = {
    "statistic": "statistic",
    "spending": "spending",
    "permutations": "permutations",
    "seed": "seed",
    "maxexact": "max_exact",
    "excludeequal": "exclude_equal",
    "maxconsecutive": "max_consecutive",
    "minsegmentlength": "min_segment_length",
    "changepointalgorithm": "change_point_algorithm",
}
# ... and the ITS options (`seed` is both).
_ITS_KEYS = {
    "preperioddays": "pre_period_days",
    "postwindow": "post_window",
    "seasonality": "seasonality",
    "ar1": "ar1",
    "fit": "fit",
    "effectpriormean": "effect_prior_mean",
    "effectpriorsd": "effect_prior_sd",
    "seed": "seed",
}


def _key(raw: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(raw).lower())


# ----------------------------------------------------------------------------- frames


def present(value: Any) -> bool:
    """False for None and for the NaN / NaT / pd.NA a frame uses for SQL NULL."""
    if value is None or type(value).__name__ == "NAType":  # pandas.NA
        return False
    try:
        return not bool(value != value)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):
        return True


def text_or_none(value: Any) -> str | None:
    return str(value) if present(value) else None


def has_column(frame: Any, name: str) -> bool:
    columns = frame.keys() if isinstance(frame, Mapping) else frame.columns
    return name in list(columns)


def column(frame: Any, name: str) -> list[Any]:
    """The column's values as a list (KeyError when it is missing: check `has_column`)."""
    values = frame[name]
    return list(values) if isinstance(frame, Mapping) else values.to_list()


def as_date(value: Any, name: str, row: int | None = None) -> date:
    """A date from a date, datetime (pandas Timestamp), numpy datetime64 or ISO text; raises
    InputError naming `name` (and the 0-based `row`, when given) otherwise."""
    if isinstance(value, datetime):  # also pandas Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return date.fromisoformat(str(value.astype("datetime64[D]")))
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        where = (
            f"{value!r} is not a date" if row is None else f"row {row + 1} is not a date: {value!r}"
        )
        raise InputError(f"{name}: {where}", field=name) from None


def _optional_int(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    return int(value) if present(value) else None


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class AnalysisPlan:
    """The settings the analyses follow (defaults: the CLI's).

    `seed` is the randomization test's, and the change points' unless `change_point_seed` is
    set; `its` holds the ITS options the plan sets, as (name, value) pairs
    (`protocol_analyses.its` checks them together with a run's overrides)."""

    statistic: str = "B-A"
    spending: str = "obrien_fleming"
    permutations: int = DEFAULT_PERMUTATIONS
    seed: int = 0
    max_exact: int = DEFAULT_MAX_EXACT
    max_consecutive: int | None = 2
    exclude_equal: bool = False
    combine: str | None = None
    statistic_expression: str | None = None
    min_segment_length: int | None = None
    change_point_algorithm: str = "pelt"
    change_point_penalty: float | str | None = None  # a number, "bic" or "mbic"
    change_point_cost: str = "mean"
    change_point_seed: int | None = None
    # The sequential design's settings beyond `spending` (None: stats.sequential's defaults).
    hsd_gamma: float | None = None
    rho: float | None = None
    test_type: int | None = None
    beta: float | None = None
    futility_spending: str | None = None
    futility_hsd_gamma: float | None = None
    futility_rho: float | None = None
    effect: float | None = None
    its: tuple[tuple[str, Any], ...] = ()
    effect_sizes: EffectSizeOptions = DEFAULT_OPTIONS

    @property
    def sides(self) -> int:
        """Sides of the sequential test: the absolute statistics are two-sided."""
        return 2 if self.statistic.startswith("|") else 1

    @property
    def improvement(self) -> str:
        """Direction of improvement for the effect sizes: A-B statistics expect B below A."""
        return "decrease" if self.statistic in DECREASING_STATISTICS else "increase"

    @property
    def orientation(self) -> float:
        """+1 when the hypothesis is B above A (or two-sided), -1 when it is B below A."""
        return -1.0 if self.improvement == "decrease" else 1.0


def parse_analysis_plan(text: str | None) -> AnalysisPlan:
    """The plan's statistic and options (module docstring); InputError (field `analysis_plan`)
    for an unknown statistic or spending function or a bad number."""
    if text is None or not present(text) or not str(text).strip():
        return AnalysisPlan()
    text = str(text)
    parsed: Any = None
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
    if isinstance(parsed, dict):
        options: dict[str, Any] = {}
        its: dict[str, Any] = {}
        for raw_key, value in parsed.items():
            if raw_key == "its":
                continue
            key = _key(raw_key)
            if key in _PLAN_KEYS:
                options[_PLAN_KEYS[key]] = value
            if key in _ITS_KEYS:
                its[_ITS_KEYS[key]] = value
        nested = parsed.get("its")
        if isinstance(nested, dict):
            for raw_key, value in nested.items():
                key = _key(raw_key)
                if key in _ITS_KEYS:
                    its[_ITS_KEYS[key]] = value
        return replace(_checked_plan(options), its=tuple(its.items()))
    options = {}
    found = _STATISTIC_IN_TEXT.search(text)
    if found:
        options["statistic"] = found.group(1)
    if _POCOCK_IN_TEXT.search(text):
        options["spending"] = "pocock"
    elif _HSD_IN_TEXT.search(text):
        options["spending"] = "hsd"
    return _checked_plan(options)


def _plan_int(value: Any, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            f"analysis_plan: {key} must be a whole number, got {value!r}", field="analysis_plan"
        )
    if value < minimum:
        raise InputError(
            f"analysis_plan: {key} must be at least {minimum}, got {value}", field="analysis_plan"
        )
    return value


def _checked_plan(options: dict[str, Any]) -> AnalysisPlan:
    values: dict[str, Any] = {}
    if "statistic" in options:
        statistic = statistic_named(options["statistic"])
        if statistic is None:
            raise InputError(
                f"analysis_plan: unknown statistic {options['statistic']!r}; expected one of "
                f"{', '.join(STATISTICS)}",
                field="analysis_plan",
            )
        values["statistic"] = statistic
    if "spending" in options:
        spending = str(options["spending"]).strip().lower().replace("'", "").replace("-", "_")
        spending = {"obrienfleming": "obrien_fleming", "of": "obrien_fleming"}.get(
            spending, spending
        )
        if spending not in SPENDING_FUNCTIONS:
            raise InputError(
                f"analysis_plan: unknown spending function {options['spending']!r}; expected "
                f"one of {', '.join(SPENDING_FUNCTIONS)}",
                field="analysis_plan",
            )
        values["spending"] = spending
    for key, minimum in (("permutations", 1), ("seed", 0), ("max_exact", 0)):
        if key in options:
            values[key] = _plan_int(options[key], key, minimum)
    if "max_consecutive" in options:
        raw = options["max_consecutive"]
        values["max_consecutive"] = (
            None
            if raw is None or str(raw).lower() == "none"
            else _plan_int(raw, "max_consecutive", 1)
        )
    if "min_segment_length" in options:
        values["min_segment_length"] = _plan_int(
            options["min_segment_length"], "min_segment_length", 1
        )
    if "change_point_algorithm" in options:
        values["change_point_algorithm"] = str(options["change_point_algorithm"])
    if "exclude_equal" in options:
        if not isinstance(options["exclude_equal"], bool):
            raise InputError(
                f"analysis_plan: excludeEqual must be true or false, got "
                f"{options['exclude_equal']!r}",
                field="analysis_plan",
            )
        values["exclude_equal"] = options["exclude_equal"]
    return replace(AnalysisPlan(), **values)


# The change points' settings, by their AnalysisPlan names.
_CHANGE_POINT_FIELDS = {
    "algorithm": "change_point_algorithm",
    "penalty": "change_point_penalty",
    "cost": "change_point_cost",
    "seed": "change_point_seed",
}


def plan_from_analyses(analyses: AnalysisList) -> AnalysisPlan:
    """The settings of a registered list (already checked at registration): each analysis's
    settings over the defaults. The sequential monitoring tests in the direction of the
    randomization test's statistic (the default B-A when the list has no randomization test)."""
    values: dict[str, Any] = {}
    test = analyses.get(RANDOMIZATION_TEST)
    if test is not None:
        values.update(test.settings())
    monitoring = analyses.get(SEQUENTIAL_MONITORING)
    if monitoring is not None:
        values.update(monitoring.settings())
    points = analyses.get(CHANGE_POINTS)
    if points is not None:
        values.update({_CHANGE_POINT_FIELDS.get(k, k): v for k, v in points.settings().items()})
    its = analyses.get(ITS)
    return replace(
        AnalysisPlan(), **values, its=() if its is None else tuple(its.settings().items())
    )


def _registered(row: Mapping[str, Any]) -> tuple[AnalysisList, AnalysisPlan]:
    listed = analyses_from_json(row.get("analyses"))
    if listed is None:
        return DEFAULT_ANALYSIS_LIST, parse_analysis_plan(text_or_none(row.get("analysis_plan")))
    return listed, plan_from_analyses(listed)


def analysis_plan_of(row: Mapping[str, Any]) -> AnalysisPlan:
    """The settings of the protocol's analyses: from its registered list, or, without one, from
    its analysis plan (`parse_analysis_plan`). InputError when either cannot be read."""
    return _registered(row)[1]


def option_overrides(
    overrides: Mapping[str, Any], names: frozenset[str], what: str
) -> dict[str, Any]:
    """A run's overrides of an analysis's options that are not None; InputError naming an
    unknown one (`what`: the analysis, for the message)."""
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(f"{unknown[0]}: not {what} option", field=unknown[0])
    return {key: value for key, value in overrides.items() if value is not None}


# ----------------------------------------------------------------------------- the protocol


@dataclass(frozen=True)
class Protocol:
    """The registered fields of a protocol that its analyses use (a `marts.protocols` row):
    `analyses` (the list, or the defaults) and `plan`, the settings they run with.
    `randomization` is how an ALTERNATING design's sessions were drawn (restricted, with the
    plan's `max_consecutive`, or blocks)."""

    protocol_id: str
    design_type: str
    user_id: str | None = None
    primary_outcome: str | None = None
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH
    min_b_phase_length: int | None = None
    alpha: float = 0.05
    interim_looks: int = 0
    sample_size_target: int | None = None
    status: str | None = None
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)
    analyses: AnalysisList = DEFAULT_ANALYSIS_LIST
    randomization: str = RESTRICTED

    @classmethod
    def identity(cls, row: Mapping[str, Any]) -> Protocol:
        """Only the protocol's id, design, user and outcome: what a skipped result still names
        when the rest of the row cannot be read."""
        return cls(
            protocol_id=str(row["protocol_id"]),
            design_type=str(row.get("design_type") or "").strip().upper(),
            user_id=text_or_none(row.get("user_id")),
            primary_outcome=text_or_none(row.get("primary_outcome")),
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Protocol:
        """From a `marts.protocols` row; NULLs take the database defaults (min_phase_length 3,
        alpha 0.05, no interim looks). Raises InputError for an unreadable analysis plan or
        list of analyses. The cap a restricted alternating schedule was drawn with is the
        protocol's (its `max_consecutive`) where it has one: protocols registered before it
        kept one carry it in their randomization test, or drew with the default."""
        analyses, plan = _registered(row)
        cap = _optional_int(row, "max_consecutive")
        if cap is not None:
            plan = replace(plan, max_consecutive=cap)
        return replace(
            cls.identity(row),
            min_phase_length=_optional_int(row, "min_phase_length") or DEFAULT_MIN_PHASE_LENGTH,
            min_b_phase_length=_optional_int(row, "min_b_phase_length"),
            alpha=float(row["alpha"]) if present(row.get("alpha")) else 0.05,
            interim_looks=_optional_int(row, "interim_looks") or 0,
            sample_size_target=_optional_int(row, "sample_size_target"),
            status=text_or_none(row.get("status")),
            plan=plan,
            analyses=analyses,
            randomization=text_or_none(row.get("randomization")) or RESTRICTED,
        )


# ----------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class PhaseBlock:
    """A run of consecutive observations in one phase: rows [start, stop) of the series."""

    label: str
    condition: str
    start: int
    stop: int
    first_date: date

    @property
    def n(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ObservedSeries:
    """A protocol's observations in time order (rows sorted by date, then observation_index)."""

    dates: tuple[date, ...]
    values: tuple[float, ...]
    conditions: tuple[str, ...]
    phase_labels: tuple[str, ...]
    cases: tuple[str, ...] | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    def phase_blocks(self) -> tuple[PhaseBlock, ...]:
        """Runs of the same phase label (and case), in time order."""
        keys = list(
            zip(self.cases or ("",) * self.n, self.phase_labels, self.conditions, strict=True)
        )
        blocks: list[PhaseBlock] = []
        start = 0
        for i in range(1, self.n + 1):
            if i == self.n or keys[i] != keys[start]:
                _, label, condition = keys[start]
                blocks.append(PhaseBlock(label, condition, start, i, self.dates[start]))
                start = i
        return tuple(blocks)

    def case_series(self) -> dict[str, ObservedSeries]:
        """One series per case, cases in order of first appearance (one case without cases)."""
        if self.cases is None:
            return {"": self}
        grouped: dict[str, list[int]] = {}
        for row, case in enumerate(self.cases):
            grouped.setdefault(case, []).append(row)
        return {
            case: ObservedSeries(
                dates=tuple(self.dates[i] for i in rows),
                values=tuple(self.values[i] for i in rows),
                conditions=tuple(self.conditions[i] for i in rows),
                phase_labels=tuple(self.phase_labels[i] for i in rows),
            )
            for case, rows in grouped.items()
        }


def observed_series(observations: Any, protocol_id: str | None = None) -> ObservedSeries:
    """The observations (pandas/polars frame or mapping of columns with `observation_date`,
    `condition`, `value`, and optionally `phase_label`, `observation_index`, `case`,
    `protocol_id`) of one protocol, sorted by date then `observation_index`."""
    for required in ("observation_date", "condition", "value"):
        if not has_column(observations, required):
            raise InputError(
                f"{required}: phase_observations has no {required} column", field=required
            )
    rows = range(len(column(observations, "value")))
    keep = list(rows)
    if protocol_id is not None and has_column(observations, "protocol_id"):
        ids = column(observations, "protocol_id")
        keep = [i for i in rows if str(ids[i]) == protocol_id]
    raw_dates = column(observations, "observation_date")
    raw_values = column(observations, "value")
    raw_conditions = column(observations, "condition")
    raw_labels = (
        column(observations, "phase_label")
        if has_column(observations, "phase_label")
        else raw_conditions
    )
    raw_index = (
        column(observations, "observation_index")
        if has_column(observations, "observation_index")
        else list(rows)
    )
    raw_cases = column(observations, "case") if has_column(observations, "case") else None
    dates = {i: as_date(raw_dates[i], "observation_date", i) for i in keep}
    order = sorted(keep, key=lambda i: (dates[i], raw_index[i]))
    values: list[float] = []
    for i in order:
        try:
            value = float(raw_values[i])
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise InputError(
                f"value: the observation of {dates[i].isoformat()} is missing or not a number "
                f"({raw_values[i]!r})",
                field="value",
            )
        values.append(value)
    return ObservedSeries(
        dates=tuple(dates[i] for i in order),
        values=tuple(values),
        conditions=tuple(str(raw_conditions[i]).strip().upper() for i in order),
        phase_labels=tuple(str(raw_labels[i]) for i in order),
        cases=None if raw_cases is None else tuple(str(raw_cases[i]) for i in order),
    )
