"""HTTP to a wearable provider: retries, rate limits and one token refresh, for every client.

- 429: wait what `Retry-After` says (seconds or an HTTP date), else what the rate-limit headers
  say (`X-RateLimit-Reset`, seconds until the window resets, as WHOOP sends), else back off;
  a response saying `X-RateLimit-Remaining: 0` makes the next request wait for the reset.
- 5xx, timeouts and dropped connections: exponential backoff with full jitter, bounded by
  `RetryPolicy.max_attempts` and `max_delay`.
- 401: one refresh of the access token (`AccessTokens.refreshed`), then a clear error.

Waiting goes through `RetryPolicy.sleep`, so tests pass a recorder instead of sleeping.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

__all__ = [
    "AccessTokens",
    "ProviderClient",
    "ProviderError",
    "RetryPolicy",
    "TokenRejected",
    "retry_after_seconds",
]


class ProviderError(RuntimeError):
    """A provider kept failing, or refused a request; the message never holds a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenRejected(ProviderError):
    """The provider refused the access token even after a refresh: connect again."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    """Tries of one request, the first included, before a 5xx, 429 or timeout is an error."""
    base_delay: float = 0.5
    max_delay: float = 30.0
    """Cap of one backoff wait (the jitter draws in [0, min(max_delay, base * 2^k)])."""
    max_retry_after: float = 300.0
    """Cap of a wait the provider asks for (Retry-After, X-RateLimit-Reset)."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def backoff(self, attempt: int) -> float:
        """The wait after failed try number `attempt` (1-based): full jitter."""
        return self.jitter() * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a 429 (or 503) asks to wait: `Retry-After` as seconds or an HTTP date, else
    `X-RateLimit-Reset` (seconds); None when neither says."""
    value = headers.get("retry-after")
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            moment = email.utils.parsedate_to_datetime(value) if value else None
            if moment is not None:
                return max(0.0, moment.timestamp() - (time.time() if now is None else now))
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset))
        except ValueError:
            return None
    return None


class AccessTokens(Protocol):
    """Where a client gets its access token, and a new one when the provider refuses it."""

    def current(self) -> str: ...

    def refreshed(self, rejected: str) -> str:
        """A new access token (the refresh token rotated and stored before it is returned)."""
        ...


class ProviderClient:
    """GETs JSON from one provider's API with the rules above."""

    provider = "provider"

    def __init__(
        self,
        base_url: str,
        tokens: AccessTokens,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        self.policy = policy or RetryPolicy()
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._wait_before_next = 0.0
        self.requests = 0
        """Requests sent, retries included (for tests and metadata)."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        """The JSON body of `GET path?params`; ProviderError when the provider keeps failing."""
        token = self._tokens.current()
        response = self._send(path, params, token)
        if response.status_code == 401:
            token = self._tokens.refreshed(token)
            response = self._send(path, params, token)
            if response.status_code == 401:
                raise TokenRejected(
                    f"{self.provider}: the API refused the access token even after a refresh; "
                    f"connect again with `americano wearables connect {self.provider}`",
                    status=401,
                )
        if response.status_code >= 400:
            raise ProviderError(
                f"{self.provider}: GET {path} answered HTTP {response.status_code}",
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{self.provider}: GET {path} answered with no JSON") from None

    def _send(self, path: str, params: Mapping[str, Any], token: str) -> httpx.Response:
        policy = self.policy
        for attempt in range(1, policy.max_attempts + 1):
            if self._wait_before_next > 0:
                policy.sleep(self._wait_before_next)
                self._wait_before_next = 0.0
            self.requests += 1
            try:
                response = self._http.get(
                    path, params=params, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError as error:  # timeouts, refused or dropped connections
                if attempt == policy.max_attempts:
                    raise ProviderError(
                        f"{self.provider}: GET {path} failed {attempt} times "
                        f"({type(error).__name__})"
                    ) from None
                policy.sleep(policy.backoff(attempt))
                continue
            self._note_rate_limit(response)
            status = response.status_code
            if status != 429 and status < 500:
                return response
            if attempt == policy.max_attempts:
                raise ProviderError(
                    f"{self.provider}: GET {path} answered HTTP {status} {attempt} times",
                    status=status,
                )
            asked = retry_after_seconds(response.headers) if status in (429, 503) else None
            wait = policy.backoff(attempt) if asked is None else min(asked, policy.max_retry_after)
            self._wait_before_next = 0.0  # the wait below covers it
            policy.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """An exhausted rate-limit window: the next request waits for its reset."""
        if response.status_code == 429 or response.headers.get("x-ratelimit-remaining") != "0":
            return
        reset = retry_after_seconds(
            {"x-ratelimit-reset": response.headers.get("x-ratelimit-reset", "")}
        )
        if reset:
            self._wait_before_next = min(reset, self.policy.max_retry_after)
