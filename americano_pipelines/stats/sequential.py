"""Group-sequential monitoring with Lan-DeMets alpha spending.

Spending functions, for a one-sided level ``a`` and information fraction ``t`` in [0, 1], named
and defined as in gsDesign and rpact:

- O'Brien-Fleming type (Lan & DeMets 1983; gsDesign ``sfLDOF``, rpact ``"asOF"``):
  ``a(t) = 2 - 2 Phi(z_{1-a/2} / sqrt(t))``.
- Pocock type (Lan & DeMets 1983; gsDesign ``sfLDPocock``, rpact ``"asP"``):
  ``a(t) = a ln(1 + (e - 1) t)``.
- Hwang-Shih-DeCani (Hwang, Shih & DeCani 1990; gsDesign ``sfHSD``, rpact ``"asHSD"``):
  ``a(t) = a (1 - exp(-gamma t)) / (1 - exp(-gamma))``, and ``a t`` when ``gamma = 0``.

Sides. A one-sided design spends ``alpha`` on an upper efficacy boundary (no futility boundary).
A two-sided design is symmetric: it spends ``alpha`` in total, ``alpha / 2`` per tail, each tail
following the one-sided function at level ``alpha / 2``. This is rpact's convention
(``getDesignGroupSequential(sided = 2)``, whose asOF spending is
``2 sided (1 - Phi(z_{1 - alpha / (2 sided)} / sqrt(t)))``) and gsDesign's symmetric design
(``test.type = 2`` with its one-sided ``alpha``), so a two-sided design at 0.05 has exactly the
critical values of a one-sided design at 0.025.

Boundaries. Under H0 the z-statistics at the looks, ``Z_1 .. Z_K``, are jointly normal with
``corr(Z_i, Z_j) = sqrt(t_i / t_j)`` (the canonical joint distribution; Jennison & Turnbull 2000,
ch. 3). The critical value at look ``k`` is solved so that the probability of first crossing at
look ``k`` equals ``alpha(t_k) - alpha(t_{k-1})``; the first one in closed form, the others by the
recursive numerical integration of Armitage, McPherson & Rowe (1969) as set out in Jennison &
Turnbull (2000), ch. 19: the sub-density of ``Z_k`` on the continuation region is carried on a
grid and integrated with Simpson's rule. No simulation.

Monitoring (Lan & DeMets 1983 flexibility; rpact's boundary update, Wassmer & Brannath 2016,
p. 78f): when the observed information rates differ from the planned ones, the spending function
is evaluated at the observed rates; the final analysis always spends what is left of ``alpha``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from americano_pipelines.errors import InputError

SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "hsd")
MAX_LOOKS = 100
HSD_GAMMA_LIMIT = 40.0  # gsDesign's sfHSD accepts gamma in [-40, 40]

# Beyond |z| = 8.5 lies < 1e-16 of the H0 probability, so the grids stop there.
_Z_TRUNCATION = 8.5
# Grid spacing: at most 0.05 on the z scale and at most 1/8 of the standard deviation of the
# Gaussian kernels it must resolve; this keeps critical values within 1e-6 of a 16x finer grid.
_MAX_GRID_STEP = 0.05
_GRID_STEPS_PER_SD = 8.0
_MAX_GRID_POINTS = 4001
# When the alpha to spend at a look underflows to zero, no z-statistic can cross; the critical
# value is reported as this (finite, so the JSON stays valid) instead of infinity.
CRITICAL_VALUE_CAP = 38.0
_ROOT_TOLERANCE = 1e-11

PEEKING_WARNING = (
    "Only stop early if the z-statistic crosses the critical value at one of these planned looks. "
    "Looking at the data at other times, or testing every look against the usual fixed-sample "
    "threshold (p < {alpha:g}, |z| >= {fixed_z:.2f}), is 'peeking' and raises the false-positive "
    "rate well above {alpha:g}."
)

_SQRT_2PI = math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Spending functions
# --------------------------------------------------------------------------------------------


def _fractions(t: float | Sequence[float] | np.ndarray) -> np.ndarray:
    # Spending functions live on [0, 1]; past full information everything is spent (as gsDesign).
    return np.clip(np.asarray(t, dtype=float), 0.0, 1.0)


def _same_shape(t: Any, values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(t) == 0 else values


def obrien_fleming(t: float | Sequence[float] | np.ndarray, alpha: float) -> float | np.ndarray:
    """O'Brien-Fleming-type spending ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))`` (one-sided level alpha).

    Lan & DeMets (1983); gsDesign ``sfLDOF``, rpact ``"asOF"`` with ``sided = 1``.
    """
    fractions = _fractions(t)
    z_half_alpha = -ndtri(alpha / 2.0)
    with np.errstate(divide="ignore"):
        values = 2.0 * ndtr(-z_half_alpha / np.sqrt(fractions))
    return _same_shape(t, values)


def pocock(t: float | Sequence[float] | np.ndarray, alpha: float) -> float | np.ndarray:
    """Pocock-type spending ``alpha ln(1 + (e - 1) t)``.

    Lan & DeMets (1983); gsDesign ``sfLDPocock``, rpact ``"asP"``.
    """
    fractions = _fractions(t)
    return _same_shape(t, alpha * np.log1p((math.e - 1.0) * fractions))


def hsd(
    t: float | Sequence[float] | np.ndarray, alpha: float, gamma: float = -4.0
) -> float | np.ndarray:
    """Hwang-Shih-DeCani spending ``alpha (1 - exp(-gamma t)) / (1 - exp(-gamma))``.

    Hwang, Shih & DeCani (1990); gsDesign ``sfHSD``, rpact ``"asHSD"`` (``gammaA``).
    ``gamma = 0`` is linear spending ``alpha t``; ``gamma = -4`` resembles O'Brien-Fleming.
    """
    fractions = _fractions(t)
    if gamma == 0:
        return _same_shape(t, alpha * fractions)
    return _same_shape(t, alpha * np.expm1(-gamma * fractions) / math.expm1(-gamma))


def alpha_spending(
    spending: str,
    t: float | Sequence[float] | np.ndarray,
    alpha: float,
    *,
    sides: int = 1,
    hsd_gamma: float = -4.0,
) -> float | np.ndarray:
    """Cumulative type-I error spent by information fraction ``t``, both tails together.

    Two-sided designs spend ``alpha / 2`` per tail with the one-sided function (rpact ``sided = 2``).
    """
    per_tail = alpha / sides
    if spending == "obrien_fleming":
        values = obrien_fleming(t, per_tail)
    elif spending == "pocock":
        values = pocock(t, per_tail)
    elif spending == "hsd":
        values = hsd(t, per_tail, hsd_gamma)
    else:
        raise InputError(
            f"spending must be one of {', '.join(SPENDING_FUNCTIONS)}; got {spending!r}",
            field="spending",
        )
    return sides * values


# --------------------------------------------------------------------------------------------
# Recursive numerical integration (Armitage, McPherson & Rowe 1969; Jennison & Turnbull ch. 19)
# --------------------------------------------------------------------------------------------


def _simpson_grid(lower: float, upper: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Odd number of equally spaced points on [lower, upper] and their Simpson weights."""
    intervals = max(2, 2 * math.ceil((upper - lower) / (2.0 * step)))
    points = np.linspace(lower, upper, intervals + 1)
    weights = np.full(intervals + 1, 2.0)
    weights[1::2] = 4.0
    weights[0] = weights[-1] = 1.0
    return points, weights * ((upper - lower) / intervals / 3.0)


def _grid_step(rates: np.ndarray, look: int, field: str) -> float:
    """Spacing for the grid of Z at ``look`` (0-based): fine enough for the incoming and outgoing
    Gaussian kernels, whose standard deviations on this z scale are sqrt(increment / t_look)."""
    step = _MAX_GRID_STEP
    for neighbour in (look - 1, look + 1):
        if 0 <= neighbour < len(rates):
            increment = abs(rates[look] - rates[neighbour])
            step = min(step, math.sqrt(increment / rates[look]) / _GRID_STEPS_PER_SD)
    if 2.0 * _Z_TRUNCATION / step + 1 > _MAX_GRID_POINTS:
        first = max(look - 1, 0)
        raise InputError(
            f"{field}: looks {first + 1} and {first + 2} (information rates {rates[first]:g} and "
            f"{rates[first + 1]:g}) are too close together to compute boundaries accurately; "
            "space the looks further apart",
            field=field,
        )
    return step


@dataclass(frozen=True)
class _Solve:
    """Solve a bound at each look so that the cumulative crossing probability under
    ``drifts[drift]`` reaches ``cumulative[look]`` (aiming at what is left after what was actually
    crossed before, so errors cannot accumulate)."""

    drift: int
    cumulative: np.ndarray


@dataclass(frozen=True)
class _Walk:
    """Bounds at each look and first-crossing probabilities, one row per drift."""

    upper: np.ndarray
    lower: np.ndarray
    upper_crossing: np.ndarray
    lower_crossing: np.ndarray


_SYMMETRIC = "symmetric"


def _solve_increasing(function: Any, target: float, low: float, high: float) -> float:
    """Root of ``function(x) = target`` for an increasing function on [low, high]; an end when the
    target lies outside what the interval reaches."""
    if function(high) <= target:
        return high
    if function(low) >= target:
        return low
    return float(brentq(lambda x: function(x) - target, low, high, xtol=_ROOT_TOLERANCE))


def _walk(
    rates: np.ndarray,
    field: str,
    *,
    upper: _Solve | np.ndarray,
    lower: _Solve | np.ndarray | str | None = None,
    drifts: Sequence[float] = (0.0,),
    final_lower_at_upper: bool = False,
) -> _Walk:
    """Walk the looks with the grid recursion (Armitage, McPherson & Rowe 1969; Jennison &
    Turnbull 2000, ch. 19), carrying the sub-density of Z on the continuation region under each
    drift, where the drift ``theta`` is E(Z_k) / sqrt(t_k) (``theta = 0`` is H0).

    ``upper``: the efficacy bounds, given or solved. ``lower``: none, ``"symmetric"`` (-upper,
    the two-sided design), given, or solved. At a look the probability of crossing the upper
    bound depends only on that bound and the lower only on its own, so both are solved in the
    same pass. A solved lower bound never exceeds the upper one; ``final_lower_at_upper`` sets
    the last lower bound equal to the last upper one (gsDesign's designs end that way)."""
    looks = len(rates)
    steps = [_grid_step(rates, look, field) for look in range(looks)]
    theta = np.asarray(drifts, dtype=float)
    bound_upper = np.empty(looks)
    bound_lower = np.full(looks, -np.inf)
    crossed_upper = np.zeros((theta.size, looks))
    crossed_lower = np.zeros((theta.size, looks))
    symmetric = isinstance(lower, str) and lower == _SYMMETRIC
    points = np.zeros(1)
    densities = np.zeros((theta.size, 1))

    for look in range(looks):
        t_next = float(rates[look])
        t_previous = float(rates[look - 1]) if look else 0.0
        increment = t_next - t_previous
        means = theta * math.sqrt(t_next)

        if look == 0:

            def upper_tail(c: float, d: int, m: np.ndarray = means) -> float:
                return float(ndtr(m[d] - c))

            def lower_tail(c: float, d: int, m: np.ndarray = means) -> float:
                return float(ndtr(c - m[d]))

        else:
            sd = math.sqrt(increment)
            base = points * math.sqrt(t_previous)

            carried = (densities, base, theta * increment, sd, math.sqrt(t_next))

            def upper_tail(c: float, d: int, k: tuple[Any, ...] = carried) -> float:
                g, b, shift, s, r = k
                return float(g[d] @ ndtr((b + shift[d] - c * r) / s))

            def lower_tail(c: float, d: int, k: tuple[Any, ...] = carried) -> float:
                g, b, shift, s, r = k
                return float(g[d] @ ndtr((c * r - b - shift[d]) / s))

        if isinstance(upper, _Solve):
            d = upper.drift
            spent = crossed_upper[d, :look].sum()
            if symmetric:
                spent += crossed_lower[d, :look].sum()
            target = float(upper.cumulative[look]) - float(spent)
            if look == 0:
                share = target / 2.0 if symmetric else target
                bound_upper[look] = min(
                    float(means[d]) + _critical_value_for_tail(share), CRITICAL_VALUE_CAP
                )
            elif symmetric:
                bound_upper[look] = _solve_critical_value(
                    lambda c, d=d, goal=target: upper_tail(c, d) + lower_tail(-c, d) - goal, 2
                )
            else:
                bound_upper[look] = _solve_critical_value(
                    lambda c, d=d, goal=target: upper_tail(c, d) - goal,
                    1,
                    shift=min(0.0, float(means[d])),
                )
        else:
            bound_upper[look] = float(upper[look])

        if symmetric:
            bound_lower[look] = -bound_upper[look]
        elif final_lower_at_upper and look == looks - 1:
            bound_lower[look] = bound_upper[look]
        elif isinstance(lower, _Solve):
            d = lower.drift
            target = float(lower.cumulative[look]) - float(crossed_lower[d, :look].sum())
            if target <= 0.0:
                bound_lower[look] = -CRITICAL_VALUE_CAP
            elif look == 0:
                bound_lower[look] = min(
                    max(float(means[d]) + float(ndtri(min(target, 1.0))), -CRITICAL_VALUE_CAP),
                    bound_upper[look],
                )
            else:
                bound_lower[look] = _solve_increasing(
                    lambda c, d=d: lower_tail(c, d),
                    target,
                    -CRITICAL_VALUE_CAP,
                    float(bound_upper[look]),
                )
        elif lower is not None:
            bound_lower[look] = min(float(lower[look]), bound_upper[look])

        for d in range(theta.size):
            crossed_upper[d, look] = upper_tail(float(bound_upper[look]), d)
            if np.isfinite(bound_lower[look]):
                crossed_lower[d, look] = lower_tail(float(bound_lower[look]), d)

        if look < looks - 1:
            low = max(float(bound_lower[look]), min(0.0, float(means.min())) - _Z_TRUNCATION)
            high = min(float(bound_upper[look]), max(0.0, float(means.max())) + _Z_TRUNCATION)
            # A boundary below the grid (one-sided, alpha near 1) leaves no mass to continue.
            high = max(high, low + 1e-9)
            if look == 0:
                points, weights = _simpson_grid(low, high, steps[0])
                standardized = points[None, :] - means[:, None]
                densities = weights * np.exp(-0.5 * standardized * standardized) / _SQRT_2PI
            else:
                points, densities = _propagate(
                    points, densities, theta, t_previous, t_next, (low, high), steps[look]
                )
    return _Walk(bound_upper, bound_lower, crossed_upper, crossed_lower)


def _propagate(
    points: np.ndarray,
    weighted_densities: np.ndarray,
    theta: np.ndarray,
    t_previous: float,
    t_next: float,
    interval: tuple[float, float],
    step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-densities of Z at the next look on its continuation interval, times Simpson weights:
    Z_next = (sqrt(t_previous) Z + N(theta (t_next - t_previous), t_next - t_previous)) /
    sqrt(t_next)."""
    new_points, new_weights = _simpson_grid(interval[0], interval[1], step)
    sd = math.sqrt((t_next - t_previous) / t_next)
    shrink = math.sqrt(t_previous / t_next)
    densities = np.empty((theta.size, new_points.size))
    for d, drift in enumerate(theta):
        shift = drift * (t_next - t_previous) / math.sqrt(t_next)
        standardized = (new_points[:, None] - shrink * points[None, :] - shift) / sd
        kernel = np.exp(-0.5 * standardized * standardized)
        densities[d] = kernel @ weighted_densities[d] / (sd * _SQRT_2PI)
    return new_points, new_weights * densities


def _critical_value_for_tail(tail_probability: float) -> float:
    if tail_probability <= 0.0:
        return CRITICAL_VALUE_CAP
    return min(float(-ndtri(tail_probability)), CRITICAL_VALUE_CAP)


def _solve_critical_value(excess: Any, sides: int, shift: float = 0.0) -> float:
    """Root of the decreasing function ``excess(c)`` = crossing probability - target."""
    bracket_low = 0.0 if sides == 2 else -_Z_TRUNCATION - 2.0 + shift
    if excess(CRITICAL_VALUE_CAP) >= 0.0:
        return CRITICAL_VALUE_CAP  # nothing left to spend at this look
    if excess(bracket_low) <= 0.0:
        return bracket_low
    return float(brentq(excess, bracket_low, CRITICAL_VALUE_CAP, xtol=_ROOT_TOLERANCE))


def _recursion(
    rates: np.ndarray,
    sides: int,
    field: str,
    *,
    cumulative_alpha: np.ndarray | None = None,
    critical_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Efficacy bounds under H0 alone (test types 1 and 2): solve each critical value so that the
    cumulative crossing probability equals ``cumulative_alpha`` (design), or take the given
    ``critical_values`` (evaluation). Returns critical values and per-look crossing
    probabilities, both tails together when two-sided."""
    upper: _Solve | np.ndarray
    if cumulative_alpha is not None:
        upper = _Solve(0, np.asarray(cumulative_alpha, dtype=float))
    else:
        upper = np.asarray(critical_values, dtype=float)
    walk = _walk(rates, field, upper=upper, lower=_SYMMETRIC if sides == 2 else None)
    return walk.upper, walk.upper_crossing[0] + walk.lower_crossing[0]


def crossing_probabilities(
    information_rates: Sequence[float], critical_values: Sequence[float], sides: int = 1
) -> np.ndarray:
    """H0 probability of first crossing at each look for the given boundaries.

    Same recursion as the design; for checking boundaries from elsewhere, or for showing what
    peeking costs (e.g. ``critical_values = [1.96] * K``; Armitage, McPherson & Rowe 1969).
    """
    rates = _validate_rates(information_rates, field="information_rates", require_full=False)
    sides = _validate_sides(sides)
    if isinstance(critical_values, (str, bytes)):
        raise InputError("critical_values must be a list of numbers", field="critical_values")
    try:
        critical = np.asarray(
            [_validate_number(value, "critical_values") for value in critical_values]
        )
    except TypeError:
        raise InputError(
            "critical_values must be a list of numbers", field="critical_values"
        ) from None
    if critical.shape != rates.shape:
        raise InputError(
            f"critical_values must have one value per information rate ({len(rates)}), "
            f"got {len(critical)}",
            field="critical_values",
        )
    if sides == 2 and np.any(critical <= 0.0):
        raise InputError(
            "critical_values must be positive for a two-sided design (|Z| >= c)",
            field="critical_values",
        )
    _, crossing = _recursion(rates, sides, "information_rates", critical_values=critical)
    return crossing


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """Efficacy boundary at one look.

    ``critical_value``: reject H0 when Z >= it (|Z| >= it when two-sided).
    ``alpha_spent``: cumulative type-I error spent through this look, both tails together.
    ``nominal_alpha``: the per-look p-value threshold equivalent to the critical value
    (one-sided p for one-sided designs, two-sided p for two-sided designs).
    """

    look: int
    n: int
    information_rate: float
    critical_value: float
    alpha_spent: float
    nominal_alpha: float

    def to_json(self) -> dict[str, Any]:
        return {
            "look": self.look,
            "n": self.n,
            "informationRate": self.information_rate,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
        }


@dataclass(frozen=True)
class SequentialDesign:
    """A Lan-DeMets group-sequential design (CONTRACTS.md: ``americano analyze sequential``)."""

    alpha: float
    sides: int
    spending: str
    max_n: int
    information_rates: tuple[float, ...]
    boundaries: tuple[Boundary, ...]
    warning: str
    hsd_gamma: float = -4.0

    @property
    def looks(self) -> int:
        return len(self.boundaries)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "boundaries": [boundary.to_json() for boundary in self.boundaries],
            "warning": self.warning,
            "alpha": self.alpha,
            "sides": self.sides,
            "spending": self.spending,
            "maxN": self.max_n,
            "looks": self.looks,
            "informationRates": list(self.information_rates),
        }
        if self.spending == "hsd":
            out["hsdGamma"] = self.hsd_gamma
        return out


@dataclass(frozen=True)
class MonitoringDecision:
    """What to do after the looks seen so far.

    ``decision``: ``"continue"`` (no boundary crossed, more looks planned), ``"stop_efficacy"``
    (a boundary was crossed at ``stopped_at_look``; H0 rejected) or ``"stop_final"`` (the final
    analysis did not cross; H0 not rejected). ``look``, ``z_statistic``, ``critical_value`` and
    ``alpha_spent`` describe the look the decision was made at. ``boundaries`` are the boundaries
    in force for the looks seen, recomputed from the observed information rates when those differ
    from the plan; ``remaining_boundaries`` are the provisional ones for the looks still planned.
    """

    decision: str
    stopped_at_look: int | None
    look: int
    z_statistic: float
    critical_value: float
    alpha_spent: float
    nominal_alpha: float
    direction: str | None
    boundaries: tuple[Boundary, ...]
    remaining_boundaries: tuple[Boundary, ...]
    boundaries_recomputed: bool
    alpha: float
    sides: int
    spending: str
    message: str
    warning: str

    @property
    def reject_null(self) -> bool:
        return self.decision == "stop_efficacy"

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "stoppedAtLook": self.stopped_at_look,
            "look": self.look,
            "zStatistic": self.z_statistic,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
            "direction": self.direction,
            "rejectNull": self.reject_null,
            "boundaries": [boundary.to_json() for boundary in self.boundaries],
            "remainingBoundaries": [boundary.to_json() for boundary in self.remaining_boundaries],
            "boundariesRecomputed": self.boundaries_recomputed,
            "alpha": self.alpha,
            "sides": self.sides,
            "spending": self.spending,
            "message": self.message,
            "warning": self.warning,
        }


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _validate_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{field} must be a number, got {value!r}", field=field)
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{field} must be a finite number, got {value!r}", field=field)
    return number


def _validate_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{field} must be a whole number, got {value!r}", field=field)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise InputError(f"{field} must be a whole number, got {value!r}", field=field) from None


def _validate_sides(sides: Any) -> int:
    value = _validate_int(sides, "sides")
    if value not in (1, 2):
        raise InputError(f"sides must be 1 or 2, got {value}", field="sides")
    return value


def _validate_rates(rates: Any, *, field: str, require_full: bool) -> np.ndarray:
    if isinstance(rates, (str, bytes)):
        raise InputError(f"{field} must be a list of numbers, got {rates!r}", field=field)
    try:
        values = np.asarray([_validate_number(rate, field) for rate in rates], dtype=float)
    except TypeError:
        raise InputError(f"{field} must be a list of numbers, got {rates!r}", field=field) from None
    if values.size == 0:
        raise InputError(f"{field} must not be empty", field=field)
    if values[0] <= 0.0:
        raise InputError(f"{field} must be greater than 0, got {values[0]:g}", field=field)
    if np.any(np.diff(values) <= 0.0):
        raise InputError(
            f"{field} must be strictly increasing, got {', '.join(f'{v:g}' for v in values)}",
            field=field,
        )
    if require_full:
        if values[-1] > 1.0 + 1e-9:
            raise InputError(f"{field} must not exceed 1, got {values[-1]:g}", field=field)
        if abs(values[-1] - 1.0) > 1e-9:
            raise InputError(
                f"{field} must end at 1 (the final look at full information), got {values[-1]:g}",
                field=field,
            )
        values[-1] = 1.0
    return values


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5 + 1e-9))


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _boundaries(
    rates: np.ndarray,
    critical_values: np.ndarray,
    cumulative_alpha: np.ndarray,
    sides: int,
    max_n: int,
) -> tuple[Boundary, ...]:
    return tuple(
        Boundary(
            look=index + 1,
            n=_round_half_up(max_n * float(rate)),
            information_rate=float(rate),
            critical_value=float(critical),
            alpha_spent=float(spent),
            nominal_alpha=sides * float(ndtr(-critical)),
        )
        for index, (rate, critical, spent) in enumerate(
            zip(rates, critical_values, cumulative_alpha, strict=True)
        )
    )


def _warning(alpha: float, sides: int) -> str:
    fixed_z = float(-ndtri(alpha / sides))
    return PEEKING_WARNING.format(alpha=alpha, fixed_z=fixed_z)


def group_sequential_design(
    *,
    alpha: float,
    spending: str,
    max_n: int,
    looks: int,
    sides: int = 2,
    information_rates: Sequence[float] | None = None,
    hsd_gamma: float = -4.0,
) -> SequentialDesign:
    """Lan-DeMets group-sequential efficacy boundaries (rpact ``getDesignGroupSequential`` with
    ``typeOfDesign = "asOF" | "asP" | "asHSD"``; gsDesign ``sfLDOF``, ``sfLDPocock``, ``sfHSD``).

    ``alpha`` is the total type-I error (split evenly over the two tails when ``sides = 2``).
    Looks are equally spaced unless ``information_rates`` (strictly increasing, ending at 1) are
    given. ``n`` at each look is ``max_n * information_rate`` rounded half up.
    """
    alpha = _validate_number(alpha, "alpha")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be between 0 and 1 (exclusive), got {alpha:g}", field="alpha")
    if spending not in SPENDING_FUNCTIONS:
        raise InputError(
            f"spending must be one of {', '.join(SPENDING_FUNCTIONS)}; got {spending!r}",
            field="spending",
        )
    looks = _validate_int(looks, "looks")
    if not 1 <= looks <= MAX_LOOKS:
        raise InputError(f"looks must be between 1 and {MAX_LOOKS}, got {looks}", field="looks")
    max_n = _validate_int(max_n, "max_n")
    if max_n < looks:
        raise InputError(
            f"max_n must be at least the number of looks ({looks}), got {max_n}", field="max_n"
        )
    sides = _validate_sides(sides)
    hsd_gamma = _validate_number(hsd_gamma, "hsd_gamma")
    if abs(hsd_gamma) > HSD_GAMMA_LIMIT:
        raise InputError(
            f"hsd_gamma must be between -{HSD_GAMMA_LIMIT:g} and {HSD_GAMMA_LIMIT:g}, "
            f"got {hsd_gamma:g}",
            field="hsd_gamma",
        )

    if information_rates is None:
        rates = np.arange(1, looks + 1, dtype=float) / looks
    else:
        rates = _validate_rates(information_rates, field="information_rates", require_full=True)
        if len(rates) != looks:
            raise InputError(
                f"information_rates must have one rate per look ({looks}), got {len(rates)}",
                field="information_rates",
            )
        sizes = [_round_half_up(max_n * rate) for rate in rates]
        if sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise InputError(
                f"information_rates give look sizes {sizes} for max_n={max_n}; every look needs "
                "more observations than the one before",
                field="information_rates",
            )

    cumulative = np.asarray(
        alpha_spending(spending, rates, alpha, sides=sides, hsd_gamma=hsd_gamma), dtype=float
    )
    cumulative[-1] = alpha  # the final look spends exactly what is left
    critical_values, _ = _recursion(rates, sides, "information_rates", cumulative_alpha=cumulative)
    return SequentialDesign(
        alpha=alpha,
        sides=sides,
        spending=spending,
        max_n=max_n,
        information_rates=tuple(float(rate) for rate in rates),
        boundaries=_boundaries(rates, critical_values, cumulative, sides, max_n),
        warning=_warning(alpha, sides),
        hsd_gamma=hsd_gamma,
    )


def _observed_schedule(
    design: SequentialDesign, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Rates for the looks seen plus the planned looks still ahead, their cumulative alpha, and
    the number of looks seen. The final analysis (the last planned look, or a look at full
    information) spends all that is left of alpha."""
    seen = len(observed)
    planned = np.asarray(design.information_rates)
    reached_full = observed[-1] >= 1.0 or seen == design.looks
    future = np.empty(0) if reached_full else planned[seen:][planned[seen:] > observed[-1]]
    rates = np.concatenate([observed, future])
    cumulative = np.asarray(
        alpha_spending(
            design.spending, rates, design.alpha, sides=design.sides, hsd_gamma=design.hsd_gamma
        ),
        dtype=float,
    )
    cumulative[-1] = design.alpha
    return rates, cumulative, seen


def monitor(
    design: SequentialDesign,
    z_statistics: Sequence[float],
    information_rates_observed: Sequence[float] | None = None,
) -> MonitoringDecision:
    """Interim decision from the z-statistics observed at looks 1..k of ``design``.

    Stops for efficacy at the first look whose z-statistic reaches the critical value
    (``|z|`` when two-sided). ``information_rates_observed`` are the information fractions actually
    reached at each look, relative to the planned maximum; when they differ from the plan, the
    boundaries are recomputed by evaluating the spending function at them (Lan & DeMets 1983), and
    the final analysis (the last planned look, or a look at full information) spends all
    remaining alpha, as in rpact's boundary update. Rates are at most 1 (InputError above): a
    final look that overran the planned information is given as 1.
    """
    if not isinstance(design, SequentialDesign):
        raise InputError("design must be a SequentialDesign", field="design")
    if isinstance(z_statistics, (str, bytes)):
        raise InputError("z_statistics must be a list of numbers", field="z_statistics")
    try:
        z = [_validate_number(value, "z_statistics") for value in z_statistics]
    except TypeError:
        raise InputError("z_statistics must be a list of numbers", field="z_statistics") from None
    if not 1 <= len(z) <= design.looks:
        raise InputError(
            f"z_statistics must hold between 1 and {design.looks} values (one per look so far), "
            f"got {len(z)}",
            field="z_statistics",
        )

    planned = np.asarray(design.information_rates[: len(z)])
    if information_rates_observed is None:
        observed = planned
    else:
        observed = _validate_rates(
            information_rates_observed, field="information_rates_observed", require_full=False
        )
        if len(observed) != len(z):
            raise InputError(
                f"information_rates_observed must have one rate per z-statistic ({len(z)}), "
                f"got {len(observed)}",
                field="information_rates_observed",
            )
        if observed[-1] > 1.0 + 1e-9:
            raise InputError(
                f"information_rates_observed must not exceed 1, got {observed[-1]:g}: rates are "
                "fractions of the planned maximum information; a final look that overran the "
                "plan is given as 1",
                field="information_rates_observed",
            )
        observed = np.minimum(observed, 1.0)
        if np.any(observed[:-1] >= 1.0):
            raise InputError(
                "information_rates_observed reaches full information (1) before the last look "
                "given; that look is the final analysis and no look can follow it",
                field="information_rates_observed",
            )

    recomputed = not np.allclose(observed, planned, rtol=0.0, atol=1e-12)
    if recomputed:
        rates, cumulative, seen = _observed_schedule(design, observed)
        critical_values, _ = _recursion(
            rates, design.sides, "information_rates_observed", cumulative_alpha=cumulative
        )
        all_boundaries = _boundaries(rates, critical_values, cumulative, design.sides, design.max_n)
    else:
        seen = len(z)
        all_boundaries = design.boundaries
    current, remaining = all_boundaries[:seen], all_boundaries[seen:]

    stopped_at: int | None = None
    direction: str | None = None
    for boundary, value in zip(current, z, strict=True):
        if value >= boundary.critical_value:
            stopped_at, direction = boundary.look, "upper"
        elif design.sides == 2 and value <= -boundary.critical_value:
            stopped_at, direction = boundary.look, "lower"
        if stopped_at is not None:
            break

    at = current[(stopped_at or seen) - 1]
    z_at = z[at.look - 1]
    if stopped_at is not None:
        decision = "stop_efficacy"
        message = (
            f"Stop: at look {at.look} the z-statistic {z_at:.3f} crossed the "
            f"{'lower ' if direction == 'lower' else ''}boundary "
            f"{'-' if direction == 'lower' else ''}{at.critical_value:.3f}; the null hypothesis "
            f"is rejected at overall level {design.alpha:g}."
        )
        if seen > at.look:
            message += f" Looks after look {at.look} were ignored."
    elif not remaining:
        decision = "stop_final"
        message = (
            f"Final analysis: the z-statistic {z_at:.3f} did not reach the boundary "
            f"{at.critical_value:.3f}; the null hypothesis is not rejected at overall level "
            f"{design.alpha:g}."
        )
    else:
        decision = "continue"
        message = (
            f"Continue: at look {at.look} the z-statistic {z_at:.3f} is inside the boundary "
            f"{at.critical_value:.3f}. Next look at information rate "
            f"{remaining[0].information_rate:g} (n = {remaining[0].n}), boundary "
            f"{remaining[0].critical_value:.3f}."
        )
    return MonitoringDecision(
        decision=decision,
        stopped_at_look=stopped_at,
        look=at.look,
        z_statistic=float(z_at),
        critical_value=at.critical_value,
        alpha_spent=at.alpha_spent,
        nominal_alpha=at.nominal_alpha,
        direction=direction,
        boundaries=tuple(current),
        remaining_boundaries=tuple(remaining),
        boundaries_recomputed=bool(recomputed),
        alpha=design.alpha,
        sides=design.sides,
        spending=design.spending,
        message=message,
        warning=design.warning,
    )


def welch_z(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean_b - mean_a) / sqrt(s_a^2 / n_a + s_b^2 / n_b), sample variances with n - 1 (the
    Welch 1947 statistic, read on the normal scale): the z of a look of a two-group comparison.
    None when a group has fewer than 2 observations or both are constant."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.size < 2 or b_arr.size < 2:
        return None
    variance = float(np.var(a_arr, ddof=1)) / a_arr.size + float(np.var(b_arr, ddof=1)) / b_arr.size
    if variance <= 0.0:
        return None
    return float((b_arr.mean() - a_arr.mean()) / math.sqrt(variance))
