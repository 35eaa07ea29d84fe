"""The protocol file's `power:` mapping: how to simulate the power of its registered test.

`power: {effect: 0.8, sd: 1.5, autocorrelation: 0.2, simulations: 2000, seed: 7}`: the effect
(added on every B day, in the outcome's units; negative for a statistic that expects B below A),
the noise SD, its lag-one autocorrelation, the number of simulated studies and their seed
(`stats.power.simulated_power`). Every key is optional (defaults in `PowerSettings`). With the
mapping, `americano protocol register` simulates the power and stores it as the protocol's
sample size justification (docs/protocol-yaml.md). Pure: bad values raise InputError naming
`power.<key>`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from americano_pipelines.errors import InputError

__all__ = ["MAX_REGISTRATION_SIMULATIONS", "PowerSettings", "parse_power_settings"]

# Registration waits for the simulation: 20,000 studies keep its MC SE below 0.0036.
MAX_REGISTRATION_SIMULATIONS = 20_000
_KEYS = ("effect", "sd", "autocorrelation", "simulations", "seed")


@dataclass(frozen=True)
class PowerSettings:
    """The simulation's settings; `effect` None: one `sd`."""

    effect: float | None = None
    sd: float = 1.0
    autocorrelation: float = 0.0
    simulations: int = 1000
    seed: int = 0

    @property
    def effect_or_default(self) -> float:
        return self.sd if self.effect is None else self.effect

    def to_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect_or_default,
            "sd": self.sd,
            "autocorrelation": self.autocorrelation,
            "simulations": self.simulations,
            "seed": self.seed,
        }


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number, got {value!r}", field=where)
    return float(value)


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(
            f"{where}: must be a whole number from {low:,} to {high:,}, got {value!r}", field=where
        )
    return value


def parse_power_settings(value: Any) -> PowerSettings:
    """The `power:` mapping, checked."""
    if not isinstance(value, Mapping):
        raise InputError(
            f"power: must be a mapping of {', '.join(_KEYS)}, got {type(value).__name__}",
            field="power",
        )
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise InputError(
            f"power.{unknown[0]}: unknown setting; expected {', '.join(_KEYS)}",
            field=f"power.{unknown[0]}",
        )
    settings: dict[str, Any] = {}
    if value.get("effect") is not None:
        settings["effect"] = _number(value["effect"], "power.effect")
    if value.get("sd") is not None:
        settings["sd"] = _number(value["sd"], "power.sd")
        if settings["sd"] <= 0:
            raise InputError("power.sd: must be above 0", field="power.sd")
    if value.get("autocorrelation") is not None:
        settings["autocorrelation"] = _number(value["autocorrelation"], "power.autocorrelation")
        if not -1 < settings["autocorrelation"] < 1:
            raise InputError(
                "power.autocorrelation: must lie strictly between -1 and 1",
                field="power.autocorrelation",
            )
    if value.get("simulations") is not None:
        settings["simulations"] = _whole(
            value["simulations"], "power.simulations", 2, MAX_REGISTRATION_SIMULATIONS
        )
    if value.get("seed") is not None:
        settings["seed"] = _whole(value["seed"], "power.seed", 0, 2**31 - 1)
    return PowerSettings(**settings)
