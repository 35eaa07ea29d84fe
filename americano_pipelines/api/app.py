"""The HTTP API's application: `create_app(settings)` (`americano serve` runs it on uvicorn).

One router per area (`analytics`, `research`, and `screens`: the dashboards' pages, whose
static assets are mounted at `/static`); `create_app` includes every router of `ROUTERS`.
Errors, whatever raised them, answer by one convention (`api/responses.py`): a
request-validation error or an `InputError` is 422 naming the field (`NotFoundError` is 404), a
missing or bad token 401, a body larger than the limit 413, the warehouse or database
unreachable 503, an ITS past its timeout 504. Bad input is never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from americano_pipelines.api import analytics, research, screens
from americano_pipelines.api.its_pool import ITSPool, ITSRestarted, ITSTimeout
from americano_pipelines.api.responses import field_error
from americano_pipelines.config import Settings
from americano_pipelines.db.connection import TokenSessionPool
from americano_pipelines.errors import InputError, NotFoundError
from americano_pipelines.warehouse.scoped import WarehouseUnavailable

__all__ = ["ROUTERS", "create_app"]

ROUTERS = (analytics.router, research.router, screens.router)


class BodyLimit:
    """ASGI middleware: a request body beyond `limit` bytes is 413, whether it says its length
    (`Content-Length`) or comes in chunks; nothing past the limit is read. Raised from `receive`
    as an HTTPException, which FastAPI's body parsing passes on as it is."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                response = _detail(413, self._message)
                await response(scope, receive, send)
                return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, self._message)
            return message

        await self.app(scope, limited, send)

    @property
    def _message(self) -> str:
        return f"the body is larger than {self.limit:,} bytes (AMERICANO_API_MAX_BODY_BYTES)"


def _detail(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(message.split())}, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """The API over `settings`' database and warehouse."""
    pool = ITSPool(settings.checked_api_its_workers, settings.checked_api_its_timeout)
    sessions = TokenSessionPool(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sessions.open()
        try:
            yield
        finally:
            sessions.close()
            pool.close()

    app = FastAPI(
        title="Americano Research Analytics",
        version="1",
        summary="N-of-1 experiment analytics: the guide's endpoints, per-user tokens.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.its_pool = pool
    app.state.sessions = sessions
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", screens.static_files(), name="static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no token, no database)."""
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own shape, minus `input` and `ctx`, which may echo a large or secret body.
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, error: InputError) -> JSONResponse:
        if isinstance(error, NotFoundError):
            return _detail(404, str(error))
        return JSONResponse(field_error(error.field, " ".join(str(error).split())), 422)

    @app.exception_handler(WarehouseUnavailable)
    async def no_warehouse(request: Request, error: WarehouseUnavailable) -> JSONResponse:
        return _detail(503, str(error), **{"Retry-After": "60"})

    @app.exception_handler(psycopg.OperationalError)
    async def no_database(request: Request, error: psycopg.OperationalError) -> JSONResponse:
        return _detail(503, f"cannot reach the database: {error}", **{"Retry-After": "10"})

    @app.exception_handler(ITSTimeout)
    async def its_timeout(request: Request, error: ITSTimeout) -> JSONResponse:
        return _detail(504, str(error))

    @app.exception_handler(ITSRestarted)
    async def its_restarted(request: Request, error: ITSRestarted) -> JSONResponse:
        return _detail(503, str(error), **{"Retry-After": "1"})

    app.add_middleware(BodyLimit, limit=settings.checked_api_max_body_bytes)
    return app
