"""One JSON-over-HTTP GET with the policy every provider needs.

Per request: a timeout. Per call: a deadline covering all attempts and waits. Retries (tenacity,
exponential backoff with jitter) only for what can heal: timeouts, connection errors, 5xx, and
429/418 rate limits, where the provider's `Retry-After` is honoured instead of our backoff.
401/403, other 4xx, HTML pages and unparseable bodies fail at once with a `SourceError` that
says what came back. Request headers (which may carry an API key) never reach a message.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from allora_worker import __version__
from allora_worker.market.errors import (
    AuthError,
    RateLimited,
    ResponseError,
    SourceError,
    TransientSourceError,
)
from allora_worker.secrets import redact

log = logging.getLogger(__name__)

USER_AGENT = f"allora-worker/{__version__}"


@dataclass(frozen=True)
class HttpPolicy:
    timeout: float = 10.0  # seconds, one request
    deadline: float = 60.0  # seconds, one call: every attempt and wait included
    attempts: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 8.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _snippet(text: str, limit: int = 160) -> str:
    # A provider may echo the request (token included) in an error body: mask known secrets.
    return redact(" ".join(text.split()))[:limit]


def classify(source: str, response: httpx.Response) -> Any:
    """The decoded JSON body of a good response, or the `SourceError` that describes a bad one."""
    status = response.status_code
    body = response.text
    if status in (429, 418):  # Binance answers 418 once an IP ignored its 429s
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(source, f"HTTP {status} rate limited (Retry-After {retry_after})", retry_after)
    if status in (401, 403):
        raise AuthError(source, f"HTTP {status}: not authorized ({_snippet(body, 80)!r})")
    if status >= 500:
        raise TransientSourceError(source, f"HTTP {status} server error")
    if status >= 400:
        raise ResponseError(source, f"HTTP {status}: {_snippet(body)!r}")
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type or body.lstrip().startswith("<"):
        raise ResponseError(source, f"HTML page instead of JSON (HTTP {status}): {_snippet(body, 80)!r}")
    try:
        return json.loads(body)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ResponseError(source, f"body is not JSON ({detail}): {_snippet(body, 80)!r}") from None


class JsonHttp:
    """GET JSON from one provider, under an `HttpPolicy`."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.policy = policy or HttpPolicy()
        self._sleep = sleep or time.sleep
        self._monotonic = monotonic
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        # Deliberately no headers: they may hold an API key.
        return f"JsonHttp({self.source!r}, {str(self._client.base_url)!r})"

    def get(self, path: str, params: Mapping[str, str | int]) -> Any:
        started = self._monotonic()
        policy = self.policy
        backoff = wait_exponential_jitter(multiplier=policy.backoff_initial, max=policy.backoff_max)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return exc.retry_after
            return backoff(state)

        def stop(state: RetryCallState) -> bool:
            # Give up rather than sleep past the deadline (a long Retry-After included).
            elapsed = self._monotonic() - started
            upcoming = state.upcoming_sleep or 0.0
            return state.attempt_number >= policy.attempts or elapsed + upcoming > policy.deadline

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.1fs",
                self.source,
                state.attempt_number,
                exc,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            retry=retry_if_exception_type(TransientSourceError),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._attempt, path, params, started)

    def _attempt(self, path: str, params: Mapping[str, str | int], started: float) -> Any:
        remaining = self.policy.deadline - (self._monotonic() - started)
        if remaining <= 0:
            raise SourceError(self.source, f"deadline of {self.policy.deadline:.0f}s exceeded")
        timeout = min(self.policy.timeout, remaining)
        try:
            response = self._client.get(path, params=dict(params), timeout=timeout)
        except httpx.TimeoutException:
            raise TransientSourceError(self.source, f"timed out after {timeout:.1f}s") from None
        except httpx.TransportError as exc:
            # Name the host: "ConnectError" alone does not tell an operator what to check.
            host = self._client.base_url.host or "?"
            reason = str(exc) or type(exc).__name__
            raise TransientSourceError(
                self.source, f"connection to {host} failed: {type(exc).__name__}: {reason}"
            ) from None
        return classify(self.source, response)
