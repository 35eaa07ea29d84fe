"""A user-defined test statistic: an arithmetic expression over the A and B observations of an
assignment, `a` and `b`, such as `median(b) - median(a)` or `(mean(b) - mean(a)) / sd(a)`
(scan's `statistic_function`, without running the user's code).

The expression is parsed once and checked before any evaluation: only numbers, the names `a`
and `b`, the arithmetic operators + - * / ** and unary minus, and calls of the functions in
`FUNCTIONS` are allowed; attributes, subscripts, comparisons, lambdas and every other name are
refused with one line naming what was found. simpleeval then evaluates the parsed tree (its
power operator is bounded). Each evaluation must give one finite number.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

from americano_pipelines.errors import InputError

__all__ = ["FUNCTIONS", "UserStatistic"]

MAX_EXPRESSION_LENGTH = 500

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "mean": np.mean,
    "median": np.median,
    "sd": lambda v: np.std(v, ddof=1),
    "var": lambda v: np.var(v, ddof=1),
    "min": np.min,
    "max": np.max,
    "sum": np.sum,
    "n": len,
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
}
_NAMES = ("a", "b")
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
)


class UserStatistic:
    """`UserStatistic("median(b) - median(a)")(a, b)` -> float; InputError (field
    `statistic_expression`) for an expression outside the grammar or a result that is not one
    finite number."""

    def __init__(self, expression: str) -> None:
        from simpleeval import SimpleEval

        text = str(expression).strip()
        if not text or len(text) > MAX_EXPRESSION_LENGTH:
            raise _error(f"give an expression of 1 to {MAX_EXPRESSION_LENGTH} characters")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as error:
            raise _error(f"{text!r} is not an expression ({error.msg})") from None
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                raise _error(f"{type(node).__name__} is not allowed in {text!r}")
            if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
                raise _error(f"{node.value!r} is not a number")
            if isinstance(node, ast.Call) and (
                not isinstance(node.func, ast.Name)
                or node.func.id not in FUNCTIONS
                or len(node.args) != 1
                or node.keywords
            ):
                raise _error(
                    f"calls take one argument and name one of {', '.join(FUNCTIONS)}; "
                    f"found {ast.unparse(node)}"
                )
            if isinstance(node, ast.Name) and node.id not in (*_NAMES, *FUNCTIONS):
                raise _error(f"unknown name {node.id!r}; the data are a and b")
        self.expression = text
        self._evaluator = SimpleEval(functions=FUNCTIONS, names={})
        self._parsed = self._evaluator.parse(text)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        from simpleeval import InvalidExpression

        self._evaluator.names = {"a": a, "b": b}
        try:
            with np.errstate(all="ignore"):
                value = self._evaluator.eval(self.expression, previously_parsed=self._parsed)
        except (InvalidExpression, ValueError, TypeError, ArithmeticError) as error:
            # simpleeval's own limits (a power too large), or arrays that do not combine
            raise _error(f"{self.expression!r} cannot be evaluated: {error}") from None
        if np.ndim(value) != 0:
            raise _error(f"{self.expression!r} gives {np.size(value)} numbers, not one")
        return float(value)


def _error(message: str) -> InputError:
    return InputError(f"statistic_expression: {message}", field="statistic_expression")
