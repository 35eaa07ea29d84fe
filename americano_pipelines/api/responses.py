"""How the API answers: results as the CLI prints them, errors in FastAPI's shapes.

`ResultJSON` serializes with `json.dumps(allow_nan=False, default=str)`, as the CLI's
`print_json`, so a result's numbers are the same text from both. Errors: 422 keeps FastAPI's
validation shape (`{"detail": [{"loc", "msg", "type"}]}`), and an `InputError` of the statistics
joins it with its field in `loc`; the others are `{"detail": "…"}`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from americano_pipelines.api.models import Error, ValidationErrors

__all__ = ["ERRORS", "ResultJSON", "field_error"]


class ResultJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, default=str).encode("utf-8")


def field_error(field: str | None, message: str, kind: str = "value_error") -> dict[str, Any]:
    """FastAPI's 422 body for one field."""
    loc: list[str] = ["body"] if field is None else ["body", field]
    return {"detail": [{"loc": loc, "msg": message, "type": kind}]}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "No token, or an unknown, expired or revoked one"},
    403: {"model": Error, "description": "The body names another user"},
    404: {"model": Error, "description": "No such protocol for this user"},
    413: {"model": Error, "description": "The body is larger than AMERICANO_API_MAX_BODY_BYTES"},
    422: {"model": ValidationErrors, "description": "Bad input, the field named in `loc`"},
    503: {"model": Error, "description": "The warehouse or database is not available"},
}
