"""Group-sequential designs and monitoring: efficacy and futility bounds, sample size, power.

Spending functions, for a one-sided level ``a`` and information fraction ``t`` in [0, 1], named
and defined as in gsDesign and rpact:

- O'Brien-Fleming type (Lan & DeMets 1983; gsDesign ``sfLDOF``, rpact ``"asOF"``):
  ``a(t) = 2 - 2 Phi(z_{1-a/2} / sqrt(t))``.
- Pocock type (Lan & DeMets 1983; gsDesign ``sfLDPocock``, rpact ``"asP"``):
  ``a(t) = a ln(1 + (e - 1) t)``.
- Hwang-Shih-DeCani (Hwang, Shih & DeCani 1990; gsDesign ``sfHSD``, rpact ``"asHSD"``):
  ``a(t) = a (1 - exp(-gamma t)) / (1 - exp(-gamma))``, and ``a t`` when ``gamma = 0``.
- Kim-DeMets power family (Kim & DeMets 1987; gsDesign ``sfPower``, rpact ``"asKD"``):
  ``a(t) = a t^rho``.
- Classic boundaries, no spending function (Wang & Tsiatis 1987 ``c t^(Delta - 1/2)``): Pocock
  (1977), constant, and O'Brien & Fleming (1979), ``c / sqrt(t)``; gsDesign ``sfu = "Pocock"`` /
  ``"OF"``, for test types 1 and 2 as there.

Sides. A one-sided design spends ``alpha`` on an upper efficacy boundary.
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

Test types (gsDesign ``test.type``): 1 one-sided, 2 two-sided symmetric, 3 and 4 a futility
bound from beta spending under the design's alternative (binding: the efficacy bounds account
for it; non-binding: they ignore it), 5 and 6 a lower bound spending ``1 - alpha`` under H0
(binding, non-binding). The futility spending functions are the same families (gsDesign ``sfl``).
Sample size (gsDesign ``n.fix`` -> ``n.I``): the drift E(Z_K) at which the design has power
``1 - beta`` (types 3, 4: where the final futility bound meets the final efficacy bound), and
the inflation factor ``(drift / (z_{1-alpha/sides} + z_{1-beta}))^2``; power and expected
sample size at any effect as gsDesign's ``gsProbability``. ``n`` per look is rounded up.

Monitoring (Lan & DeMets 1983 flexibility; rpact's boundary update, Wassmer & Brannath 2016,
p. 78f): when the observed information rates differ from the planned ones, the spending functions
are evaluated at the observed rates (the beta spending at the design's effect, as gsDesign's
update with ``n.I``); the final analysis always spends what is left of ``alpha``. A look stops
for efficacy, for futility (test types 3-6) or continues.
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

# Lan-DeMets spending functions, then the classic boundaries of constant shape (no spending
# function: Pocock 1977, O'Brien & Fleming 1979; gsDesign sfu = "Pocock" / "OF").
CLASSIC_BOUNDARIES = ("obrien_fleming_classic", "pocock_classic")
FUTILITY_SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "hsd", "kim_demets")
SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "hsd", "kim_demets", *CLASSIC_BOUNDARIES)
# Wang & Tsiatis (1987) shape parameter Delta of the classic boundaries c * t^(Delta - 1/2).
_WANG_TSIATIS_DELTA = {"obrien_fleming_classic": 0.0, "pocock_classic": 0.5}
# gsDesign test.type: 1 one-sided; 2 two-sided symmetric; 3/4 futility bound from beta spending
# under the alternative, binding/non-binding; 5/6 lower bound from spending 1 - alpha under H0,
# binding/non-binding.
TEST_TYPES = (1, 2, 3, 4, 5, 6)
BINDING_TEST_TYPES = (3, 5)
MAX_LOOKS = 100
HSD_GAMMA_LIMIT = 40.0  # gsDesign's sfHSD accepts gamma in [-40, 40]
RHO_LIMIT = 50.0  # gsDesign's sfPower accepts rho in (0, 50]
DEFAULT_RHO = 3.0  # Kim & DeMets (1987): rho = 3 is close to O'Brien-Fleming, rho = 1 linear
DEFAULT_BETA = 0.1  # gsDesign's default
DEFAULT_FUTILITY_SPENDING = "hsd"  # gsDesign's default lower spending: sfHSD, gamma = -2
DEFAULT_FUTILITY_HSD_GAMMA = -2.0

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


def kim_demets(
    t: float | Sequence[float] | np.ndarray, alpha: float, rho: float = DEFAULT_RHO
) -> float | np.ndarray:
    """Kim-DeMets power family ``alpha t^rho``.

    Kim & DeMets (1987); gsDesign ``sfPower``, rpact ``"asKD"`` / ``"bsKD"`` (``gammaA``/``gammaB``).
    """
    return _same_shape(t, alpha * _fractions(t) ** rho)


def _spend(
    spending: str, t: Any, level: float, *, hsd_gamma: float, rho: float, field: str
) -> float | np.ndarray:
    if spending == "obrien_fleming":
        return obrien_fleming(t, level)
    if spending == "pocock":
        return pocock(t, level)
    if spending == "hsd":
        return hsd(t, level, hsd_gamma)
    if spending == "kim_demets":
        return kim_demets(t, level, rho)
    raise InputError(
        f"{field} must be one of {', '.join(FUTILITY_SPENDING_FUNCTIONS)}; got {spending!r}",
        field=field,
    )


def alpha_spending(
    spending: str,
    t: float | Sequence[float] | np.ndarray,
    alpha: float,
    *,
    sides: int = 1,
    hsd_gamma: float = -4.0,
    rho: float = DEFAULT_RHO,
) -> float | np.ndarray:
    """Cumulative type-I error spent by information fraction ``t``, both tails together.

    Two-sided designs spend ``alpha / 2`` per tail with the one-sided function (rpact ``sided = 2``).
    The classic boundaries have no spending function (InputError).
    """
    values = _spend(spending, t, alpha / sides, hsd_gamma=hsd_gamma, rho=rho, field="spending")
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
    """Efficacy boundary at one look, and the futility bound when the design has one.

    ``critical_value``: reject H0 when Z >= it (|Z| >= it when two-sided).
    ``alpha_spent``: cumulative type-I error spent through this look, both tails together.
    ``nominal_alpha``: the per-look p-value threshold equivalent to the critical value
    (one-sided p for one-sided designs, two-sided p for two-sided designs).
    ``futility_bound`` (test types 3-6): stop for futility when Z <= it. ``futility_spent``: the
    cumulative probability of crossing it, under the design's alternative for beta spending
    (types 3, 4), under H0 for lower alpha spending (types 5, 6). ``futility_nominal_p``: the
    one-sided p-value at the bound, 1 - Phi(bound) (gsDesign's gsBoundSummary "p (1-sided)").
    """

    look: int
    n: int
    information_rate: float
    critical_value: float
    alpha_spent: float
    nominal_alpha: float
    futility_bound: float | None = None
    futility_spent: float | None = None
    futility_nominal_p: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "look": self.look,
            "n": self.n,
            "informationRate": self.information_rate,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
        }
        if self.futility_bound is not None:
            out["futilityBound"] = self.futility_bound
            out["futilitySpent"] = self.futility_spent
            out["futilityNominalP"] = self.futility_nominal_p
        return out


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Boundary-crossing probabilities at one effect (gsDesign ``gsProbability``).

    ``effect``: the standardized effect per observation, E(Z at n observations) = effect sqrt(n)
    (gsDesign's ``theta``); ``drift``: E(Z) at the design's full information. The crossing
    probabilities are of first crossing at each look, the upper (efficacy) bound and the lower
    one (futility; for a two-sided design the lower efficacy tail); ``expected_n`` is the
    expected number of observations when any crossing stops the trial.
    """

    effect: float
    drift: float
    upper_crossing: tuple[float, ...]
    lower_crossing: tuple[float, ...]
    expected_n: float

    @property
    def power(self) -> float:
        return float(sum(self.upper_crossing))

    def to_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "drift": self.drift,
            "power": self.power,
            "lowerCrossing": float(sum(self.lower_crossing)),
            "expectedN": self.expected_n,
            "upperCrossingByLook": list(self.upper_crossing),
            "lowerCrossingByLook": list(self.lower_crossing),
        }


@dataclass(frozen=True)
class SequentialDesign:
    """A group-sequential design (CONTRACTS.md: ``americano analyze sequential``).

    ``test_type`` is gsDesign's (``TEST_TYPES``). ``effect`` is the design's alternative as a
    standardized effect per observation and ``drift`` E(Z) at full information under it; the
    beta-spending futility bounds (types 3, 4) are computed at that drift. ``characteristics``
    hold the crossing probabilities under H0, the alternative and any effects asked for; they are
    empty for a design without futility bound, beta, effect or fixed-design size.
    """

    alpha: float
    sides: int
    spending: str
    max_n: int
    information_rates: tuple[float, ...]
    boundaries: tuple[Boundary, ...]
    warning: str
    hsd_gamma: float = -4.0
    test_type: int = 2
    rho: float = DEFAULT_RHO
    beta: float | None = None
    futility_spending: str | None = None
    futility_hsd_gamma: float = DEFAULT_FUTILITY_HSD_GAMMA
    futility_rho: float = DEFAULT_RHO
    effect: float | None = None
    drift: float | None = None
    n_fix: float | None = None
    inflation_factor: float | None = None
    max_n_continuous: float | None = None
    characteristics: tuple[OperatingCharacteristics, ...] = ()

    @property
    def looks(self) -> int:
        return len(self.boundaries)

    @property
    def has_futility(self) -> bool:
        return self.test_type >= 3

    @property
    def binding(self) -> bool:
        return self.test_type in BINDING_TEST_TYPES

    @property
    def power(self) -> float | None:
        return self.characteristics[1].power if self.characteristics else None

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
        if self.spending == "kim_demets":
            out["rho"] = self.rho
        if self.has_futility or self.characteristics:
            out["testType"] = self.test_type
            out["beta"] = self.beta
        if self.has_futility:
            out["binding"] = self.binding
            out["futilitySpending"] = self.futility_spending
            if self.futility_spending == "hsd":
                out["futilityHsdGamma"] = self.futility_hsd_gamma
            if self.futility_spending == "kim_demets":
                out["futilityRho"] = self.futility_rho
        if self.characteristics:
            out["effect"] = self.effect
            out["drift"] = self.drift
            out["power"] = self.power
            out["inflationFactor"] = self.inflation_factor
            out["nFix"] = self.n_fix
            out["maxNContinuous"] = self.max_n_continuous
            out["operatingCharacteristics"] = [c.to_json() for c in self.characteristics]
        return out


@dataclass(frozen=True)
class MonitoringDecision:
    """What to do after the looks seen so far.

    ``decision``: ``"continue"`` (no bound crossed, more looks planned), ``"stop_efficacy"``
    (an efficacy boundary was crossed at ``stopped_at_look``; H0 rejected), ``"stop_futility"``
    (the futility bound was crossed at ``stopped_at_look``; H0 not rejected) or ``"stop_final"``
    (the final analysis did not cross; H0 not rejected). ``crossed_bound``: ``"efficacy"``,
    ``"futility"`` or None. ``look``, ``z_statistic``, ``critical_value``, ``futility_bound`` and
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
    crossed_bound: str | None = None
    futility_bound: float | None = None

    @property
    def reject_null(self) -> bool:
        return self.decision == "stop_efficacy"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision,
            "stoppedAtLook": self.stopped_at_look,
            "look": self.look,
            "zStatistic": self.z_statistic,
            "criticalValue": self.critical_value,
            "alphaSpent": self.alpha_spent,
            "nominalAlpha": self.nominal_alpha,
            "direction": self.direction,
            "rejectNull": self.reject_null,
            "crossedBound": self.crossed_bound,
        }
        if self.futility_bound is not None:
            out["futilityBound"] = self.futility_bound
        out.update(
            {
                "boundaries": [boundary.to_json() for boundary in self.boundaries],
                "remainingBoundaries": [b.to_json() for b in self.remaining_boundaries],
                "boundariesRecomputed": self.boundaries_recomputed,
                "alpha": self.alpha,
                "sides": self.sides,
                "spending": self.spending,
                "message": self.message,
                "warning": self.warning,
            }
        )
        return out


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


def _look_size(n_max: float, rate: float) -> int:
    """Observations at a look: ``n_max * rate`` rounded up, as gsDesign reports ``n.I`` (R/
    gsMethods.R: ``nval <- ceiling(x$n.I)`` in its print methods, ``N <- ceiling(x$n.I)`` in
    gsBoundSummary; its toInteger() instead rounds the interims to the nearest and the final up).
    The 1e-9 keeps 25.000000001 at 25."""
    return math.ceil(n_max * rate - 1e-9)


def _validate_probability(value: Any, field: str, upper: float = 1.0) -> float:
    number = _validate_number(value, field)
    if not 0.0 < number < upper:
        raise InputError(
            f"{field} must be between 0 and {upper:g} (exclusive), got {number:g}", field=field
        )
    return number


def _validate_spending_parameters(hsd_gamma: Any, rho: Any, prefix: str) -> tuple[float, float]:
    gamma = _validate_number(hsd_gamma, f"{prefix}hsd_gamma")
    if abs(gamma) > HSD_GAMMA_LIMIT:
        raise InputError(
            f"{prefix}hsd_gamma must be between -{HSD_GAMMA_LIMIT:g} and {HSD_GAMMA_LIMIT:g}, "
            f"got {gamma:g}",
            field=f"{prefix}hsd_gamma",
        )
    power = _validate_number(rho, f"{prefix}rho")
    if not 0.0 < power <= RHO_LIMIT:
        raise InputError(
            f"{prefix}rho must be greater than 0 and at most {RHO_LIMIT:g}, got {power:g}",
            field=f"{prefix}rho",
        )
    return gamma, power


# --------------------------------------------------------------------------------------------
# Designs: bounds, sample size and power
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What fixes the bounds of a design, apart from the information rates and the drift."""

    test_type: int
    alpha: float
    spending: str
    hsd_gamma: float
    rho: float
    beta: float
    futility_spending: str
    futility_hsd_gamma: float
    futility_rho: float

    @property
    def sides(self) -> int:
        return 2 if self.test_type == 2 else 1

    def cumulative(self, rates: np.ndarray, kind: str) -> np.ndarray:
        """Cumulative spending at the rates: ``alpha`` (efficacy), ``beta`` (futility, types 3
        and 4) or ``lower`` (1 - alpha under H0, types 5 and 6: gsDesign's ``astar`` default).
        The final analysis spends exactly what is left."""
        if kind == "alpha":
            level = self.alpha
            values = alpha_spending(
                self.spending,
                rates,
                level,
                sides=self.sides,
                hsd_gamma=self.hsd_gamma,
                rho=self.rho,
            )
        else:
            level = self.beta if kind == "beta" else 1.0 - self.alpha
            values = _spend(
                self.futility_spending,
                rates,
                level,
                hsd_gamma=self.futility_hsd_gamma,
                rho=self.futility_rho,
                field="futility_spending",
            )
        cumulative = np.array(values, dtype=float, ndmin=1)
        cumulative[-1] = level
        return cumulative

    @property
    def lower_kind(self) -> str | None:
        """How the walk treats the lower bound."""
        if self.test_type == 1:
            return None
        if self.test_type == 2:
            return _SYMMETRIC
        return "futility"

    def fixed_drift(self) -> float:
        """E(Z) of the fixed-sample test with power 1 - beta: z_{1 - alpha/sides} + z_{1 - beta}."""
        return float(-ndtri(self.alpha / self.sides) - ndtri(self.beta))


def _classic_upper(plan: _Plan, rates: np.ndarray, field: str) -> np.ndarray:
    """Wang-Tsiatis boundaries c t^(Delta - 1/2) (Delta = 0.5: Pocock 1977, constant; Delta = 0:
    O'Brien & Fleming 1979, c / sqrt(t)) with c such that the total H0 crossing probability is
    alpha (gsDesign's ``WT``, ``sfu = "Pocock"`` / ``"OF"``)."""
    shape = rates ** (_WANG_TSIATIS_DELTA[plan.spending] - 0.5)
    lower = _SYMMETRIC if plan.sides == 2 else None

    def excess(constant: float) -> float:
        bounds = np.minimum(constant * shape, CRITICAL_VALUE_CAP)
        walk = _walk(rates, field, upper=bounds, lower=lower)
        return float(walk.upper_crossing[0].sum() + walk.lower_crossing[0].sum()) - plan.alpha

    constant = float(brentq(excess, 1e-3, CRITICAL_VALUE_CAP / 2.0, xtol=_ROOT_TOLERANCE))
    return np.minimum(constant * shape, CRITICAL_VALUE_CAP)


def _nonbinding_upper(plan: _Plan, rates: np.ndarray, field: str) -> np.ndarray | None:
    """The efficacy bounds of a non-binding design (gsDesign test.type 4, 6): those of pure
    alpha spending, which ignore the futility bound; None for the other test types."""
    if plan.test_type not in (4, 6) or plan.spending in CLASSIC_BOUNDARIES:
        return None
    return _walk(rates, field, upper=_Solve(0, plan.cumulative(rates, "alpha"))).upper


def _bounds(
    plan: _Plan,
    rates: np.ndarray,
    field: str,
    drift: float,
    *,
    final_lower_at_upper: bool,
    nonbinding_upper: np.ndarray | None = None,
) -> _Walk:
    """Bounds of the design at ``drift`` (E(Z) at full information under the alternative; used
    only by the beta-spending futility bounds). Rows of the walk: H0, then the drift.
    ``nonbinding_upper``: `_nonbinding_upper` when already computed."""
    drifts = (0.0, drift)
    if plan.spending in CLASSIC_BOUNDARIES:
        lower = _SYMMETRIC if plan.sides == 2 else None
        return _walk(rates, field, upper=_classic_upper(plan, rates, field), lower=lower)
    alpha = plan.cumulative(rates, "alpha")
    if plan.test_type in (1, 2):
        return _walk(rates, field, upper=_Solve(0, alpha), lower=plan.lower_kind)
    upper: _Solve | np.ndarray = _Solve(0, alpha)
    if plan.test_type not in BINDING_TEST_TYPES:
        given = nonbinding_upper
        upper = _nonbinding_upper(plan, rates, field) if given is None else given
    if plan.test_type in (3, 4):
        return _walk(
            rates,
            field,
            upper=upper,
            lower=_Solve(1, plan.cumulative(rates, "beta")),
            drifts=drifts,
            final_lower_at_upper=final_lower_at_upper,
        )
    lower_spending = plan.cumulative(rates, "lower")
    if plan.test_type == 5:
        return _walk(
            rates, field, upper=upper, lower=_Solve(0, lower_spending), final_lower_at_upper=True
        )
    # Test type 6 (gsDesign gsDType6): the lower spending is rescaled so that, with the final
    # lower bound at the final upper one, lower and upper crossings under H0 add up to 1.
    scale = 1.0
    for _ in range(50):
        walk = _walk(
            rates,
            field,
            upper=upper,
            lower=_Solve(0, scale * lower_spending),
            final_lower_at_upper=True,
        )
        updated = (1.0 - float(walk.upper_crossing[0].sum())) / (1.0 - plan.alpha)
        if abs(updated - scale) < 1e-12:
            break
        scale = updated
    return walk


def _evaluate(plan: _Plan, rates: np.ndarray, field: str, bounds: _Walk, drifts: Any) -> _Walk:
    """Crossing probabilities of the given bounds under each drift (gsDesign ``gsProbability``)."""
    kind = plan.lower_kind
    lower: np.ndarray | str | None = bounds.lower if kind == "futility" else kind
    return _walk(rates, field, upper=bounds.upper, lower=lower, drifts=drifts)


def _power_drift(plan: _Plan, rates: np.ndarray, field: str) -> tuple[float, _Walk]:
    """The drift at which the design has power 1 - beta, and its bounds there (gsDesign's
    sample-size search: the final futility bound meets the final efficacy bound for types 3 and
    4; the upper crossing probability under the drift is 1 - beta for the others)."""
    fixed = plan.fixed_drift()
    low, high = 0.0, 4.0 * fixed + 4.0
    nonbinding = _nonbinding_upper(plan, rates, field)
    if plan.test_type in (3, 4):

        def excess(drift: float) -> float:
            walk = _bounds(
                plan, rates, field, drift, final_lower_at_upper=True, nonbinding_upper=nonbinding
            )
            return float(walk.lower_crossing[1].sum()) - plan.beta

        low = 0.25 * fixed
    else:
        bounds = _bounds(plan, rates, field, 0.0, final_lower_at_upper=True)

        def excess(drift: float) -> float:
            walk = _evaluate(plan, rates, field, bounds, (drift,))
            return (1.0 - plan.beta) - float(walk.upper_crossing[0].sum())

    if excess(low) * excess(high) > 0.0:
        raise InputError(
            f"beta: no sample size gives power {1.0 - plan.beta:g} with these bounds",
            field="beta",
        )
    drift = float(brentq(excess, low, high, xtol=1e-10))
    bounds = _bounds(
        plan, rates, field, drift, final_lower_at_upper=True, nonbinding_upper=nonbinding
    )
    return drift, bounds


def _characteristics(
    plan: _Plan,
    rates: np.ndarray,
    field: str,
    bounds: _Walk,
    effects: Sequence[float],
    n_information: float,
) -> tuple[OperatingCharacteristics, ...]:
    drifts = [effect * math.sqrt(n_information) for effect in effects]
    walk = _evaluate(plan, rates, field, bounds, drifts)
    out = []
    for d, (effect, drift) in enumerate(zip(effects, drifts, strict=True)):
        stops = walk.upper_crossing[d] + walk.lower_crossing[d]
        expected = float(rates @ stops + rates[-1] * max(0.0, 1.0 - float(stops.sum())))
        out.append(
            OperatingCharacteristics(
                effect=float(effect),
                drift=float(drift),
                upper_crossing=tuple(float(p) for p in walk.upper_crossing[d]),
                lower_crossing=tuple(float(p) for p in walk.lower_crossing[d]),
                expected_n=expected * n_information,
            )
        )
    return tuple(out)


def _boundaries(
    plan: _Plan, rates: np.ndarray, bounds: _Walk, max_n: float
) -> tuple[Boundary, ...]:
    if plan.spending in CLASSIC_BOUNDARIES:
        alpha_spent = np.cumsum(bounds.upper_crossing[0] + bounds.lower_crossing[0])
    else:
        alpha_spent = plan.cumulative(rates, "alpha")
    futility_spent = None
    if plan.test_type >= 3:
        futility_row = 1 if plan.test_type in (3, 4) else 0
        futility_spent = np.cumsum(bounds.lower_crossing[futility_row])
    out = []
    for index, (rate, critical) in enumerate(zip(rates, bounds.upper, strict=True)):
        futility = None if futility_spent is None else float(bounds.lower[index])
        out.append(
            Boundary(
                look=index + 1,
                n=_look_size(max_n, float(rate)),
                information_rate=float(rate),
                critical_value=float(critical),
                alpha_spent=float(alpha_spent[index]),
                nominal_alpha=plan.sides * float(ndtr(-critical)),
                futility_bound=futility,
                futility_spent=None if futility_spent is None else float(futility_spent[index]),
                futility_nominal_p=None if futility is None else float(ndtr(-futility)),
            )
        )
    return tuple(out)


def _warning(alpha: float, sides: int) -> str:
    fixed_z = float(-ndtri(alpha / sides))
    return PEEKING_WARNING.format(alpha=alpha, fixed_z=fixed_z)


def _resolve_test_type(test_type: Any, sides: Any) -> tuple[int, int]:
    if test_type is None:
        resolved_sides = 2 if sides is None else _validate_sides(sides)
        return (1 if resolved_sides == 1 else 2), resolved_sides
    value = _validate_int(test_type, "test_type")
    if value not in TEST_TYPES:
        raise InputError(
            f"test_type must be one of 1, 2, 3, 4, 5, 6, got {value}", field="test_type"
        )
    implied = 2 if value == 2 else 1
    if sides is not None and _validate_sides(sides) != implied:
        raise InputError(
            f"sides: test type {value} is {'two' if implied == 2 else 'one'}-sided "
            f"(sides={implied}), got sides={sides}",
            field="sides",
        )
    return value, implied


def group_sequential_design(
    *,
    alpha: float,
    spending: str,
    max_n: int | None = None,
    looks: int,
    sides: int | None = None,
    information_rates: Sequence[float] | None = None,
    hsd_gamma: float = -4.0,
    rho: float = DEFAULT_RHO,
    test_type: int | None = None,
    beta: float | None = None,
    futility_spending: str | None = None,
    futility_hsd_gamma: float = DEFAULT_FUTILITY_HSD_GAMMA,
    futility_rho: float = DEFAULT_RHO,
    n_fix: float | None = None,
    effect: float | None = None,
    power_at: Sequence[float] | None = None,
) -> SequentialDesign:
    """Group-sequential boundaries as gsDesign's ``gsDesign()`` and rpact's
    ``getDesignGroupSequential`` compute them.

    Efficacy: Lan-DeMets alpha spending (``obrien_fleming``, ``pocock``, ``hsd``, ``kim_demets``:
    gsDesign ``sfLDOF``, ``sfLDPocock``, ``sfHSD``, ``sfPower``; rpact ``asOF``, ``asP``,
    ``asHSD``, ``asKD``) or the classic constant-shape boundaries (``pocock_classic``,
    ``obrien_fleming_classic``: gsDesign ``sfu = "Pocock"`` / ``"OF"``, test types 1 and 2).
    ``alpha`` is the total type-I error (split evenly over the two tails when two-sided; the
    one-sided level for test types 1 and 3-6, as gsDesign's ``alpha``).

    ``test_type`` (gsDesign's; default 1 for ``sides = 1``, 2 for ``sides = 2``): 3 and 4 add a
    futility bound from beta spending (``futility_spending`` at level ``beta``, default gsDesign's
    sfHSD with gamma -2) under the design's alternative, binding (3: the efficacy bounds account
    for it) or non-binding (4: they ignore it); 5 and 6 a lower bound spending 1 - alpha under H0,
    binding or non-binding.

    Size and power. ``n_fix`` (the fixed design's sample size for power 1 - beta; gsDesign
    ``n.fix``) or ``effect`` alone (the standardized effect per observation, E(Z at n) = effect
    sqrt(n); gsDesign ``delta``) size the design: ``max_n`` = the inflated sample size rounded up.
    With ``max_n`` and no effect, the alternative is the effect ``max_n`` detects with power
    1 - beta; with ``max_n`` and ``effect``, the bounds and power are at that effect.
    ``power_at``: more effects to report crossing probabilities for.

    Looks are equally spaced unless ``information_rates`` (strictly increasing, ending at 1) are
    given. ``n`` at each look is the maximum sample size times the rate, rounded up (gsDesign).
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
    test_type, sides = _resolve_test_type(test_type, sides)
    hsd_gamma, rho = _validate_spending_parameters(hsd_gamma, rho, "")
    futility_hsd_gamma, futility_rho = _validate_spending_parameters(
        futility_hsd_gamma, futility_rho, "futility_"
    )
    if spending in CLASSIC_BOUNDARIES and test_type >= 3:
        raise InputError(
            f"spending: the classic {spending} boundaries exist for test types 1 and 2 only "
            "(as in gsDesign); use a spending function with a futility bound",
            field="spending",
        )
    if futility_spending is not None and test_type < 3:
        raise InputError(
            "futility_spending: only test types 3-6 have a futility bound",
            field="futility_spending",
        )
    futility = DEFAULT_FUTILITY_SPENDING if futility_spending is None else futility_spending
    if futility not in FUTILITY_SPENDING_FUNCTIONS:
        raise InputError(
            f"futility_spending must be one of {', '.join(FUTILITY_SPENDING_FUNCTIONS)}; "
            f"got {futility!r}",
            field="futility_spending",
        )
    beta_value = DEFAULT_BETA if beta is None else beta
    beta_value = _validate_probability(beta_value, "beta", 1.0 - alpha / sides)
    if max_n is not None:
        max_n = _validate_int(max_n, "max_n")
        if max_n < looks:
            raise InputError(
                f"max_n must be at least the number of looks ({looks}), got {max_n}", field="max_n"
            )
        if n_fix is not None:
            raise InputError(
                "n_fix: give max_n or n_fix, not both (n_fix sizes the design)", field="n_fix"
            )
    elif n_fix is None and effect is None:
        raise InputError("max_n: give max_n, or n_fix or effect to size the design", field="max_n")
    if n_fix is not None:
        if effect is not None:
            raise InputError("effect: give n_fix or effect, not both", field="effect")
        n_fix = _validate_number(n_fix, "n_fix")
        if n_fix <= 0.0:
            raise InputError(f"n_fix must be positive, got {n_fix:g}", field="n_fix")
    if effect is not None:
        effect = _validate_number(effect, "effect")
        if effect <= 0.0:
            raise InputError(
                f"effect must be positive (the standardized effect of the alternative), "
                f"got {effect:g}",
                field="effect",
            )
    if power_at is not None:
        if isinstance(power_at, (str, bytes)):
            raise InputError("power_at must be a list of numbers", field="power_at")
        try:
            power_at = [_validate_number(value, "power_at") for value in power_at]
        except TypeError:
            raise InputError("power_at must be a list of numbers", field="power_at") from None

    if information_rates is None:
        rates = np.arange(1, looks + 1, dtype=float) / looks
    else:
        rates = _validate_rates(information_rates, field="information_rates", require_full=True)
        if len(rates) != looks:
            raise InputError(
                f"information_rates must have one rate per look ({looks}), got {len(rates)}",
                field="information_rates",
            )

    field = "information_rates"
    plan = _Plan(
        test_type=test_type,
        alpha=alpha,
        spending=spending,
        hsd_gamma=hsd_gamma,
        rho=rho,
        beta=beta_value,
        futility_spending=futility,
        futility_hsd_gamma=futility_hsd_gamma,
        futility_rho=futility_rho,
    )
    sized = max_n is None
    wanted = test_type >= 3 or any(v is not None for v in (beta, n_fix, effect, power_at))
    drift = design_effect = inflation = n_fix_value = n_continuous = None
    if not wanted:
        bounds = _bounds(plan, rates, field, 0.0, final_lower_at_upper=True)
    elif effect is not None and not sized:
        drift = effect * math.sqrt(max_n)
        design_effect = effect
        # gsDesign with n.I given: binding designs end with the lower bound at the upper one;
        # non-binding ones keep the beta-spending bound when it stays below (gsDType3b, 4a).
        bounds = _bounds(plan, rates, field, drift, final_lower_at_upper=test_type != 4)
    else:
        drift, bounds = _power_drift(plan, rates, field)
        inflation = (drift / plan.fixed_drift()) ** 2
        if sized:
            design_effect = effect if effect is not None else plan.fixed_drift() / math.sqrt(n_fix)
            n_fix_value = (plan.fixed_drift() / design_effect) ** 2
            n_continuous = n_fix_value * inflation
            max_n = _look_size(n_continuous, 1.0)
        else:
            design_effect = drift / math.sqrt(max_n)
    n_information = max_n if n_continuous is None else n_continuous
    sizes = [_look_size(n_information, float(rate)) for rate in rates]
    if sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise InputError(
            f"information_rates give look sizes {sizes} for a maximum of {max_n}; every look "
            "needs more observations than the one before",
            field="information_rates" if not sized else ("n_fix" if n_fix else "effect"),
        )
    characteristics: tuple[OperatingCharacteristics, ...] = ()
    if wanted:
        effects = [0.0, float(design_effect), *(power_at or [])]
        characteristics = _characteristics(plan, rates, field, bounds, effects, n_information)
    return SequentialDesign(
        alpha=alpha,
        sides=sides,
        spending=spending,
        max_n=int(max_n),
        information_rates=tuple(float(rate) for rate in rates),
        boundaries=_boundaries(plan, rates, bounds, n_information),
        warning=_warning(alpha, sides),
        hsd_gamma=hsd_gamma,
        test_type=test_type,
        rho=rho,
        beta=beta_value if wanted else None,
        futility_spending=futility if test_type >= 3 else None,
        futility_hsd_gamma=futility_hsd_gamma,
        futility_rho=futility_rho,
        effect=design_effect,
        drift=drift,
        n_fix=n_fix_value,
        inflation_factor=inflation,
        max_n_continuous=n_continuous,
        characteristics=characteristics,
    )


def _plan_of(design: SequentialDesign) -> _Plan:
    return _Plan(
        test_type=design.test_type,
        alpha=design.alpha,
        spending=design.spending,
        hsd_gamma=design.hsd_gamma,
        rho=design.rho,
        beta=DEFAULT_BETA if design.beta is None else design.beta,
        futility_spending=design.futility_spending or DEFAULT_FUTILITY_SPENDING,
        futility_hsd_gamma=design.futility_hsd_gamma,
        futility_rho=design.futility_rho,
    )


def _observed_schedule(design: SequentialDesign, observed: np.ndarray) -> tuple[np.ndarray, int]:
    """Rates for the looks seen plus the planned looks still ahead, and the number of looks
    seen. The final analysis (the last planned look, or a look at full information) spends all
    that is left of alpha."""
    seen = len(observed)
    planned = np.asarray(design.information_rates)
    reached_full = observed[-1] >= 1.0 or seen == design.looks
    future = np.empty(0) if reached_full else planned[seen:][planned[seen:] > observed[-1]]
    return np.concatenate([observed, future]), seen


def monitor(
    design: SequentialDesign,
    z_statistics: Sequence[float],
    information_rates_observed: Sequence[float] | None = None,
) -> MonitoringDecision:
    """Interim decision from the z-statistics observed at looks 1..k of ``design``.

    Stops for efficacy at the first look whose z-statistic reaches the critical value
    (``|z|`` when two-sided), or for futility at the first interim look whose z-statistic is at
    or below the futility bound (test types 3-6). ``information_rates_observed`` are the information fractions actually
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
        if design.spending in CLASSIC_BOUNDARIES:
            raise InputError(
                f"information_rates_observed: the classic {design.spending} boundaries hold only "
                "at the planned information rates; monitor at other rates with a spending function",
                field="information_rates_observed",
            )
        rates, seen = _observed_schedule(design, observed)
        # The beta-spending futility bounds stay at the design's alternative: its effect at the
        # observed information (gsDesign's update with n.I and the design's delta).
        drift = 0.0 if design.effect is None else design.effect * math.sqrt(design.max_n)
        bounds = _bounds(
            _plan_of(design),
            rates,
            "information_rates_observed",
            drift,
            final_lower_at_upper=design.test_type != 4,
        )
        all_boundaries = _boundaries(_plan_of(design), rates, bounds, design.max_n)
    else:
        seen = len(z)
        all_boundaries = design.boundaries
    current, remaining = all_boundaries[:seen], all_boundaries[seen:]
    return _decide(design, z, current, remaining, bool(recomputed))


def _decide(
    design: SequentialDesign,
    z: Sequence[float],
    current: tuple[Boundary, ...],
    remaining: tuple[Boundary, ...],
    recomputed: bool,
) -> MonitoringDecision:
    """The first look whose z crosses a bound decides; the final analysis (no look remaining)
    either rejects H0 or ends without rejecting it."""
    stopped_at: int | None = None
    direction: str | None = None
    crossed: str | None = None
    for index, (boundary, value) in enumerate(zip(current, z, strict=True)):
        final = not remaining and index == len(current) - 1
        if value >= boundary.critical_value:
            stopped_at, direction, crossed = boundary.look, "upper", "efficacy"
        elif design.sides == 2 and value <= -boundary.critical_value:
            stopped_at, direction, crossed = boundary.look, "lower", "efficacy"
        elif not final and boundary.futility_bound is not None and value <= boundary.futility_bound:
            stopped_at, direction, crossed = boundary.look, "lower", "futility"
        if stopped_at is not None:
            break

    seen = len(current)
    at = current[(stopped_at or seen) - 1]
    z_at = z[at.look - 1]
    if crossed == "efficacy":
        decision = "stop_efficacy"
        message = (
            f"Stop: at look {at.look} the z-statistic {z_at:.3f} crossed the "
            f"{'lower ' if direction == 'lower' else ''}boundary "
            f"{'-' if direction == 'lower' else ''}{at.critical_value:.3f}; the null hypothesis "
            f"is rejected at overall level {design.alpha:g}."
        )
    elif crossed == "futility":
        decision = "stop_futility"
        message = (
            f"Stop for futility: at look {at.look} the z-statistic {z_at:.3f} is at or below the "
            f"futility bound {at.futility_bound:.3f} (one-sided p {1.0 - float(ndtr(z_at)):.3f} >= "
            f"{at.futility_nominal_p:.3f}); the null hypothesis is not rejected. "
            + (
                "The bound is binding: the efficacy bounds assumed the trial stops here."
                if design.binding
                else "The bound is non-binding: continuing anyway keeps the type-I error at "
                f"{design.alpha:g}."
            )
        )
    elif not remaining:
        decision = "stop_final"
        message = (
            f"Final analysis: the z-statistic {z_at:.3f} did not reach the boundary "
            f"{at.critical_value:.3f}; the null hypothesis is not rejected at overall level "
            f"{design.alpha:g}."
        )
    else:
        decision = "continue"
        futility_note = (
            ""
            if at.futility_bound is None
            else f" (above the futility bound {at.futility_bound:.3f})"
        )
        message = (
            f"Continue: at look {at.look} the z-statistic {z_at:.3f} is inside the boundary "
            f"{at.critical_value:.3f}{futility_note}. Next look at information rate "
            f"{remaining[0].information_rate:g} (n = {remaining[0].n}), boundary "
            f"{remaining[0].critical_value:.3f}."
        )
    if stopped_at is not None and seen > at.look:
        message += f" Looks after look {at.look} were ignored."
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
        boundaries_recomputed=recomputed,
        alpha=design.alpha,
        sides=design.sides,
        spending=design.spending,
        message=message,
        warning=design.warning,
        crossed_bound=crossed,
        futility_bound=at.futility_bound,
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
