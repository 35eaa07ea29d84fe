"""A protocol as a person of a series of N-of-1 trials
(americano_pipelines.protocol_analyses.series_of_n1): who the members are, when it is skipped,
and the row it writes. The pool is built as `tables.series_observations` returns it; tiny
sampler settings (test_series_of_n1.py checks the posterior)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import americano_pipelines  # noqa: F401  (routes the PyTensor cache before pymc is imported)
from americano_pipelines.protocol_analyses.series_of_n1 import (
    protocol_series_of_n1,
    series_of_n1_options,
)
from americano_pipelines.registration.analyses import AnalysisList, SeriesOfN1
from americano_pipelines.stats import sced
from americano_pipelines.warehouse.tables import SERIES_OF_N1

TINY = {"draws": 30, "tune": 30, "chains": 1}
REGISTERED = json.dumps(AnalysisList((SeriesOfN1(noise="pooled"),)).to_json())


def protocol_rows(protocol_id: str, reward_b: float, effect: float, seed: int) -> list[dict]:
    """An ABAB protocol of 32 days (phases of at least 4) of `engagement_score`."""
    rng = np.random.default_rng(seed)
    bounds = [0, *sced.draw_abab_schedule(32, 4, seed), 32]
    rows = []
    for k, label in enumerate(("baseline_1", "intervention_1", "baseline_2", "intervention_2")):
        condition = "AB"[k % 2]
        params = {"reward_probability": 0.15 if condition == "A" else reward_b}
        for day in range(bounds[k], bounds[k + 1]):
            rows.append(
                {
                    "protocol_id": protocol_id,
                    "user_id": f"u_{protocol_id}",
                    "case_name": "all",
                    "phase_label": label,
                    "condition": condition,
                    "observation_index": day + 1,
                    "metric": "engagement_score",
                    "value": 50 + effect * (condition == "B") + rng.normal(0, 2),
                    "design_type": "ABAB",
                    "min_phase_length": 4,
                    "analyses": REGISTERED,
                    "intervention_params": json.dumps(params),
                }
            )
    return rows


@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    rows = [
        *protocol_rows("p1", 0.20, 4.0, 1),
        *protocol_rows("p2", 0.20, 6.0, 2),
        *protocol_rows("p3", 0.20, 2.0, 3),
        *protocol_rows("other", 0.50, 9.0, 4),  # another intervention
    ]
    return pd.DataFrame(rows)


def row(protocol_id: str, analyses: str | None = REGISTERED, design: str = "ABAB") -> dict:
    return {
        "protocol_id": protocol_id,
        "user_id": f"u_{protocol_id}",
        "design_type": design,
        "primary_outcome": "engagement_score",
        "analyses": analyses,
    }


def test_the_series_is_the_protocols_of_the_same_intervention(pool) -> None:
    analysis = protocol_series_of_n1(row("p2"), pool, overrides=TINY)
    assert analysis.status == "ok", analysis.reason
    assert analysis.members == ("p1", "p2", "p3")
    assert analysis.person.person == "p2"
    assert analysis.options.noise == "pooled"  # the registered setting
    assert not analysis.exploratory
    own = pool[pool.protocol_id == "p2"]
    test = sced.abab_randomization_test(
        own.condition.tolist(), own.value.tolist(), min_phase_length=4
    )
    assert analysis.person.p_value == test.p_value
    (written,) = analysis.to_rows()
    assert set(written) == set(SERIES_OF_N1.column_names)
    assert written["members"] == "p1,p2,p3" and written["n_persons"] == 3
    assert written["effect_mean"] == analysis.person.effect.mean
    assert written["population_effect_mean"] == analysis.result.population_effect.mean
    assert json.loads(written["result_json"])["person"]["person"] == "p2"
    wider = protocol_series_of_n1(row("p2"), pool, overrides={**TINY, "members": "same_outcome"})
    assert wider.members == ("other", "p1", "p2", "p3")


def test_alone_unlike_designs_and_bad_options_are_skipped_with_the_reason(pool) -> None:
    alone = protocol_series_of_n1(row("other"), pool, overrides=TINY)
    assert alone.status == "skipped" and "no other protocol" in alone.reason
    assert alone.members == ("other",)
    baseline = protocol_series_of_n1(row("mb", design="MULTIPLE_BASELINE"), pool)
    assert baseline.status == "skipped" and "MULTIPLE_BASELINE" in baseline.reason
    unseen = protocol_series_of_n1(row("new"), pool)
    assert unseen.status == "skipped" and "no observations" in unseen.reason
    bad = protocol_series_of_n1(row("p1"), pool, overrides={"noise": "shared", **TINY})
    assert bad.status == "skipped" and bad.reason.startswith("noise:")
    assert protocol_series_of_n1(row("p1", analyses=None), pool, overrides=TINY).exploratory
    for skipped in (alone, baseline, unseen, bad):
        assert set(skipped.to_rows()[0]) == set(SERIES_OF_N1.column_names)


def test_options_take_defaults_then_registration_then_overrides() -> None:
    assert series_of_n1_options(row("p", analyses=None)).noise == "person"
    assert series_of_n1_options(row("p")).noise == "pooled"
    assert series_of_n1_options(row("p"), noise="person", seed=None).noise == "person"
    with pytest.raises(Exception, match="members"):
        series_of_n1_options(row("p"), members="everyone")
    with pytest.raises(Exception, match="not a series"):
        series_of_n1_options(row("p"), bogus=1)
