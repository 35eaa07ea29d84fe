"""A protocol's synthetic control and wearable links as per-protocol analyses
(americano_pipelines.protocol_analyses.synthetic_control and .wearable_links): options, skips
that say why, the rows of their warehouse tables, and their figures.

Frames have the columns of marts.daily_metrics and marts.wearable_daily. The one synthetic
control fit uses a tiny sampler and is marked slow; every other test samples nothing."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from americano_pipelines.errors import InputError
from americano_pipelines.protocol_analyses.synthetic_control import (
    SyntheticControlOptions,
    protocol_synthetic_control,
    synthetic_control_options,
)
from americano_pipelines.protocol_analyses.wearable_links import (
    WearableLinksOptions,
    protocol_wearable_links,
    wearable_links_options,
)
from americano_pipelines.warehouse import tables

START = dt.date(2024, 1, 1)
N_DAYS = 60
INTERVENTION = 40  # B1 is days 40-54, then A2
EFFECT = 5.0
SLEEP_EFFECT = 4.0


def _day(i: int) -> dt.date:
    return START + dt.timedelta(days=int(i))


def _row(**overrides) -> dict:
    row = {
        "protocol_id": "P1",
        "user_id": "u1",
        "primary_outcome": "engagement_score",
        "first_intervention_date": _day(INTERVENTION),
        "design_type": "ABAB",
        "min_phase_length": 5,
    }
    row.update(overrides)
    return row


def _phase(user: str, i: int) -> tuple:
    """(protocol_id, phase_label, phase_type): u1 runs P1 from day 20 (A1, B1 40-54, A2)."""
    if user != "u1" or i < 20:
        return None, None, None
    if i < INTERVENTION:
        return "P1", "A1", "BASELINE"
    if i < 55:
        return "P1", "B1", "INTERVENTION_A"
    return "P1", "A2", "BASELINE"


def _donor_pool(seed: int = 3) -> pd.DataFrame:
    """u1 = 0.6 u2 + 0.4 u3 + noise, plus EFFECT in its B1 phase; u4 is unrelated."""
    rng = np.random.default_rng(seed)
    days = np.arange(N_DAYS)
    donors = {f"u{k}": 50 + np.cumsum(rng.normal(0, 1.0, N_DAYS)) for k in (2, 3, 4)}
    in_b = (days >= INTERVENTION) & (days < 55)
    treated = 0.6 * donors["u2"] + 0.4 * donors["u3"] + rng.normal(0, 0.2, N_DAYS) + EFFECT * in_b
    rows = [
        {
            "user_id": user,
            "metric": "engagement_score",
            "metric_date": _day(i),
            "value": values[i],
            **dict(zip(("protocol_id", "phase_label", "phase_type"), _phase(user, i), strict=True)),
        }
        for user, values in {"u1": treated, **donors}.items()
        for i in days
    ]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- synthetic control


def test_synthetic_control_options_defaults_and_overrides():
    assert synthetic_control_options(_row()) == SyntheticControlOptions()
    options = synthetic_control_options(
        _row(), draws=50, seed=None, donors="metrics", donor_metrics=["study_minutes"]
    )
    assert (options.draws, options.seed, options.donors) == (50, 0, "metrics")
    assert options.donor_metrics == ("study_minutes",)
    assert options.to_json()["donorMetrics"] == ["study_minutes"]


def _registered(*items: dict) -> str:
    return json.dumps(list(items))


def test_registered_settings_come_between_the_defaults_and_a_runs_overrides():
    row = _row(
        analyses=_registered(
            {"analysis": "synthetic_control", "donors": "metrics", "scaling": "zscore"},
            {"analysis": "wearable_links", "lags": [0, 1], "maxLag": 2},
        )
    )
    control = synthetic_control_options(row, seed=4)
    assert (control.donors, control.scaling, control.seed) == ("metrics", "zscore", 4)
    assert synthetic_control_options(row, donors="users").donors == "users"
    links = wearable_links_options(row)
    assert (links.lags, links.max_lag, links.method) == ((0, 1), 2, "spearman")
    # registered: confirmatory; a protocol registered without them: exploratory
    wearables, series = _wearables()
    assert protocol_wearable_links(row, wearables, series).exploratory is False
    assert protocol_wearable_links(_row(), wearables, series).to_json()["exploratory"] is True
    unregistered = protocol_synthetic_control(_row(min_phase_length=None), _donor_pool().iloc[:0])
    assert unregistered.exploratory is True and unregistered.params()["exploratory"] is True
    assert protocol_synthetic_control(row, _donor_pool().iloc[:0]).exploratory is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"donor": "users"}, "donor"),
        ({"donors": "everyone"}, "donors"),
        ({"scaling": "log"}, "scaling"),
        ({"draws": 0}, "draws"),
        ({"donor_metrics": "study_minutes"}, "donor_metrics"),
    ],
)
def test_bad_synthetic_control_options_name_the_field(overrides, field):
    with pytest.raises(InputError) as error:
        synthetic_control_options(_row(), **overrides)
    assert error.value.field == field
    skipped = protocol_synthetic_control(_row(), _donor_pool(), overrides=overrides)
    assert skipped.status == "skipped" and skipped.reason.startswith(f"{field}:")


def _exposed(pool: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    """Every donor in an intervention phase of a protocol of its own on days first..last."""
    pool = pool.copy()
    days = (pool.user_id != "u1") & pool.metric_date.between(_day(first), _day(last))
    pool.loc[days, ["protocol_id", "phase_label", "phase_type"]] = ["P9", "B1", "INTERVENTION_A"]
    return pool


def test_a_post_period_of_fewer_than_three_dates_is_skipped():
    # the donors are exposed from day 42: two complete dates of B1 remain
    analysis = protocol_synthetic_control(_row(), _exposed(_donor_pool(), 42, 54))
    assert analysis.status == "skipped"
    assert analysis.reason.startswith("metric_date: 2 complete dates in the post period")
    assert "need at least 3" in analysis.reason
    assert "39 donor-days in the window left out" in analysis.reason
    assert analysis.panel is not None and analysis.result is None


def test_exposed_donors_leave_no_post_period_and_the_skip_says_why():
    analysis = protocol_synthetic_control(_row(), _exposed(_donor_pool(), INTERVENTION, 54))
    assert analysis.status == "skipped"
    assert "45 donor-days in the window left out" in analysis.reason
    (row,) = analysis.to_rows()
    assert (row["status"], row["skip_reason"], row["effect_mean"]) == (
        "skipped",
        analysis.reason,
        None,
    )
    assert json.loads(row["result_json"])["reason"] == analysis.reason


def test_a_skipped_result_fills_the_table(tmp_path):
    analysis = protocol_synthetic_control(_row(first_intervention_date=None), _donor_pool())
    assert analysis.reason.startswith("first_intervention_date:")
    assert analysis.headline()["causalEffect"] is None
    written = tables.write_protocol_results(
        tmp_path, tables.SYNTHETIC_CONTROL, "P1", analysis.to_rows(), data_version="v1"
    )
    assert written == 1
    (stored,) = tables.read_results(tmp_path, tables.SYNTHETIC_CONTROL, "P1")
    assert (stored["status"], stored["donor_kind"], stored["data_version"]) == (
        "skipped",
        "users",
        "v1",
    )


@pytest.mark.slow
def test_the_synthetic_control_recovers_the_planted_effect_and_fills_its_row(tmp_path):
    from americano_pipelines.reports.causal_plots import plot_donor_weights

    analysis = protocol_synthetic_control(
        _row(), _donor_pool(), overrides={"draws": 200, "tune": 200, "seed": 5}
    )
    assert analysis.status == "ok", analysis.reason
    result = analysis.result
    assert (result.n_pre, result.n_post) == (INTERVENTION, 15)
    # the effect's posterior leaves out the observation noise: near the truth, not around it
    assert result.causal_effect.mean == pytest.approx(EFFECT, abs=0.5)
    assert result.causal_effect.probability_positive == 1.0
    weights = {w.donor: w.mean for w in result.donor_weights}
    assert weights["u2"] + weights["u3"] > 0.8
    headline = analysis.headline()
    assert headline["donorWeights"] == pytest.approx(weights)
    assert analysis.params()["donorNames"] == ["u2", "u3", "u4"]
    (row,) = analysis.to_rows()
    assert row["donors"] == "u2,u3,u4" and row["n_donors"] == 3
    assert row["post_end_date"] == _day(54) and row["pre_start_date"] == _day(0)
    assert json.loads(row["donor_weights"]) == pytest.approx(weights)
    assert row["converged"] == analysis.convergence.passed
    tables.write_protocol_results(tmp_path, tables.SYNTHETIC_CONTROL, "P1", [row], data_version="v")
    path = tmp_path / "weights.png"
    plot_donor_weights(result, path=path)
    assert path.read_bytes().startswith(b"\x89PNG")

    # donors unrelated to the treated series: fitted, then refused for the poor fit
    pool = _donor_pool()
    treated = pool.user_id == "u1"
    noise = np.random.default_rng(1).normal(0, 3, int(treated.sum()))
    pool.loc[treated, "value"] = 50 + noise
    poor = protocol_synthetic_control(
        _row(), pool, overrides={"draws": 200, "tune": 200, "seed": 5}
    )
    assert poor.status == "skipped" and poor.result is not None
    assert poor.reason.startswith("pre_fit: the synthetic control (")
    assert poor.result.pre_fit_rmse_to_sd > 0.5
    assert poor.effect is None and poor.headline()["causalEffect"] is None
    assert poor.interpretation is None
    (row,) = poor.to_rows()
    assert row["effect_mean"] is None and row["pre_fit_rmse_to_sd"] > 0.5
    assert json.loads(row["donor_weights"]) and row["rhat"] is not None


# ----------------------------------------------------------------------------- wearable links


def _wearables(n: int = 120, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """outcome[t] = 50 + SLEEP_EFFECT (sleep[t-1] - 7) + noise; HRV and resting HR unrelated;
    strain is a column the user's wearable never reports. Outcome day 30 is missing."""
    rng = np.random.default_rng(seed)
    sleep = rng.normal(7, 1, n)
    previous = np.concatenate(([7.0], sleep[:-1]))
    outcome = 50 + SLEEP_EFFECT * (previous - 7) + rng.normal(0, 2, n)
    wearables = pd.DataFrame(
        {
            "user_id": "u1",
            "wearable_date": [_day(i) for i in range(n)],
            "sleep_hours": sleep,
            "hrv_rmssd_ms": rng.normal(55, 8, n),
            "resting_heart_rate_bpm": rng.normal(58, 3, n),
            "strain": np.nan,
        }
    )
    days = [i for i in range(n) if i != 30]
    series = pd.DataFrame(
        {"metric_date": [_day(i) for i in days], "value": [outcome[i] for i in days]}
    )
    return wearables, series


def test_wearable_links_options_defaults_and_bad_ones():
    assert wearable_links_options(_row()) == WearableLinksOptions()
    options = wearable_links_options(_row(), lags=[2, 0, 2], max_lag=None, predictors=["a", "a"])
    assert (options.lags, options.max_lag, options.predictors) == ((0, 2), 3, ("a",))
    for overrides, field in (
        ({"lag": [1]}, "lag"),
        ({"lags": [-1]}, "lags"),
        ({"lags": "1"}, "lags"),
        ({"max_lag": 0}, "max_lag"),
        ({"method": "cosine"}, "method"),
        ({"correction": "magic"}, "correction"),
        ({"predictors": "sleep_hours"}, "predictors"),
    ):
        with pytest.raises(InputError) as error:
            wearable_links_options(_row(), **overrides)
        assert error.value.field == field, overrides


def test_wearable_links_find_last_nights_sleep(tmp_path):
    from americano_pipelines.reports.causal_plots import plot_wearable_links

    wearables, series = _wearables()
    analysis = protocol_wearable_links(
        _row(), wearables, series, overrides={"predictors": ["sleep_hours", "hrv_rmssd_ms"]}
    )
    assert analysis.status == "ok", analysis.reason
    strongest = analysis.significant[0]
    assert (strongest.predictor, strongest.lag) == ("sleep_hours", 1)
    headline = analysis.headline()
    assert headline["strongest"]["predictor"] == "sleep_hours"
    assert headline["granger"]["sleep_hours"]["pValue"] < 0.01
    assert headline["nDays"] == 120
    rows = analysis.to_rows()
    # two predictors x the correlation lags 0-2 and the Granger lags 1-3
    assert [(r["predictor"], r["lag"]) for r in rows] == [
        (p, lag) for p in ("sleep_hours", "hrv_rmssd_ms") for lag in (0, 1, 2, 3)
    ]
    assert all(r["granger_f"] is None for r in rows if r["lag"] == 0)
    assert all(r["r"] is None for r in rows if r["lag"] == 3)
    for predictor in ("sleep_hours", "hrv_rmssd_ms"):
        assert sum(bool(r["granger_selected"]) for r in rows if r["predictor"] == predictor) == 1
    sleep_1 = next(r for r in rows if (r["predictor"], r["lag"]) == ("sleep_hours", 1))
    assert sleep_1["significant"] is True and sleep_1["n_pairs"] == 118
    assert "Granger" in analysis.interpretation
    tables.write_protocol_results(tmp_path, tables.WEARABLE_LINKS, "P1", rows, data_version="v")
    assert len(tables.read_results(tmp_path, tables.WEARABLE_LINKS, "P1")) == 8
    path = tmp_path / "links.png"
    plot_wearable_links(analysis.links, path=path, title="P1")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_measure_the_wearable_never_reports_is_left_out_and_said():
    wearables, series = _wearables()
    analysis = protocol_wearable_links(
        _row(), wearables, series, overrides={"predictors": ["sleep_hours", "strain"]}
    )
    assert analysis.status == "ok"
    assert analysis.left_out == ("strain",) and analysis.predictors == ("sleep_hours",)
    assert analysis.notes == ("strain: no value for user u1; left out",)
    assert {r["predictor"] for r in analysis.to_rows()} == {"sleep_hours"}
    assert analysis.params()["leftOut"] == ["strain"]


def test_without_wearable_data_the_links_are_skipped_in_one_row(tmp_path):
    wearables, series = _wearables()
    analysis = protocol_wearable_links(_row(), wearables.iloc[0:0], series)
    assert analysis.status == "skipped"
    assert analysis.reason.startswith("wearable_daily: no value of sleep_hours")
    (row,) = analysis.to_rows()
    assert (row["status"], row["predictor"], row["lag"]) == ("skipped", None, None)
    tables.write_protocol_results(tmp_path, tables.WEARABLE_LINKS, "P1", [row], data_version="v")
    # a Granger window too short for the lags is a skip naming the predictor
    short = protocol_wearable_links(_row(), wearables.iloc[:10], series)
    assert short.status == "skipped" and short.reason.startswith("sleep_hours:")
    bad = protocol_wearable_links(_row(), wearables, series, overrides={"method": "cosine"})
    assert bad.status == "skipped" and bad.reason.startswith("method:")
