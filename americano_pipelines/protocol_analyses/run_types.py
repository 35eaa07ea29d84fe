"""Which registered analysis recorded a run: its `analysis_types`, by the name protocol files
give the analysis. Each result class states its analysis type once; this only collects them,
importing the analyses when asked (they load numpy, pandas and the samplers)."""

from __future__ import annotations

from americano_pipelines.errors import InputError
from americano_pipelines.registration import analyses

__all__ = ["analysis_of_run_type"]


def _run_types() -> dict[str, str]:
    from americano_pipelines.protocol_analyses import randomization_test
    from americano_pipelines.protocol_analyses.change_points import ProtocolChangePoints
    from americano_pipelines.protocol_analyses.its import ProtocolITS
    from americano_pipelines.protocol_analyses.sequential_monitoring import (
        ProtocolSequentialMonitoring,
    )
    from americano_pipelines.protocol_analyses.series_of_n1 import ProtocolSeriesOfN1
    from americano_pipelines.protocol_analyses.synthetic_control import ProtocolSyntheticControl
    from americano_pipelines.protocol_analyses.wearable_links import ProtocolWearableLinks

    kinds = (*randomization_test.ANALYSIS_TYPES.values(), randomization_test.UNKNOWN_DESIGN_TYPE)
    types = {kind: analyses.RANDOMIZATION_TEST for kind in kinds}
    for name, result in (
        (analyses.ITS, ProtocolITS),
        (analyses.CHANGE_POINTS, ProtocolChangePoints),
        (analyses.SEQUENTIAL_MONITORING, ProtocolSequentialMonitoring),
        (analyses.SYNTHETIC_CONTROL, ProtocolSyntheticControl),
        (analyses.WEARABLE_LINKS, ProtocolWearableLinks),
        (analyses.SERIES_OF_N1, ProtocolSeriesOfN1),
    ):
        types[result.analysis_type] = name
    return types


def analysis_of_run_type(analysis_type: str) -> str:
    """The registered analysis (`randomization_test`, `its`, ...) whose runs have this
    `analysis_type`; InputError for a type no per-protocol analysis records."""
    types = _run_types()
    if analysis_type not in types:
        raise InputError(
            f"RUN_ID: a run of type {analysis_type!r} is not one of a per-protocol analysis "
            f"({', '.join(sorted(types))}), so it cannot be reproduced",
            field="RUN_ID",
        )
    return types[analysis_type]
