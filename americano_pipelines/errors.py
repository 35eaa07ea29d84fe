"""Errors that users see.

`InputError` is bad input: the CLI prints its message on one line and exits 2, the API answers
422 with it. The message names the field and the problem, never a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input a user can fix: a missing column, a non-numeric value, too few points, ..."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(InputError):
    """A thing the user named does not exist for them (another user's protocol included, so
    nothing tells it apart from one that does not exist): the CLI exits 2, the API answers 404."""
