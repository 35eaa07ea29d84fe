"""`americano wearables import apple-health` against real PostgreSQL: every record stored once,
a second import inserts nothing, the single local user by default, exit 2 on bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from americano_pipelines.cli.app import app
from americano_pipelines.db.users import LOCAL_USER_EMAIL

FIXTURE = Path(__file__).parents[1] / "fixtures" / "apple_health" / "export.xml"
# tests/unit/test_apple_health.py: 28 elements, 24 kept, 3 Correlation repeats, 1 refused;
# 9 normalized measure-days.
ELEMENTS, KEPT, REPEATS, SKIPPED, MEASURE_DAYS = 28, 24, 3, 1, 9


def _import(*args: str) -> tuple[int, dict | None, str]:
    result = CliRunner().invoke(app, ["wearables", "import", "apple-health", *args])
    out = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, out, result.stderr


def _zip(tmp_path: Path) -> Path:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(FIXTURE, "apple_health_export/export.xml")
    return archive


def _count(url: str, sql: str, *params) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_a_second_import_inserts_nothing(platform_env: Path, migrated_database: str) -> None:
    code, first, _ = _import(str(FIXTURE))
    assert code == 0
    assert first["records"] == ELEMENTS
    assert (first["inserted"], first["duplicates"], first["skipped"]) == (KEPT, REPEATS, SKIPPED)
    assert first["normalized"] == MEASURE_DAYS
    user = first["userId"]
    assert _count(
        migrated_database, "SELECT count(*) FROM users WHERE email = %s", LOCAL_USER_EMAIL
    )
    assert _count(migrated_database, "SELECT count(*) FROM apple_health_records") == KEPT
    assert (
        _count(
            migrated_database,
            "SELECT count(*) FROM wearable_records WHERE provider = 'APPLE_HEALTH' AND user_id = %s",
            user,
        )
        == MEASURE_DAYS
    )

    code, again, _ = _import(str(_zip(platform_env)))  # the same export, zipped
    assert code == 0
    assert again["userId"] == user  # the single user, not a new one
    assert (again["records"], again["inserted"], again["duplicates"], again["skipped"]) == (
        ELEMENTS,
        0,
        ELEMENTS - SKIPPED,
        SKIPPED,
    )
    assert again["normalized"] == 0
    assert _count(migrated_database, "SELECT count(*) FROM apple_health_records") == KEPT
    assert _count(migrated_database, "SELECT count(*) FROM users") == 1

    with psycopg.connect(migrated_database) as conn:
        stored = conn.execute(
            "SELECT day, utc_offset, start_date = '2024-01-02 15:30:00+00'::timestamptz "
            "FROM apple_health_records WHERE utc_offset = '+0900'"
        ).fetchone()
        night = conn.execute(
            "SELECT value, started_at, payload->>'method' FROM wearable_records "
            "WHERE record_type = 'sleep_duration' AND day = '2024-01-02'"
        ).fetchone()
    assert str(stored[0]) == "2024-01-03" and stored[1] == "+0900"
    assert stored[2] is True  # 00:30 +0900 on the 3rd is 15:30 UTC on the 2nd
    assert night[0] == 7.25 and night[2] == "asleep"
    assert night[1].isoformat() == "2024-01-02T07:00:00+00:00"  # 23:00 -0800 on the 1st


def test_several_users_need_a_user_id(platform_env: Path, migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES ('bea', 'bea@example.org')")
    code, _, err = _import(str(FIXTURE))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--user-id" in err
    code, _, err = _import(str(FIXTURE), "--user-id", "nobody")
    assert code == 2 and "nobody" in err
    code, out, _ = _import(str(FIXTURE), "--user-id", "bea")
    assert code == 0 and out["inserted"] == KEPT  # the same records, another user's


def test_bad_input_exits_2_with_one_line(platform_env: Path) -> None:
    text = platform_env / "notes.txt"
    text.write_text("not an export")
    empty_zip = platform_env / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as out:
        out.writestr("apple_health_export/export_cda.xml", "<x/>")
    for path, message in (
        (text, "neither an export.zip nor an export.xml"),
        (empty_zip, "holds no export.xml"),
        (platform_env / "missing.zip", "is not a file"),
    ):
        code, _, err = _import(str(path), "--user-id", "bea")
        assert code == 2
        assert err.strip().count("\n") == 0 and message in err
