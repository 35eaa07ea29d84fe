"""The whole graph on a small seed: PostgreSQL → Parquet (DVC) → dbt marts, then incremental."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import psycopg
import pyarrow.dataset as ds
import pytest
import yaml

from americano_pipelines.cli.materialize import materialize_all
from americano_pipelines.config import dbt_environment, get_settings
from americano_pipelines.db import extract
from americano_pipelines.db.load import load_tables
from americano_pipelines.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from americano_pipelines.synth.demo_study import generate_demo_study

STAGING = {
    "users": "stg_app__users",
    "context_metadata": "stg_app__context_metadata",
    "behavioral_events": "stg_app__behavioral_events",
    "experiment_protocols": "stg_app__experiment_protocols",
    "phase_assignments": "stg_app__phase_assignments",
    "wearable_records": "stg_app__wearable_records",
}
# Snapshotted to Parquet like the others, but no dbt model reads it.
EXTRACTED = (*STAGING, "analysis_runs")


@pytest.fixture(scope="module")
def built(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("demo")
    patch = pytest.MonkeyPatch()
    patch.setenv("AMERICANO_DATABASE_URL", migrated_database)
    patch.setenv("AMERICANO_HOME", str(root / "home"))
    patch.setenv("AMERICANO_DATA_DIR", str(root / "project" / "data"))
    patch.setenv("DAGSTER_HOME", str(root / "unused"))
    patch.delenv("AMERICANO_DUCKDB_PATH", raising=False)
    study = generate_demo_study(users=2, days=63, seed=11, start_date=dt.date(2025, 9, 1))
    with psycopg.connect(migrated_database) as conn:
        load_tables(conn, study.tables)
    settings = get_settings()
    first = materialize_all(settings, log=lambda _: None)
    yield settings, study, first
    patch.undo()


def test_first_run_materializes_the_whole_graph(built) -> None:
    settings, study, summary = built
    assert summary.failed_checks == []
    assert len(summary.event_days_extracted) == study.ground_truth["days"] - _days_without_events(
        study
    )
    for key in (
        "raw/users",
        "raw/data_version",
        "staging/stg_app__behavioral_events",
        "marts/daily_metrics",
        "marts/phase_observations",
        "marts/protocols",
        "marts/wearable_daily",
        "seeds/phase_conditions",
        "seeds/design_types",
    ):
        assert key in summary.asset_keys
    # dbt's tests of the analyses' tables ran after the analyses, and passed
    for key in (
        "sced_randomization_test",
        "change_points",
        "sequential_monitoring",
        "synthetic_control",
        "wearable_links",
    ):
        assert f"analyses/{key}:dbt_source_tests" in summary.evaluated_checks


def test_each_protocol_has_its_cent_report_as_html_and_a_real_pdf(built) -> None:
    """The asset reports/cent_report ran after the analyses: each protocol's HTML, and its PDF
    printed by the Chromium installed here (CI installs it), both linked from the
    materialization; the PDF has pages, the checklist's text, page numbers and the figures."""
    import pypdf
    from dagster import AssetKey, AssetRecordsFilter

    from americano_pipelines.cli.materialize import prepare_dagster_home
    from americano_pipelines.reports import cent

    settings, study, summary = built
    assert "reports/cent_report" in summary.asset_keys
    renderer, reason = cent.pdf_renderer()
    instance = prepare_dagster_home(settings)
    protocol_ids = sorted(p["protocolId"] for p in study.ground_truth["protocols"])
    for protocol_id in protocol_ids:
        html, pdf = cent.report_paths(settings.reports_dir, protocol_id)
        (record,) = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey(["reports", "cent_report"]), asset_partitions=[protocol_id]
            ),
            limit=1,
        ).records
        metadata = record.asset_materialization.metadata
        assert metadata["html"].value == str(html) and html.exists()
        assert metadata["items"].value == len(cent.CENT_ITEMS)
        if renderer is None:
            assert metadata["pdf"].value == "not written"
            assert metadata["pdf_reason"].value == reason and not pdf.exists()
        else:
            assert metadata["pdf"].value == str(pdf)
            assert metadata["pdf_url"].value == pdf.resolve().as_uri()
    if renderer != "chromium":
        pytest.skip(f"the real PDF needs Chromium (CI installs it): {reason}")
    html, pdf = cent.report_paths(settings.reports_dir, protocol_ids[0])
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) > 1
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    for topic in (
        "CENT 2015 checklist",
        "Trial design",
        "Sequence generation",
        "Participant flow",
        "Outcomes and estimation",
        "Provenance",
        "americano runs reproduce",
    ):
        assert topic in text, topic
    assert f"Page 1 of {len(reader.pages)}" in text  # the page margins' numbers
    drawn = html.read_text().count('src="data:image/png;base64,')
    assert drawn >= 3
    assert sum(len(page.images) for page in reader.pages) == drawn


def test_row_counts_are_conserved_postgres_parquet_staging(built) -> None:
    settings, _, _ = built
    with psycopg.connect(settings.database_url) as pg:
        postgres = {t: pg.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in EXTRACTED}
    parquet = {
        t: ds.dataset(
            extract.table_dir(t, raw_dir=settings.raw_dir, provenance_dir=settings.provenance_dir),
            format="parquet",
        ).count_rows()
        for t in EXTRACTED
    }
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        staging = {
            t: wh.execute(f"SELECT count(*) FROM staging.{model}").fetchone()[0]
            for t, model in STAGING.items()
        }
    assert postgres == parquet
    assert {t: postgres[t] for t in STAGING} == staging
    assert postgres["behavioral_events"] > 5_000


def test_marts_carry_the_protocol_and_its_truth(built) -> None:
    settings, study, _ = built
    with duckdb.connect(settings.duckdb_path, read_only=True) as wh:
        protocols = wh.execute(
            "SELECT protocol_id, n_phases, first_intervention_date, status FROM marts.protocols "
            "ORDER BY protocol_id"
        ).fetchall()
        effects = wh.execute(
            "SELECT protocol_id, avg(value) FILTER (WHERE condition = 'B') "
            "- avg(value) FILTER (WHERE condition = 'A') FROM marts.phase_observations "
            "GROUP BY protocol_id"
        ).fetchall()
        phase_sequence = wh.execute(
            "SELECT string_agg(DISTINCT condition || phase_index, '' ORDER BY condition || phase_index) "
            "FROM marts.phase_observations"
        ).fetchone()[0]
    truth = {p["protocolId"]: p for p in study.ground_truth["protocols"]}
    assert [p[0] for p in protocols] == sorted(truth)
    for protocol_id, n_phases, first_intervention, status in protocols:
        assert n_phases == 4
        assert first_intervention.isoformat() == truth[protocol_id]["phaseChangeDates"][0]
        assert status == "completed"
    for _, difference in effects:
        assert abs(difference - study.ground_truth["effect"]) < 6  # noisy, but near +8
    assert phase_sequence == "A1A3B2B4"


def test_data_version_is_the_dvc_hash(built) -> None:
    settings, _, _ = built
    lock = yaml.safe_load((settings.data_dir.parent / "dvc.lock").read_text())
    out = lock["stages"]["extract"]["outs"][0]
    assert out["path"] == "data/raw"
    assert out["nfiles"] >= 7
    remote = Path(settings.dvc_remote)
    assert any(remote.rglob("*")), "the data was pushed to the DVC remote"


def test_second_run_extracts_only_what_is_new(built) -> None:
    settings, _, first = built
    second = materialize_all(settings, log=lambda _: None, groups=("extract",))
    assert second.event_days_extracted == []
    assert second.runs == []  # nothing changed: no run at all
    assert second.asset_keys == []
    new_day = max(first.event_days_extracted) + dt.timedelta(days=1)
    with psycopg.connect(settings.database_url) as pg:
        pg.execute(
            'INSERT INTO behavioral_events (user_id, event_type, "timestamp") '
            "VALUES ('user_001', 'SESSION_STARTED', %s)",
            (dt.datetime.combine(new_day, dt.time(9), tzinfo=dt.UTC),),
        )
    third = materialize_all(settings, log=lambda _: None, groups=("extract",))
    assert third.event_days_extracted == [new_day]
    assert third.failed_checks == []


def test_dbt_docs_generate(built) -> None:
    settings, _, _ = built
    target = settings.home / "dbt_docs"
    subprocess.run(
        [DBT_EXECUTABLE, "docs", "generate", "--target-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **dbt_environment(settings)},
        check=True,
        capture_output=True,
    )
    assert (target / "catalog.json").exists()


def _days_without_events(study) -> int:
    events = study.tables["behavioral_events"]
    days_with = events["timestamp"].dt.date().n_unique()
    return study.ground_truth["days"] - days_with


def test_a_changed_old_day_is_extracted_and_checked_on_the_next_run(built) -> None:
    """Three scores updated on an old day (the counts unchanged): the next run extracts that day
    and the events' row check, which now runs, passes on the new content."""
    settings, _, first = built
    day = min(first.event_days_extracted) + dt.timedelta(days=3)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    with psycopg.connect(settings.database_url) as pg:
        pg.execute(
            "UPDATE behavioral_events SET session_performance_score = "
            "(coalesce(session_performance_score, 0) + 1) %% 101 WHERE id IN ("
            'SELECT id FROM behavioral_events WHERE "timestamp" >= %s AND "timestamp" < %s '
            "ORDER BY id LIMIT 3)",
            (start, start + dt.timedelta(days=1)),
        )
    run = materialize_all(settings, log=lambda _: None, groups=("extract",))
    assert run.event_days_extracted == [day]
    assert run.failed_checks == []
    assert "raw/behavioral_events:rows_match_postgres" in run.evaluated_checks


def test_after_one_new_day_only_what_depends_on_it_runs(built) -> None:
    """The marts left behind by the extract-only runs above catch up; then one new event day
    runs that day's partition, the models downstream of the events and the analyses of the
    protocols whose inputs changed, and nothing else; then nothing at all."""
    settings, study, first = built
    caught_up = materialize_all(settings, log=lambda _: None)
    assert "marts/phase_observations" in caught_up.asset_keys
    assert caught_up.failed_checks == []

    new_day = max(first.event_days_extracted) + dt.timedelta(days=2)
    with psycopg.connect(settings.database_url) as pg:
        pg.execute(
            'INSERT INTO behavioral_events (user_id, event_type, "timestamp") '
            "VALUES ('user_001', 'SESSION_STARTED', %s)",
            (dt.datetime.combine(new_day, dt.time(9), tzinfo=dt.UTC),),
        )
    run = materialize_all(settings, log=lambda _: None)
    assert run.event_days_extracted == [new_day]
    assert run.failed_checks == []
    keys = set(run.asset_keys)
    assert {"raw/behavioral_events", "raw/data_version", "staging/stg_app__behavioral_events"} <= (
        keys
    )
    # what does not read the events is not rebuilt
    for untouched in (
        "raw/users",
        "raw/wearable_records",
        "staging/stg_app__users",
        "marts/wearable_daily",
        "seeds/phase_conditions",
        "results/sced_randomization_test",
    ):
        assert untouched not in keys
    own = {p["protocolId"] for p in study.ground_truth["protocols"] if p["userId"] == "user_001"}
    assert set(run.protocols_analysed) <= own

    if run.protocols_analysed:  # the report follows the analyses it shows
        assert "reports/cent_report" in keys
    nothing = materialize_all(settings, log=lambda _: None)
    assert nothing.runs == [] and nothing.asset_keys == []
