"""Limits on what the analyses take: the size of values, of series and of options.

Each limit is checked beside its statistic and raises `InputError` naming the field, so the CLI,
the API and the Dagster assets refuse the same input with the same one-line message. The limits
keep every answer finite and its time reasonable on a laptop; docs/contracts-additions.md,
"Limits and edge inputs", lists them with the reason for each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from americano_pipelines.errors import InputError

if TYPE_CHECKING:  # the CLI imports this module for its option bounds; numpy stays unloaded
    import numpy as np

__all__ = [
    "MAX_ABS_VALUE",
    "MAX_ALTERNATING_SESSIONS",
    "MAX_ALTERNATING_TABLE",
    "MAX_BOOTSTRAP",
    "MAX_BOOTSTRAP_WORK",
    "MAX_CHAINS",
    "MAX_DRAWS",
    "MAX_EXACT",
    "MAX_PENALTY",
    "MAX_PERMUTATIONS",
    "MAX_RANDOMIZATION_WORK",
    "MAX_TUNE",
    "MIN_SCALE",
    "check_at_most",
    "check_magnitudes",
    "check_not_all_tiny",
    "first_too_large",
    "too_large_message",
]

MAX_ABS_VALUE = 1e150
"""Largest magnitude of an observed value. Squares and sums of squares of millions of such values
stay far below the largest float (1.8e308), so no mean, variance or regression overflows."""

MIN_SCALE = 1e-150
"""Smallest magnitude of the largest value of a series that is not all zeros: below it, squares
underflow to 0 and a varying series would look constant."""

MAX_PENALTY = 1e300
"""Largest change-point penalty (in squared units of the values, so MAX_ABS_VALUE squared):
sums of penalties and segment costs stay finite."""

MAX_PERMUTATIONS = 1_000_000
"""Most Monte Carlo assignments of a randomization test (Monte Carlo error of a p-value near 0.05
is then 0.0002); each costs a few array entries, so a million take a few seconds."""

MAX_EXACT = 1_000_000
"""Largest `max_exact`: complete enumeration lists at most this many assignments."""

MAX_BOOTSTRAP = 10_000
"""Most bootstrap refits behind a change point's confidence."""

MAX_BOOTSTRAP_WORK = 800_000_000
"""Most steps of those refits, refits x candidate change points^2 (each refit is an exact
segmentation): the default 200 refits over 2,000 rows, or 800 over the 1,000 candidates of a
longer series (seconds; beyond 2,000 rows the candidates are every ceil(rows / 1,000)-th row)."""

MAX_RANDOMIZATION_WORK = 200_000_000
"""Most steps of a randomization test whose assignments cost a step per session or per case:
sessions x orderings for an alternating treatments design, cases x Monte Carlo assignments for a
multiple baseline (a few seconds of array work)."""

MAX_ALTERNATING_SESSIONS = 10_000
"""Most sessions of an alternating treatments design. The number of admissible orderings is
reported exactly; C(10,000, 5,000) already has 3,009 digits, and Python refuses to print
integers of more than 4,300."""

MAX_ALTERNATING_TABLE = 10_000_000
"""Most entries of the table that counts the admissible orderings of an alternating treatments
design with a cap on consecutive sessions: sessions x (A sessions + 1) x (cap + 2), exact big
integers, so it grows with the square of the sessions (about 2,000 sessions at a cap of 2;
a real design has tens)."""

MAX_DRAWS = 100_000
"""Most posterior draws per chain of the Bayesian models (ITS, synthetic control)."""

MAX_TUNE = 100_000
"""Most tuning steps per chain."""

MAX_CHAINS = 64
"""Most Markov chains."""


def check_at_most(value: Any, limit: float, field: str, what: str = "") -> None:
    """InputError naming `field` when `value` exceeds `limit`."""
    if value > limit:
        described = f" {what}" if what else ""
        raise InputError(
            f"{field}: must be at most {_number(limit)}{described}, got {_number(value)}",
            field=field,
        )


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{float(value):g}"


def first_too_large(values: np.ndarray) -> int | None:
    """0-based index of the first value whose magnitude exceeds MAX_ABS_VALUE, or None."""
    beyond = (abs(values) > MAX_ABS_VALUE).nonzero()[0]
    return int(beyond[0]) if beyond.size else None


def check_magnitudes(values: np.ndarray, field: str, where: str = "", first_row: int = 1) -> None:
    """InputError naming `field` and the row (counted from `first_row`) of the first value whose
    magnitude exceeds MAX_ABS_VALUE, or saying that every value is below MIN_SCALE; `where`
    prefixes the row ("case 'x': ")."""
    index = first_too_large(values)
    if index is not None:
        raise InputError(
            too_large_message(field, f"{where}row {index + first_row}", values[index]), field=field
        )
    check_not_all_tiny(values, field, where)


def too_large_message(field: str, where: str, value: float) -> str:
    """The one-line message for a value beyond MAX_ABS_VALUE at `where` ("row 3")."""
    return (
        f"{field}: {where} has {float(value):g}, beyond the limit of +/-{MAX_ABS_VALUE:g} on "
        "values (rescale the series, e.g. to other units)"
    )


def check_not_all_tiny(values: np.ndarray, field: str, where: str = "") -> None:
    """InputError naming `field` when the values are not all zero yet none reaches MIN_SCALE in
    magnitude (their squares would underflow); `where` prefixes the message ("case 'x': ")."""
    largest = float(abs(values).max()) if values.size else 0.0
    if 0.0 < largest < MIN_SCALE:
        raise InputError(
            f"{field}: {where}every value is within +/-{MIN_SCALE:g} (the largest is "
            f"{largest:g}); squares underflow at that scale (rescale the series, e.g. to other "
            "units)",
            field=field,
        )
