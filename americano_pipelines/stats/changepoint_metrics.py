"""How well detected change points agree with human annotations: TCPDBench's F1.

The F-measure of van den Burg & Williams (2020, "An evaluation of change point detection
algorithms", arXiv:2003.06222, section 4.1), as TCPDBench computes it
(alan-turing-institute/TCPDBench, analysis/scripts/metrics.py, `f_measure`):

- the start of the series, 0, counts as a change point in every annotator's set and in the
  predictions (so a method that predicts nothing still gets credit for it);
- a true positive is an annotated point with a prediction within `margin` rows, each
  prediction matched at most once (the closest, the smaller on a tie), annotated points taken
  in the iteration order of a Python set of them, as TCPDBench does;
- precision: true positives of the union of all annotators' points, over the predictions;
- recall: the mean over annotators of each one's true positives over its own points;
- F = P R / (alpha R + (1 - alpha) P), alpha = 0.5 giving F1.

Locations are 0-based. TCPDBench's wrappers of R changepoint report R's `cpts` minus 1, the
last row before each change (execs/R/cpdbench_changepoint.R); `tcpdbench_locations` converts
our change points (the first row of each new segment) to that convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["f_measure", "tcpdbench_locations", "true_positives"]


def true_positives(annotated: Iterable[int], predicted: Iterable[int], margin: int = 5) -> set[int]:
    """The annotated points with a prediction within `margin`, each prediction used once;
    `annotated` is taken in its own iteration order (a set's, in TCPDBench)."""
    left = set(predicted)
    found: set[int] = set()
    for point in annotated:
        near = sorted((abs(point - x), x) for x in left if abs(point - x) <= margin)
        if near:
            found.add(point)
            left.discard(near[0][1])
    return found


def f_measure(
    annotations: Mapping[str, Iterable[int]],
    predictions: Iterable[int],
    margin: int = 5,
    alpha: float = 0.5,
) -> tuple[float, float, float]:
    """(F, precision, recall) of `predictions` against each annotator's points."""
    # the sets are built as TCPDBench builds them, so that they iterate in the same order
    per_annotator = []
    for points in annotations.values():
        annotated = set(points)
        annotated.add(0)
        per_annotator.append(annotated)
    predicted = set(predictions)
    predicted.add(0)
    union: set[int] = set()
    for annotated in per_annotator:
        for point in annotated:
            union.add(point)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    # 1 / K x the sum, as TCPDBench writes it (a division of the sum differs in the last bit)
    recall = (1 / len(per_annotator)) * sum(
        len(true_positives(points, predicted, margin)) / len(points) for points in per_annotator
    )
    f = precision * recall / (alpha * recall + (1 - alpha) * precision)
    return f, precision, recall


def tcpdbench_locations(indices: Iterable[int]) -> list[int]:
    """Our change points (first row of a new segment) as TCPDBench's R wrappers report them."""
    return [int(index) - 1 for index in indices]
