"""Protocol pre-registration: a YAML file → a validated registration → its randomized schedule.

The file holds the CENT/SPIRIT fields of a single-case experiment (Vohra et al. 2015, "CONSORT
extension for reporting N-of-1 trials (CENT) 2015"; Chan et al. 2013, "SPIRIT 2013") under the
camelCase names of the original guide's `ExperimentProtocolForm`, plus what the design needs
to draw its schedule. The format is documented in docs/protocol-yaml.md.

The schedule is drawn with the functions of `americano_pipelines.stats.sced`, so the registered
schedule comes from exactly the admissible set the randomization test enumerates later:

- ABAB: the three phase-change moments, uniform over the placements that leave each of the four
  phases at least `minPhaseLength` days long (`draw_abab_schedule`; Onghena 1992).
- CHANGING_CRITERION: a baseline and one phase per criterion level; the phase-change moments are
  drawn the same way (`draw_phase_schedule`; a phase design with 1 + #criteria phases).
- ALTERNATING: one session per day, conditions A and B with balanced counts and at most
  `maxConsecutive` consecutive sessions of one condition (`draw_alternating_sequence`; SCRT
  "ATD" restricted randomization).
- MULTIPLE_BASELINE: one AB series per case (behavior, outcome or setting of the one user),
  intervention starts staggered, one drawn from each case's window
  (`draw_multiple_baseline_starts` / `multiple_baseline_start_windows`; Bulté & Onghena 2009).

Pure: no database, no Dagster. Bad input raises `InputError` whose one-line message starts
with the field's name (nested fields as `conditions.B`, list items as `cases[2]`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from americano_pipelines.errors import InputError
from americano_pipelines.stats.sced import (
    count_phase_assignments,
    draw_abab_schedule,
    draw_alternating_sequence,
    draw_multiple_baseline_starts,
    draw_phase_schedule,
)

__all__ = [
    "DESIGN_TYPES",
    "MAX_SEED",
    "PhaseSchedule",
    "PlannedPhase",
    "ProtocolRegistration",
    "draw_schedule",
    "load_protocol_file",
    "new_seed",
    "parse_protocol_yaml",
    "validate_protocol",
]

DESIGN_TYPES = ("ABAB", "MULTIPLE_BASELINE", "ALTERNATING", "CHANGING_CRITERION")
# Seeds are stored in PostgreSQL `integer` columns.
MAX_SEED = 2**31 - 1
# Ten years of daily observations; the alternating draw's completion table grows with the
# square of the number of sessions, so it gets a smaller cap (a little over a year).
MAX_PLANNED_LENGTH = 3660
MAX_ALTERNATING_SESSIONS = 400
DEFAULT_MIN_PHASE_LENGTH = 3
DEFAULT_MAX_CONSECUTIVE = 2
# The draw's completion table also grows with the cap; runs of more than 10 sessions of one
# condition defeat the point of alternating.
MAX_CONSECUTIVE_CAP = 10
# Keys the schedule writes into each phase's intervention_params next to the condition's own.
RESERVED_PARAM_KEYS = ("condition", "case", "criterion", "session")
# Which phase_type each condition of a phase becomes (the schema's enum has no "B").
CONDITION_PHASE_TYPES = {"A": "BASELINE", "B": "INTERVENTION_A"}
_CASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")

_REQUIRED = (
    "protocolName",
    "hypothesis",
    "designType",
    "primaryOutcome",
    "sampleSizeTarget",
    "analysisPlan",
    "startDate",
    "plannedLength",
    "conditions",
)
_OPTIONAL = ("userId", "userEmail", "minPhaseLength", "interimLooks", "alpha", "seed")
_DESIGN_FIELDS = {
    "cases": "MULTIPLE_BASELINE",
    "maxConsecutive": "ALTERNATING",
    "criteria": "CHANGING_CRITERION",
}
_KNOWN = (*_REQUIRED, *_OPTIONAL, *_DESIGN_FIELDS)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ProtocolRegistration:
    """A validated protocol file: the CENT/SPIRIT fields, who it is for, and the design's plan.

    `conditions` maps each condition ("A" baseline, "B" intervention) to its intervention
    parameters; `cases` (multiple baseline), `max_consecutive` (alternating) and `criteria`
    (changing criterion) are set only for their design. `seed` is None when the file gives
    none; `draw_schedule` then draws one and records it in the schedule.
    """

    protocol_name: str
    hypothesis: str
    design_type: str
    primary_outcome: str
    sample_size_target: int
    analysis_plan: str
    start_date: dt.date
    planned_length: int
    conditions: Mapping[str, Mapping[str, Any]]
    user_id: str | None = None
    user_email: str | None = None
    min_phase_length: int = DEFAULT_MIN_PHASE_LENGTH
    interim_looks: int = 0
    alpha: float = 0.05
    seed: int | None = None
    cases: tuple[str, ...] = ()
    max_consecutive: int | None = None
    criteria: tuple[float, ...] = ()

    @property
    def end_date(self) -> dt.date:
        """The planned last day: `plannedLength` consecutive days from `startDate`."""
        return self.start_date + dt.timedelta(days=self.planned_length - 1)


@dataclass(frozen=True)
class PlannedPhase:
    """One row of `phase_assignments`: a phase (or, for alternating treatments, a session)
    with its planned first and last day (inclusive). A drawn schedule always has `end_date`;
    a stored phase written by another tool may not."""

    label: str
    phase_type: str
    start_date: dt.date
    end_date: dt.date | None
    planned_duration: int
    intervention_params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "phaseType": self.phase_type,
            "startDate": self.start_date.isoformat(),
            "endDate": self.end_date.isoformat() if self.end_date else None,
            "plannedDuration": self.planned_duration,
            "interventionParams": dict(self.intervention_params),
        }


@dataclass(frozen=True)
class PhaseSchedule:
    """The randomized schedule of a protocol, drawn with `seed`; phases in time order (start
    date, then end date, then label)."""

    design_type: str
    seed: int
    phases: tuple[PlannedPhase, ...]

    def to_json(self) -> dict[str, Any]:
        """CONTRACTS.md §4 without `protocolId` (the database assigns it)."""
        return {
            "seed": self.seed,
            "designType": self.design_type,
            "phases": [phase.to_json() for phase in self.phases],
        }


# ----------------------------------------------------------------------------- YAML


def load_protocol_file(path: str | Path) -> ProtocolRegistration:
    """Read and validate a protocol YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file: {path} does not exist", field="file") from None
    except IsADirectoryError:
        raise InputError(f"file: {path} is a directory, not a YAML file", field="file") from None
    except UnicodeDecodeError:
        raise InputError(f"file: {path} is not UTF-8 text", field="file") from None
    except OSError as error:
        raise InputError(f"file: cannot read {path}: {error.strerror}", field="file") from None
    return parse_protocol_yaml(text, source=str(path))


def parse_protocol_yaml(text: str, *, source: str = "protocol") -> ProtocolRegistration:
    """Parse and validate protocol YAML. Syntax errors name the line; field errors name the
    field and, where it is in the file, its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise InputError(
            f"yaml: {source} has a syntax error{where}: {problem}", field="yaml"
        ) from None
    except yaml.YAMLError as error:
        raise InputError(f"yaml: {source} is not valid YAML: {error}", field="yaml") from None
    lines = _key_lines(root)
    try:
        return validate_protocol(data)
    except InputError as error:
        line = _line_of(error.field or "", lines)
        if line is None:
            raise
        raise InputError(f"{error} (line {line})", field=error.field) from None


def _line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of a field, or of its nearest enclosing field when it is missing."""
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path) if re.search(r"[.\[]", path) else ""
    return None


def _key_lines(root: yaml.Node | None) -> dict[str, int]:
    """1-based line of every mapping key, by dotted path (`conditions.B`, `cases[1]`); a key
    given twice in one mapping is an error (YAML loaders silently keep the last)."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                if key in seen:
                    raise InputError(
                        f"{child}: given twice (line {key_node.start_mark.line + 1}); "
                        "give each field once",
                        field=child,
                    )
                seen.add(key)
                lines.setdefault(child, key_node.start_mark.line + 1)
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value, start=1):
                child = f"{path}[{index}]"
                lines.setdefault(child, item.start_mark.line + 1)
                walk(item, child)

    if root is not None:
        walk(root, "")
    return lines


# ----------------------------------------------------------------------------- validation


def validate_protocol(data: Any) -> ProtocolRegistration:
    """Validate a parsed protocol (a mapping with the documented camelCase keys)."""
    if not isinstance(data, Mapping):
        raise InputError(
            "protocol: the file must be a YAML mapping of fields (protocolName: ..., "
            "hypothesis: ...); found " + ("nothing" if data is None else type(data).__name__),
            field="protocol",
        )
    keys = [str(key) for key in data]
    for key in keys:
        if key not in _KNOWN:
            guess = difflib.get_close_matches(key, _KNOWN, n=1)
            hint = (
                f"; did you mean {guess[0]}?" if guess else f"; known fields: {', '.join(_KNOWN)}"
            )
            raise InputError(f"{key}: unknown field{hint}", field=key)
    values = {str(key): value for key, value in data.items()}
    missing = [name for name in _REQUIRED if values.get(name) is None]
    if missing:
        also = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise InputError(f"{missing[0]}: required field is missing{also}", field=missing[0])

    design_type = _design_type(values["designType"])
    for name, design in _DESIGN_FIELDS.items():
        if name in values and design != design_type:
            raise InputError(
                f"{name}: only used with designType {design}, not {design_type}", field=name
            )

    user_id = _optional(values, "userId", _text)
    user_email = _optional(values, "userEmail", _email)
    if user_id is not None and user_email is not None:
        raise InputError(
            "userId: give at most one of userId and userEmail (the protocol is the registering "
            "session's user's; naming them is a check)",
            field="userId",
        )
    seed = _optional(values, "seed", lambda v, f: _integer(v, f, minimum=0, maximum=MAX_SEED))
    min_phase_length = _optional(
        values,
        "minPhaseLength",
        lambda v, f: _integer(v, f, minimum=1),
        default=DEFAULT_MIN_PHASE_LENGTH,
    )
    registration = ProtocolRegistration(
        protocol_name=_text(values["protocolName"], "protocolName"),
        hypothesis=_text(values["hypothesis"], "hypothesis"),
        design_type=design_type,
        primary_outcome=_text(values["primaryOutcome"], "primaryOutcome"),
        sample_size_target=_integer(values["sampleSizeTarget"], "sampleSizeTarget", minimum=1),
        analysis_plan=_text(values["analysisPlan"], "analysisPlan"),
        start_date=_date(values["startDate"], "startDate"),
        planned_length=_integer(
            values["plannedLength"], "plannedLength", minimum=1, maximum=MAX_PLANNED_LENGTH
        ),
        conditions=_conditions(values["conditions"]),
        user_id=user_id,
        user_email=user_email,
        min_phase_length=min_phase_length,
        interim_looks=_optional(
            values, "interimLooks", lambda v, f: _integer(v, f, minimum=0), default=0
        ),
        alpha=_optional(values, "alpha", _alpha, default=0.05),
        seed=seed,
    )
    if design_type == "MULTIPLE_BASELINE":
        if "cases" not in values:
            raise InputError(
                "cases: required for MULTIPLE_BASELINE: the names of the behaviors, outcomes "
                "or settings that get staggered intervention starts",
                field="cases",
            )
        registration = replace(registration, cases=_cases(values["cases"]))
    elif design_type == "ALTERNATING":
        cap = _optional(
            values,
            "maxConsecutive",
            lambda v, f: _integer(v, f, minimum=1, maximum=MAX_CONSECUTIVE_CAP),
            default=DEFAULT_MAX_CONSECUTIVE,
        )
        registration = replace(registration, max_consecutive=cap)
    elif design_type == "CHANGING_CRITERION":
        if "criteria" not in values:
            raise InputError(
                "criteria: required for CHANGING_CRITERION: the criterion level of each "
                "intervention phase, in order",
                field="criteria",
            )
        registration = replace(registration, criteria=_criteria(values["criteria"]))
    _check_feasible(registration)
    return registration


def _optional(
    values: Mapping[str, Any], name: str, check: Callable[[Any, str], Any], default: Any = None
) -> Any:
    value = values.get(name)
    return default if value is None else check(value, name)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name}: must be non-empty text, got {_describe(value)}", field=name)
    return value.strip()


def _email(value: Any, name: str) -> str:
    text = _text(value, name)
    if "@" not in text[1:]:
        raise InputError(f"{name}: must be an email address, got {text!r}", field=name)
    return text


def _integer(value: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    kind = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name}: must be {kind}, got {_describe(value)}", field=name)
    if maximum is not None and value > maximum:
        raise InputError(f"{name}: must be at most {maximum}, got {value}", field=name)
    return value


def _alpha(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value < 1
    ):
        raise InputError(
            f"{name}: must be a number strictly between 0 and 1, got {_describe(value)}",
            field=name,
        )
    return float(value)


def _date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InputError(
            f"{name}: must be a date YYYY-MM-DD without a time, got {value.isoformat()}",
            field=name,
        )
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"{name}: must be a date YYYY-MM-DD, got {_describe(value)}", field=name)


def _design_type(value: Any) -> str:
    if isinstance(value, str) and value.strip().upper() in DESIGN_TYPES:
        return value.strip().upper()
    raise InputError(
        f"designType: must be one of {', '.join(DESIGN_TYPES)}, got {_describe(value)}",
        field="designType",
    )


def _conditions(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise InputError(
            "conditions: must map each condition (A: baseline, B: intervention) to its "
            f"intervention parameters, got {_describe(value)}",
            field="conditions",
        )
    for key in value:
        if str(key) not in CONDITION_PHASE_TYPES:
            raise InputError(
                f"conditions.{key}: unknown condition; expected A (baseline) and B (intervention)",
                field=f"conditions.{key}",
            )
    conditions: dict[str, dict[str, Any]] = {}
    for name in CONDITION_PHASE_TYPES:
        where = f"conditions.{name}"
        if name not in value:
            raise InputError(
                f"{where}: missing; give the intervention parameters of condition {name} "
                "({} when there are none)",
                field=where,
            )
        params = value[name]
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InputError(
                f"{where}: must be a mapping of intervention parameters (e.g. "
                f"reward_probability: 0.2), got {_describe(params)}",
                field=where,
            )
        for key in params:
            if str(key) in RESERVED_PARAM_KEYS:
                raise InputError(
                    f"{where}.{key}: reserved; the schedule sets {key} itself",
                    field=f"{where}.{key}",
                )
        conditions[name] = _json_value(params, where)
    return conditions


def _json_value(value: Any, where: str) -> Any:
    """Intervention parameters as plain JSON (dates become ISO text)."""
    if isinstance(value, Mapping):
        return {str(key): _json_value(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item, f"{where}[{i}]") for i, item in enumerate(value, start=1)]
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number, got {value}", field=where)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InputError(
        f"{where}: must be text, a number, true/false, a list or a mapping, got "
        f"{type(value).__name__}",
        field=where,
    )


def _cases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InputError(
            "cases: must be a list of at least two names (three or more to meet the WWC "
            f"multiple-baseline standard), got {_describe(value)}",
            field="cases",
        )
    names: list[str] = []
    for index, item in enumerate(value, start=1):
        where = f"cases[{index}]"
        if not isinstance(item, str) or not _CASE_NAME.fullmatch(item):
            raise InputError(
                f"{where}: must be a name of letters, digits, '_' or '-' (at most 40, starting "
                f"with a letter or digit), got {_describe(item)}",
                field=where,
            )
        if item in names:
            raise InputError(f"{where}: {item!r} is listed twice", field=where)
        names.append(item)
    return tuple(names)


def _criteria(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise InputError(
            "criteria: must be a list of criterion levels, one per intervention phase, got "
            f"{_describe(value)}",
            field="criteria",
        )
    levels: list[float] = []
    for index, item in enumerate(value, start=1):
        where = f"criteria[{index}]"
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise InputError(f"{where}: must be a number, got {_describe(item)}", field=where)
        levels.append(item)
    return tuple(levels)


def _check_feasible(registration: ProtocolRegistration) -> None:
    """The design has at least one admissible schedule in `plannedLength` days."""
    n = registration.planned_length
    k = registration.min_phase_length
    design = registration.design_type
    if design in ("ABAB", "CHANGING_CRITERION"):
        n_phases = 4 if design == "ABAB" else 1 + len(registration.criteria)
        if count_phase_assignments(n, n_phases, k) == 0:
            raise InputError(
                f"plannedLength: {n_phases} phases of at least minPhaseLength = {k} days need "
                f"at least {n_phases * k} days, got {n}",
                field="plannedLength",
            )
    elif design == "ALTERNATING":
        if n > MAX_ALTERNATING_SESSIONS:
            raise InputError(
                f"plannedLength: at most {MAX_ALTERNATING_SESSIONS} daily sessions for an "
                f"ALTERNATING design, got {n}",
                field="plannedLength",
            )
        if n // 2 < k:
            raise InputError(
                f"plannedLength: {n} sessions give condition B {n // 2}, fewer than "
                f"minPhaseLength = {k} sessions per condition; plan at least {2 * k} sessions",
                field="plannedLength",
            )
    elif design == "MULTIPLE_BASELINE":
        n_cases = len(registration.cases)
        n_starts = n - 2 * k + 1
        if n_starts < n_cases:
            raise InputError(
                f"plannedLength: {n} days with minPhaseLength = {k} leave {max(n_starts, 0)} "
                f"possible intervention starts, fewer than the {n_cases} cases that need "
                f"distinct starts; plan at least {2 * k + n_cases - 1} days",
                field="plannedLength",
            )


# ----------------------------------------------------------------------------- schedules


def new_seed() -> int:
    """A fresh randomization seed from the operating system's CSPRNG (`secrets`), in the range
    of the database's integer columns."""
    return secrets.randbelow(MAX_SEED + 1)


def draw_schedule(registration: ProtocolRegistration, seed: int | None = None) -> PhaseSchedule:
    """The protocol's randomized phase schedule. `seed` (else the registration's, else a fresh
    one from `new_seed`) is recorded in the schedule; the same seed always gives the same
    schedule."""
    if seed is None:
        seed = registration.seed if registration.seed is not None else new_seed()
    seed = _integer(seed, "seed", minimum=0, maximum=MAX_SEED)
    _check_feasible(registration)
    design = registration.design_type
    if design == "ABAB":
        phases = _abab_phases(registration, seed)
    elif design == "CHANGING_CRITERION":
        phases = _changing_criterion_phases(registration, seed)
    elif design == "ALTERNATING":
        phases = _alternating_phases(registration, seed)
    elif design == "MULTIPLE_BASELINE":
        phases = _multiple_baseline_phases(registration, seed)
    else:  # validate_protocol admits only DESIGN_TYPES
        raise InputError(f"designType: unknown design {design!r}", field="designType")
    ordered = sorted(phases, key=lambda p: (p.start_date, p.end_date, p.label))
    return PhaseSchedule(design_type=design, seed=seed, phases=tuple(ordered))


def _day(registration: ProtocolRegistration, index: int) -> dt.date:
    return registration.start_date + dt.timedelta(days=index)


def _phase(
    registration: ProtocolRegistration,
    label: str,
    condition: str,
    first: int,
    stop: int,
    **extra: Any,
) -> PlannedPhase:
    """The phase covering days `first` .. `stop - 1` (0-based from the start date)."""
    return PlannedPhase(
        label=label,
        phase_type=CONDITION_PHASE_TYPES[condition],
        start_date=_day(registration, first),
        end_date=_day(registration, stop - 1),
        planned_duration=stop - first,
        intervention_params={**registration.conditions[condition], "condition": condition, **extra},
    )


def _consecutive_phases(
    registration: ProtocolRegistration,
    changes: Sequence[int],
    labels: Sequence[str],
    conditions: Sequence[str],
    extras: Sequence[Mapping[str, Any]],
) -> list[PlannedPhase]:
    bounds = [0, *changes, registration.planned_length]
    return [
        _phase(registration, label, condition, bounds[i], bounds[i + 1], **extra)
        for i, (label, condition, extra) in enumerate(zip(labels, conditions, extras, strict=True))
    ]


def _abab_phases(registration: ProtocolRegistration, seed: int) -> list[PlannedPhase]:
    changes = _sced_call(
        draw_abab_schedule, registration.planned_length, registration.min_phase_length, seed
    )
    return _consecutive_phases(
        registration,
        changes,
        labels=("baseline_1", "intervention_1", "baseline_2", "intervention_2"),
        conditions=("A", "B", "A", "B"),
        extras=({},) * 4,
    )


def _changing_criterion_phases(registration: ProtocolRegistration, seed: int) -> list[PlannedPhase]:
    levels = registration.criteria
    changes = _sced_call(
        draw_phase_schedule,
        registration.planned_length,
        1 + len(levels),
        registration.min_phase_length,
        seed,
    )
    return _consecutive_phases(
        registration,
        changes,
        labels=("baseline_1", *(f"criterion_{j}" for j in range(1, len(levels) + 1))),
        conditions=("A", *("B" for _ in levels)),
        extras=({}, *({"criterion": level} for level in levels)),
    )


def _alternating_phases(registration: ProtocolRegistration, seed: int) -> list[PlannedPhase]:
    n = registration.planned_length
    sequence = _sced_call(
        draw_alternating_sequence, n, ("A", "B"), registration.max_consecutive, seed
    )
    width = max(2, len(str(n)))
    return [
        _phase(registration, f"session_{i + 1:0{width}d}_{c}", c, i, i + 1, session=i + 1)
        for i, c in enumerate(sequence)
    ]


def _multiple_baseline_phases(registration: ProtocolRegistration, seed: int) -> list[PlannedPhase]:
    n = registration.planned_length
    starts = _sced_call(
        draw_multiple_baseline_starts,
        n,
        len(registration.cases),
        registration.min_phase_length,
        seed,
    )
    phases: list[PlannedPhase] = []
    for case, start in zip(registration.cases, starts, strict=True):
        phases.append(_phase(registration, f"baseline_{case}", "A", 0, start, case=case))
        phases.append(_phase(registration, f"intervention_{case}", "B", start, n, case=case))
    return phases


# The sced functions name their arguments in snake_case; the file's fields are camelCase.
_SCED_FIELDS = {
    "n_observations": "plannedLength",
    "min_phase_length": "minPhaseLength",
    "max_consecutive": "maxConsecutive",
    "n_phases": "criteria",
    "n_cases": "cases",
    "condition": "conditions",
    "seed": "seed",
}


def _sced_call(function: Callable[..., Any], *args: Any) -> Any:
    """Call a schedule drawer; its InputErrors are renamed to the file's fields."""
    try:
        return function(*args)
    except InputError as error:
        name = _SCED_FIELDS.get(error.field or "", error.field or "protocol")
        message = str(error)
        if error.field and message.startswith(f"{error.field}:"):
            message = message[len(error.field) + 1 :].lstrip()
        raise InputError(f"{name}: {message}", field=name) from None
