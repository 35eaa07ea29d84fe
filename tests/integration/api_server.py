"""A demo study built up to the marts, two users with API tokens, and the API on a real uvicorn
on 127.0.0.1: what the API tests (test_api.py, test_api_schema.py) and bench/api.py share."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

USERS = ("user_001", "user_002")
PROTOCOLS = {"user_001": "protocol_001", "user_002": "protocol_002"}
START = dt.date(2025, 9, 1)
DAYS = 63


@dataclass(frozen=True)
class Study:
    settings: Any
    tokens: dict[str, str]
    """User id -> bearer token."""


def issue_tokens(database_url: str) -> dict[str, str]:
    from americano_pipelines.db.tokens import issue_token

    with psycopg.connect(database_url) as owner:
        return {user: issue_token(owner, user, kind="api").token for user in USERS}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_api(settings: Any) -> Iterator[str]:
    """`create_app(settings)` on uvicorn in a thread; yields its base URL."""
    import httpx
    import uvicorn

    from americano_pipelines.api import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not start within 30 s")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
