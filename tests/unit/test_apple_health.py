"""The Apple Health reader and its normalization, on a hand-written export
(tests/fixtures/apple_health/export.xml: each handled record type and each quirk, with the
expected figures written beside the records), as XML and as a zip."""

from __future__ import annotations

import datetime as dt
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.wearables.apple_health import (
    AppleRecord,
    ReadSummary,
    normalize,
    read_export,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "apple_health" / "export.xml"
# Record and Correlation elements in the fixture: 24 kept, 3 repeated inside Correlations, 1
# without a startDate.
ELEMENTS, KEPT, REPEATS, SKIPPED = 28, 24, 3, 1


def _read(path: Path, **options) -> tuple[list[AppleRecord], ReadSummary]:
    summary = ReadSummary()
    return list(read_export(path, summary, **options)), summary


def _zip(tmp_path: Path, member: str = "apple_health_export/export.xml") -> Path:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(FIXTURE, member)
        out.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    return archive


def test_the_fixture_has_the_quirks_a_plain_parser_refuses() -> None:
    with pytest.raises(ET.ParseError):
        ET.parse(FIXTURE)
    raw = FIXTURE.read_bytes()
    assert b"\x0b" in raw and b"\x1f" in raw
    assert raw.count(b"<!ATTLIST Record") == 2


def test_every_record_is_read_once_and_the_counts_add_up() -> None:
    records, summary = _read(FIXTURE)
    assert len(records) == KEPT
    assert (summary.records, summary.correlation_duplicates, summary.skipped) == (
        ELEMENTS,
        REPEATS,
        SKIPPED,
    )
    assert summary.records == len(records) + summary.correlation_duplicates + summary.skipped
    assert "startDate None" in summary.skip_reasons[0]
    assert summary.other_elements == {"ActivitySummary": 1, "ExportDate": 1, "Me": 1, "Workout": 1}
    assert len({r.source_record_id for r in records}) == KEPT


def test_control_characters_are_dropped_and_attributes_kept() -> None:
    records, _ = _read(FIXTURE)
    watch = next(r for r in records if r.record_type.endswith("HeartRate"))
    assert watch.source_name == "Anns Apple Watch"
    assert watch.device == "<<HKDevice: 0x1>, name:Apple Watch>>"
    assert watch.details == {"metadata": {"HKMetadataKeyHeartRateMotionContext": "1"}}
    sdnn = next(r for r in records if r.record_type.endswith("SDNN") and r.value == "40")
    assert sdnn.details == {"beats": [["7:00:01.10 AM", "61"], ["7:00:02.05 AM", "63"]]}
    sleep = next(r for r in records if r.record_type.endswith("SleepAnalysis"))
    assert (sleep.value, sleep.numeric_value, sleep.unit) == (
        "HKCategoryValueSleepAnalysisInBed",
        None,
        None,
    )


def test_correlation_repeats_are_dropped_whichever_comes_first() -> None:
    records, _ = _read(FIXTURE)
    kinds = [r.record_type for r in records]
    for kind in ("BloodPressureSystolic", "BloodPressureDiastolic", "DietaryEnergyConsumed"):
        assert kinds.count(f"HKQuantityTypeIdentifier{kind}") == 1
    correlations = [r for r in records if r.element == "Correlation"]
    assert [r.record_type for r in correlations] == [
        "HKCorrelationTypeIdentifierBloodPressure",
        "HKCorrelationTypeIdentifierFood",
    ]
    assert correlations[0].details == {"metadata": {"HKWasUserEntered": "1"}}


def test_local_dates_come_from_the_written_offset() -> None:
    records, _ = _read(FIXTURE)
    late_steps = next(r for r in records if r.start_date == "2024-01-02 23:30:00 -0800")
    assert late_steps.day == dt.date(2024, 1, 2)  # 3 January in UTC
    tokyo = next(r for r in records if r.start_date.endswith("+0900"))
    assert tokyo.day == dt.date(2024, 1, 3)  # 2 January in UTC


def test_normalized_days() -> None:
    records, _ = _read(FIXTURE)
    days = {(row.record_type, row.day.isoformat()): row for row in normalize(records)}
    assert {key: round(row.value, 6) for key, row in days.items()} == {
        ("active_energy", "2024-01-02"): 200.0,  # 100 kcal + 418.4 kJ
        ("hrv_sdnn", "2024-01-02"): 45.0,
        ("resting_heart_rate", "2024-01-02"): 58.0,
        ("resting_heart_rate", "2024-01-03"): 61.0,
        ("sleep_duration", "2024-01-02"): 7.25,
        ("sleep_duration", "2024-07-02"): 7.0,
        ("steps", "2024-01-02"): 1600.0,
        ("time_in_bed", "2024-01-02"): 8.25,
        ("time_in_bed", "2024-07-02"): 7.0,
    }
    night = days[("sleep_duration", "2024-01-02")]
    assert night.payload["method"] == "asleep"
    assert night.payload["stages"]["AsleepDeep"] == 1.0
    assert night.payload["start"] == "2024-01-01T23:00:00-08:00"
    assert days[("sleep_duration", "2024-07-02")].payload["method"] == "in_bed"
    assert days[("steps", "2024-01-02")].payload["source"] == "Ann’s iPhone"
    # SDNN is never reported as RMSSD
    assert days[("hrv_sdnn", "2024-01-02")].unit == "ms"
    assert not any(kind == "hrv_rmssd" for kind, _ in days)


def test_the_zip_gives_the_same_records(tmp_path: Path) -> None:
    assert _read(_zip(tmp_path))[0] == _read(FIXTURE)[0]


@pytest.mark.parametrize("chunk_bytes", [7, 64, 4096])
def test_chunk_boundaries_change_nothing(chunk_bytes: int) -> None:
    assert _read(FIXTURE, chunk_bytes=chunk_bytes)[0] == _read(FIXTURE)[0]


def test_bad_input_is_an_input_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="neither an export.zip nor an export.xml"):
        _read(text)
    no_export = tmp_path / "other.zip"
    with zipfile.ZipFile(no_export, "w") as out:
        out.writestr("apple_health_export/readme.txt", "x")
    with pytest.raises(InputError, match="holds no export.xml"):
        _read(no_export)
    truncated = tmp_path / "export.xml"
    truncated.write_bytes(FIXTURE.read_bytes()[:-400])
    with pytest.raises(InputError, match=r"not well-formed XML at line \d+"):
        _read(truncated)
    with pytest.raises(InputError, match="is not a file"):
        _read(tmp_path / "missing.xml")


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    """Python's allocations while reading 4x more records stay about the same (and small)."""

    def peak(records: int) -> tuple[int, int]:
        path = tmp_path / f"export_{records}.xml"
        line = (
            '<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" unit="count/min" '
            'startDate="2024-01-01 {h:02d}:{m:02d}:{s:02d} -0800" '
            'endDate="2024-01-01 {h:02d}:{m:02d}:{s:02d} -0800" value="{v}"/>\n'
        )
        with open(path, "w") as out:
            out.write('<?xml version="1.0"?>\n<HealthData locale="en_US">\n')
            for i in range(records):
                out.write(line.format(h=i // 3600 % 24, m=i // 60 % 60, s=i % 60, v=i))
            out.write("</HealthData>\n")
        tracemalloc.start()
        count = sum(1 for _ in read_export(path))
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, high

    small, large = peak(5_000), peak(20_000)
    assert (small[0], large[0]) == (5_000, 20_000)
    assert large[1] < 1.5 * small[1] + 1_000_000
    assert large[1] < 16 * 1024 * 1024
