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
- ALTERNATING: one session per day. `randomization: restricted` (the default): conditions A and
  B with balanced counts and at most `maxConsecutive` consecutive sessions of one condition
  (`draw_alternating_sequence`; SCRT "ATD" restricted randomization). `randomization: blocks`:
  consecutive blocks of one A and one B session, each block's order drawn
  (`draw_randomized_blocks`; SCRT "RBD").
- MULTIPLE_BASELINE: one AB series per case (behavior, outcome or setting of the one user),
  intervention starts staggered, one drawn from each case's window
  (`draw_multiple_baseline_starts` / `multiple_baseline_start_windows`; Bulté & Onghena 2009).

Pure: no database, no Dagster. Bad input raises `InputError` whose one-line message starts
with the field's name (nested fields as `conditions.B`, list items as `cases[2]`). Every value
is range-checked here, before the database sees it: a file of hostile YAML (an alias bomb, a
20 MB text, 2026-02-30, 2**31, a NUL or a lone surrogate) is refused in one line, quickly.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from americano_pipelines.config import get_settings
from americano_pipelines.errors import InputError
from americano_pipelines.registration.analyses import AnalysisList, parse_analyses
from americano_pipelines.registration.power_settings import PowerSettings, parse_power_settings
from americano_pipelines.registration.vocabulary import (
    ALTERNATING_RANDOMIZATIONS,
    BLOCKS,
    CONDITION_PHASE_TYPES,
    DESIGN_TYPES,
    RESTRICTED,
)
from americano_pipelines.stats.defaults import DEFAULT_MIN_PHASE_LENGTH
from americano_pipelines.stats.sced import (
    count_phase_assignments,
    draw_abab_schedule,
    draw_alternating_sequence,
    draw_multiple_baseline_starts,
    draw_phase_schedule,
    draw_randomized_blocks,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_SEED",
    "PhaseSchedule",
    "PlannedPhase",
    "ProtocolRegistration",
    "draw_schedule",
    "load_protocol_file",
    "new_seed",
    "parse_protocol_yaml",
    "registration_day",
    "validate_protocol",
]

# Every integer field is stored in a PostgreSQL `integer` column; most have tighter caps below.
PG_INTEGER_MAX = 2**31 - 1
MAX_SEED = PG_INTEGER_MAX
# Ten years of daily observations; the alternating draw's completion table grows with the
# square of the number of sessions, so it gets a smaller cap (a little over a year).
MAX_PLANNED_LENGTH = 3660
MAX_ALTERNATING_SESSIONS = 400
DEFAULT_MAX_CONSECUTIVE = 2
# The draw's completion table also grows with the cap; runs of more than 10 sessions of one
# condition defeat the point of alternating.
MAX_CONSECUTIVE_CAP = 10
# Planned observations: even hourly ones over ten years (87,600) stay below this.
MAX_SAMPLE_SIZE_TARGET = 100_000
# Interim analyses (Lan-DeMets looks): designs plan a handful.
MAX_INTERIM_LOOKS = 100
# A changing-criterion design has one phase per criterion, and published ones step through a
# handful; 100 criteria already make 101 phases of at least minPhaseLength days each.
MAX_CRITERIA = 100
# Two phase rows per case; the WWC standard asks for three cases.
MAX_CASES = 50
# A protocol is registered on or before its first day (pre-registration), and at most this
# far ahead, so every planned day is a real date.
MAX_YEARS_AHEAD = 5
# Longest text per field, in characters: ClinicalTrials.gov's limits for the matching
# registration fields (brief title, brief summary, detailed description, outcome measure
# title) and RFC 5321's for an email address.
TEXT_LIMITS = {
    "protocolName": 300,
    "hypothesis": 5_000,
    "primaryOutcome": 255,
    "analysisPlan": 32_000,
    "userId": 255,
    "userEmail": 254,
}
# Each phase row stores a copy of its condition's parameters (up to MAX_ALTERNATING_SESSIONS
# rows), so a condition's parameters are capped as JSON text, and their nesting too.
MAX_PARAMETERS_CHARS = 4_000
MAX_PARAMETER_DEPTH = 10
# Keys (field and parameter names) name the field in error messages.
MAX_KEY_LENGTH = 100
# Numbers in parameters and criteria are stored as JSON: integers every JSON reader
# (JavaScript, DuckDB's DOUBLE) holds exactly.
MAX_JSON_INTEGER = 2**53 - 1
# A protocol file is a few kilobytes (the text limits above come to about 40,000 characters).
# The caps on the file, its nesting and its number of values keep the pure-Python YAML parser
# (which names the field of a bad character) well under a second on anything allowed.
MAX_FILE_BYTES = 256 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_VALUES = 5_000
# Keys the schedule writes into each phase's intervention_params next to the condition's own.
RESERVED_PARAM_KEYS = ("condition", "case", "criterion", "session")
_CASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")

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
_OPTIONAL = (
    "userId",
    "userEmail",
    "minPhaseLength",
    "interimLooks",
    "alpha",
    "seed",
    "analyses",
    "power",
)
# The fields only some designs take, and those designs.
_DESIGN_FIELDS = {
    "cases": ("MULTIPLE_BASELINE",),
    "minBPhaseLength": ("ABAB", "MULTIPLE_BASELINE"),
    "maxConsecutive": ("ALTERNATING",),
    "randomization": ("ALTERNATING",),
    "criteria": ("CHANGING_CRITERION",),
}
_KNOWN = (*_REQUIRED, *_OPTIONAL, *_DESIGN_FIELDS)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ProtocolRegistration:
    """A validated protocol file: the CENT/SPIRIT fields, who it is for, and the design's plan.

    `conditions` maps each condition ("A" baseline, "B" intervention) to its intervention
    parameters; `min_b_phase_length` is the B phases' own minimum (ABAB, multiple baseline;
    None: `min_phase_length`); `cases` (multiple baseline), `randomization` and `max_consecutive`
    (alternating; the cap only for a restricted draw) and `criteria` (changing criterion) are
    set only for their design. `seed` is None when the file gives
    none; `draw_schedule` then draws one and records it in the schedule. `analyses` is the
    file's `analyses:` list (registration/analyses.py), None without one: the protocol then
    runs the default analyses with the settings of its `analysisPlan`. `power` is the file's
    `power:` mapping (registration/power_settings.py), None without one.
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
    min_b_phase_length: int | None = None
    interim_looks: int = 0
    alpha: float = 0.05
    seed: int | None = None
    cases: tuple[str, ...] = ()
    max_consecutive: int | None = None
    randomization: str | None = None
    criteria: tuple[float, ...] = ()
    analyses: AnalysisList | None = None
    power: PowerSettings | None = None

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


def load_protocol_file(path: str | Path, *, today: dt.date | None = None) -> ProtocolRegistration:
    """Read and validate a protocol YAML file (at most MAX_FILE_BYTES)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            # Read one byte past the cap, never more: /dev/zero or a huge file stop here.
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"file: {path} does not exist", field="file") from None
    except IsADirectoryError:
        raise InputError(f"file: {path} is a directory, not a YAML file", field="file") from None
    except OSError as error:
        raise InputError(f"file: cannot read {path}: {error.strerror}", field="file") from None
    _check_size(len(raw), str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"file: {path} is not UTF-8 text (byte {error.start + 1})", field="file"
        ) from None
    return parse_protocol_yaml(text, source=str(path), today=today)


def parse_protocol_yaml(
    text: str, *, source: str = "protocol", today: dt.date | None = None
) -> ProtocolRegistration:
    """Parse and validate protocol YAML. Syntax errors name the line; field errors name the
    field and, where it is in the file, its line. `today` defaults to `registration_day()`."""
    _check_size(len(text.encode("utf-8", "surrogatepass")), source)
    data, lines = _load_yaml(text, source)
    try:
        return validate_protocol(data, today=today)
    except InputError as error:
        line = _line_of(error.field or "", lines)
        if line is None:
            raise
        raise InputError(f"{error} (line {line})", field=error.field) from None


def _check_size(n_bytes: int, source: str) -> None:
    if n_bytes > MAX_FILE_BYTES:
        raise InputError(
            f"file: {source} is larger than {MAX_FILE_BYTES // 1024} KiB; a protocol file is a "
            "few kilobytes of text (see the length limits in docs/protocol-yaml.md)",
            field="file",
        )


def _line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of a field, or of its nearest enclosing field when it is missing."""
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path) if re.search(r"[.\[]", path) else ""
    return None


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SCALAR_KINDS = {
    "tag:yaml.org,2002:str": "text",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
}
_COLLECTION_TAGS = {
    yaml.SequenceStartEvent: "tag:yaml.org,2002:seq",
    yaml.MappingStartEvent: "tag:yaml.org,2002:map",
}


class _ProtocolLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the implicit timestamp type: dates stay text for
    `_start_date`, so 2026-02-30 is a field error rather than the constructor's ValueError.
    (The pure-Python parser, not libyaml: it hands a lone surrogate escape to the validation,
    which names the field, where libyaml stops with a scanner error.)"""


_ProtocolLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The document as plain data, and the 1-based line of every mapping key and list item by
    dotted path (`conditions.B`, `cases[1]`).

    Built from the parser's events, without PyYAML's composer: anchors and aliases are refused
    (an alias bomb expands a kilobyte into gigabytes, a recursive alias never ends), nesting
    and the number of values are capped before they cost anything, and a key given twice is
    an error (YAML loaders silently keep the last)."""
    try:
        loader = _ProtocolLoader(text)
    except yaml.reader.ReaderError as error:
        raise _reader_error(error, text, source) from None
    try:
        return _compose(loader, source)
    except yaml.reader.ReaderError as error:
        raise _reader_error(error, text, source) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise InputError(
            f"yaml: {source} has a syntax error{where}: {problem}", field="yaml"
        ) from None
    except yaml.YAMLError as error:
        raise InputError(
            f"yaml: {source} is not valid YAML: {' '.join(str(error).split())}", field="yaml"
        ) from None
    finally:
        loader.dispose()


def _reader_error(error: yaml.reader.ReaderError, text: str, source: str) -> InputError:
    line = text.count("\n", 0, error.position) + 1
    column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
    return InputError(
        f"yaml: {source} has a character YAML does not allow at line {line}, column {column}: "
        f"U+{error.character:04X} ({error.reason})",
        field="yaml",
    )


def _compose(loader: _ProtocolLoader, source: str) -> tuple[Any, dict[str, int]]:
    lines: dict[str, int] = {}
    # The open collections, innermost last: [container, its path, the key awaiting a value].
    stack: list[list[Any]] = []
    root: Any = None
    n_values = documents = 0
    while not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise InputError(
                    f"yaml: {source} holds a second YAML document at line {line}; give one "
                    "protocol per file",
                    field="yaml",
                )
            continue
        if isinstance(event, yaml.StreamStartEvent | yaml.DocumentEndEvent):
            continue
        if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            value = stack.pop()[0]
        else:
            parent = stack[-1] if stack else None
            awaiting_key = parent is not None and isinstance(parent[0], dict) and parent[2] is None
            if parent is None:
                path = ""
            elif isinstance(parent[0], list):
                path = f"{parent[1]}[{len(parent[0]) + 1}]"
            elif awaiting_key:
                path = parent[1]
            else:
                path = f"{parent[1]}.{parent[2]}" if parent[1] else parent[2]
            where = path or "yaml"
            if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
                what = (
                    f"alias *{event.anchor}"
                    if isinstance(event, yaml.AliasEvent)
                    else f"anchor &{event.anchor}"
                )
                raise InputError(
                    f"{where}: YAML anchors and aliases are not supported ({what} at line "
                    f"{line}); write the value out",
                    field=where,
                )
            n_values += 1
            if n_values > MAX_YAML_VALUES:
                raise InputError(
                    f"yaml: {source} holds more than {MAX_YAML_VALUES:,} values (line {line}); "
                    "a protocol needs far fewer",
                    field="yaml",
                )
            if parent is not None and isinstance(parent[0], list):
                lines.setdefault(path, line)
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                if awaiting_key:
                    raise InputError(
                        f"{where}: a key at line {line} is a list or mapping; keys are text",
                        field=where,
                    )
                if event.tag not in (None, "!", _COLLECTION_TAGS[type(event)]):
                    raise _tag_error(where, event.tag, line)
                if len(stack) >= MAX_YAML_DEPTH:
                    raise InputError(
                        f"{where}: nested more than {MAX_YAML_DEPTH} levels deep (line {line})",
                        field=where,
                    )
                container = [] if isinstance(event, yaml.SequenceStartEvent) else {}
                stack.append([container, path, None])
                continue
            if awaiting_key:
                key = event.value
                if not key.isprintable() or len(key) > MAX_KEY_LENGTH:
                    raise InputError(
                        f"{where}: keys must be printable text of at most {MAX_KEY_LENGTH} "
                        f"characters, got {_describe(key)} (line {line})",
                        field=where,
                    )
                child = f"{path}.{key}" if path else key
                if key in parent[0]:
                    raise InputError(
                        f"{child}: given twice (line {line}); give each field once", field=child
                    )
                parent[2] = key
                lines.setdefault(child, line)
                continue
            value = _scalar(loader, event, where, line)
        if not stack:
            root = value
        elif isinstance(stack[-1][0], list):
            stack[-1][0].append(value)
        else:
            stack[-1][0][stack[-1][2]] = value
            stack[-1][2] = None
    return root, lines


def _scalar(loader: _ProtocolLoader, event: yaml.ScalarEvent, where: str, line: int) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag not in _SCALAR_KINDS:
        raise _tag_error(where, tag, line)
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return loader.yaml_constructors[tag](loader, node)
    except (ValueError, KeyError, OverflowError):
        # An integer of more digits than Python converts, `!!bool maybe`, `!!int x`, ...
        raise InputError(
            f"{where}: cannot read {_describe(event.value)} as {_SCALAR_KINDS[tag]} (line {line})",
            field=where,
        ) from None


def _tag_error(where: str, tag: str, line: int) -> InputError:
    shown = _describe(tag.replace("tag:yaml.org,2002:", "!!", 1))
    return InputError(
        f"{where}: the YAML tag {shown} at line {line} is not supported; use text, "
        "numbers, true/false, lists and mappings",
        field=where,
    )


# ----------------------------------------------------------------------------- validation


def registration_day() -> dt.date:
    """Today in the platform's timezone (AMERICANO_TIMEZONE): a protocol registered now is
    registered on this day."""
    return dt.datetime.now(get_settings().tzinfo).date()


def validate_protocol(data: Any, *, today: dt.date | None = None) -> ProtocolRegistration:
    """Validate a parsed protocol (a mapping with the documented camelCase keys). `today`, the
    registration day, defaults to `registration_day()`; startDate may not lie before it."""
    if not isinstance(data, Mapping):
        raise InputError(
            "protocol: the file must be a YAML mapping of fields (protocolName: ..., "
            "hypothesis: ...); found " + ("nothing" if data is None else type(data).__name__),
            field="protocol",
        )
    keys = [str(key) for key in data]
    for key in keys:
        if key not in _KNOWN and (len(key) > MAX_KEY_LENGTH or not key.isprintable()):
            raise InputError(f"protocol: unknown field {_describe(key)}", field="protocol")
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
    for name, designs in _DESIGN_FIELDS.items():
        if name in values and design_type not in designs:
            raise InputError(
                f"{name}: only used with designType {' or '.join(designs)}, not {design_type}",
                field=name,
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
        lambda v, f: _integer(v, f, minimum=1, maximum=MAX_PLANNED_LENGTH),
        default=DEFAULT_MIN_PHASE_LENGTH,
    )
    registration = ProtocolRegistration(
        protocol_name=_text(values["protocolName"], "protocolName"),
        hypothesis=_text(values["hypothesis"], "hypothesis"),
        design_type=design_type,
        primary_outcome=_text(values["primaryOutcome"], "primaryOutcome"),
        sample_size_target=_integer(
            values["sampleSizeTarget"],
            "sampleSizeTarget",
            minimum=1,
            maximum=MAX_SAMPLE_SIZE_TARGET,
        ),
        analysis_plan=_text(values["analysisPlan"], "analysisPlan"),
        start_date=_start_date(values["startDate"], "startDate", today),
        planned_length=_integer(
            values["plannedLength"], "plannedLength", minimum=1, maximum=MAX_PLANNED_LENGTH
        ),
        conditions=_conditions(values["conditions"]),
        user_id=user_id,
        user_email=user_email,
        min_phase_length=min_phase_length,
        min_b_phase_length=_optional(
            values,
            "minBPhaseLength",
            lambda v, f: _integer(v, f, minimum=1, maximum=MAX_PLANNED_LENGTH),
        ),
        interim_looks=_optional(
            values,
            "interimLooks",
            lambda v, f: _integer(v, f, minimum=0, maximum=MAX_INTERIM_LOOKS),
            default=0,
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
        randomization = _optional(
            values, "randomization", _alternating_randomization, default=RESTRICTED
        )
        if randomization == BLOCKS and values.get("maxConsecutive") is not None:
            raise InputError(
                "maxConsecutive: not with randomization: blocks, whose blocks of one A and one "
                "B session never run more than 2 sessions of one condition",
                field="maxConsecutive",
            )
        cap = _optional(
            values,
            "maxConsecutive",
            lambda v, f: _integer(v, f, minimum=1, maximum=MAX_CONSECUTIVE_CAP),
            default=DEFAULT_MAX_CONSECUTIVE if randomization == RESTRICTED else None,
        )
        registration = replace(registration, randomization=randomization, max_consecutive=cap)
    elif design_type == "CHANGING_CRITERION":
        if "criteria" not in values:
            raise InputError(
                "criteria: required for CHANGING_CRITERION: the criterion level of each "
                "intervention phase, in order",
                field="criteria",
            )
        registration = replace(registration, criteria=_criteria(values["criteria"]))
    if values.get("analyses") is not None:
        analyses = parse_analyses(
            values["analyses"],
            design_type=design_type,
            interim_looks=registration.interim_looks,
            max_consecutive=registration.max_consecutive,
            randomization=registration.randomization,
            planned_length=registration.planned_length,
            primary_outcome=registration.primary_outcome,
        )
        registration = replace(registration, analyses=analyses)
    if values.get("power") is not None:
        if design_type == "CHANGING_CRITERION":
            raise InputError(
                "power: a changing criterion design has no randomization test, so no power to "
                "simulate",
                field="power",
            )
        registration = replace(registration, power=parse_power_settings(values["power"]))
    _check_feasible(registration)
    return registration


def _optional(
    values: Mapping[str, Any], name: str, check: Callable[[Any, str], Any], default: Any = None
) -> Any:
    value = values.get(name)
    return default if value is None else check(value, name)


def _describe(value: Any) -> str:
    # repr escapes NUL and surrogates, so the message can always be printed.
    text = repr(value[:40] if isinstance(value, str) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any, name: str) -> str:
    """Non-empty text of at most TEXT_LIMITS[name] characters that PostgreSQL can store."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name}: must be non-empty text, got {_describe(value)}", field=name)
    text = value.strip()
    limit = TEXT_LIMITS[name]
    if len(text) > limit:
        raise InputError(
            f"{name}: must be at most {limit:,} characters, got {len(text):,}", field=name
        )
    return _storable(text, name)


def _storable(text: str, where: str) -> str:
    """PostgreSQL text holds neither NUL (YAML "\\0") nor a lone surrogate (YAML "\\ud800"),
    which is no Unicode character and cannot be encoded as UTF-8."""
    nul = text.find("\0")
    if nul >= 0:
        raise InputError(
            f"{where}: contains a NUL character (\\0) at character {nul + 1}, which "
            "PostgreSQL text cannot hold",
            field=where,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"{where}: contains a lone surrogate \\u{ord(text[error.start]):04x} at character "
            f"{error.start + 1}, which is not a Unicode character; write the character itself",
            field=where,
        ) from None
    return text


def _email(value: Any, name: str) -> str:
    text = _text(value, name)
    if "@" not in text[1:]:
        raise InputError(f"{name}: must be an email address, got {text!r}", field=name)
    return text


def _integer(value: Any, name: str, *, minimum: int, maximum: int = PG_INTEGER_MAX) -> int:
    kind = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name}: must be {kind}, got {_describe(value)}", field=name)
    limit = min(maximum, PG_INTEGER_MAX)
    if value > limit:
        raise InputError(f"{name}: must be at most {limit}, got {_describe(value)}", field=name)
    return value


def _alternating_randomization(value: Any, name: str) -> str:
    if value not in ALTERNATING_RANDOMIZATIONS:
        raise InputError(
            f"{name}: must be one of {', '.join(ALTERNATING_RANDOMIZATIONS)}, got "
            f"{_describe(value)}",
            field=name,
        )
    return str(value)


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


def _start_date(value: Any, name: str, today: dt.date | None) -> dt.date:
    """A real calendar day from the registration day to MAX_YEARS_AHEAD years after it."""
    if isinstance(value, dt.datetime):
        raise InputError(
            f"{name}: must be a date YYYY-MM-DD without a time, got {value.isoformat()}",
            field=name,
        )
    if isinstance(value, dt.date):
        day = value
    else:
        match = _ISO_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise InputError(
                f"{name}: must be a date YYYY-MM-DD, got {_describe(value)}", field=name
            )
        try:
            day = dt.date(*(int(part) for part in match.groups()))
        except ValueError as error:  # 2026-02-30, month 13, year 0
            raise InputError(
                f"{name}: must be a date YYYY-MM-DD, got {match.group(0)!r} ({error})",
                field=name,
            ) from None
    today = registration_day() if today is None else today
    if day < today:
        raise InputError(
            f"{name}: {day.isoformat()} is before today ({today.isoformat()}); a "
            "pre-registered protocol starts on or after the day it is registered",
            field=name,
        )
    latest = _years_after(today, MAX_YEARS_AHEAD)
    if day > latest:
        raise InputError(
            f"{name}: {day.isoformat()} is more than {MAX_YEARS_AHEAD} years after today "
            f"({today.isoformat()}); the latest start is {latest.isoformat()}",
            field=name,
        )
    return day


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # February 29 into a common year
        return day.replace(year=day.year + years, day=28)


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
        size = len(json.dumps(conditions[name], ensure_ascii=False))
        if size > MAX_PARAMETERS_CHARS:
            raise InputError(
                f"{where}: the parameters take {size:,} characters as JSON, more than "
                f"{MAX_PARAMETERS_CHARS:,}; every phase row stores a copy of them",
                field=where,
            )
    return conditions


def _json_value(value: Any, where: str, depth: int = 1) -> Any:
    """Intervention parameters as plain JSON that PostgreSQL stores and every JSON reader reads
    back exactly (dates become ISO text)."""
    if isinstance(value, Mapping | list) and depth > MAX_PARAMETER_DEPTH:
        raise InputError(
            f"{where}: parameters nest more than {MAX_PARAMETER_DEPTH} levels deep", field=where
        )
    if isinstance(value, Mapping):
        params = {}
        for key, item in value.items():
            name = str(key)
            if not name or len(name) > MAX_KEY_LENGTH or not name.isprintable():
                raise InputError(
                    f"{where}: parameter names must be printable text of 1 to "
                    f"{MAX_KEY_LENGTH} characters, got {_describe(name)}",
                    field=where,
                )
            params[name] = _json_value(item, f"{where}.{name}", depth + 1)
        return params
    if isinstance(value, list):
        return [
            _json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value, start=1)
        ]
    if isinstance(value, str):
        return _storable(value, where)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _json_number(value, where)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise InputError(
        f"{where}: must be text, a number, true/false, a list or a mapping, got "
        f"{type(value).__name__}",
        field=where,
    )


def _json_number(value: int | float, where: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number, got {value}", field=where)
    if isinstance(value, int) and abs(value) > MAX_JSON_INTEGER:
        raise InputError(
            f"{where}: integers must lie within ±{MAX_JSON_INTEGER:,} (2^53 - 1, what JSON "
            f"readers hold exactly), got {_describe(value)}",
            field=where,
        )
    return value


def _cases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InputError(
            "cases: must be a list of at least two names (three or more to meet the WWC "
            f"multiple-baseline standard), got {_describe(value)}",
            field="cases",
        )
    if len(value) > MAX_CASES:
        raise InputError(f"cases: at most {MAX_CASES} cases, got {len(value)}", field="cases")
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
    if len(value) > MAX_CRITERIA:
        raise InputError(
            f"criteria: at most {MAX_CRITERIA} criterion levels, got {len(value)}",
            field="criteria",
        )
    levels: list[float] = []
    for index, item in enumerate(value, start=1):
        where = f"criteria[{index}]"
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InputError(f"{where}: must be a number, got {_describe(item)}", field=where)
        levels.append(_json_number(item, where))
    return tuple(levels)


def _check_feasible(registration: ProtocolRegistration) -> None:
    """The design has at least one admissible schedule in `plannedLength` days."""
    n = registration.planned_length
    k = registration.min_phase_length
    kb = registration.min_b_phase_length
    design = registration.design_type
    least = f"minPhaseLength = {k}" + ("" if kb is None else f" (B: minBPhaseLength = {kb})")
    if design in ("ABAB", "CHANGING_CRITERION"):
        n_phases = 4 if design == "ABAB" else 1 + len(registration.criteria)
        if count_phase_assignments(n, n_phases, k, kb) == 0:
            need = n_phases * k if kb is None else 2 * (k + kb)
            raise InputError(
                f"plannedLength: {n_phases} phases of at least {least} days need at least "
                f"{need} days, got {n}",
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
        if registration.randomization == BLOCKS and n % 2:
            raise InputError(
                f"plannedLength: {n} sessions do not make whole blocks of one A and one B "
                f"session (randomization: blocks); plan {n - 1} or {n + 1}",
                field="plannedLength",
            )
    elif design == "MULTIPLE_BASELINE":
        n_cases = len(registration.cases)
        phases = k + (k if kb is None else kb)
        n_starts = n - phases + 1
        if n_starts < n_cases:
            raise InputError(
                f"plannedLength: {n} days with {least} leave {max(n_starts, 0)} "
                f"possible intervention starts, fewer than the {n_cases} cases that need "
                f"distinct starts; plan at least {phases + n_cases - 1} days",
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
        draw_abab_schedule,
        registration.planned_length,
        registration.min_phase_length,
        seed,
        registration.min_b_phase_length,
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
    if registration.randomization == BLOCKS:
        sequence = _sced_call(draw_randomized_blocks, n, ("A", "B"), seed)
    else:
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
        registration.min_b_phase_length,
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
    "min_b_phase_length": "minBPhaseLength",
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
