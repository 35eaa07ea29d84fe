"""`americano analyze …`: one analysis, CSV in, JSON out (CONTRACTS.md §3).

Each subcommand reads a CSV with a header (`--input PATH`, or `-` for stdin), calls one function
of `americano_pipelines.stats`, and prints exactly one JSON object on stdout: the result's
`to_json()`, so the CLI, the API and the Dagster assets give the same JSON for the same input.

Bad input (missing column, non-numeric value, too few points, phases out of order, unknown option
or choice) exits 2 with one line on stderr naming the problem, never a traceback. The statistics
modules are imported inside each command, so `americano analyze abab` never loads PyMC.

`americano analyze protocol --protocol ID --analysis NAME` is the one subcommand without a CSV:
it runs one analysis of a registered protocol on the warehouse's marts by hand, as its asset
computes it, and records the run; an analysis the protocol did not register is `exploratory`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import typer

from americano_pipelines.cli.output import answered, fail, group, print_json
from americano_pipelines.cli.table import (
    Table,
    parse_date,
    parse_number_list,
    read_input,
    read_table,
)
from americano_pipelines.errors import InputError
from americano_pipelines.quality import inputs
from americano_pipelines.registration.analyses import ANALYSIS_NAMES
from americano_pipelines.stats import limits
from americano_pipelines.stats.defaults import (
    DEFAULT_MAX_EXACT,
    DEFAULT_MIN_PHASE_LENGTH,
    DEFAULT_PERMUTATIONS,
)
from americano_pipelines.stats.sampler import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE

__all__ = ["analyze_app"]


analyze_app = group("One analysis: CSV in, JSON out.")


def _analysis(command: Callable[..., Any]) -> Callable[..., None]:
    """Run a command body that returns a result with `to_json()`; print it as one JSON object.

    Errors are `answered` (cli/output.py). While the analysis runs, anything a library prints
    goes to stderr, so stdout holds only the JSON.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            result = command(*args, **kwargs)
        print_json(result.to_json())

    return answered(wrapper)


# ----------------------------------------------------------------------------- choices


class Statistic(StrEnum):
    """Test statistics as named in the SCRT package."""

    b_minus_a = "B-A"
    a_minus_b = "A-B"
    pb_minus_pa = "PB-PA"
    pa_minus_pb = "PA-PB"
    abs_a_minus_b = "|A-B|"
    abs_pa_minus_pb = "|PA-PB|"
    median_b_minus_a = "Median B-A"
    median_a_minus_b = "Median A-B"
    abs_median_a_minus_b = "|Median A-B|"
    smd_hedges = "SMD hedges"
    smd_glass = "SMD glass"
    nap = "NAP"
    nap_decreasing = "NAP decreasing"
    t_test = "T-test"
    w_test = "W-test"
    slope_b_minus_a = "Slope B-A"
    slope_a_minus_b = "Slope A-B"


class Combine(StrEnum):
    mean = "mean"
    median = "median"
    rms = "rms"


class ConditionStatistic(StrEnum):
    """Statistics of an alternating treatments design (no phases, so no phase means)."""

    b_minus_a = "B-A"
    a_minus_b = "A-B"
    abs_a_minus_b = "|A-B|"


class Spending(StrEnum):
    obrien_fleming = "obrien_fleming"
    pocock = "pocock"
    hsd = "hsd"
    kim_demets = "kim_demets"
    obrien_fleming_classic = "obrien_fleming_classic"
    pocock_classic = "pocock_classic"


class Sides(StrEnum):
    one = "1"
    two = "2"


class Improvement(StrEnum):
    increase = "increase"
    decrease = "decrease"


class Scale(StrEnum):
    count = "count"
    rate = "rate"
    proportion = "proportion"
    percentage = "percentage"
    other = "other"


class NapStandardError(StrEnum):
    """SingleCaseES's `SE` for NAP, Tau and Tau-BC."""

    unbiased = "unbiased"
    hanley = "hanley"
    null = "null"


class Algorithm(StrEnum):
    pelt = "pelt"
    binseg = "binseg"


class ChangePointCost(StrEnum):  # stats.changepoint_costs.COSTS
    mean = "mean"
    variance = "variance"
    normal = "normal"
    linear = "linear"
    rank = "rank"


class Seasonality(StrEnum):
    none = "none"
    day_of_week = "day_of_week"
    month = "month"


class Fit(StrEnum):
    pre_period = "pre_period"
    joint = "joint"


class Sampler(StrEnum):
    auto = "auto"
    nutpie = "nutpie"
    pymc = "pymc"


# ----------------------------------------------------------------------------- options

InputPath = Annotated[
    str, typer.Option("--input", help="CSV file with a header row; - reads standard input.")
]
MinPhaseLength = Annotated[
    int, typer.Option("--min-phase-length", help="Fewest observations in any phase.")
]
MinBPhaseLength = Annotated[
    int | None,
    typer.Option(
        "--min-b-phase-length",
        help="Fewest observations in a B phase, if not --min-phase-length (scan's limit = "
        "c(A, B)).",
    ),
]
StatisticOption = Annotated[
    Statistic,
    typer.Option("--statistic", help="Test statistic (SCRT names)."),
]
Permutations = Annotated[
    int,
    typer.Option(
        "--permutations",
        max=limits.MAX_PERMUTATIONS,
        help="Monte Carlo assignments (the observed one included) when not exact.",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed: same seed, same answer.")]
MaxExact = Annotated[
    int,
    typer.Option(
        "--max-exact",
        max=limits.MAX_EXACT,
        help="Enumerate every assignment when there are at most this many.",
    ),
]
Alpha = Annotated[
    float, typer.Option("--alpha", help="Significance level for `significant` and the text.")
]
StatisticExpression = Annotated[
    str | None,
    typer.Option(
        "--statistic-expression",
        help="Your own statistic over a and b, e.g. 'median(b) - median(a)' (functions: mean, "
        "median, sd, var, min, max, sum, n, abs, sqrt, log, exp); replaces --statistic.",
    ),
]
ExcludeEqual = Annotated[
    bool,
    typer.Option(
        "--exclude-equal/--include-equal",
        help="Count only assignments whose statistic exceeds the observed one (scan's "
        "exclude.equal); by default ties count.",
    ),
]
DesignAlpha = Annotated[float, typer.Option("--alpha", help="Total type-I error of the design.")]
SpendingOption = Annotated[
    Spending,
    typer.Option(
        "--spending",
        help="Lan-DeMets spending function, or the classic Pocock / O'Brien-Fleming boundaries.",
    ),
]
MaxN = Annotated[
    int | None,
    typer.Option(
        "--max-n", help="Sample size at the final look (or size the design: --n-fix, --effect)."
    ),
]
Looks = Annotated[int, typer.Option("--looks", help="Number of looks, the final one included.")]
SidesOption = Annotated[
    Sides | None,
    typer.Option(
        "--sides",
        help="1: upper boundary only; 2 (default): symmetric, alpha/2 per tail. "
        "--test-type implies it.",
    ),
]
InformationRates = Annotated[
    str | None,
    typer.Option(
        "--information-rates",
        help="Comma-separated information rates, increasing, ending at 1 (default: equal).",
    ),
]
Draws = Annotated[
    int, typer.Option("--draws", max=limits.MAX_DRAWS, help="Posterior draws per chain.")
]
Tune = Annotated[int, typer.Option("--tune", max=limits.MAX_TUNE, help="Tuning steps per chain.")]
Chains = Annotated[int, typer.Option("--chains", max=limits.MAX_CHAINS, help="Markov chains.")]
SamplerOption = Annotated[Sampler, typer.Option("--sampler", help="NUTS implementation.")]
HsdGamma = Annotated[
    float, typer.Option("--hsd-gamma", help="Gamma of the Hwang-Shih-DeCani spending function.")
]


def _sides(sides: Sides | None) -> int | None:
    return None if sides is None else int(sides.value)


def _rates(text: str | None, option: str) -> list[float] | None:
    return None if text is None else parse_number_list(text, field=option)


def _check_time_order(table: Table, *, strictly: bool) -> None:
    """An optional `date` column must be ISO dates running forward (rows are in time order)."""
    if table.has("date"):
        table.dates_in_order("date", strictly=strictly)


# ----------------------------------------------------------------------------- phase designs


def _phase_design(
    design: str,
    n_phases: int,
    input_path: str,
    *,
    min_phase_length: int,
    min_b_phase_length: int | None,
    statistic: Statistic,
    permutations: int,
    seed: int,
    max_exact: int,
    alpha: float,
    exclude_equal: bool,
    statistic_expression: str | None,
) -> Any:
    from americano_pipelines.stats import sced

    table, read = read_input(input_path, inputs.PHASE_SERIES, what=f"the {design} test")
    phases, values = read["phase"], read["value"]
    _check_time_order(table, strictly=False)
    min_b = min_phase_length if min_b_phase_length is None else min_b_phase_length
    needed = (n_phases + 1) // 2 * min_phase_length + n_phases // 2 * min_b
    if min_phase_length >= 1 and min_b >= 1 and len(values) < needed:
        lengths = f"--min-phase-length {min_phase_length}" + (
            "" if min_b_phase_length is None else f" (B: --min-b-phase-length {min_b})"
        )
        raise InputError(
            f"value: {len(values)} observations; an {design} design with {n_phases} phases of at "
            f"least {lengths} needs at least {needed}",
            field="value",
        )
    test = {
        "AB": sced.ab_randomization_test,
        "ABA": sced.aba_randomization_test,
        "ABAB": sced.abab_randomization_test,
    }[design]
    return test(
        phases,
        values,
        min_phase_length=min_phase_length,
        min_b_phase_length=min_b_phase_length,
        statistic=statistic.value,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
        statistic_expression=statistic_expression,
    )


def _phase_design_command(design: str, n_phases: int, summary: str) -> None:
    """Register `americano analyze <design>`: the randomization test of one phase design."""

    def command(
        input_path: InputPath,
        min_phase_length: MinPhaseLength = DEFAULT_MIN_PHASE_LENGTH,
        min_b_phase_length: MinBPhaseLength = None,
        statistic: StatisticOption = Statistic.b_minus_a,
        permutations: Permutations = DEFAULT_PERMUTATIONS,
        seed: Seed = 0,
        max_exact: MaxExact = DEFAULT_MAX_EXACT,
        alpha: Alpha = 0.05,
        exclude_equal: ExcludeEqual = False,
        statistic_expression: StatisticExpression = None,
    ) -> Any:
        return _phase_design(
            design,
            n_phases,
            input_path,
            min_phase_length=min_phase_length,
            min_b_phase_length=min_b_phase_length,
            statistic=statistic,
            permutations=permutations,
            seed=seed,
            max_exact=max_exact,
            alpha=alpha,
            exclude_equal=exclude_equal,
            statistic_expression=statistic_expression,
        )

    command.__doc__ = summary
    command.__name__ = design.lower()
    analyze_app.command(design.lower())(_analysis(command))


_phase_design_command(
    "ABAB",
    4,
    """ABAB randomization test (SCRT "ABAB"). CSV: phase (A/B or A1,B1,A2,B2), value; rows in
    time order; optional date.""",
)
_phase_design_command(
    "AB",
    2,
    """AB randomization test (SCRT "AB"). CSV: phase (A then B), value; rows in time order;
    optional date.""",
)
_phase_design_command(
    "ABA",
    3,
    """ABA withdrawal randomization test (SCRT "ABA"). CSV: phase (A/B or A1,B1,A2), value;
    rows in time order; optional date.""",
)


def _check_time_order_within(table: Table, groups: list[str], what: str) -> None:
    """An optional `date` column must run forward within each group (case, person)."""
    if not table.has("date"):
        return
    last_day: dict[str, tuple[int, date]] = {}
    for index, (member, day) in enumerate(zip(groups, table.dates("date"), strict=True)):
        previous = last_day.get(member)
        if previous is not None and day < previous[1]:
            raise InputError(
                f"date: {table.where(index)}has {day.isoformat()}, which comes before "
                f"{previous[1].isoformat()} on {table.where(previous[0]).strip()} of {what} "
                f"{member!r}; rows must be in time order within each {what}",
                field="date",
            )
        last_day[member] = (index, day)


def _cases(table: Table) -> dict[str, tuple[list[str], list[float]]]:
    """Rows grouped by case, cases in order of first appearance, rows kept in file order."""
    cases_column = table.labels("case")
    phases, values = table.labels("phase"), table.numbers("value")
    _check_time_order_within(table, cases_column, "case")
    grouped: dict[str, tuple[list[str], list[float]]] = {}
    for case, phase, value in zip(cases_column, phases, values, strict=True):
        case_phases, case_values = grouped.setdefault(case, ([], []))
        case_phases.append(phase)
        case_values.append(value)
    return grouped


def _read_start_points(path: str) -> dict[str, list[int]]:
    """Each case's admissible starts from a CSV with columns case and start (1-based rows
    within the case), as the library's 0-based indices."""
    table = read_table(path, required=("case", "start"), what="the start points")
    starts: dict[str, list[int]] = {}
    for case, start in zip(table.labels("case"), table.numbers("start"), strict=True):
        if start != int(start):
            raise InputError(
                f"--start-points: case {case!r} has start {start!r}, not a whole row number",
                field="start_points",
            )
        starts.setdefault(case, []).append(int(start) - 1)
    return starts


@analyze_app.command("multiple-baseline")
@_analysis
def multiple_baseline(
    input_path: InputPath,
    min_phase_length: MinPhaseLength = DEFAULT_MIN_PHASE_LENGTH,
    min_b_phase_length: MinBPhaseLength = None,
    statistic: StatisticOption = Statistic.b_minus_a,
    permutations: Permutations = DEFAULT_PERMUTATIONS,
    seed: Seed = 0,
    max_exact: MaxExact = DEFAULT_MAX_EXACT,
    alpha: Alpha = 0.05,
    exclude_equal: ExcludeEqual = False,
    statistic_expression: StatisticExpression = None,
    start_points: Annotated[
        str | None,
        typer.Option(
            "--start-points",
            help="CSV (case, start) of each case's admissible intervention starts, the 1-based "
            "row within the case of the first B observation; replaces --min-phase-length.",
        ),
    ] = None,
    combine: Annotated[
        Combine | None,
        typer.Option(
            "--combine",
            help="How the cases' statistics combine: mean, median or rms (default: scan's "
            "rule, the median for the median statistics, rms for the SMDs, else the mean).",
        ),
    ] = None,
) -> Any:
    """Multiple-baseline randomization test across cases. CSV: case, phase (A then B per case),
    value; rows in time order within each case; optional date."""
    from americano_pipelines.stats import sced

    table = read_table(
        input_path, required=("case", "phase", "value"), what="the multiple-baseline test"
    )
    return sced.multiple_baseline_test(
        _cases(table),
        min_phase_length=min_phase_length,
        min_b_phase_length=min_b_phase_length,
        statistic=statistic.value,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
        statistic_expression=statistic_expression,
        start_points=None if start_points is None else _read_start_points(start_points),
        combine=None if combine is None else combine.value,
    )


def _max_consecutive(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise InputError(
            f"--max-consecutive: {text!r} is not a whole number or 'none'",
            field="max_consecutive",
        ) from None


@analyze_app.command("alternating")
@_analysis
def alternating(
    input_path: InputPath,
    max_consecutive: Annotated[
        str,
        typer.Option(
            "--max-consecutive",
            help="Most sessions of one condition in a row (SCRT ATD limit); none: SCRT CRD.",
        ),
    ] = "2",
    statistic: Annotated[
        ConditionStatistic,
        typer.Option("--statistic", help="Test statistic (SCRT names)."),
    ] = ConditionStatistic.b_minus_a,
    permutations: Permutations = DEFAULT_PERMUTATIONS,
    seed: Seed = 0,
    max_exact: MaxExact = DEFAULT_MAX_EXACT,
    alpha: Alpha = 0.05,
    exclude_equal: ExcludeEqual = False,
) -> Any:
    """Alternating treatments randomization test (SCRT "ATD"). CSV: condition (A/B), value;
    rows in time order; optional date."""
    from americano_pipelines.stats import sced

    cap = _max_consecutive(max_consecutive)
    table, read = read_input(
        input_path, inputs.CONDITION_SERIES, what="the alternating treatments test"
    )
    conditions, values = read["condition"], read["value"]
    _check_time_order(table, strictly=False)
    return sced.alternating_treatments_test(
        conditions,
        values,
        max_consecutive=cap,
        statistic=statistic.value,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
    )


def _read_schedules(path: str) -> list[list[int]]:
    """The admissible schedules file: a header row, then one schedule per row, the 1-based row
    at which each of phases 2..P starts; returned 0-based."""
    import csv

    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise InputError(
            f"--schedules: cannot read {path}: {error.strerror}", field="schedules"
        ) from None
    schedules = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            schedules.append([int(cell) - 1 for cell in row if cell.strip()])
        except ValueError:
            raise InputError(
                f"--schedules: line {number} is not a list of whole row numbers: {row!r}",
                field="schedules",
            ) from None
    return schedules


@analyze_app.command("custom-design")
@_analysis
def custom_design(
    input_path: InputPath,
    schedules: Annotated[
        str,
        typer.Option(
            "--schedules",
            help="CSV of the admissible schedules: a header, then per schedule the rows "
            "(1-based) where phases 2.. start.",
        ),
    ],
    statistic: StatisticOption = Statistic.b_minus_a,
    alpha: Alpha = 0.05,
    exclude_equal: ExcludeEqual = False,
    statistic_expression: StatisticExpression = None,
) -> Any:
    """Randomization test over a custom admissible set. CSV: phase (A/B alternating), value;
    rows in time order; optional date."""
    from americano_pipelines.stats import sced

    table = read_table(input_path, required=("phase", "value"), what="the custom design test")
    _check_time_order(table, strictly=False)
    return sced.custom_design_test(
        table.labels("phase"),
        table.numbers("value"),
        schedules=_read_schedules(schedules),
        statistic=statistic.value,
        alpha=alpha,
        exclude_equal=exclude_equal,
        statistic_expression=statistic_expression,
    )


@analyze_app.command("randomized-block")
@_analysis
def randomized_block(
    input_path: InputPath,
    statistic: Annotated[
        ConditionStatistic,
        typer.Option("--statistic", help="Test statistic (SCRT names)."),
    ] = ConditionStatistic.b_minus_a,
    permutations: Permutations = DEFAULT_PERMUTATIONS,
    seed: Seed = 0,
    max_exact: MaxExact = DEFAULT_MAX_EXACT,
    alpha: Alpha = 0.05,
    exclude_equal: ExcludeEqual = False,
) -> Any:
    """Randomized block randomization test (SCRT "RBD"). CSV: condition (A/B), value; rows in
    time order, in blocks of two sessions, one A and one B each; optional date."""
    from americano_pipelines.stats import sced

    table, read = read_input(input_path, inputs.CONDITION_SERIES, what="the randomized block test")
    conditions, values = read["condition"], read["value"]
    _check_time_order(table, strictly=False)
    return sced.randomized_block_test(
        conditions,
        values,
        statistic=statistic.value,
        permutations=permutations,
        seed=seed,
        max_exact=max_exact,
        alpha=alpha,
        exclude_equal=exclude_equal,
    )


# ----------------------------------------------------------------------------- effect sizes


@analyze_app.command("effect-sizes")
@_analysis
def effect_sizes(
    input_path: InputPath,
    improvement: Annotated[
        Improvement,
        typer.Option("--improvement", help="Which direction is better."),
    ] = Improvement.increase,
    scale: Annotated[
        Scale,
        typer.Option("--scale", help="Outcome scale for the log response ratios."),
    ] = Scale.count,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Level of every interval (SingleCaseES).")
    ] = 0.95,
    nap_se: Annotated[
        NapStandardError,
        typer.Option("--nap-se", help="Standard error of NAP, Tau and Tau-BC."),
    ] = NapStandardError.unbiased,
    goal: Annotated[
        float | None, typer.Option("--goal", help="Goal level: adds PoGO (percent of goal).")
    ] = None,
    observation_length: Annotated[
        float | None,
        typer.Option("--observation-length", help="Session minutes (rates): LRR truncation."),
    ] = None,
    intervals: Annotated[
        float | None,
        typer.Option(
            "--intervals", help="Intervals per session (percentages): LRR/LOR truncation."
        ),
    ] = None,
    truncation_constant: Annotated[
        float | None,
        typer.Option("--truncation-constant", help="SingleCaseES D_const (overrides the two)."),
    ] = None,
    tau_bc_pretest: Annotated[
        float | None,
        typer.Option(
            "--tau-bc-pretest",
            help="Correct Tau-BC only when the baseline trend test has p <= this (default: always).",
        ),
    ] = None,
    tau_bc_kendall: Annotated[
        bool, typer.Option("--tau-bc-kendall", help="Tau-BC as Kendall's tau-b (Tarlow 2017).")
    ] = False,
) -> Any:
    """SingleCaseES effect sizes. CSV: phase (one A block, then one B block), value; optional
    date."""
    from americano_pipelines.stats.effect_sizes import EffectSizeOptions
    from americano_pipelines.stats.effect_sizes import effect_sizes as compute

    options = EffectSizeOptions(
        scale=scale.value,
        confidence=confidence,
        nap_se=nap_se.value,
        goal=goal,
        observation_length=observation_length,
        intervals=intervals,
        truncation_constant=truncation_constant,
        tau_bc_pretest=tau_bc_pretest,
        tau_bc_kendall=tau_bc_kendall,
    )
    table, read = read_input(
        input_path, inputs.EFFECT_SIZE_SERIES, what="effect sizes (2 per phase)"
    )
    phases, values = read["phase"], read["value"]
    _check_time_order(table, strictly=False)
    return compute(phases, values, improvement.value, options=options)


# ----------------------------------------------------------------------------- sequential


class TestType(StrEnum):
    """gsDesign's test.type."""

    one_sided = "1"
    two_sided = "2"
    binding_beta = "3"
    non_binding_beta = "4"
    binding_lower_alpha = "5"
    non_binding_lower_alpha = "6"


class FutilitySpending(StrEnum):
    obrien_fleming = "obrien_fleming"
    pocock = "pocock"
    hsd = "hsd"
    kim_demets = "kim_demets"


Rho = Annotated[float, typer.Option("--rho", help="rho of the Kim-DeMets spending alpha t^rho.")]
TestTypeOption = Annotated[
    TestType | None,
    typer.Option(
        "--test-type",
        help="gsDesign test.type: 1 one-sided, 2 two-sided, 3/4 beta-spending futility bound "
        "binding/non-binding, 5/6 lower bound spending 1 - alpha under H0 binding/non-binding.",
    ),
]
Beta = Annotated[
    float | None,
    typer.Option("--beta", help="Type-II error (1 - power) of the design (default 0.1)."),
]
FutilitySpendingOption = Annotated[
    FutilitySpending | None,
    typer.Option(
        "--futility-spending", help="Spending function of the futility bound (default hsd)."
    ),
]
FutilityHsdGamma = Annotated[
    float, typer.Option("--futility-hsd-gamma", help="Gamma of the futility bound's HSD.")
]
FutilityRho = Annotated[
    float, typer.Option("--futility-rho", help="rho of the futility bound's Kim-DeMets spending.")
]
NFix = Annotated[
    float | None,
    typer.Option("--n-fix", help="Fixed-design sample size for power 1 - beta: sizes the design."),
]
Effect = Annotated[
    float | None,
    typer.Option(
        "--effect",
        help="Standardized effect of the alternative, E(Z at n) = effect sqrt(n): sizes the "
        "design without --max-n.",
    ),
]


def _design_flags(
    alpha: DesignAlpha,
    spending: SpendingOption,
    looks: Looks,
    max_n: MaxN = None,
    sides: SidesOption = None,
    information_rates: InformationRates = None,
    hsd_gamma: HsdGamma = -4.0,
    rho: Rho = 3.0,
    test_type: TestTypeOption = None,
    beta: Beta = None,
    futility_spending: FutilitySpendingOption = None,
    futility_hsd_gamma: FutilityHsdGamma = -2.0,
    futility_rho: FutilityRho = 3.0,
    n_fix: NFix = None,
    effect: Effect = None,
) -> dict[str, Any]:
    """The design flags of `sequential` and `monitor`, as `group_sequential_design`'s keywords."""
    return {
        "alpha": alpha,
        "spending": spending.value,
        "looks": looks,
        "max_n": max_n,
        "sides": _sides(sides),
        "information_rates": _rates(information_rates, "--information-rates"),
        "hsd_gamma": hsd_gamma,
        "rho": rho,
        "test_type": None if test_type is None else int(test_type.value),
        "beta": beta,
        "futility_spending": None if futility_spending is None else futility_spending.value,
        "futility_hsd_gamma": futility_hsd_gamma,
        "futility_rho": futility_rho,
        "n_fix": n_fix,
        "effect": effect,
    }


def _with_design_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the flags of `_design_flags` after its own; it receives their keywords for
    `group_sequential_design` as `design`. One list of flags for both commands."""
    flags = inspect.signature(_design_flags, eval_str=True).parameters
    own = inspect.signature(command, eval_str=True).parameters

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        design = _design_flags(**{name: kwargs.pop(name) for name in flags})
        return command(design=design, **kwargs)

    parameters = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for parameter in (*flags.values(), *(p for n, p in own.items() if n != "design"))
    ]
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


@analyze_app.command("sequential")
@_analysis
@_with_design_flags
def sequential(
    design: dict[str, Any],
    power_at: Annotated[
        str | None,
        typer.Option(
            "--power-at", help="Comma-separated standardized effects to give the power at."
        ),
    ] = None,
) -> Any:
    """Group-sequential boundaries as gsDesign computes them: efficacy, futility, sample size
    and power. No input."""
    from americano_pipelines.stats.sequential import group_sequential_design

    return group_sequential_design(**design, power_at=_rates(power_at, "--power-at"))


@analyze_app.command("monitor")
@_analysis
@_with_design_flags
def monitor(
    design: dict[str, Any],
    z: Annotated[
        str, typer.Option("--z", help="Comma-separated z-statistics observed at looks 1..k.")
    ],
    observed_information_rates: Annotated[
        str | None,
        typer.Option(
            "--observed-information-rates",
            help="Comma-separated information rates reached at looks 1..k (default: as planned).",
        ),
    ] = None,
) -> Any:
    """Interim decision at the looks seen so far of a group-sequential design: efficacy,
    futility or continue. No input."""
    from americano_pipelines.stats.sequential import group_sequential_design
    from americano_pipelines.stats.sequential import monitor as decide

    z_statistics = parse_number_list(z, field="--z")
    observed = _rates(observed_information_rates, "--observed-information-rates")
    return decide(group_sequential_design(**design), z_statistics, observed)


# ----------------------------------------------------------------------------- time series


@analyze_app.command("changepoints")
@_analysis
def changepoints(
    input_path: InputPath,
    min_segment_length: Annotated[
        int, typer.Option("--min-segment-length", help="Fewest observations in a segment.")
    ] = 7,
    algorithm: Annotated[
        Algorithm, typer.Option("--algorithm", help="ruptures algorithm.")
    ] = Algorithm.pelt,
    cost: Annotated[
        ChangePointCost, typer.Option("--cost", help="Segment cost: what changes.")
    ] = ChangePointCost.mean,
    penalty: Annotated[
        str | None,
        typer.Option(
            "--penalty",
            help="bic (default), mbic, or a number per change point (the cost's units).",
        ),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            max=limits.MAX_BOOTSTRAP,
            help="Block-bootstrap refits behind `confidence`.",
        ),
    ] = 200,
    seed: Seed = 0,
) -> Any:
    """Change points in the mean, variance, both, a linear trend or the ranks (ruptures PELT
    or binary segmentation). CSV: date, value."""
    from americano_pipelines.stats.changepoints import detect_change_points

    _, read = read_input(input_path, inputs.DATED_SERIES, what="change-point detection")
    days, values = read["date"], read["value"]
    return detect_change_points(
        values,
        days,
        min_segment_length=min_segment_length,
        algorithm=algorithm.value,
        penalty=penalty,
        n_bootstrap=bootstrap,
        seed=seed,
        cost=cost.value,
    )


@analyze_app.command("its")
@_analysis
def its(
    input_path: InputPath,
    intervention_date: Annotated[
        str, typer.Option("--intervention-date", help="First day of the post period, YYYY-MM-DD.")
    ],
    pre_period_days: Annotated[
        int | None, typer.Option("--pre-period-days", help="Use only this many days before.")
    ] = None,
    post_period_days: Annotated[
        int | None, typer.Option("--post-period-days", help="Use only this many days from it.")
    ] = None,
    seasonality: Annotated[
        Seasonality, typer.Option("--seasonality", help="Seasonal terms.")
    ] = Seasonality.none,
    effect_prior_mean: Annotated[
        float | None, typer.Option("--effect-prior-mean", help="Effect prior mean (raw units).")
    ] = None,
    effect_prior_sd: Annotated[
        float | None, typer.Option("--effect-prior-sd", help="Effect prior SD (raw units).")
    ] = None,
    seed: Seed = 0,
    ar1: Annotated[bool, typer.Option("--ar1/--no-ar1", help="AR(1) errors.")] = False,
    fit: Annotated[
        Fit | None,
        typer.Option(
            "--fit",
            help="pre_period: the counterfactual is fit to the pre period alone (CausalPy's "
            "ITS); joint: one model over both periods. Default: joint with an effect prior, "
            "else pre_period.",
        ),
    ] = None,
    draws: Draws = DEFAULT_DRAWS,
    tune: Tune = DEFAULT_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    sampler: SamplerOption = Sampler.auto,
) -> Any:
    """Bayesian interrupted time series (PyMC). CSV: date, value."""
    intervention = parse_date(intervention_date, field="--intervention-date")
    _, read = read_input(input_path, inputs.DATED_SERIES, what="the ITS")
    days, values = read["date"], read["value"]
    from americano_pipelines.stats.its import bayesian_its

    return bayesian_its(
        [day.isoformat() for day in days],
        values,
        intervention_date=intervention.isoformat(),
        pre_period_days=pre_period_days,
        post_period_days=post_period_days,
        seasonality=seasonality.value,
        ar1=ar1,
        fit=None if fit is None else fit.value,
        effect_prior_mean=effect_prior_mean,
        effect_prior_sd=effect_prior_sd,
        seed=seed,
        draws=draws,
        tune=tune,
        chains=chains,
        sampler=sampler.value,
    )


@analyze_app.command("granger")
@_analysis
def granger(
    input_path: InputPath,
    cause: Annotated[str, typer.Option("--cause", help="Column of the candidate cause.")],
    effect: Annotated[str, typer.Option("--effect", help="Column of the effect.")],
    max_lag: Annotated[int, typer.Option("--max-lag", help="Test lags 1..K.")] = 7,
) -> Any:
    """Granger causality F-tests (statsmodels ssr_ftest, lmtest::grangertest). CSV: the cause
    and effect columns in time order; optional date."""
    from americano_pipelines.stats.granger import granger_causality

    table = read_table(input_path, required=(effect, cause), min_rows=2, what="the Granger test")
    cause_column, effect_column = table.column_name(cause), table.column_name(effect)
    data = {effect_column: table.numbers(effect_column), cause_column: table.numbers(cause_column)}
    _check_time_order(table, strictly=True)
    return granger_causality(data, cause=cause_column, effect=effect_column, max_lag=max_lag)


# ----------------------------------------------------------------------------- synthetic control


class SyntheticControlScaling(StrEnum):
    treated_sd = "treated_sd"
    zscore = "zscore"
    none = "none"


def _column_names(text: str, option: str) -> list[str]:
    """`"sleep,hrv"` as column names: the comma-separated lists of options such as `--donors`."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(
            f"{option}: give comma-separated column names, none of them empty", field=option
        )
    return names


def _donor_numbers(table: Table, column: str, *, named: bool) -> list[float]:
    """A donor column as numbers; an unnamed (default) donor's error says how to leave it out."""
    try:
        return table.numbers(column)
    except InputError as error:
        if named:
            raise
        raise InputError(
            f"{error}; every column other than date and --treated is a donor unless --donors "
            "names them",
            field=error.field,
        ) from None


@analyze_app.command("synthetic-control")
@_analysis
def synthetic_control(
    input_path: InputPath,
    treated: Annotated[
        str, typer.Option("--treated", help="Column of the treated series (the outcome).")
    ],
    intervention_date: Annotated[
        str, typer.Option("--intervention-date", help="First day of the post period, YYYY-MM-DD.")
    ],
    donors: Annotated[
        str | None,
        typer.Option(
            "--donors", help="Comma-separated donor columns (default: every other column)."
        ),
    ] = None,
    scaling: Annotated[
        SyntheticControlScaling,
        typer.Option(
            "--scaling",
            help="treated_sd: all series / the treated pre-period SD; zscore: each series "
            "standardized; none: raw (CausalPy as is).",
        ),
    ] = SyntheticControlScaling.treated_sd,
    seed: Seed = 0,
    draws: Draws = DEFAULT_DRAWS,
    tune: Tune = DEFAULT_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    target_accept: Annotated[
        float, typer.Option("--target-accept", help="NUTS target acceptance rate.")
    ] = 0.95,
) -> Any:
    """Bayesian synthetic control (CausalPy WeightedSumFitter). CSV: date, the treated column and
    numeric donor columns, one row per date."""
    intervention = parse_date(intervention_date, field="--intervention-date")
    table = read_table(
        input_path, required=("date", treated), min_rows=2, what="the synthetic control"
    )
    date_column, treated_column = table.column_name("date"), table.column_name(treated)
    if donors is None:
        donor_columns = [c for c in table.columns if c not in (date_column, treated_column)]
    else:
        donor_columns = [table.column_name(name) for name in _column_names(donors, "--donors")]
    data: dict[str, list[Any]] = {
        date_column: [day.isoformat() for day in table.dates(date_column)],
        treated_column: table.numbers(treated_column),
    }
    for column in donor_columns:
        if column not in data:  # a repeated or self-naming donor is the library's error
            data[column] = _donor_numbers(table, column, named=donors is not None)
    for column in table.columns:  # the rest, as text, so the result lists them as ignored
        if column not in data:
            data[column] = table.text(column)
    from americano_pipelines.stats.synthetic_control import (
        synthetic_control as fit_synthetic_control,
    )

    return fit_synthetic_control(
        data,
        date_column=date_column,
        treated=treated_column,
        donors=donor_columns,
        intervention_date=intervention.isoformat(),
        scaling=scaling.value,
        seed=seed,
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
    )


# ----------------------------------------------------------------------------- series of N-of-1


class Noise(StrEnum):
    person = "person"
    pooled = "pooled"


class Parameterization(StrEnum):
    auto = "auto"
    non_centred = "non_centred"
    centred = "centred"


def _either_column(table: Table, names: tuple[str, str]) -> str:
    """The one of two alternative column names the input has (`person` or `user`, ...)."""
    present = [name for name in names if table.has(name)]
    if len(present) == 2:
        raise InputError(
            f"{names[0]}: the input has both {names[0]!r} and {names[1]!r}; keep one",
            field=names[0],
        )
    return table.column_name(present[0] if present else names[0])


@analyze_app.command("series-of-n1")
@_analysis
def series_of_n1(
    input_path: InputPath,
    noise: Annotated[
        Noise,
        typer.Option("--noise", help="person: a noise SD per person; pooled: one for all."),
    ] = Noise.person,
    parameterization: Annotated[
        Parameterization,
        typer.Option(
            "--parameterization",
            help="auto: centred where persons' data pin them down, else non-centred.",
        ),
    ] = Parameterization.auto,
    statistic: Annotated[
        ConditionStatistic,
        typer.Option("--statistic", help="Each person's randomization test statistic."),
    ] = ConditionStatistic.b_minus_a,
    min_phase_length: MinPhaseLength = DEFAULT_MIN_PHASE_LENGTH,
    max_consecutive: Annotated[
        str,
        typer.Option(
            "--max-consecutive",
            help="Alternating persons: most sessions of one condition in a row; none: any.",
        ),
    ] = "2",
    permutations: Permutations = DEFAULT_PERMUTATIONS,
    max_exact: MaxExact = DEFAULT_MAX_EXACT,
    alpha: Alpha = 0.05,
    seed: Seed = 0,
    draws: Draws = DEFAULT_DRAWS,
    tune: Tune = DEFAULT_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    sampler: SamplerOption = Sampler.auto,
) -> Any:
    """A series of N-of-1 trials: Bayesian hierarchical model (PyMC) of many persons' A/B
    trials of one intervention. CSV: person (or user), condition (or phase; A/B), value; rows
    in time order within each person; optional block (a randomized pair of periods), date."""
    cap = _max_consecutive(max_consecutive)
    table = read_table(input_path, min_rows=2, what="the series of N-of-1 trials")
    person_column = _either_column(table, ("person", "user"))
    condition_column = _either_column(table, ("condition", "phase"))
    persons = table.labels(person_column)
    conditions, values = table.labels(condition_column), table.numbers("value")
    _check_time_order_within(table, persons, "person")
    from americano_pipelines.stats.series_of_n1 import series_of_n1 as fit_series

    return fit_series(
        persons,
        conditions,
        values,
        blocks=table.labels("block") if table.has("block") else None,
        noise=noise.value,
        parameterization=parameterization.value,
        statistic=statistic.value,
        min_phase_length=min_phase_length,
        max_consecutive=cap,
        permutations=permutations,
        max_exact=max_exact,
        alpha=alpha,
        seed=seed,
        draws=draws,
        tune=tune,
        chains=chains,
        sampler=sampler.value,
    )


# ----------------------------------------------------------------------------- a protocol

AnalysisName = StrEnum("AnalysisName", {name: name for name in ANALYSIS_NAMES})
"""The analyses as protocol files name them (docs/protocol-yaml.md, `analyses:`)."""


@dataclass(frozen=True)
class _ProtocolRun:
    """A protocol's analysis and the run that recorded it."""

    result: Any
    run: Any

    def to_json(self) -> dict[str, Any]:
        return {
            **self.result.to_json(),
            "analysisRunId": self.run.id,
            "mlflowRunId": self.run.mlflow_run_id,
        }


def _specs() -> dict[str, Any]:
    """The per-protocol analyses that can run (the assets' specs), by their registered name in
    the order protocol files list them."""
    from americano_pipelines.defs.analyses.jobs import ANALYSES

    specs = {spec.analysis: spec for spec in ANALYSES if spec.analysis is not None}
    return {name: specs[name] for name in ANALYSIS_NAMES if name in specs}


@analyze_app.command("protocol")
@_analysis
def protocol(
    protocol_id: Annotated[
        str,
        typer.Option(
            "--protocol",
            metavar="ID",
            help="A registered protocol; its data come from the warehouse's marts (no --input).",
        ),
    ],
    analysis: Annotated[
        AnalysisName,
        typer.Option("--analysis", help="The analysis, as protocol files name it."),
    ],
    draws: Draws = DEFAULT_DRAWS,
    tune: Tune = DEFAULT_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    sampler: SamplerOption = Sampler.auto,
) -> Any:
    """One analysis of a registered protocol, by hand: on the warehouse's marts, with the settings
    the protocol registered, recorded as an analysis run (analysis_runs and MLflow). Prints the
    result's JSON and the run's ids; `exploratory` is true when the protocol did not register
    the analysis. --draws, --tune, --chains and --sampler are the ITS's sampler (the first three
    the synthetic control's too)."""
    import datetime as dt
    from pathlib import Path

    import duckdb

    from americano_pipelines.config import get_settings
    from americano_pipelines.defs.resources import WarehouseResource
    from americano_pipelines.provenance.data_version import recorded_data_version
    from americano_pipelines.provenance.runs import record
    from americano_pipelines.warehouse.tables import protocol_ids

    spec = _specs().get(analysis.value)
    if spec is None:
        raise InputError(
            f"--analysis: {analysis.value} can be registered, but has no per-protocol analysis "
            f"to run yet; these do: {', '.join(_specs())}",
            field="--analysis",
        )
    settings = get_settings()
    path = settings.duckdb_path
    local = not path.startswith("md:")
    if local and not Path(path).exists():
        raise InputError(
            f"--protocol: no warehouse at {path} yet; build it with `americano demo`",
            field="--protocol",
        )
    started_at = dt.datetime.now(dt.UTC)
    try:
        # Read-only, waiting for a build that holds the writer's lock, as the assets do.
        with WarehouseResource(database=path).get_connection(read_only=True) as conn:
            if protocol_id not in protocol_ids(conn):
                raise InputError(
                    f"--protocol: no protocol {protocol_id!r} in the warehouse (marts.protocols);"
                    " a newly registered protocol reaches it with the next build of the marts",
                    field="--protocol",
                )
            row, data = spec.read(conn, protocol_id)
    except duckdb.IOException as error:
        fail(f"cannot open the warehouse: {' '.join(str(error).split())}", 1)
    given = {"draws": draws, "tune": tune, "chains": chains, "sampler": sampler.value}
    accepted = set() if spec.config is None else set(spec.config.model_fields)
    result = spec.compute(row, data, {k: v for k, v in given.items() if k in accepted})
    run = record(
        result,
        row,
        data_version_hash=recorded_data_version(settings),
        started_at=started_at,
        settings=settings,
        tags={"americano.launched_by": "americano analyze protocol"},
    )
    return _ProtocolRun(result, run)
