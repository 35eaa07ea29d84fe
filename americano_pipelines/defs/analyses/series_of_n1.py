"""The series of N-of-1 trials, as a cross-protocol analysis asset (one partition per protocol).

`analyses/series_of_n1` reads the protocol's row of `marts.protocols` and every protocol's
observations of its primary outcome (`tables.series_observations`: `marts.phase_observations`
with each phase's intervention parameters), calls
`protocol_analyses.series_of_n1.protocol_series_of_n1` (the persons: the protocols of the same
outcome and intervention; the model: `stats.series_of_n1`), and replaces the protocol's row of
`analyses.series_of_n1`: the population effect, the between-person SD and this protocol's own
shrunken effect and randomization test. It is partitioned like the other analyses, so a
protocol opts in by registering `series_of_n1` and each run writes only its own file; its input
fingerprint covers every protocol's observations of the outcome (`reads=("series",)`), so a
new or grown member reruns the series of every protocol that registered it. Convergence
(the ITS's criterion) is in its row (`converged`) and metadata, not an asset check: the job runs
the asset for every protocol, and the answer of a check for the many that do not register the
series would be a warning in every demo run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import MetadataValue
from pydantic import Field

from americano_pipelines.defs.analyses.causal import _checked
from americano_pipelines.defs.analyses.factory import (
    PHASE_OBSERVATIONS,
    PROTOCOLS,
    AnalysisSpec,
    analysis_asset,
)
from americano_pipelines.defs.analyses.its import SamplerConfig
from americano_pipelines.registration import analyses
from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    from americano_pipelines.protocol_analyses.series_of_n1 import ProtocolSeriesOfN1

__all__ = ["SERIES_OF_N1", "SeriesOfN1RunConfig", "series_assets"]


class SeriesOfN1RunConfig(SamplerConfig):
    """Members, model and sampler settings of a run (None: the registered, else the default)."""

    seed: int | None = Field(default=None, description="Random seed (default 0).")
    sampler: str | None = Field(default=None, description="auto (default), nutpie or pymc.")
    members: str | None = Field(
        default=None, description="same_conditions (default) or same_outcome."
    )
    noise: str | None = Field(default=None, description="person (default) or pooled.")
    statistic: str | None = Field(
        default=None, description="The persons' test statistic: B-A (default), A-B, |A-B|."
    )


def _read(conn: Any, protocol_id: str) -> tuple[dict[str, Any], Any]:
    row = tables.protocol_row(conn, protocol_id)
    return row, tables.series_observations(conn, str(row.get("primary_outcome")))


def _compute(row: dict[str, Any], pool: Any, run_config: dict[str, Any]) -> Any:
    from americano_pipelines.protocol_analyses.series_of_n1 import (
        protocol_series_of_n1,
        series_of_n1_options,
    )

    _checked("series_of_n1", series_of_n1_options, row, run_config)
    return protocol_series_of_n1(row, pool, overrides=run_config)


def _persons_markdown(analysis: ProtocolSeriesOfN1) -> Any:
    result = analysis.result
    if result is None:
        return None
    lines = [
        "| protocol | raw B - A | shrunken effect | 95% HDI | randomization p |",
        "| --- | --- | --- | --- | --- |",
    ]
    for person in result.persons:
        p = "n/a" if person.p_value is None else f"{person.p_value:.3g}"
        low, high = person.effect.hdi95
        lines.append(
            f"| {person.person} | {person.raw_difference:.3g} | {person.effect.mean:.3g} "
            f"| {low:.3g} to {high:.3g} | {p} |"
        )
    return MetadataValue.md("\n".join(lines))


def _metadata(analysis: ProtocolSeriesOfN1) -> dict[str, Any]:
    result, person = analysis.result, analysis.person
    return {
        "population_effect_mean": None if result is None else result.population_effect.mean,
        "population_effect_hdi95": None
        if result is None
        else MetadataValue.json(list(result.population_effect.hdi95)),
        "tau_mean": None if result is None else result.tau.mean,
        "effect_mean": None if person is None else person.effect.mean,
        "effect_hdi95": None if person is None else MetadataValue.json(list(person.effect.hdi95)),
        "divergences": None if result is None else result.diagnostics.divergences,
        "persons": _persons_markdown(analysis),
        "interpretation": analysis.interpretation,
    }


SERIES_OF_N1 = AnalysisSpec(
    name="series_of_n1",
    description="Series of N-of-1 trials (Bayesian hierarchical model, PyMC) over every protocol "
    "of the same primary outcome and intervention: the population effect, the between-person "
    "SD, and this protocol's shrunken effect beside its own randomization test; one row per "
    "protocol in analyses.series_of_n1.",
    inputs=(PROTOCOLS, PHASE_OBSERVATIONS),
    read=_read,
    compute=_compute,
    table=tables.SERIES_OF_N1,
    metadata=_metadata,
    config=SeriesOfN1RunConfig,
    kinds=("python", "pymc", "parquet"),
    analysis=analyses.SERIES_OF_N1,
    reads=("series",),
)

series_assets = [analysis_asset(SERIES_OF_N1)]
