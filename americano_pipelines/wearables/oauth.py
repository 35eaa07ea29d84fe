"""OAuth2 authorization-code flow for Oura and WHOOP, with a loopback redirect.

`americano wearables connect PROVIDER` prints `authorization_url(...)`, listens on
`http://127.0.0.1:<port>/callback` (`LoopbackRedirect`), checks the `state` it sent, and
exchanges the code (`exchange_code`). Both providers rotate refresh tokens: a refresh token works
once, so the caller stores the new pair before it uses the new access token (db/wearables.py
does it in one transaction). Tokens never appear in a repr, a log line or an error message.

Endpoints (their documented paths under the base URLs of config.py):
- Oura: authorize `OURA_AUTH_BASE_URL/oauth/authorize`, token `OURA_API_BASE_URL/oauth/token`.
- WHOOP: authorize `WHOOP_AUTH_BASE_URL/auth`, token `WHOOP_AUTH_BASE_URL/token`; the `offline`
  scope is what makes WHOOP issue a refresh token.
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from americano_pipelines.config import Settings
from americano_pipelines.errors import InputError
from americano_pipelines.wearables.http import ProviderError, RetryPolicy

__all__ = [
    "PROVIDERS",
    "LoopbackRedirect",
    "OAuthApp",
    "TokenSet",
    "authorization_url",
    "exchange_code",
    "new_state",
    "oauth_app",
    "refresh_tokens",
]

PROVIDERS = ("oura", "whoop")
# What the sync reads: Oura's daily summaries and sleep periods; WHOOP's cycles, recoveries
# and sleeps, and `offline` for a refresh token.
SCOPES = {
    "oura": ("daily", "personal"),
    "whoop": ("read:recovery", "read:cycles", "read:sleep", "offline"),
}
CALLBACK_PATH = "/callback"


@dataclass(frozen=True)
class OAuthApp:
    """One provider's OAuth app: its endpoints and our registered client."""

    provider: str
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]


def oauth_app(provider: str, settings: Settings) -> OAuthApp:
    """The app of `provider` from the settings; an InputError names a missing client id."""
    if provider == "oura":
        client_id, secret = settings.oura_client_id, settings.oura_client_secret
        authorize = f"{settings.oura_auth_base_url}/oauth/authorize"
        token = f"{settings.oura_api_base_url}/oauth/token"
    elif provider == "whoop":
        client_id, secret = settings.whoop_client_id, settings.whoop_client_secret
        authorize = f"{settings.whoop_auth_base_url}/auth"
        token = f"{settings.whoop_auth_base_url}/token"
    else:
        raise InputError(
            f"provider: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}",
            field="provider",
        )
    prefix = provider.upper()
    if not client_id or not secret:
        raise InputError(
            f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET: set both to the OAuth app "
            f"registered with {provider}",
            field=f"{prefix}_CLIENT_ID",
        )
    return OAuthApp(provider, authorize, token, client_id, secret, SCOPES[provider])


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered. The tokens are left out of repr and of `to_json`."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: dt.datetime | None
    scopes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "expiresAt": None if self.expires_at is None else self.expires_at.isoformat(),
            "scopes": list(self.scopes),
            "hasRefreshToken": self.refresh_token is not None,
        }


def new_state() -> str:
    """An unguessable `state` (WHOOP asks for at least 8 characters)."""
    return secrets.token_urlsafe(24)


def authorization_url(app: OAuthApp, redirect_uri: str, state: str) -> str:
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(app.scopes),
            "state": state,
        },
        quote_via=urllib.parse.quote,
    )
    return f"{app.authorize_url}?{query}"


def _token_request(
    app: OAuthApp,
    form: dict[str, str],
    *,
    now: dt.datetime | None,
    transport: httpx.BaseTransport | None,
    policy: RetryPolicy,
    previous_scopes: tuple[str, ...] = (),
) -> TokenSet:
    body = {**form, "client_id": app.client_id, "client_secret": app.client_secret}
    with httpx.Client(timeout=30.0, transport=transport) as client:
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response = client.post(app.token_url, data=body)
            except httpx.TransportError as error:
                # Never retried after the request may have reached the provider: a refresh
                # token that was consumed without our seeing the answer is gone either way.
                if not isinstance(error, httpx.ConnectError) or attempt == policy.max_attempts:
                    raise ProviderError(
                        f"{app.provider}: the token endpoint failed ({type(error).__name__})"
                    ) from None
                policy.sleep(policy.backoff(attempt))
                continue
            break
    if response.status_code in (400, 401):
        try:
            reason = response.json().get("error", "")
        except ValueError:
            reason = ""
        raise ProviderError(
            f"{app.provider}: the token endpoint refused the {form['grant_type']} grant"
            f"{f' ({reason})' if reason else ''}; connect again with "
            f"`americano wearables connect {app.provider}`",
            status=response.status_code,
        )
    if response.status_code >= 400:
        raise ProviderError(
            f"{app.provider}: the token endpoint answered HTTP {response.status_code}",
            status=response.status_code,
        )
    answer = response.json()
    if not answer.get("access_token"):
        raise ProviderError(f"{app.provider}: the token endpoint answered no access_token")
    expires_in = answer.get("expires_in")
    moment = now or dt.datetime.now(dt.UTC)
    scope = answer.get("scope")
    return TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_at=None if expires_in is None else moment + dt.timedelta(seconds=int(expires_in)),
        scopes=tuple(scope.split()) if scope else (previous_scopes or app.scopes),
    )


def exchange_code(
    app: OAuthApp,
    code: str,
    redirect_uri: str,
    *,
    now: dt.datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> TokenSet:
    """Trade an authorization code for tokens."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return _token_request(app, form, now=now, transport=transport, policy=policy or RetryPolicy())


def refresh_tokens(
    app: OAuthApp,
    refresh_token: str,
    *,
    scopes: tuple[str, ...] = (),
    now: dt.datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> TokenSet:
    """Trade a refresh token (once: it is spent) for a new pair."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if app.provider == "whoop":
        form["scope"] = "offline"  # WHOOP's documented refresh request names the scope
    tokens = _token_request(
        app,
        form,
        now=now,
        transport=transport,
        policy=policy or RetryPolicy(),
        previous_scopes=scopes,
    )
    if tokens.refresh_token is None:  # a provider that does not rotate: keep the old one
        return TokenSet(tokens.access_token, refresh_token, tokens.expires_at, tokens.scopes)
    return tokens


class LoopbackRedirect:
    """The redirect target of the authorization-code flow: one HTTP server on 127.0.0.1.

    `with LoopbackRedirect(state) as redirect:` listens (port 0: a free one) in a thread;
    `redirect.redirect_uri` goes into the authorize URL; `redirect.wait(timeout)` returns the
    code of the first callback whose `state` matches, and raises on a provider's `error` or a
    timeout. Callbacks with another state are answered 400 and otherwise ignored."""

    def __init__(self, state: str, *, port: int = 0) -> None:
        self.state = state
        self._done = threading.Event()
        self._code: str | None = None
        self._error: str | None = None
        redirect = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                state = (query.get("state") or [""])[0]
                if url.path != CALLBACK_PATH or not secrets.compare_digest(
                    state.encode(), redirect.state.encode()
                ):
                    self._answer(400, "This is not the authorization this command waits for.")
                    return
                if "error" in query:
                    redirect._error = query["error"][0]
                    self._answer(400, f"Authorization failed: {query['error'][0]}.")
                elif query.get("code"):
                    redirect._code = query["code"][0]
                    self._answer(200, "Connected. You can close this window.")
                else:
                    self._answer(400, "The redirect carried no code.")
                    return
                redirect._done.set()

            def _answer(self, status: int, text: str) -> None:
                body = f"<!doctype html><p>{html.escape(text)}</p>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def __enter__(self) -> LoopbackRedirect:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            raise InputError(
                f"authorization: no redirect within {timeout:g} s; run the command again",
                field="authorization",
            )
        if self._error is not None:
            raise InputError(
                f"authorization: the provider answered {self._error!r}", field="authorization"
            )
        assert self._code is not None
        return self._code
