"""The defaults of the single-case randomization tests, stated once.

The CLI options, the protocol file's analysis plan and the per-protocol assets all take these,
so an analysis run from any of them answers the same question.
"""

# Shortest phase a randomized schedule may draw (What Works Clearinghouse: at least 3 points).
DEFAULT_MIN_PHASE_LENGTH = 3
# Monte Carlo draws when the admissible assignments are too many to enumerate.
DEFAULT_PERMUTATIONS = 10_000
# Enumerate every admissible assignment (an exact p-value) up to this many.
DEFAULT_MAX_EXACT = 100_000
