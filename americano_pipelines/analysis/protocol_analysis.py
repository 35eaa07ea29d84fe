"""A protocol's pre-registered analyses, run on its `phase_observations`.

Pure: a protocol row (a mapping with the columns of `marts.protocols`) and its observations (a
pandas or polars frame, or a mapping of columns, with the columns of `marts.phase_observations`)
go in; frozen dataclasses come out, each with `to_json()` and `to_rows()` (the rows of its tidy
warehouse table). Nothing is read or written here. Bad or insufficient data never raises: the
result says `status="skipped"` and why, in the words of the `InputError` that stopped it.

What runs, by `design_type` (the statistics are those of `americano_pipelines.stats`):

- ABAB: `abab_randomization_test` with the plan's statistic (default "B-A") and the protocol's
  `min_phase_length`; `abab_effect_sizes` (NAP and SMD: the equally weighted average of the two
  A-B pairs, as SingleCaseES `batch_calc_ES(aggregate = phase_pair)`); the WWC standards rating
  the test carries (`reversal_design_standards`).
- MULTIPLE_BASELINE: `multiple_baseline_test` over the cases of the frame's optional `case`
  column (one A-then-B series per case); without that column the protocol's series is the only
  case. Effect sizes per case (`effect_sizes`), NAP/SMD averaged with equal weights.
- ALTERNATING: `alternating_treatments_test` (the plan's `max_consecutive`, default 2 as SCRT
  "ATD"); NAP and SMD of condition B against condition A.
- CHANGING_CRITERION: no randomization test is defined; only the WWC rating is reported.

Minimum phase length. The schedule was randomized over calendar days with phases at least
`min_phase_length` days long, but `phase_observations` holds only the days with a measurement, so a
phase may have fewer observations than that. The observed assignment must be admissible in the
randomization distribution, so the test then uses the shortest observed phase as its minimum
(a larger reference set that still contains the observed schedule) and says so in `notes`.

The analysis plan (`analysis_plan`, free text or JSON) can name the test statistic (any SCRT
name found in the text, e.g. "Randomization test of B-A"), the alpha-spending function
("Pocock", "Hwang-Shih-DeCani"; default O'Brien-Fleming) and, as JSON keys, `permutations`,
`seed`, `max_exact`, `max_consecutive`, `min_segment_length`, `change_point_algorithm`. Defaults
are the CLI's (`americano analyze abab`), so the CLI, the library and the assets agree.

Sequential monitoring (`sequential_monitoring_for_protocol`) is documented there.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from americano_pipelines.errors import InputError
from americano_pipelines.stats.changepoints import ChangePointResult, detect_change_points
from americano_pipelines.stats.effect_sizes import (
    ABABEffectSizes,
    EffectEstimate,
    EffectSizeSummary,
    abab_effect_sizes,
    effect_sizes,
    nap,
    smd,
)
from americano_pipelines.stats.sced import (
    STATISTICS,
    RandomizationTestResult,
    abab_randomization_test,
    alternating_treatments_test,
    multiple_baseline_test,
)
from americano_pipelines.stats.sced_standards import StandardsRating, changing_criterion_standards
from americano_pipelines.stats.sequential import (
    SPENDING_FUNCTIONS,
    MonitoringDecision,
    SequentialDesign,
    group_sequential_design,
    monitor,
)

__all__ = [
    "WELCH_Z_METHOD",
    "AnalysisPlan",
    "ObservedSeries",
    "PhaseBlock",
    "Protocol",
    "ProtocolAnalysis",
    "ProtocolChangePoints",
    "ProtocolSequentialMonitoring",
    "ProtocolTestResult",
    "SequentialLook",
    "analyze_protocol",
    "change_points_for_protocol",
    "observed_series",
    "parse_analysis_plan",
    "randomization_test_for_protocol",
    "sequential_monitoring_for_protocol",
    "welch_z",
]

Status = Literal["ok", "skipped"]

ABAB = "ABAB"
MULTIPLE_BASELINE = "MULTIPLE_BASELINE"
ALTERNATING = "ALTERNATING"
CHANGING_CRITERION = "CHANGING_CRITERION"

WELCH_Z_METHOD = (
    "Welch z of the B mean minus the A mean over the protocol's first n observations "
    "(sign flipped for an A-B statistic), z = (mean_B - mean_A) / sqrt(s_A^2/n_A + s_B^2/n_B); "
    "information fraction n / n_max with n_max = sample_size_target, or the number of "
    "observations when the protocol ended short of it; a look with fewer than 2 observations "
    "of A or of B has no z and counts as z = 0 (it cannot cross)"
)

_Z95 = NormalDist().inv_cdf(0.975)
# SCRT statistic names in free text, longest first so "|A-B|" is not read as "A-B".
_STATISTIC_IN_TEXT = re.compile(r"(?<![\w|])(\|PA-PB\||\|A-B\||PA-PB|PB-PA|A-B|B-A)(?![\w|])")
_POCOCK_IN_TEXT = re.compile(r"pocock", re.IGNORECASE)
_HSD_IN_TEXT = re.compile(r"hwang|decani|\bhsd\b", re.IGNORECASE)
# JSON plan keys, compared without case, "_" or "-": "maxExact" = "max_exact".
_PLAN_KEYS = {
    "statistic": "statistic",
    "spending": "spending",
    "permutations": "permutations",
    "seed": "seed",
    "maxexact": "max_exact",
    "maxconsecutive": "max_consecutive",
    "minsegmentlength": "min_segment_length",
    "changepointalgorithm": "change_point_algorithm",
}


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class AnalysisPlan:
    """The parts of a protocol's analysis plan these analyses follow (defaults: the CLI's)."""

    statistic: str = "B-A"
    spending: str = "obrien_fleming"
    permutations: int = 10_000
    seed: int = 0
    max_exact: int = 100_000
    max_consecutive: int | None = 2
    min_segment_length: int | None = None
    change_point_algorithm: str = "pelt"

    @property
    def sides(self) -> int:
        """Sides of the sequential test: the absolute statistics are two-sided."""
        return 2 if self.statistic.startswith("|") else 1

    @property
    def improvement(self) -> str:
        """Direction of improvement for the effect sizes: A-B statistics expect B below A."""
        return "decrease" if self.statistic in ("A-B", "PA-PB") else "increase"

    @property
    def orientation(self) -> float:
        """+1 when the hypothesis is B above A (or two-sided), -1 when it is B below A."""
        return -1.0 if self.improvement == "decrease" else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "spending": self.spending,
            "permutations": self.permutations,
            "seed": self.seed,
            "maxExact": self.max_exact,
            "maxConsecutive": self.max_consecutive,
            "minSegmentLength": self.min_segment_length,
            "changePointAlgorithm": self.change_point_algorithm,
        }


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


def parse_analysis_plan(text: str | None) -> AnalysisPlan:
    """Read the statistic and options from a plan: a JSON object, or free text naming them.

    Free text: the first SCRT statistic name written in it ("B-A", "A-B", "PB-PA", "PA-PB",
    "|A-B|", "|PA-PB|"; default "B-A") and the spending function ("Pocock", "Hwang-Shih-DeCani"
    / "HSD"; default O'Brien-Fleming). JSON: the keys of `AnalysisPlan` (snake or camel case).
    """
    if text is None or not str(text).strip():
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
        for raw_key, value in parsed.items():
            key = _PLAN_KEYS.get(re.sub(r"[^a-z]", "", str(raw_key).lower()))
            if key is not None:
                options[key] = value
        return _checked_plan(options)
    options = {}
    found = _STATISTIC_IN_TEXT.search(text)
    if found:
        options["statistic"] = found.group(1)
    if _POCOCK_IN_TEXT.search(text):
        options["spending"] = "pocock"
    elif _HSD_IN_TEXT.search(text):
        options["spending"] = "hsd"
    return _checked_plan(options)


def _checked_plan(options: dict[str, Any]) -> AnalysisPlan:
    values: dict[str, Any] = {}
    if "statistic" in options:
        statistic = str(options["statistic"]).replace(" ", "").upper()
        if statistic not in STATISTICS:
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
    return replace(AnalysisPlan(), **values)


def _present(value: Any) -> bool:
    """False for None and for the NaN / NaT a frame uses for SQL NULL."""
    if value is None or type(value).__name__ == "NAType":  # pandas.NA
        return False
    try:
        return not bool(value != value)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):
        return True


def _optional_int(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    return int(value) if _present(value) else None


@dataclass(frozen=True)
class Protocol:
    """The registered fields of a protocol that its analyses use (a `marts.protocols` row)."""

    protocol_id: str
    design_type: str
    user_id: str | None = None
    primary_outcome: str | None = None
    min_phase_length: int = 3
    alpha: float = 0.05
    interim_looks: int = 0
    sample_size_target: int | None = None
    status: str | None = None
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Protocol:
        """From a `marts.protocols` row; NULLs take the database defaults (min_phase_length 3,
        alpha 0.05, no interim looks). Raises InputError for an unreadable analysis plan."""

        def text(key: str) -> str | None:
            value = row.get(key)
            return str(value) if _present(value) else None

        return cls(
            protocol_id=str(row["protocol_id"]),
            design_type=(text("design_type") or "").strip().upper(),
            user_id=text("user_id"),
            primary_outcome=text("primary_outcome"),
            min_phase_length=_optional_int(row, "min_phase_length") or 3,
            alpha=float(row["alpha"]) if _present(row.get("alpha")) else 0.05,
            interim_looks=_optional_int(row, "interim_looks") or 0,
            sample_size_target=_optional_int(row, "sample_size_target"),
            status=text("status"),
            plan=parse_analysis_plan(text("analysis_plan")),
        )


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


def _has_column(frame: Any, name: str) -> bool:
    columns = frame.keys() if isinstance(frame, Mapping) else frame.columns
    return name in list(columns)


def _column(frame: Any, name: str) -> list[Any]:
    column = frame[name]
    return list(column) if isinstance(frame, Mapping) else column.to_list()


def _as_date(value: Any, row: int) -> date:
    if isinstance(value, datetime):  # also pandas Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return date.fromisoformat(str(value.astype("datetime64[D]")))
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(
            f"observation_date: row {row + 1} is not a date: {value!r}", field="observation_date"
        ) from None


def observed_series(observations: Any, protocol_id: str | None = None) -> ObservedSeries:
    """The observations (pandas/polars frame or mapping of columns with `observation_date`,
    `condition`, `value`, and optionally `phase_label`, `observation_index`, `case`,
    `protocol_id`) of one protocol, sorted by date then `observation_index`."""
    for required in ("observation_date", "condition", "value"):
        if not _has_column(observations, required):
            raise InputError(
                f"{required}: phase_observations has no {required} column", field=required
            )
    rows = range(len(_column(observations, "value")))
    keep = list(rows)
    if protocol_id is not None and _has_column(observations, "protocol_id"):
        ids = _column(observations, "protocol_id")
        keep = [i for i in rows if str(ids[i]) == protocol_id]
    raw_dates = _column(observations, "observation_date")
    raw_values = _column(observations, "value")
    raw_conditions = _column(observations, "condition")
    raw_labels = (
        _column(observations, "phase_label")
        if _has_column(observations, "phase_label")
        else raw_conditions
    )
    raw_index = (
        _column(observations, "observation_index")
        if _has_column(observations, "observation_index")
        else list(rows)
    )
    raw_cases = _column(observations, "case") if _has_column(observations, "case") else None
    dates = {i: _as_date(raw_dates[i], i) for i in keep}
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


def _identity(protocol_row: Mapping[str, Any]) -> tuple[str, str, str | None]:
    user = protocol_row.get("user_id")
    return (
        str(protocol_row["protocol_id"]),
        str(protocol_row.get("design_type") or "").strip().upper(),
        str(user) if _present(user) else None,
    )


def _condition_runs(conditions: Sequence[str]) -> list[int]:
    """Lengths of the runs of equal conditions (the blocks the phase-design tests see)."""
    runs: list[int] = []
    for i, condition in enumerate(conditions):
        if i and condition == conditions[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    return runs


def _min_phase_length_used(registered: int, run_lengths: Sequence[int]) -> tuple[int, str | None]:
    """The registered minimum, or the shortest observed phase when missing days made a phase
    shorter (the observed schedule must stay admissible; see the module docstring)."""
    shortest = min(run_lengths) if run_lengths else registered
    if shortest >= registered:
        return registered, None
    used = max(1, shortest)
    return used, (
        f"min_phase_length {registered} (registered, in days) lowered to {used} for the test: "
        f"days without an observation leave a phase with only {shortest} observation"
        f"{'s' if shortest != 1 else ''}"
    )


# ----------------------------------------------------------------------------- randomization test


def _equal_weight_average(estimates: Sequence[EffectEstimate | None]) -> EffectEstimate | None:
    """Mean of per-case estimates, SE = sqrt(sum SE^2) / k and a Wald 95% interval, as
    SingleCaseES `batch_calc_ES(weighting = "equal")`; None when any case lacks the index."""
    if not estimates or any(estimate is None for estimate in estimates):
        return None
    present = [estimate for estimate in estimates if estimate is not None]
    mean = float(np.mean([estimate.estimate for estimate in present]))
    ses = [estimate.se for estimate in present]
    if any(se is None for se in ses):
        return EffectEstimate(mean)
    se = math.sqrt(sum(float(s) ** 2 for s in ses if s is not None)) / len(present)
    return EffectEstimate(mean, se, (mean - _Z95 * se, mean + _Z95 * se))


def _estimate_json(estimate: EffectEstimate | None) -> dict[str, Any] | None:
    return None if estimate is None else estimate.to_json()


@dataclass(frozen=True)
class ProtocolTestResult:
    """The protocol's randomization test, effect sizes and WWC standards rating.

    `test` is the stats result (None when skipped). `nap` and `smd` are the headline indices
    (see the module docstring for which average); `effect_sizes` holds every index: an
    `ABABEffectSizes`, an `EffectSizeSummary`, or (multiple baseline) per-case summaries.
    """

    protocol_id: str
    design: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    statistic: str | None = None
    min_phase_length: int | None = None
    min_phase_length_used: int | None = None
    n_observations: int = 0
    permutations: int | None = None
    seed: int | None = None
    test: RandomizationTestResult | None = None
    effect_sizes: (
        ABABEffectSizes | EffectSizeSummary | tuple[tuple[str, EffectSizeSummary], ...] | None
    ) = None
    nap: EffectEstimate | None = None
    smd: EffectEstimate | None = None
    standards: StandardsRating | None = None
    notes: tuple[str, ...] = ()
    series: ObservedSeries | None = field(default=None, repr=False, compare=False)

    @property
    def p_value(self) -> float | None:
        return None if self.test is None else self.test.p_value

    @property
    def effect_size(self) -> float | None:
        return None if self.test is None else self.test.effect_size

    def _effect_sizes_json(self) -> Any:
        if self.effect_sizes is None:
            return None
        if isinstance(self.effect_sizes, tuple):
            return {case: summary.to_json() for case, summary in self.effect_sizes}
        return self.effect_sizes.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "design": self.design,
            "status": self.status,
            "reason": self.reason,
            "statistic": self.statistic,
            "minPhaseLength": self.min_phase_length,
            "minPhaseLengthUsed": self.min_phase_length_used,
            "nObservations": self.n_observations,
            "test": None if self.test is None else self.test.to_json(),
            "nap": _estimate_json(self.nap),
            "smd": _estimate_json(self.smd),
            "effectSizes": self._effect_sizes_json(),
            "sced_standards": None if self.standards is None else self.standards.to_json(),
            "notes": list(self.notes),
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row for `analyses.sced_randomization_test` (without data_version/computed_at)."""
        test = self.test
        standards = self.standards
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "design": self.design,
                "status": self.status,
                "skip_reason": self.reason,
                "statistic": self.statistic,
                "observed_effect": None if test is None else test.observed_effect,
                "p_value": None if test is None else test.p_value,
                "n_assignments": None if test is None else test.n_assignments,
                # HUGEINT holds counts below 2^127; larger ones stay in result_json.
                "n_admissible": None
                if test is None or test.n_admissible >= 2**127
                else test.n_admissible,
                "exact": None if test is None else test.exact,
                "alpha": None if test is None else test.alpha,
                "significant": None if test is None else test.significant,
                "effect_size": None if test is None else test.effect_size,
                "nap": None if self.nap is None else self.nap.estimate,
                "nap_se": None if self.nap is None else self.nap.se,
                "smd": None if self.smd is None else self.smd.estimate,
                "smd_se": None if self.smd is None else self.smd.se,
                "rating": None if standards is None else standards.rating,
                "passes": None if standards is None else standards.passes,
                "standards_reasons": None if standards is None else "; ".join(standards.reasons),
                "min_phase_length": self.min_phase_length,
                "min_phase_length_used": self.min_phase_length_used,
                "n_observations": self.n_observations,
                "permutations": self.permutations,
                "seed": self.seed,
                "interpretation": None if test is None else test.interpretation,
                "notes": "; ".join(self.notes) or None,
                "result_json": json.dumps(self.to_json()),
            }
        ]


def randomization_test_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolTestResult:
    """The randomization test of the protocol's design, its effect sizes and standards rating,
    on the protocol's observations of the primary outcome. Skipped (never raised) when the plan
    or the data do not allow it."""
    protocol_id, design, user_id = _identity(protocol_row)
    series: ObservedSeries | None = None
    try:
        protocol = Protocol.from_row(protocol_row)
        series = observed_series(observations, protocol_id)
        return _randomization_test(protocol, series)
    except InputError as error:
        return ProtocolTestResult(
            protocol_id=protocol_id,
            design=design,
            status="skipped",
            reason=str(error),
            user_id=user_id,
            n_observations=0 if series is None else series.n,
            series=series,
        )


def _randomization_test(protocol: Protocol, series: ObservedSeries) -> ProtocolTestResult:
    plan = protocol.plan
    base = {
        "protocol_id": protocol.protocol_id,
        "design": protocol.design_type,
        "user_id": protocol.user_id,
        "statistic": plan.statistic,
        "min_phase_length": protocol.min_phase_length,
        "n_observations": series.n,
        "series": series,
    }
    if series.n == 0:
        return ProtocolTestResult(
            status="skipped", reason="no observations of the primary outcome yet", **base
        )
    options = {
        "statistic": plan.statistic,
        "permutations": plan.permutations,
        "seed": plan.seed,
        "max_exact": plan.max_exact,
        "alpha": protocol.alpha,
    }
    notes: list[str] = []
    improvement = plan.improvement
    used: int | None = None
    all_sizes: Any = None
    nap_estimate: EffectEstimate | None = None
    smd_estimate: EffectEstimate | None = None

    if protocol.design_type == ABAB:
        used, note = _min_phase_length_used(
            protocol.min_phase_length, _condition_runs(series.conditions)
        )
        notes += [note] if note else []
        test = abab_randomization_test(
            series.conditions, series.values, min_phase_length=used, **options
        )
        try:
            all_sizes = abab_effect_sizes(series.conditions, series.values, improvement)
            nap_estimate, smd_estimate = all_sizes.average.nap, all_sizes.average.smd
        except InputError as error:
            notes.append(f"effect sizes not computed: {error}")
    elif protocol.design_type == MULTIPLE_BASELINE:
        cases = series.case_series()
        named = {(case or protocol.user_id or protocol.protocol_id): s for case, s in cases.items()}
        runs = [n for s in named.values() for n in _condition_runs(s.conditions)]
        used, note = _min_phase_length_used(protocol.min_phase_length, runs)
        notes += [note] if note else []
        if len(named) == 1:
            notes.append("one series only: the multiple baseline test reduces to an AB test")
        test = multiple_baseline_test(
            {case: (s.conditions, s.values) for case, s in named.items()},
            min_phase_length=used,
            min_cases=1,  # a one-series protocol reduces to an AB test (noted above)
            **options,
        )
        per_case: list[tuple[str, EffectSizeSummary]] = []
        for case, case_series in named.items():
            try:
                per_case.append(
                    (case, effect_sizes(case_series.conditions, case_series.values, improvement))
                )
            except InputError as error:
                notes.append(f"effect sizes of case {case} not computed: {error}")
        if per_case and len(per_case) == len(named):
            all_sizes = tuple(per_case)
            nap_estimate = _equal_weight_average([summary.nap for _, summary in per_case])
            smd_estimate = _equal_weight_average([summary.smd for _, summary in per_case])
    elif protocol.design_type == ALTERNATING:
        test = alternating_treatments_test(
            series.conditions, series.values, max_consecutive=plan.max_consecutive, **options
        )
        x = np.asarray(series.values)
        is_b = np.asarray(series.conditions) == "B"
        a_values, b_values = x[~is_b], x[is_b]
        try:
            nap_estimate = nap(a_values, b_values, improvement)
            smd_estimate = smd(a_values, b_values, improvement, "baseline")
        except InputError as error:
            notes.append(f"effect sizes not computed: {error}")
    elif protocol.design_type == CHANGING_CRITERION:
        standards = changing_criterion_standards([block.n for block in series.phase_blocks()])
        return ProtocolTestResult(
            status="skipped",
            reason="design: no randomization test is defined for a changing criterion design; "
            "only the WWC rating is reported",
            standards=standards,
            **base,
        )
    else:
        return ProtocolTestResult(
            status="skipped",
            reason=f"design: unknown design type {protocol.design_type!r}; expected one of "
            f"{ABAB}, {MULTIPLE_BASELINE}, {ALTERNATING}, {CHANGING_CRITERION}",
            **base,
        )
    return ProtocolTestResult(
        status="ok",
        min_phase_length_used=used,
        permutations=plan.permutations,
        seed=plan.seed,
        test=test,
        effect_sizes=all_sizes,
        nap=nap_estimate,
        smd=smd_estimate,
        standards=test.sced_standards,
        notes=tuple(notes),
        **base,
    )


# ----------------------------------------------------------------------------- change points


@dataclass(frozen=True)
class PhaseChange:
    """The first observation of a new phase: its row in the series, date and phase label."""

    index: int
    date: date
    label: str


@dataclass(frozen=True)
class ProtocolChangePoints:
    """Change points in the mean of the protocol's primary outcome, each set against the
    nearest observed phase change (the first observation of a new phase)."""

    protocol_id: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    metric: str | None = None
    min_segment_length: int | None = None
    result: ChangePointResult | None = None
    phase_changes: tuple[PhaseChange, ...] = ()
    series: ObservedSeries | None = field(default=None, repr=False, compare=False)

    @property
    def change_point_dates(self) -> tuple[date, ...]:
        if self.result is None:
            return ()
        return tuple(date.fromisoformat(point.date) for point in self.result.change_points)

    def _nearest_phase_change(self, index: int) -> PhaseChange | None:
        if not self.phase_changes:
            return None
        return min(self.phase_changes, key=lambda change: (abs(change.index - index), change.index))

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "metric": self.metric,
            "minSegmentLength": self.min_segment_length,
            "result": None if self.result is None else self.result.to_json(),
            "phaseChanges": [
                {"index": c.index, "date": c.date.isoformat(), "label": c.label}
                for c in self.phase_changes
            ],
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per change point for `analyses.change_points`."""
        if self.result is None:
            return []
        rows = []
        for number, point in enumerate(self.result.change_points, start=1):
            nearest = self._nearest_phase_change(point.index)
            rows.append(
                {
                    "protocol_id": self.protocol_id,
                    "user_id": self.user_id,
                    "metric": self.metric,
                    "change_point": number,
                    "observation_index": point.index,
                    "change_date": date.fromisoformat(point.date) if point.date else None,
                    "confidence": point.confidence,
                    "before_mean": point.before_mean,
                    "after_mean": point.after_mean,
                    "percent_change": point.percent_change,
                    "nearest_phase_change_date": None if nearest is None else nearest.date,
                    "nearest_phase_label": None if nearest is None else nearest.label,
                    "offset_observations": None if nearest is None else point.index - nearest.index,
                    "algorithm": self.result.algorithm,
                    "penalty": self.result.penalty,
                    "min_segment_length": self.result.min_segment_length,
                    "n_observations": self.result.n_observations,
                }
            )
        return rows


def change_points_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolChangePoints:
    """`detect_change_points` on the protocol's primary outcome (dates from observation_date),
    every segment at least the plan's `min_segment_length`, else the protocol's
    `min_phase_length`, long. Skipped when the series is too short or not one series."""
    protocol_id, _, user_id = _identity(protocol_row)
    metric = protocol_row.get("primary_outcome")
    base = {
        "protocol_id": protocol_id,
        "user_id": user_id,
        "metric": str(metric) if _present(metric) else None,
    }
    series: ObservedSeries | None = None
    try:
        protocol = Protocol.from_row(protocol_row)
        series = observed_series(observations, protocol_id)
        min_segment = protocol.plan.min_segment_length or protocol.min_phase_length
        base["min_segment_length"] = min_segment
        if series.cases is not None and len(set(series.cases)) > 1:
            raise InputError(
                f"case: {len(set(series.cases))} cases; change points are found in one series",
                field="case",
            )
        phase_changes = tuple(
            PhaseChange(block.start, block.first_date, block.label)
            for block in series.phase_blocks()[1:]
        )
        result = detect_change_points(
            series.values,
            series.dates,
            min_segment_length=min_segment,
            algorithm=protocol.plan.change_point_algorithm,
            seed=protocol.plan.seed,
        )
    except InputError as error:
        return ProtocolChangePoints(status="skipped", reason=str(error), series=series, **base)
    return ProtocolChangePoints(
        status="ok", result=result, phase_changes=phase_changes, series=series, **base
    )


# ----------------------------------------------------------------------------- sequential


def welch_z(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean_b - mean_a) / sqrt(s_a^2 / n_a + s_b^2 / n_b), sample variances with n - 1 (the
    Welch 1947 statistic, read on the normal scale). None when a group has fewer than 2
    observations or both are constant."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.size < 2 or b_arr.size < 2:
        return None
    variance = float(np.var(a_arr, ddof=1)) / a_arr.size + float(np.var(b_arr, ddof=1)) / b_arr.size
    if variance <= 0.0:
        return None
    return float((b_arr.mean() - a_arr.mean()) / math.sqrt(variance))


@dataclass(frozen=True)
class SequentialLook:
    """One planned look: what was seen there (when reached) and its boundary.

    `critical_value`/`alpha_spent` are those in force: recomputed from the observed information
    rates for the looks reached (`boundary="observed"`), the design's for the others
    (`boundary="planned"`). `z_statistic` is None when undefined (then z = 0 was used).
    """

    look: int
    planned_n: int
    planned_information_rate: float
    reached: bool
    boundary: str
    critical_value: float
    alpha_spent: float
    nominal_alpha: float
    n_used: int | None = None
    information_rate: float | None = None
    n_a: int | None = None
    n_b: int | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    z_statistic: float | None = None
    crossed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "look": self.look,
            "plannedN": self.planned_n,
            "plannedInformationRate": self.planned_information_rate,
            "reached": self.reached,
            "boundary": self.boundary,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
            "n": self.n_used,
            "informationRate": self.information_rate,
            "nA": self.n_a,
            "nB": self.n_b,
            "meanA": self.mean_a,
            "meanB": self.mean_b,
            "zStatistic": self.z_statistic,
            "crossed": self.crossed,
        }


@dataclass(frozen=True)
class ProtocolSequentialMonitoring:
    """Group-sequential monitoring of the protocol's primary outcome at its planned looks."""

    protocol_id: str
    status: Status
    reason: str | None = None
    user_id: str | None = None
    statistic: str | None = None
    sides: int | None = None
    n_observations: int = 0
    max_information_n: int | None = None
    design: SequentialDesign | None = None
    decision: MonitoringDecision | None = None
    looks: tuple[SequentialLook, ...] = ()
    z_method: str = WELCH_Z_METHOD
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "protocolId": self.protocol_id,
            "status": self.status,
            "reason": self.reason,
            "statistic": self.statistic,
            "sides": self.sides,
            "nObservations": self.n_observations,
            "maxInformationN": self.max_information_n,
            "design": None if self.design is None else self.design.to_json(),
            "decision": None if self.decision is None else self.decision.to_json(),
            "looks": [look.to_json() for look in self.looks],
            "zMethod": self.z_method,
            "notes": list(self.notes),
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per planned look for `analyses.sequential_monitoring`."""
        if self.design is None:
            return []
        decision = self.decision
        return [
            {
                "protocol_id": self.protocol_id,
                "user_id": self.user_id,
                "look": look.look,
                "planned_n": look.planned_n,
                "planned_information_rate": look.planned_information_rate,
                "reached": look.reached,
                "n_used": look.n_used,
                "information_rate": look.information_rate,
                "n_a": look.n_a,
                "n_b": look.n_b,
                "mean_a": look.mean_a,
                "mean_b": look.mean_b,
                "z_statistic": look.z_statistic,
                "critical_value": look.critical_value,
                "alpha_spent": look.alpha_spent,
                "nominal_alpha": look.nominal_alpha,
                "boundary": look.boundary,
                "crossed": look.crossed,
                "decision": None if decision is None else decision.decision,
                "stopped_at_look": None if decision is None else decision.stopped_at_look,
                "spending": self.design.spending,
                "sides": self.design.sides,
                "alpha": self.design.alpha,
                "max_n": self.design.max_n,
                "statistic": self.statistic,
                "status": self.status,
                "skip_reason": self.reason,
                "z_method": self.z_method,
            }
            for look in self.looks
        ]


def sequential_monitoring_for_protocol(
    protocol_row: Mapping[str, Any], observations: Any
) -> ProtocolSequentialMonitoring:
    """Lan-DeMets monitoring of the primary outcome when the protocol plans interim looks.

    Design: `group_sequential_design(alpha, spending from the plan, max_n = sample_size_target,
    looks = interim_looks + 1)`, one-sided for a directional statistic ("B-A", "PB-PA", "A-B",
    "PA-PB") and two-sided for an absolute one, as the randomization test.

    Looks. Look k takes place once the protocol has its planned n_k observations and uses the
    first n_k (in time order). The final analysis takes place at max_n observations, or when the
    protocol has ended (`status = "completed"`) with fewer, then on all of them; interim looks
    planned at or beyond that number never take place.

    z at a look: `WELCH_Z_METHOD` (conditions A and B; C observations are left out). It treats
    the observations as independent; daily single-case data are often autocorrelated, so it is
    an approximation and the randomization test stays the confirmatory analysis.

    Information fraction: n / n_max, n_max = max_n while the protocol runs, or the number of
    observations of the final analysis (Lan & DeMets 1983 with the realized maximum). When the
    fractions differ from the plan, `monitor` recomputes the boundaries from them and the final
    analysis spends all remaining alpha (rpact's boundary update).
    """
    protocol_id, _, user_id = _identity(protocol_row)
    base: dict[str, Any] = {"protocol_id": protocol_id, "user_id": user_id}
    try:
        protocol = Protocol.from_row(protocol_row)
        base["statistic"] = protocol.plan.statistic
        base["sides"] = protocol.plan.sides
        if protocol.interim_looks <= 0:
            return ProtocolSequentialMonitoring(
                status="skipped", reason="interim_looks: no interim looks planned", **base
            )
        if protocol.sample_size_target is None:
            raise InputError(
                "sample_size_target: needed as the maximum sample size of the sequential design",
                field="sample_size_target",
            )
        series = observed_series(observations, protocol_id)
        base["n_observations"] = series.n
        design = group_sequential_design(
            alpha=protocol.alpha,
            spending=protocol.plan.spending,
            max_n=protocol.sample_size_target,
            looks=protocol.interim_looks + 1,
            sides=protocol.plan.sides,
        )
        return _monitor(protocol, series, design, base)
    except InputError as error:
        return ProtocolSequentialMonitoring(status="skipped", reason=str(error), **base)


def _planned_look(boundary: Any) -> SequentialLook:
    return SequentialLook(
        look=boundary.look,
        planned_n=boundary.n,
        planned_information_rate=boundary.information_rate,
        reached=False,
        boundary="planned",
        critical_value=boundary.critical_value,
        alpha_spent=boundary.alpha_spent,
        nominal_alpha=boundary.nominal_alpha,
    )


def _monitor(
    protocol: Protocol,
    series: ObservedSeries,
    design: SequentialDesign,
    base: dict[str, Any],
) -> ProtocolSequentialMonitoring:
    planned = design.boundaries
    n_observed = series.n
    if n_observed >= design.max_n:
        final_n: int | None = design.max_n
    elif protocol.status == "completed" and n_observed > 0:
        final_n = n_observed
    else:
        final_n = None
    taken = [
        boundary
        for boundary in planned[:-1]
        if boundary.n <= n_observed and (final_n is None or boundary.n < final_n)
    ]
    sizes = [boundary.n for boundary in taken]
    if final_n is not None:
        taken.append(planned[-1])
        sizes.append(final_n)
    if not taken:
        return ProtocolSequentialMonitoring(
            status="skipped",
            reason=f"no look reached yet: the first look is at {planned[0].n} observations, "
            f"{n_observed} so far",
            max_information_n=design.max_n,
            design=design,
            looks=tuple(_planned_look(boundary) for boundary in planned),
            **base,
        )
    max_information_n = final_n or design.max_n
    values = np.asarray(series.values)
    conditions = np.asarray(series.conditions)
    orientation = protocol.plan.orientation
    notes: list[str] = []
    if final_n is not None and final_n < design.max_n:
        notes.append(
            f"the protocol ended with {final_n} of the {design.max_n} planned observations: the "
            "final analysis uses them all and information fractions are relative to them"
        )
    if "C" in set(series.conditions):
        notes.append("condition C observations are left out of the A-B z-statistics")
    seen: list[dict[str, Any]] = []
    for boundary, n in zip(taken, sizes, strict=True):
        a = values[:n][conditions[:n] == "A"]
        b = values[:n][conditions[:n] == "B"]
        z = welch_z(a, b)
        if z is None:
            notes.append(f"look {boundary.look}: fewer than 2 observations of A or B; z = 0 used")
        seen.append(
            {
                "boundary": boundary,
                "n": n,
                "n_a": int(a.size),
                "n_b": int(b.size),
                "mean_a": float(a.mean()) if a.size else None,
                "mean_b": float(b.mean()) if b.size else None,
                "z": None if z is None else orientation * z,
            }
        )
    rates = [look["n"] / max_information_n for look in seen]
    decision = monitor(
        design,
        [0.0 if look["z"] is None else look["z"] for look in seen],
        information_rates_observed=rates,
    )
    looks: dict[int, SequentialLook] = {b.look: _planned_look(b) for b in planned}
    for look, rate, in_force in zip(seen, rates, decision.boundaries, strict=True):
        z_used = 0.0 if look["z"] is None else look["z"]
        crossed = z_used >= in_force.critical_value or (
            design.sides == 2 and z_used <= -in_force.critical_value
        )
        number = look["boundary"].look
        looks[number] = SequentialLook(
            look=number,
            planned_n=look["boundary"].n,
            planned_information_rate=look["boundary"].information_rate,
            reached=True,
            boundary="observed",
            critical_value=in_force.critical_value,
            alpha_spent=in_force.alpha_spent,
            nominal_alpha=in_force.nominal_alpha,
            n_used=look["n"],
            information_rate=rate,
            n_a=look["n_a"],
            n_b=look["n_b"],
            mean_a=look["mean_a"],
            mean_b=look["mean_b"],
            z_statistic=look["z"],
            crossed=bool(crossed),
        )
    return ProtocolSequentialMonitoring(
        status="ok",
        max_information_n=max_information_n,
        design=design,
        decision=decision,
        looks=tuple(looks[number] for number in sorted(looks)),
        notes=tuple(notes),
        **base,
    )


# ----------------------------------------------------------------------------- all together


@dataclass(frozen=True)
class ProtocolAnalysis:
    """Every pre-registered analysis of one protocol."""

    randomization_test: ProtocolTestResult
    change_points: ProtocolChangePoints
    sequential_monitoring: ProtocolSequentialMonitoring

    def to_json(self) -> dict[str, Any]:
        return {
            "randomizationTest": self.randomization_test.to_json(),
            "changePoints": self.change_points.to_json(),
            "sequentialMonitoring": self.sequential_monitoring.to_json(),
        }


def analyze_protocol(protocol_row: Mapping[str, Any], observations: Any) -> ProtocolAnalysis:
    """The randomization test, change points and sequential monitoring of one protocol."""
    return ProtocolAnalysis(
        randomization_test=randomization_test_for_protocol(protocol_row, observations),
        change_points=change_points_for_protocol(protocol_row, observations),
        sequential_monitoring=sequential_monitoring_for_protocol(protocol_row, observations),
    )
