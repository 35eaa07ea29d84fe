"""Apple Health export (`export.zip` or `export.xml`): a streaming reader and its normalization.

Pure: no database, no Dagster. `read_export(path)` yields one `AppleRecord` per `Record` (and per
`Correlation`) in file order, reading the XML as a stream through expat in chunks, so memory stays
flat however large the export is (a zip member is decompressed as it is read, never extracted).
Every attribute is kept: the identifying ones as fields, the rest, the `MetadataEntry` children
and the HRV beat-to-beat list in `details`, so nothing of a record is lost.

What real exports do that a plain XML parser refuses, and how it is met:

- the internal DTD subset (`<!DOCTYPE HealthData [...]>`) of some iOS versions is malformed
  (duplicate or invalid `ATTLIST` lines): the subset is dropped before parsing; it declares
  nothing the reader needs (no defaults, no entities);
- stray control characters inside attribute values: bytes that XML 1.0 forbids (0x00-0x08,
  0x0B, 0x0C, 0x0E-0x1F) are filtered as the stream is read; in UTF-8 such bytes never occur
  inside a multi-byte character, so dropping them bytewise is safe;
- the `Record`s inside a `Correlation` (blood pressure, food) repeat top-level ones: the repeat
  is reported (`correlation_duplicates`) and not yielded a second time, whichever comes first;
- dates carry their UTC offset (`2024-01-02 07:30:00 -0800`): a record's `day` is the local date
  written in the file, never converted through UTC.

`DailyNormalizer` turns the records we use into one row per measure and local day
(`NormalizedDay`): sleep analysis into nights, HRV SDNN (kept apart from the RMSSD of Oura and
WHOOP as `hrv_sdnn`), resting heart rate, steps and active energy. See its docstring for the rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple
from xml.parsers import expat

from americano_pipelines.errors import InputError

__all__ = [
    "AppleRecord",
    "DailyNormalizer",
    "ExportReader",
    "NormalizedDay",
    "ReadSummary",
    "XmlCleaningStream",
    "normalize",
    "open_export",
    "read_export",
]

CHUNK_BYTES = 1 << 20
# The identifying attributes of a record, in the order the source id hashes them.
IDENTITY = (
    "type",
    "sourceName",
    "sourceVersion",
    "device",
    "unit",
    "value",
    "creationDate",
    "startDate",
    "endDate",
)
_IDENTITY_SET = frozenset(IDENTITY)
_NO_VALUES = ("",) * len(IDENTITY)
# XML 1.0 forbids these bytes anywhere in a document (CR, LF and TAB are allowed).
_FORBIDDEN_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\Z")
_DOCTYPE_END = re.compile(rb"\]\s*>")
_PROLOG_END = re.compile(rb"<!DOCTYPE|<[A-Za-z_:]")
# The DOCTYPE must end within this many bytes of the file's start (Apple's is ~15 kB).
_HEAD_LIMIT = 4 << 20
# Types whose records Apple repeats inside Correlations; others are learnt as they are met.
_CORRELATED_PREFIXES = ("HKQuantityTypeIdentifierBloodPressure", "HKQuantityTypeIdentifierDietary")


class AppleRecord(NamedTuple):
    """One `Record` (or `Correlation`) as written in the export.

    `source_record_id`: a hash of the element and its identifying attributes (`IDENTITY`), the
    same in every export that holds the record. Dates are the file's strings (with offset);
    `day` the local date of `start_date`. `numeric_value`: `value` as a number, None for
    category values. `details`: metadata, beats and any other attribute, None when empty."""

    source_record_id: str
    element: str
    record_type: str
    day: dt.date
    start_date: str
    end_date: str | None
    creation_date: str | None
    value: str | None
    numeric_value: float | None
    unit: str | None
    source_name: str | None
    source_version: str | None
    device: str | None
    details: dict | None


@dataclass
class ReadSummary:
    """What the reader met: `records` Record and Correlation elements read, of which
    `correlation_duplicates` repeats inside Correlations and `skipped` refused (the first
    reasons in `skip_reasons`); the rest were yielded. The other top-level elements (Workout,
    ActivitySummary, ...) are counted by name in `other_elements` but not imported."""

    records: int = 0
    correlation_duplicates: int = 0
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    other_elements: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "records": self.records,
            "correlationDuplicates": self.correlation_duplicates,
            "skipped": self.skipped,
            "skipReasons": self.skip_reasons,
            "otherElements": dict(sorted(self.other_elements.items())),
        }


class XmlCleaningStream(io.RawIOBase):
    """A binary stream that drops the internal DTD subset and the bytes XML 1.0 forbids."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._head_done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = CHUNK_BYTES) -> bytes:
        if size is None or size < 0:
            size = CHUNK_BYTES
        if not self._head_done:
            self._head_done = True
            return self._strip_doctype(self._read_head(size))
        return self._raw.read(size).translate(None, _FORBIDDEN_BYTES)

    def _read_head(self, size: int) -> bytes:
        """The start of the file, through the end of the DOCTYPE when it has an internal
        subset (`[...]>`)."""
        head = self._raw.read(size).translate(None, _FORBIDDEN_BYTES)
        # Read on until the DOCTYPE or the root element shows (or the file ends).
        while (found := _PROLOG_END.search(head)) is None:
            more = self._raw.read(CHUNK_BYTES).translate(None, _FORBIDDEN_BYTES)
            if not more:
                return head
            head += more
        if found.group() != b"<!DOCTYPE":
            return head
        start = found.start()
        while True:
            bracket, close = head.find(b"[", start), head.find(b">", start)
            if 0 <= close < bracket or (bracket < 0 <= close):
                return head  # no internal subset
            if bracket >= 0 and _DOCTYPE_END.search(head, bracket) is not None:
                return head
            more = self._raw.read(CHUNK_BYTES).translate(None, _FORBIDDEN_BYTES)
            if not more or len(head) > _HEAD_LIMIT:
                raise InputError("export.xml: its <!DOCTYPE ...> never ends", field="PATH")
            head += more

    @staticmethod
    def _strip_doctype(head: bytes) -> bytes:
        start = head.find(b"<!DOCTYPE")
        if start < 0:
            return head
        bracket, close = head.find(b"[", start), head.find(b">", start)
        if bracket < 0 or close < bracket:  # no internal subset: `<!DOCTYPE HealthData>`
            return head[:start] + head[close + 1 :]
        end = _DOCTYPE_END.search(head, bracket)
        return head[:start] + head[end.end() :]


class ExportReader:
    """The element handlers: `start`/`end` per element, finished records in `out`.

    Driven by expat in `read_export`; any walker that calls `start` and `end` in document order
    gets the same records (the benchmark's ElementTree baseline does)."""

    def __init__(self) -> None:
        self.out: list[AppleRecord] = []
        self.summary = ReadSummary()
        self._depth = 0
        self._record: dict[str, str] | None = None
        self._details: dict | None = None
        self._correlations: list[tuple[dict[str, str], dict | None]] = []
        self._correlated_types: set[str] = set()
        self._top_level_seen: set[str] = set()
        self._nested_seen: set[str] = set()

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if name == "Record":
            self._record, self._details = attrs, None
        elif self._record is not None:
            if name == "MetadataEntry":
                self._detail("metadata", {})[attrs.get("key", "")] = attrs.get("value")
            elif name == "InstantaneousBeatsPerMinute":
                self._detail("beats", []).append([attrs.get("time"), attrs.get("bpm")])
        elif name == "Correlation":
            self._correlations.append((attrs, None))
        elif self._correlations and name == "MetadataEntry":
            attrs_, details = self._correlations[-1]
            details = details or {"metadata": {}}
            details["metadata"][attrs.get("key", "")] = attrs.get("value")
            self._correlations[-1] = (attrs_, details)
        elif self._depth == 2:
            others = self.summary.other_elements
            others[name] = others.get(name, 0) + 1

    def end(self, name: str) -> None:
        self._depth -= 1
        if name == "Record":
            record = self._build("Record", self._record, self._details)
            self._record = None
            if record is not None and self._first_time(record):
                self.out.append(record)
        elif name == "Correlation" and self._correlations:
            attrs, details = self._correlations.pop()
            record = self._build("Correlation", attrs, details)
            if record is not None:
                self.out.append(record)

    def _detail(self, key: str, empty):
        if self._details is None:
            self._details = {}
        return self._details.setdefault(key, empty)

    def _first_time(self, record: AppleRecord) -> bool:
        """False for the second copy of a record that a Correlation repeats."""
        nested = bool(self._correlations)
        kind = record.record_type
        if nested:
            self._correlated_types.add(kind)
        elif kind not in self._correlated_types:
            if not kind.startswith(_CORRELATED_PREFIXES):
                return True
            self._correlated_types.add(kind)
        key = record.source_record_id
        mine, theirs = (
            (self._nested_seen, self._top_level_seen)
            if nested
            else (self._top_level_seen, self._nested_seen)
        )
        if key in theirs:
            theirs.discard(key)  # a pair is matched once; memory holds only the unmatched
            self.summary.correlation_duplicates += 1
            return False
        mine.add(key)
        return True

    def _build(self, element: str, attrs: dict[str, str], details: dict | None):
        self.summary.records += 1
        kind, start = attrs.get("type"), attrs.get("startDate")
        problem = None
        if not kind:
            problem = "no type"
        elif start is None or _DATE.match(start) is None:
            problem = f"startDate {start!r} is not 'YYYY-MM-DD HH:MM:SS ±HHMM'"
        else:
            for name in ("endDate", "creationDate"):
                if attrs.get(name) is not None and _DATE.match(attrs[name]) is None:
                    problem = f"{name} {attrs[name]!r} is not 'YYYY-MM-DD HH:MM:SS ±HHMM'"
        if problem is None:
            try:
                day = dt.date.fromisoformat(start[:10])
            except ValueError:
                problem = f"startDate {start!r} is not a date"
        if problem is not None:
            self.summary.skipped += 1
            if len(self.summary.skip_reasons) < 10:
                self.summary.skip_reasons.append(f"{element} {kind or '?'}: {problem}")
            return None
        extra = {k: v for k, v in attrs.items() if k not in _IDENTITY_SET}
        if extra:
            details = {**(details or {}), "attributes": extra}
        value = attrs.get("value")
        identity = "\x1f".join([element, *map(attrs.get, IDENTITY, _NO_VALUES)])
        return AppleRecord(
            hashlib.blake2b(identity.encode(), digest_size=16).hexdigest(),
            element,
            kind,
            day,
            start,
            attrs.get("endDate"),
            attrs.get("creationDate"),
            value,
            _number(value),
            attrs.get("unit"),
            attrs.get("sourceName"),
            attrs.get("sourceVersion"),
            attrs.get("device"),
            details,
        )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def open_export(path: Path) -> IO[bytes]:
    """The export's XML as a binary stream: the file itself, or the zip's `export.xml` member
    (`apple_health_export/export.xml`, or any `export.xml`), decompressed as it is read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"PATH: {path} is not a file", field="PATH")
    with open(path, "rb") as probe:
        magic = probe.read(512)
    if magic.startswith(b"PK"):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise InputError(
                f"PATH: {path} is not a readable zip ({error})", field="PATH"
            ) from None
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "export.xml"]
        if not names:
            archive.close()
            raise InputError(f"PATH: {path} holds no export.xml", field="PATH")
        names.sort(key=lambda n: (n != "apple_health_export/export.xml", n.count("/"), n))
        return archive.open(names[0])
    text = magic.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        raise InputError(f"PATH: {path} is neither an export.zip nor an export.xml", field="PATH")
    return open(path, "rb")


def read_export(
    path: Path, summary: ReadSummary | None = None, *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[AppleRecord]:
    """Every record of the export, in file order, streamed; `summary` (when given) is filled
    as reading goes. Not well-formed XML (past the quirks above) is an InputError naming the
    line."""
    reader = ExportReader()
    if summary is not None:
        reader.summary = summary
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    with open_export(path) as raw:
        stream = XmlCleaningStream(raw)
        while True:
            try:
                chunk = stream.read(chunk_bytes)
            except (OSError, zipfile.BadZipFile, EOFError) as error:
                raise InputError(f"PATH: cannot read the export ({error})", field="PATH") from None
            try:
                parser.Parse(chunk, not chunk)
            except expat.ExpatError as error:
                raise InputError(
                    f"export.xml: not well-formed XML at line {error.lineno}, column "
                    f"{error.offset} ({expat.ErrorString(error.code)})",
                    field="PATH",
                ) from None
            yield from reader.out
            reader.out.clear()
            if not chunk:
                break


# --- normalization -----------------------------------------------------------------------------

SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
HRV_SDNN = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
RESTING_HEART_RATE = "HKQuantityTypeIdentifierRestingHeartRate"
STEPS = "HKQuantityTypeIdentifierStepCount"
ACTIVE_ENERGY = "HKQuantityTypeIdentifierActiveEnergyBurned"
_ASLEEP = frozenset(
    {
        "HKCategoryValueSleepAnalysisAsleep",  # before iOS 16
        "HKCategoryValueSleepAnalysisAsleepUnspecified",
        "HKCategoryValueSleepAnalysisAsleepCore",
        "HKCategoryValueSleepAnalysisAsleepDeep",
        "HKCategoryValueSleepAnalysisAsleepREM",
    }
)
_IN_BED = "HKCategoryValueSleepAnalysisInBed"
_ENERGY_TO_KCAL = {"kcal": 1.0, "Cal": 1.0, "cal": 0.001, "kJ": 1 / 4.184, "J": 1 / 4184}
# A night runs from 18:00 to 18:00 local time and carries the date it ends on: sleep that starts
# at 23:00 on the 1st or at 01:00 on the 2nd, and a nap at 14:00 on the 2nd, are the 2nd's night.
NIGHT_STARTS_HOURS_BEFORE_MIDNIGHT = 6


class NormalizedDay(NamedTuple):
    """One measure on one local day: a wearable_records row of provider APPLE_HEALTH."""

    record_type: str
    day: dt.date
    value: float
    unit: str
    payload: dict

    @property
    def source_record_id(self) -> str:
        return f"{self.record_type}:{self.day.isoformat()}"


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:19] + text[20:])


def _union_hours(intervals: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Hours covered by the intervals, overlaps counted once (a watch and a phone both record
    the same night)."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total / 3600.0


class DailyNormalizer:
    """The records we use, as one value per measure and local day (`NormalizedDay`):

    - `sleep_duration` (hours): a night's asleep samples (core, deep, REM, unspecified), their
      union so that overlapping sources count once; a night with only in-bed samples gets its
      in-bed time (payload `method: "in_bed"`). `time_in_bed` (hours) beside it. The night's
      date: see `NIGHT_STARTS_HOURS_BEFORE_MIDNIGHT`, in the sample's own offset.
    - `hrv_sdnn` (ms): the mean of the day's SDNN samples. Apple measures SDNN, not the RMSSD of
      Oura and WHOOP (`hrv_rmssd`); the two are not interchangeable, so they stay two measures.
    - `resting_heart_rate` (bpm): the mean of the day's samples.
    - `steps` (count), `active_energy` (kcal): summed per source and day, then the largest
      source's total, since iPhone and Apple Watch both count the same steps.

    Memory grows with days, not records. Accepts records in any order."""

    def __init__(self) -> None:
        self._means: dict[tuple[str, dt.date], list[float]] = defaultdict(lambda: [0.0, 0])
        self._sums: dict[tuple[str, dt.date], dict[str, float]] = defaultdict(dict)
        self._sleep: dict[dt.date, dict[str, list]] = defaultdict(lambda: defaultdict(list))

    def add(self, record: AppleRecord) -> None:
        kind = record.record_type
        if kind == SLEEP:
            self._add_sleep(record)
        elif kind in (HRV_SDNN, RESTING_HEART_RATE):
            if record.numeric_value is not None:
                mean = self._means[(kind, record.day)]
                mean[0] += record.numeric_value
                mean[1] += 1
        elif kind in (STEPS, ACTIVE_ENERGY):
            value = record.numeric_value
            if value is None:
                return
            if kind == ACTIVE_ENERGY:
                factor = _ENERGY_TO_KCAL.get(record.unit or "kcal")
                if factor is None:
                    return
                value *= factor
            by_source = self._sums[(kind, record.day)]
            source = record.source_name or ""
            by_source[source] = by_source.get(source, 0.0) + value

    def _add_sleep(self, record: AppleRecord) -> None:
        if record.end_date is None:
            return
        state = record.value
        group = "asleep" if state in _ASLEEP else "in_bed" if state == _IN_BED else None
        if group is None:
            return
        start, end = _instant(record.start_date), _instant(record.end_date)
        if end <= start:
            return
        local_start = start.replace(tzinfo=None)
        night = (local_start + dt.timedelta(hours=NIGHT_STARTS_HOURS_BEFORE_MIDNIGHT)).date()
        self._sleep[night][group].append((start, end))
        if group == "asleep":
            stage = state.removeprefix("HKCategoryValueSleepAnalysis")
            self._sleep[night][stage].append((start, end))

    def rows(self) -> list[NormalizedDay]:
        out = []
        names = {HRV_SDNN: ("hrv_sdnn", "ms"), RESTING_HEART_RATE: ("resting_heart_rate", "bpm")}
        for (kind, day), (total, n) in self._means.items():
            name, unit = names[kind]
            out.append(NormalizedDay(name, day, total / n, unit, {"samples": n, "method": "mean"}))
        sums = {STEPS: ("steps", "count"), ACTIVE_ENERGY: ("active_energy", "kcal")}
        for (kind, day), by_source in self._sums.items():
            name, unit = sums[kind]
            source = max(by_source, key=lambda s: (by_source[s], s))
            payload = {"method": "largest_source", "source": source, "sources": by_source}
            out.append(NormalizedDay(name, day, by_source[source], unit, payload))
        for night, groups in self._sleep.items():
            in_bed = _union_hours(groups["in_bed"]) if groups.get("in_bed") else None
            stages = {
                stage: round(_union_hours(spans), 4)
                for stage, spans in groups.items()
                if stage not in ("asleep", "in_bed")
            }
            if groups.get("asleep"):
                spans = groups["asleep"]
                hours, method = _union_hours(spans), "asleep"
            else:
                spans = groups["in_bed"]
                hours, method = in_bed, "in_bed"
            payload = {
                "method": method,
                "stages": stages,
                "start": min(s for s, _ in spans).isoformat(),
                "end": max(e for _, e in spans).isoformat(),
            }
            out.append(NormalizedDay("sleep_duration", night, hours, "h", payload))
            if in_bed is not None:
                out.append(NormalizedDay("time_in_bed", night, in_bed, "h", {"method": "union"}))
        out.sort(key=lambda row: (row.day, row.record_type))
        return out


def normalize(records: Iterable[AppleRecord]) -> list[NormalizedDay]:
    """The normalized days of `records` (see `DailyNormalizer`)."""
    normalizer = DailyNormalizer()
    for record in records:
        normalizer.add(record)
    return normalizer.rows()
