"""The analyses' warehouse I/O: read a protocol's inputs from the marts, write tidy result files.

An analysis reads the warehouse and never writes it: each result table is a folder of Parquet
files, one per protocol (`<results_dir>/<table>/<protocol>.parquet`), which a run replaces
whole by an atomic rename. Runs of different protocols therefore write different files and
can run at once, a reader never sees a half-written protocol, and a rerun is idempotent. The
warehouse reads the folders as the views `analyses.<table>` (dbt models in
`dbt_project/models/results/`). Each table's columns are defined once, here (`Table`): the
result dataclasses' `to_rows()` fill them, `data_version` (the DVC hash of the raw data) and
`computed_at` (UTC) are added on write, and `_columns.parquet`, a file of the columns and no
rows, gives the view its columns before any protocol has a result.

Connections are DuckDB connections; nothing here imports Dagster.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import pandas as pd

    from americano_pipelines.quality.gate import GateCounts

__all__ = [
    "CHANGE_POINTS",
    "DRIFT_COLUMNS",
    "ITS_EFFECTS",
    "RANDOMIZATION_TESTS",
    "SCHEMA",
    "SEQUENTIAL_LOOKS",
    "SERIES_OF_N1",
    "SYNTHETIC_CONTROL",
    "Table",
    "WEARABLE_LINKS",
    "READS",
    "RESULT_TABLES",
    "baseline_periods",
    "change_point_dates",
    "drift_day_range",
    "drift_days",
    "daily_metric_series",
    "donor_pool",
    "ensure_result_columns",
    "phase_observations",
    "protocol_folder",
    "protocol_ids",
    "protocol_input_fingerprints",
    "protocol_row",
    "read_results",
    "result_path",
    "series_observations",
    "table_exists",
    "wearable_days",
    "write_protocol_results",
    "write_week_results",
]

SCHEMA = "analyses"
_PROVENANCE = (("data_version", "VARCHAR"), ("computed_at", "TIMESTAMP"))


@dataclass(frozen=True)
class Table:
    """A result table: its name in the `analyses` schema and its columns (name, DuckDB type).
    `data_version` and `computed_at` are appended to every table."""

    name: str
    columns: tuple[tuple[str, str], ...]
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        return self.columns + _PROVENANCE

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


RANDOMIZATION_TESTS = Table(
    "sced_randomization_test",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("design", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("statistic", "VARCHAR"),
        ("observed_effect", "DOUBLE"),
        ("p_value", "DOUBLE"),
        ("n_assignments", "BIGINT"),
        ("n_admissible", "DECIMAL(38,0)"),  # Parquet has no HUGEINT
        ("exact", "BOOLEAN"),
        ("alpha", "DOUBLE"),
        ("significant", "BOOLEAN"),
        ("effect_size", "DOUBLE"),
        ("nap", "DOUBLE"),
        ("nap_se", "DOUBLE"),
        ("smd", "DOUBLE"),
        ("smd_se", "DOUBLE"),
        ("rating", "VARCHAR"),
        ("passes", "BOOLEAN"),
        ("standards_reasons", "VARCHAR"),
        ("min_phase_length", "INTEGER"),
        ("min_phase_length_used", "INTEGER"),
        ("n_observations", "INTEGER"),
        ("permutations", "INTEGER"),
        ("seed", "BIGINT"),
        ("interpretation", "VARCHAR"),
        ("notes", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: its randomization test, effect sizes and WWC rating.",
)

CHANGE_POINTS = Table(
    "change_points",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("change_point", "INTEGER"),
        ("observation_index", "INTEGER"),
        ("change_date", "DATE"),
        ("confidence", "DOUBLE"),
        ("before_mean", "DOUBLE"),
        ("after_mean", "DOUBLE"),
        ("percent_change", "DOUBLE"),
        ("nearest_phase_change_date", "DATE"),
        ("nearest_phase_label", "VARCHAR"),
        ("offset_observations", "INTEGER"),
        ("algorithm", "VARCHAR"),
        ("penalty", "DOUBLE"),
        ("min_segment_length", "INTEGER"),
        ("n_observations", "INTEGER"),
    ),
    "One row per change point in the mean of a protocol's primary outcome.",
)

SEQUENTIAL_LOOKS = Table(
    "sequential_monitoring",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("look", "INTEGER"),
        ("planned_n", "INTEGER"),
        ("planned_information_rate", "DOUBLE"),
        ("reached", "BOOLEAN"),
        ("n_used", "INTEGER"),
        ("information_rate", "DOUBLE"),
        ("n_a", "INTEGER"),
        ("n_b", "INTEGER"),
        ("mean_a", "DOUBLE"),
        ("mean_b", "DOUBLE"),
        ("z_statistic", "DOUBLE"),
        ("critical_value", "DOUBLE"),
        ("alpha_spent", "DOUBLE"),
        ("nominal_alpha", "DOUBLE"),
        ("boundary", "VARCHAR"),
        ("crossed", "BOOLEAN"),
        ("decision", "VARCHAR"),
        ("stopped_at_look", "INTEGER"),
        ("spending", "VARCHAR"),
        ("sides", "INTEGER"),
        ("alpha", "DOUBLE"),
        ("max_n", "INTEGER"),
        ("statistic", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("z_method", "VARCHAR"),
    ),
    "One row per planned look of a protocol's group-sequential design.",
)

ITS_EFFECTS = Table(
    "its_effects",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("intervention_date", "DATE"),
        ("post_window", "VARCHAR"),
        ("post_phase_label", "VARCHAR"),
        ("pre_start_date", "DATE"),
        ("post_end_date", "DATE"),
        ("n_pre", "INTEGER"),
        ("n_post", "INTEGER"),
        ("n_excluded", "INTEGER"),
        ("effect_mean", "DOUBLE"),
        ("effect_sd", "DOUBLE"),
        ("effect_hdi95_low", "DOUBLE"),
        ("effect_hdi95_high", "DOUBLE"),
        ("probability_positive", "DOUBLE"),
        ("rhat", "DOUBLE"),
        ("ess_bulk", "DOUBLE"),
        ("ess_tail", "DOUBLE"),
        ("divergences", "INTEGER"),
        ("converged", "BOOLEAN"),
        ("seasonality", "VARCHAR"),
        ("ar1", "BOOLEAN"),
        ("fit", "VARCHAR"),
        ("effect_prior_mean", "DOUBLE"),
        ("effect_prior_sd", "DOUBLE"),
        ("sampler", "VARCHAR"),
        ("draws", "INTEGER"),
        ("tune", "INTEGER"),
        ("chains", "INTEGER"),
        ("seed", "BIGINT"),
        ("posterior_path", "VARCHAR"),
        ("interpretation", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: the Bayesian ITS effect of its first A-to-B change.",
)

SYNTHETIC_CONTROL = Table(
    "synthetic_control",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("donor_kind", "VARCHAR"),
        ("donors", "VARCHAR"),
        ("n_donors", "INTEGER"),
        ("scaling", "VARCHAR"),
        ("intervention_date", "DATE"),
        ("pre_start_date", "DATE"),
        ("post_end_date", "DATE"),
        ("post_window", "VARCHAR"),
        ("n_pre", "INTEGER"),
        ("n_post", "INTEGER"),
        ("n_dropped_incomplete", "INTEGER"),
        ("n_exposed_donor_days", "INTEGER"),
        ("effect_mean", "DOUBLE"),
        ("effect_sd", "DOUBLE"),
        ("effect_hdi95_low", "DOUBLE"),
        ("effect_hdi95_high", "DOUBLE"),
        ("probability_positive", "DOUBLE"),
        ("pre_fit_rmse", "DOUBLE"),
        ("pre_fit_rmse_to_sd", "DOUBLE"),
        ("convex_hull_violations", "INTEGER"),
        ("donor_weights", "JSON"),
        ("rhat", "DOUBLE"),
        ("ess_bulk", "DOUBLE"),
        ("ess_tail", "DOUBLE"),
        ("divergences", "INTEGER"),
        ("converged", "BOOLEAN"),
        ("draws", "INTEGER"),
        ("tune", "INTEGER"),
        ("chains", "INTEGER"),
        ("seed", "BIGINT"),
        ("interpretation", "VARCHAR"),
        ("notes", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: the Bayesian synthetic control effect of its first A-to-B change.",
)

WEARABLE_LINKS = Table(
    "wearable_links",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("outcome", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("method", "VARCHAR"),
        ("correction", "VARCHAR"),
        ("predictor", "VARCHAR"),
        ("lag", "INTEGER"),
        ("r", "DOUBLE"),
        ("p_value", "DOUBLE"),
        ("p_value_adjusted", "DOUBLE"),
        ("n_pairs", "INTEGER"),
        ("significant", "BOOLEAN"),
        ("granger_f", "DOUBLE"),
        ("granger_p", "DOUBLE"),
        ("granger_df_num", "INTEGER"),
        ("granger_df_denom", "INTEGER"),
        ("granger_selected", "BOOLEAN"),
        ("granger_start_date", "DATE"),
        ("granger_end_date", "DATE"),
        ("granger_n_days", "INTEGER"),
        ("calendar_start", "DATE"),
        ("calendar_end", "DATE"),
        ("n_days", "INTEGER"),
    ),
    "One row per protocol, wearable measure and lag in days: lagged correlation and Granger "
    "test against the primary outcome.",
)

DRIFT_COLUMNS = Table(
    "drift_columns",
    (
        ("week", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("week_start", "DATE"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("reference_kind", "VARCHAR"),
        ("reference_protocol_id", "VARCHAR"),
        ("reference_start", "DATE"),
        ("reference_end", "DATE"),
        ("share_drifted", "DOUBLE"),
        ("dataset_drift", "BOOLEAN"),
        ("column_name", "VARCHAR"),
        ("drifted", "BOOLEAN"),
        ("stat_test", "VARCHAR"),
        ("score", "DOUBLE"),
        ("threshold", "DOUBLE"),
        ("n_reference", "INTEGER"),
        ("n_current", "INTEGER"),
    ),
    "One row per user, ISO week and column: Evidently's drift test of the week against the "
    "user's reference window (one file per week, `<results>/drift_columns/<week>.parquet`).",
)


SERIES_OF_N1 = Table(
    "series_of_n1",
    (
        ("protocol_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("status", "VARCHAR"),
        ("skip_reason", "VARCHAR"),
        ("members", "VARCHAR"),
        ("n_persons", "INTEGER"),
        ("n_observations", "INTEGER"),
        ("n_excluded", "INTEGER"),
        ("population_effect_mean", "DOUBLE"),
        ("population_effect_sd", "DOUBLE"),
        ("population_effect_hdi95_low", "DOUBLE"),
        ("population_effect_hdi95_high", "DOUBLE"),
        ("population_probability_positive", "DOUBLE"),
        ("tau_mean", "DOUBLE"),
        ("tau_hdi95_low", "DOUBLE"),
        ("tau_hdi95_high", "DOUBLE"),
        ("effect_mean", "DOUBLE"),
        ("effect_sd", "DOUBLE"),
        ("effect_hdi95_low", "DOUBLE"),
        ("effect_hdi95_high", "DOUBLE"),
        ("probability_positive", "DOUBLE"),
        ("raw_mean_difference", "DOUBLE"),
        ("randomization_design", "VARCHAR"),
        ("p_value", "DOUBLE"),
        ("rhat", "DOUBLE"),
        ("ess_bulk", "DOUBLE"),
        ("ess_tail", "DOUBLE"),
        ("divergences", "INTEGER"),
        ("converged", "BOOLEAN"),
        ("noise", "VARCHAR"),
        ("draws", "INTEGER"),
        ("tune", "INTEGER"),
        ("chains", "INTEGER"),
        ("seed", "BIGINT"),
        ("interpretation", "VARCHAR"),
        ("result_json", "JSON"),
    ),
    "One row per protocol: the series of N-of-1 trials it belongs to (population effect, "
    "between-person SD) and its own shrunken effect.",
)

RESULT_TABLES = (
    RANDOMIZATION_TESTS,
    CHANGE_POINTS,
    SEQUENTIAL_LOOKS,
    ITS_EFFECTS,
    SYNTHETIC_CONTROL,
    WEARABLE_LINKS,
    DRIFT_COLUMNS,
    SERIES_OF_N1,
)
_COLUMNS_FILE = "_columns.parquet"


# ----------------------------------------------------------------------------- reading


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether the warehouse has `schema.name` (a table or a view)."""
    return _table_exists(conn, schema, name)


def protocol_ids(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every protocol in `marts.protocols`, sorted; empty before the marts are built."""
    if not _table_exists(conn, "marts", "protocols"):
        return []
    rows = conn.execute("SELECT protocol_id FROM marts.protocols ORDER BY protocol_id").fetchall()
    return [str(row[0]) for row in rows]


def phase_end_dates(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, dt.date]]:
    """(protocol_id, phase_label, end_date) of every scheduled phase, from
    `intermediate.int_protocol_days` (whose days follow the dbt macro `phase_end_date`); empty
    before the warehouse is built."""
    if not _table_exists(conn, "intermediate", "int_protocol_days"):
        return []
    return conn.execute(
        "SELECT protocol_id, phase_label, max(protocol_date) FROM intermediate.int_protocol_days "
        "GROUP BY protocol_id, phase_label ORDER BY protocol_id, 3, phase_label"
    ).fetchall()


READS = ("wearables", "donors", "series")
"""What an analysis may read beyond its protocol's own inputs (`protocol_input_fingerprints`)."""

# The extra inputs' digests per protocol: a CTE `<read>` of (protocol_id, digest) each.
_READ_DIGESTS = {
    # the user's wearable days (`wearable_days`)
    "wearables": """
        SELECT p.protocol_id, md5(string_agg(CAST(w AS VARCHAR), '|'
            ORDER BY w.wearable_date)) AS digest
        FROM marts.protocols AS p JOIN marts.wearable_daily AS w ON w.user_id = p.user_id
        GROUP BY 1""",
    # what a synthetic control draws donors from (`donor_pool`), up to the protocol's end: a
    # later day is in none of its windows
    "donors": """
        SELECT p.protocol_id, md5(string_agg(CAST(d AS VARCHAR), '|'
            ORDER BY d.user_id, d.metric, d.metric_date)) AS digest
        FROM marts.protocols AS p JOIN marts.daily_metrics AS d
            ON (d.metric = p.primary_outcome OR d.user_id = p.user_id)
            AND (coalesce(p.schedule_end_date, p.end_date) IS NULL
                 OR d.metric_date <= coalesce(p.schedule_end_date, p.end_date))
        GROUP BY 1""",
    # what a series of N-of-1 trials pools (`series_observations`): every protocol's
    # observations of the primary outcome, with the parameters of their phases
    "series": """
        SELECT p.protocol_id, md5(string_agg(CAST(o AS VARCHAR) || coalesce(CAST(
            a.intervention_params AS VARCHAR), ''), '|'
            ORDER BY o.protocol_id, o.case_name, o.observation_index)) AS digest
        FROM marts.protocols AS p JOIN marts.phase_observations AS o ON o.metric = p.primary_outcome
        LEFT JOIN staging.stg_app__phase_assignments AS a
            ON a.protocol_id = o.protocol_id AND a.phase_label = o.phase_label
        GROUP BY 1""",
}


def protocol_input_fingerprints(
    conn: duckdb.DuckDBPyConnection, reads: Sequence[str] = ()
) -> dict[str, str]:
    """For every protocol in `marts.protocols`, an MD5 of everything its analyses read: its row,
    its `marts.phase_observations` and its user's `marts.daily_metrics` of the primary outcome,
    and what `reads` (of `READS`) adds: "wearables", its user's `marts.wearable_daily`;
    "donors", every user's daily metrics of the primary outcome and its user's other metrics,
    up to the protocol's end (`donor_pool`). Equal fingerprints, equal inputs: what decides
    that a protocol's analyses are current. Empty before the marts are built."""
    unknown = sorted(set(reads) - set(READS))
    if unknown:
        raise ValueError(f"reads: unknown input {unknown[0]!r}; the inputs are {', '.join(READS)}")
    if not _table_exists(conn, "marts", "protocols"):
        return {}
    chosen = sorted(set(reads), key=READS.index)
    extra_ctes = "".join(f", {name} AS ({_READ_DIGESTS[name]})" for name in chosen)
    extra_digests = "".join(f" || '|{name}:' || coalesce({name}.digest, '')" for name in chosen)
    extra_joins = "".join(f" LEFT JOIN {name} USING (protocol_id)" for name in chosen)
    rows = conn.execute(
        f"""
        WITH observed AS (
            SELECT o.protocol_id, md5(string_agg(CAST(o AS VARCHAR), '|'
                ORDER BY o.case_name, o.observation_index)) AS digest
            FROM marts.phase_observations AS o GROUP BY 1
        ), metric AS (
            SELECT p.protocol_id, md5(string_agg(CAST(d AS VARCHAR), '|'
                ORDER BY d.metric_date)) AS digest
            FROM marts.protocols AS p JOIN marts.daily_metrics AS d
                ON d.user_id = p.user_id AND d.metric = p.primary_outcome
            GROUP BY 1
        ){extra_ctes}
        SELECT p.protocol_id, md5(CAST(p AS VARCHAR) || '|' || coalesce(observed.digest, '')
            || '|' || coalesce(metric.digest, ''){extra_digests})
        FROM marts.protocols AS p
        LEFT JOIN observed USING (protocol_id) LEFT JOIN metric USING (protocol_id){extra_joins}
        """
    ).fetchall()
    return {str(protocol_id): digest for protocol_id, digest in rows}


def protocol_row(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> dict[str, Any]:
    """The protocol's `marts.protocols` row as a dict; KeyError when it is not there."""
    cursor = conn.execute("SELECT * FROM marts.protocols WHERE protocol_id = ?", [protocol_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"protocol {protocol_id!r} is not in marts.protocols")
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


def phase_observations(conn: duckdb.DuckDBPyConnection, protocol_id: str) -> pd.DataFrame:
    """The protocol's rows of `marts.phase_observations`, in observation order; `case` names the
    multiple-baseline case of each row ('all' in single-series designs). Through the quality
    gate: a row dated outside the protocol's schedule, or without a value, is left out and
    counted (`gate_counts`)."""
    observations = conn.execute(
        'SELECT *, case_name AS "case" FROM marts.phase_observations WHERE protocol_id = ? '
        "ORDER BY case_name, observation_index",
        [protocol_id],
    ).df()
    dates = conn.execute(
        "SELECT schedule_start_date, schedule_end_date FROM marts.protocols WHERE protocol_id = ?",
        [protocol_id],
    ).fetchone()
    if dates is None or dates[0] is None:
        return observations  # no schedule: no dates to hold the rows to
    from americano_pipelines.quality import rules  # pandera: when an analysis reads

    return _gated(observations, rules.phase_observations(dates[0], dates[1]))


GATE_ATTRIBUTE = "quality_gate"
"""The frame attribute (`DataFrame.attrs`) holding a gated read's `GateCounts`."""


def gate_counts(frame: Any) -> GateCounts | None:
    """The counts of the quality gate a frame read here went through (None: no gate)."""
    return getattr(frame, "attrs", {}).get(GATE_ATTRIBUTE)


def _gated(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """`frame`'s rows that pass `schema`, renumbered, with the gate's counts in its attrs."""
    from americano_pipelines.quality.gate import split

    gated = split(frame, schema, now=dt.datetime.now(dt.UTC))
    good = gated.good.reset_index(drop=True)
    good.attrs[GATE_ATTRIBUTE] = gated.counts
    return good


def daily_metric_series(conn: duckdb.DuckDBPyConnection, user_id: str, metric: str) -> pd.DataFrame:
    """The user's days with a value of `metric` in `marts.daily_metrics`, in date order, with
    the protocol phase in force that day (`protocol_id`, `phase_label`, `phase_type`,
    `condition`; NULL outside any protocol)."""
    return conn.execute(
        "SELECT metric_date, value, protocol_id, phase_label, phase_type, condition "
        "FROM marts.daily_metrics WHERE user_id = ? AND metric = ? AND value IS NOT NULL "
        "ORDER BY metric_date",
        [user_id, metric],
    ).df()


def donor_pool(conn: duckdb.DuckDBPyConnection, user_id: str, metric: str) -> pd.DataFrame:
    """What a synthetic control of the user's `metric` may draw donors from: every user's rows of
    `metric` in `marts.daily_metrics` and the user's other metrics, with the phase in force."""
    return conn.execute(
        "SELECT user_id, metric, metric_date, value, protocol_id, phase_label, phase_type "
        "FROM marts.daily_metrics WHERE metric = ? OR user_id = ? ORDER BY user_id, metric, "
        "metric_date",
        [metric, user_id],
    ).df()


def series_observations(conn: duckdb.DuckDBPyConnection, metric: str) -> pd.DataFrame:
    """What a series of N-of-1 trials of `metric` may pool: every protocol's rows of
    `marts.phase_observations` of that metric, in observation order, with its design and the
    intervention parameters of each row's phase (`intervention_params`, JSON text)."""
    return conn.execute(
        'SELECT o.*, o.case_name AS "case", p.design_type, '
        "CAST(a.intervention_params AS VARCHAR) AS intervention_params "
        "FROM marts.phase_observations AS o JOIN marts.protocols AS p USING (protocol_id) "
        "LEFT JOIN staging.stg_app__phase_assignments AS a "
        "ON a.protocol_id = o.protocol_id AND a.phase_label = o.phase_label "
        "WHERE o.metric = ? ORDER BY o.protocol_id, o.case_name, o.observation_index",
        [metric],
    ).df()


def wearable_days(conn: duckdb.DuckDBPyConnection, user_id: str) -> pd.DataFrame:
    """The user's rows of `marts.wearable_daily`, in date order, through the quality gate: a
    day with an implausible resting heart rate, HRV or sleep is left out and counted."""
    days = conn.execute(
        "SELECT * FROM marts.wearable_daily WHERE user_id = ? ORDER BY wearable_date", [user_id]
    ).df()
    from americano_pipelines.quality import rules  # pandera: when an analysis reads

    return _gated(days, rules.wearable_daily())


# The context of a day (its mean over the day's context_metadata records; mood LOW/MEDIUM/HIGH
# as 1/2/3) and the wearables' measures: the columns of a week's drift besides the outcomes.
_DRIFT_CONTEXT = """
    SELECT user_id, recorded_date AS day,
        avg(CASE mood WHEN 'LOW' THEN 1 WHEN 'MEDIUM' THEN 2 WHEN 'HIGH' THEN 3 END) AS mood,
        avg(energy_level) AS energy_level, avg(sleep_hours) AS context_sleep_hours,
        avg(sleep_quality) AS sleep_quality, avg(hrv_score) AS context_hrv_score,
        avg(resting_heart_rate) AS context_resting_heart_rate
    FROM staging.stg_app__context_metadata GROUP BY 1, 2"""
_DRIFT_WEARABLES = """
    SELECT user_id, wearable_date AS day, sleep_hours, hrv_rmssd_ms, resting_heart_rate_bpm
    FROM marts.wearable_daily"""


def drift_days(conn: duckdb.DuckDBPyConnection, user_id: str) -> pd.DataFrame:
    """The user's days as drift compares them: `date`, one column per behavioral outcome of
    `marts.daily_metrics` (`outcome_<metric>`), the day's context (mood, energy_level,
    context_sleep_hours, sleep_quality, context_hrv_score, context_resting_heart_rate) and its
    wearable measures (sleep_hours, hrv_rmssd_ms, resting_heart_rate_bpm); a table the
    warehouse lacks adds no column. Empty before the marts are built."""
    import pandas as pd

    frames = []
    if _table_exists(conn, "marts", "daily_metrics"):
        long = conn.execute(
            "SELECT metric_date AS day, metric, value FROM marts.daily_metrics "
            "WHERE user_id = ? AND value IS NOT NULL",
            [user_id],
        ).df()
        if not long.empty:
            wide = long.pivot_table(index="day", columns="metric", values="value")
            frames.append(wide.add_prefix("outcome_"))
    for schema, name, sql in (
        ("staging", "stg_app__context_metadata", _DRIFT_CONTEXT),
        ("marts", "wearable_daily", _DRIFT_WEARABLES),
    ):
        if _table_exists(conn, schema, name):
            part = conn.execute(f"SELECT * FROM ({sql}) WHERE user_id = ?", [user_id]).df()
            if not part.empty:
                frames.append(part.drop(columns=["user_id"]).set_index("day"))
    if not frames:
        return pd.DataFrame({"date": []})
    out = pd.concat(frames, axis=1).sort_index()
    out = out.loc[:, out.notna().any()]
    out.index = pd.to_datetime(out.index).date
    return out.rename_axis("date").reset_index()


def drift_day_range(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[dt.date, dt.date]]:
    """Each user's first and last day with a behavioral outcome (`marts.daily_metrics`)."""
    if not _table_exists(conn, "marts", "daily_metrics"):
        return {}
    rows = conn.execute(
        "SELECT user_id, min(metric_date), max(metric_date) FROM marts.daily_metrics "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(user): (first, last) for user, first, last in rows}


def baseline_periods(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, dt.date, dt.date]]:
    """(user_id, protocol_id, first day, last day) of every BASELINE phase in the protocols'
    schedules (`intermediate.int_protocol_days`); empty before the warehouse is built."""
    if not _table_exists(conn, "intermediate", "int_protocol_days"):
        return []
    return conn.execute(
        "SELECT user_id, protocol_id, min(protocol_date), max(protocol_date) "
        "FROM intermediate.int_protocol_days WHERE phase_type = 'BASELINE' "
        "GROUP BY user_id, protocol_id, phase_label ORDER BY 1, 2, 3"
    ).fetchall()


def change_point_dates(results_dir: Path, protocol_id: str) -> list[dt.date]:
    """Dates of the protocol's change points in its `change_points` result (none before a run)."""
    rows = read_results(results_dir, CHANGE_POINTS, protocol_id)
    return sorted(row["change_date"] for row in rows if row["change_date"] is not None)


# ----------------------------------------------------------------------------- result files


def protocol_folder(protocol_id: str) -> str:
    """The protocol's file and folder name under the results, reports/ and posteriors/."""
    return re.sub(r"[^\w.-]", "_", protocol_id)


def result_path(results_dir: Path, table: Table, protocol_id: str) -> Path:
    return Path(results_dir) / table.name / f"{protocol_folder(protocol_id)}.parquet"


def _check_rows(
    table: Table, protocol_id: str, rows: Sequence[Mapping[str, Any]], key: str
) -> None:
    expected = set(table.column_names)
    for row in rows:
        if set(row) != expected:
            missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
            raise ValueError(
                f"{table.qualified_name}: row columns differ from the table "
                f"(missing {missing}, unexpected {extra})"
            )
        if row[key] != protocol_id:
            raise ValueError(
                f"{table.qualified_name}: a row of {key} {row[key]!r} was given to "
                f"replace the rows of {protocol_id!r}"
            )


def _write_parquet(table: Table, values: list[list[Any]], path: Path) -> None:
    """`values` as `table`'s typed columns, to `path` by an atomic rename (a reader sees the old
    file or the new one, never part of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    names = [name for name, _ in table.all_columns]
    with duckdb.connect() as conn:
        columns = ", ".join(f'"{name}" {kind}' for name, kind in table.all_columns)
        conn.execute(f"CREATE TABLE result ({columns})")
        if values:
            placeholders = ", ".join("?" for _ in names)
            conn.executemany(f"INSERT INTO result VALUES ({placeholders})", values)
        conn.execute(f"COPY result TO '{_sql_text(temporary)}' (FORMAT parquet)")
    os.replace(temporary, path)


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def ensure_result_columns(results_dir: Path) -> None:
    """Write each table's `_columns.parquet` (its columns, no rows) where it is missing or a
    newer version defines other columns."""
    for table in RESULT_TABLES:
        path = Path(results_dir) / table.name / _COLUMNS_FILE
        if path.exists():
            with duckdb.connect() as conn:
                present = conn.execute(
                    f"DESCRIBE SELECT * FROM read_parquet('{_sql_text(path)}')"
                ).fetchall()
            if [(row[0], row[1]) for row in present] == list(table.all_columns):
                continue
        _write_parquet(table, [], path)


def write_protocol_results(
    results_dir: Path,
    table: Table,
    protocol_id: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    data_version: str | None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Replace the protocol's result file of `table` with `rows`; returns the number of rows
    written. `computed_at` defaults to now, in UTC."""
    return _write_rows(
        results_dir, table, ("protocol_id", protocol_id), rows, data_version, computed_at
    )


def _write_rows(
    results_dir: Path,
    table: Table,
    key: tuple[str, str],
    rows: Sequence[Mapping[str, Any]],
    data_version: str | None,
    computed_at: dt.datetime | None,
) -> int:
    """Replace the result file of `key` (column, value: the protocol, the week) with `rows`."""
    _check_rows(table, key[1], rows, key=key[0])
    stamp = (computed_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    values = [[*(row[name] for name in table.column_names), data_version, stamp] for row in rows]
    ensure_result_columns(results_dir)
    _write_parquet(table, values, result_path(results_dir, table, key[1]))
    return len(values)


def write_week_results(
    results_dir: Path,
    table: Table,
    week: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    data_version: str | None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Replace the ISO week's result file of a weekly table (`week` its first column, as in
    `DRIFT_COLUMNS`) with `rows`; returns the number of rows written."""
    return _write_rows(results_dir, table, ("week", week), rows, data_version, computed_at)


def read_results(
    results_dir: Path, table: Table, protocol_id: str | None = None
) -> list[dict[str, Any]]:
    """The rows of `table` (of one protocol, or week, or of all), ordered by its first column
    (the protocol; the week); none before a run."""
    if protocol_id is not None:
        paths = [result_path(results_dir, table, protocol_id)]
    else:
        paths = sorted((Path(results_dir) / table.name).glob("*.parquet"))
    paths = [path for path in paths if path.exists()]
    if not paths:
        return []
    files = ", ".join(f"'{_sql_text(path)}'" for path in paths)
    with duckdb.connect() as conn:
        cursor = conn.execute(
            f"SELECT * FROM read_parquet([{files}], union_by_name = true) "
            f"ORDER BY {table.column_names[0]}"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
