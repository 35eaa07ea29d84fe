"""A local stand-in for the Oura and WHOOP clouds: one stdlib HTTP server on 127.0.0.1 that
speaks their documented JSON (Oura v2 `{"data", "next_token"}`, WHOOP v2 `{"records",
"next_token"}`), their OAuth endpoints with single-use refresh tokens, and scripted faults.

Faults are queued per path and consumed one per request: an int is answered as that HTTP
status (429 with `Retry-After: 0.01`), "drop" closes the connection without an answer, and
"slow" answers after `slow_seconds` (past a client's timeout), "ok" lets one request
through (to place a fault on a later page), and "hold" sets `held` and keeps the request
unanswered until `release` is set (a test kills the syncing process meanwhile), then closes the
connection.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from typing import Any

OURA_PATHS = {
    f"/v2/usercollection/{r}": r
    for r in ("daily_sleep", "sleep", "daily_readiness", "daily_activity")
}
WHOOP_PATHS = {"/v2/cycle": "cycle", "/v2/activity/sleep": "sleep", "/v2/recovery": "recovery"}


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class ProviderServer:
    def __init__(self, *, page_size: int = 10) -> None:
        self.page_size = page_size
        self.oura: dict[str, list[dict[str, Any]]] = {}
        self.whoop: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.spent_refresh_tokens: set[str] = set()
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.token_grants: list[str] = []
        self.slow_seconds = 0.5
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._get(self)

            def do_POST(self) -> None:  # noqa: N802
                server._post(self)

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._http.shutdown()
        self._http.server_close()

    # Tokens -------------------------------------------------------------------------------

    def issue(self, scope: str = "read:cycles read:recovery read:sleep offline") -> dict[str, Any]:
        access, refresh = "at_" + secrets.token_hex(8), "rt_" + secrets.token_hex(8)
        with self.lock:
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 3600,
            "token_type": "bearer",
            "scope": scope,
        }

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    # HTTP ---------------------------------------------------------------------------------

    def _answer(
        self, handler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _fault(self, handler, path: str) -> bool:
        with self.lock:
            fault = self.faults[path].popleft() if self.faults[path] else None
        if fault is None or fault == "ok":  # "ok": a request let through before the faults
            return False
        if fault == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return True
        if fault == "hold":
            self.held.set()
            self.release.wait(120)
            handler.close_connection = True
            return True
        if fault == "slow":
            time.sleep(self.slow_seconds)
            return False
        headers = {"Retry-After": "0.01"} if fault == 429 else {}
        self._answer(handler, fault, {"error": "fault"}, headers)
        return True

    def _get(self, handler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        with self.lock:
            self.requests.append((url.path, query))
        if self._fault(handler, url.path):
            return
        if url.path == "/oauth/authorize" or url.path == "/auth":  # the user says yes at once
            code = secrets.token_hex(6)
            self.codes[code] = query["redirect_uri"]
            target = f"{query['redirect_uri']}?" + urllib.parse.urlencode(
                {"code": code, "state": query["state"]}
            )
            handler.send_response(302)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            valid = token in self.access_tokens
        if not valid:
            self._answer(handler, 401, {"message": "Authorization was not valid"})
            return
        # Each provider's own name for the page token: Oura's next_token, WHOOP's nextToken.
        raw = query.get("next_token") if url.path in OURA_PATHS else query.get("nextToken")
        offset = int(base64.urlsafe_b64decode(raw).decode()) if raw else 0
        if url.path in OURA_PATHS:
            first, last = (
                dt.date.fromisoformat(query["start_date"]),
                dt.date.fromisoformat(query["end_date"]),
            )
            docs = [
                d
                for d in self.oura.get(OURA_PATHS[url.path], [])
                if first <= dt.date.fromisoformat(d["day"]) <= last
            ]
            key = "data"
        elif url.path in WHOOP_PATHS:
            resource = WHOOP_PATHS[url.path]
            first, last = _time(query["start"]), _time(query["end"])
            limit = min(int(query.get("limit", 10)), 25)
            cycles = {c["id"]: c for c in self.whoop.get("cycle", [])}

            def start_of(doc):
                return _time(
                    cycles[doc["cycle_id"]]["start"] if resource == "recovery" else doc["start"]
                )

            docs = [d for d in self.whoop.get(resource, []) if first <= start_of(d) < last]
            docs.sort(key=start_of, reverse=True)  # WHOOP answers newest first
            key = "records"
        else:
            self._answer(handler, 404, {"message": "not found"})
            return
        size = self.page_size if key == "data" else min(self.page_size, limit)
        page = docs[offset : offset + size]
        more = offset + size < len(docs)
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
        self._answer(
            handler,
            200,
            {key: page, "next_token": token},
            {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "60"},
        )

    def _post(self, handler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length", 0))
        form = {
            k: v[0] for k, v in urllib.parse.parse_qs(handler.rfile.read(length).decode()).items()
        }
        with self.lock:
            self.requests.append((url.path, {"grant_type": form.get("grant_type", "")}))
        if url.path not in ("/oauth/token", "/token"):
            self._answer(handler, 404, {"message": "not found"})
            return
        if form.get("client_id") != "client" or form.get("client_secret") != "secret":
            self._answer(handler, 401, {"error": "invalid_client"})
            return
        grant = form.get("grant_type")
        self.token_grants.append(grant or "")
        if grant == "authorization_code":
            if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                self._answer(handler, 400, {"error": "invalid_grant"})
                return
            # Oura's token endpoint is /oauth/token, WHOOP's /token; each grants its own scopes.
            scope = "daily personal" if url.path == "/oauth/token" else None
            self._answer(handler, 200, self.issue(scope) if scope else self.issue())
            return
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            with self.lock:
                valid = refresh in self.refresh_tokens
                if valid:  # single use
                    self.refresh_tokens.discard(refresh)
                    self.spent_refresh_tokens.add(refresh)
            if not valid:
                self._answer(handler, 400, {"error": "invalid_grant"})
                return
            self._answer(handler, 200, self.issue())
            return
        self._answer(handler, 400, {"error": "unsupported_grant_type"})
