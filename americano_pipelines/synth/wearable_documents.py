"""Provider documents for a physiology history, in the documented Oura v2 and WHOOP v2 shapes.

`oura_documents(...)` and `whoop_documents(...)` turn daily series (sleep hours, HRV RMSSD in ms,
resting heart rate in bpm, and a strain for WHOOP) into what each API would answer: per
resource, the list of documents. The demo study parses them with the clients' own parsers
(`wearable_records_frame`), and the tests serve them from local provider servers, so both go
through the path real data takes. Values are chosen so that the normalized measures equal the
series exactly (whole seconds and milliseconds; sleep hours with two decimals).

`split_cycle_days`: day indexes on which the WHOOP day is split into two cycles that start on
the same local date (a short evening cycle after the main one), the case the mart must not
count twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from americano_pipelines.wearables.oura import oura_record
from americano_pipelines.wearables.records import WearableRecord
from americano_pipelines.wearables.whoop import whoop_record

__all__ = ["oura_documents", "wearable_records_frame", "whoop_documents"]

Documents = dict[str, list[dict[str, Any]]]


def _uuid(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def _zone(offset_hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=offset_hours))


def _offset_text(offset_hours: int) -> str:
    sign = "-" if offset_hours < 0 else "+"
    return f"{sign}{abs(offset_hours):02d}:00"


def _z(moment: dt.datetime) -> str:
    """UTC with milliseconds and a Z, as WHOOP writes times."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sleep_split(total_seconds: int) -> tuple[int, int, int]:
    deep = total_seconds // 5
    rem = total_seconds // 4
    return deep, rem, total_seconds - deep - rem


def oura_documents(
    user_key: str,
    dates: Sequence[dt.date],
    sleep_hours: Sequence[float],
    hrv_ms: Sequence[float],
    resting_hr: Sequence[float],
    *,
    utc_offset_hours: int = 1,
) -> Documents:
    """Oura's daily_sleep, sleep, daily_readiness and daily_activity for each date (the day a
    night's sleep ends)."""
    zone = _zone(utc_offset_hours)
    docs: Documents = {"daily_sleep": [], "sleep": [], "daily_readiness": [], "daily_activity": []}
    for day, hours, hrv, rhr in zip(dates, sleep_hours, hrv_ms, resting_hr, strict=True):
        total = round(float(hours) * 3600)
        deep, rem, light = _sleep_split(total)
        awake = 1800
        start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(23, 15), zone)
        end = start + dt.timedelta(seconds=total + awake)
        sleep_score = max(1, min(100, round(40 + 6 * float(hours))))
        iso_day = day.isoformat()
        docs["sleep"].append(
            {
                "id": _uuid("oura", user_key, "sleep", iso_day),
                "day": iso_day,
                "type": "long_sleep",
                "bedtime_start": start.isoformat(),
                "bedtime_end": end.isoformat(),
                "time_in_bed": total + awake,
                "total_sleep_duration": total,
                "awake_time": awake,
                "deep_sleep_duration": deep,
                "rem_sleep_duration": rem,
                "light_sleep_duration": light,
                "latency": 600,
                "efficiency": round(100 * total / (total + awake)),
                "average_hrv": int(round(float(hrv))),
                "average_heart_rate": float(rhr) + 6.5,
                "lowest_heart_rate": int(round(float(rhr))),
                "average_breath": 14.5,
                "period": 0,
            }
        )
        docs["daily_sleep"].append(
            {
                "id": _uuid("oura", user_key, "daily_sleep", iso_day),
                "day": iso_day,
                "score": sleep_score,
                "timestamp": f"{iso_day}T00:00:00{_offset_text(utc_offset_hours)}",
                "contributors": {
                    "deep_sleep": 70,
                    "efficiency": 85,
                    "latency": 80,
                    "rem_sleep": 75,
                    "restfulness": 70,
                    "timing": 80,
                    "total_sleep": sleep_score,
                },
            }
        )
        docs["daily_readiness"].append(
            {
                "id": _uuid("oura", user_key, "daily_readiness", iso_day),
                "day": iso_day,
                "score": max(1, min(100, round(50 + 0.4 * float(hrv) - 0.3 * float(rhr)))),
                "temperature_deviation": 0.1,
                "temperature_trend_deviation": 0.05,
                "timestamp": f"{iso_day}T00:00:00{_offset_text(utc_offset_hours)}",
                "contributors": {"hrv_balance": 75, "resting_heart_rate": 80},
            }
        )
        docs["daily_activity"].append(
            {
                "id": _uuid("oura", user_key, "daily_activity", iso_day),
                "day": iso_day,
                "score": 70 + (day.toordinal() % 20),
                "steps": 6000 + (day.toordinal() % 7) * 700,
                "active_calories": 350,
                "total_calories": 2300,
                "timestamp": f"{iso_day}T04:00:00{_offset_text(utc_offset_hours)}",
            }
        )
    return docs


def whoop_documents(
    user_key: str,
    dates: Sequence[dt.date],
    sleep_hours: Sequence[float],
    hrv_ms: Sequence[float],
    resting_hr: Sequence[float],
    strain: Sequence[float],
    *,
    utc_offset_hours: int = -5,
    split_cycle_days: Iterable[int] = (),
    whoop_user_id: int = 10129,
) -> Documents:
    """WHOOP's cycles, sleeps and recoveries: each date's cycle starts when that morning's sleep
    ends; on a split day a second, short cycle starts that evening (strain 1.0)."""
    zone = _zone(utc_offset_hours)
    offset = _offset_text(utc_offset_hours)
    split = set(split_cycle_days)
    docs: Documents = {"cycle": [], "sleep": [], "recovery": []}
    key_number = int(hashlib.sha256(user_key.encode()).hexdigest()[:6], 16)
    for index, (day, hours, hrv, rhr, day_strain) in enumerate(
        zip(dates, sleep_hours, hrv_ms, resting_hr, strain, strict=True)
    ):
        asleep_milli = round(float(hours) * 3_600_000)
        slow_wave, rem, light = _sleep_split(asleep_milli)
        awake_milli = 1_500_000
        sleep_start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(23, 0), zone)
        sleep_end = sleep_start + dt.timedelta(milliseconds=asleep_milli + awake_milli)
        cycle_id = key_number * 10_000 + index * 2
        next_start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6, 0), zone)
        cycles = [(cycle_id, sleep_end, next_start, float(day_strain))]
        if index in split:
            evening = dt.datetime.combine(day, dt.time(20, 0), zone)
            cycles = [
                (cycle_id, sleep_end, evening, float(day_strain)),
                (cycle_id + 1, evening, next_start, 1.0),
            ]
        for number, start, end, cycle_strain in cycles:
            docs["cycle"].append(
                {
                    "id": number,
                    "user_id": whoop_user_id,
                    "created_at": _z(start),
                    "updated_at": _z(end),
                    "start": _z(start),
                    "end": _z(end),
                    "timezone_offset": offset,
                    "score_state": "SCORED",
                    "score": {
                        "strain": cycle_strain,
                        "kilojoule": 8000.0,
                        "average_heart_rate": int(round(float(rhr))) + 12,
                        "max_heart_rate": 150,
                    },
                }
            )
        sleep_id = _uuid("whoop", user_key, "sleep", day.isoformat())
        docs["sleep"].append(
            {
                "id": sleep_id,
                "cycle_id": cycle_id,
                "v1_id": None,
                "user_id": whoop_user_id,
                "created_at": _z(sleep_end),
                "updated_at": _z(sleep_end),
                "start": _z(sleep_start),
                "end": _z(sleep_end),
                "timezone_offset": offset,
                "nap": False,
                "score_state": "SCORED",
                "score": {
                    "stage_summary": {
                        "total_in_bed_time_milli": asleep_milli + awake_milli,
                        "total_awake_time_milli": awake_milli,
                        "total_no_data_time_milli": 0,
                        "total_light_sleep_time_milli": light,
                        "total_slow_wave_sleep_time_milli": slow_wave,
                        "total_rem_sleep_time_milli": rem,
                        "sleep_cycle_count": 4,
                        "disturbance_count": 10,
                    },
                    "sleep_needed": {
                        "baseline_milli": 27_000_000,
                        "need_from_sleep_debt_milli": 0,
                        "need_from_recent_strain_milli": 0,
                        "need_from_recent_nap_milli": 0,
                    },
                    "respiratory_rate": 16.1,
                    "sleep_performance_percentage": max(1, min(100, round(12.5 * float(hours)))),
                    "sleep_consistency_percentage": 85,
                    "sleep_efficiency_percentage": 100.0
                    * asleep_milli
                    / (asleep_milli + awake_milli),
                },
            }
        )
        for number, *_ in cycles:
            main = number == cycle_id
            docs["recovery"].append(
                {
                    "cycle_id": number,
                    "sleep_id": sleep_id,
                    "user_id": whoop_user_id,
                    "created_at": _z(sleep_end),
                    "updated_at": _z(sleep_end),
                    "score_state": "SCORED",
                    "score": {
                        "user_calibrating": False,
                        "recovery_score": max(1, min(99, round(float(hrv)))) if main else 50.0,
                        "resting_heart_rate": float(round(float(rhr))) if main else 70.0,
                        "hrv_rmssd_milli": float(hrv) if main else 20.0,
                        "spo2_percentage": 96.0,
                        "skin_temp_celsius": 33.7,
                    },
                }
            )
    return docs


def _records(provider: str, documents: Documents) -> list[WearableRecord]:
    if provider == "OURA":
        return [oura_record(resource, doc) for resource, docs in documents.items() for doc in docs]
    cycle_days: dict[str, dt.date] = {}
    records = []
    for resource in ("cycle", "sleep", "recovery"):
        for doc in documents.get(resource, []):
            record = whoop_record(resource, doc, cycle_day=cycle_days.get)
            if resource == "cycle":
                cycle_days[record.source_record_id] = record.day
            records.append(record)
    return records


def wearable_records_frame(user_id: str, provider: str, documents: Documents) -> pl.DataFrame:
    """The wearable_records rows of `documents`, parsed as a sync parses them."""
    rows = [
        {
            "id": f"wr_{user_id}_{provider.lower()}_{r.record_type}_{r.source_record_id}",
            "user_id": user_id,
            "provider": provider,
            "record_type": r.record_type,
            "source_record_id": r.source_record_id,
            "day": r.day,
            "started_at": r.started_at.astimezone(dt.UTC) if r.started_at else None,
            "ended_at": r.ended_at.astimezone(dt.UTC) if r.ended_at else None,
            "value": r.value,
            "unit": r.unit,
            "payload": r.payload_json(),
        }
        for r in _records(provider, documents)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "id": pl.String,
            "user_id": pl.String,
            "provider": pl.String,
            "record_type": pl.String,
            "source_record_id": pl.String,
            "day": pl.Date,
            "started_at": pl.Datetime("us", "UTC"),
            "ended_at": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "unit": pl.String,
            "payload": pl.String,
        },
    )
