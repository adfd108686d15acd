"""A prediction from someone's inference server, e.g. basic-coin-prediction-node's `GET /inference/<token>`.

That node answers a bare number (`str(float)`, served as text/html by Flask) and errors as
`{"error": "..."}` with a 4xx/5xx status; the Go offchain node takes the body as the scalar.
We accept the same bare number, a JSON number, or a JSON object holding one under `value`,
`inference` or `prediction`. Everything else is a lie we refuse in one line: an HTML page,
NaN or infinity, a value beyond the topic's bound, an endpoint that does not answer before
the deadline. Retries (tenacity) only for what can heal: timeouts, refused connections, 5xx;
never for a wrong answer, which a second ask would only repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_fixed

from allora_worker import __version__
from allora_worker.model.predictors import PredictorError
from allora_worker.secrets import redact

if TYPE_CHECKING:
    import pandas as pd

    from allora_worker.candles import Candles

log = logging.getLogger(__name__)

VALUE_KEYS = ("value", "inference", "prediction")
RETRY_WAIT_SECONDS = 0.5
# With check_candles, the window the market layer checks (fresh, complete, finite, agreeing).
CHECK_HOURS = 24


class _Transient(PredictorError):
    """Worth asking again: no answer in time, no connection, a server error."""


def _snippet(text: str, limit: int = 60) -> str:
    return redact(" ".join(text.split()))[:limit]


def _public(url: str) -> str:
    """The URL as logs may show it: no user:password, no query (either may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    hidden = "?…" if parts.query else ""
    return redact(urlunsplit((parts.scheme, host, parts.path, "", ""))) + hidden


def parse_value(body: str) -> float:
    """The number in an inference response body; PredictorError saying what came instead."""
    text = body.strip()
    if not text:
        raise PredictorError("the endpoint answered an empty body, not a number")
    if text.startswith("<"):
        raise PredictorError(f"the endpoint answered an HTML page, not a number: {_snippet(text)!r}")
    try:
        value: Any = float(text)
    except ValueError:
        try:
            value = json.loads(text)
        except ValueError:
            raise PredictorError(f"the endpoint answered {_snippet(text)!r}, not a number") from None
    if isinstance(value, dict):
        if "error" in value and not any(k in value for k in VALUE_KEYS):
            raise PredictorError(f"the endpoint reported an error: {_snippet(str(value['error']))!r}")
        found = [value[k] for k in VALUE_KEYS if k in value]
        if not found:
            raise PredictorError(f"the endpoint's JSON has none of {', '.join(VALUE_KEYS)}: {_snippet(text)!r}")
        value = found[0]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise PredictorError(f"the endpoint answered {_snippet(value)!r}, not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PredictorError(f"the endpoint answered {_snippet(text)!r}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise PredictorError(f"the endpoint answered {number!r}, not a finite number")
    return number


@dataclass
class HttpPredictor:
    url: str
    max_abs_value: float
    timeout: float = 5.0
    retries: int = 1
    health_url: str | None = None
    check_candles: bool = False
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(headers={"User-Agent": f"allora-worker/{__version__}",
                                             "Accept": "text/plain, application/json"}, follow_redirects=False)

    @property
    def history_hours(self) -> int:
        return CHECK_HOURS if self.check_candles else 0

    @property
    def model_version(self) -> None:
        return None  # an endpoint has no release the worker can see; content_hash names it

    @property
    def content_hash(self) -> str:
        # The journal's model column: which endpoint answered (hashed, a URL may carry a token).
        return "http:" + hashlib.sha256(self.url.encode()).hexdigest()

    def describe(self) -> str:
        return f"HTTP endpoint {_public(self.url)} (deadline {self.deadline:.0f} s, {self.retries} retries)"

    @property
    def deadline(self) -> float:
        return self.timeout * (self.retries + 1) + RETRY_WAIT_SECONDS * self.retries

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        """The per-cycle health probe: the health URL must answer 2xx within the timeout."""
        if self.health_url is None:
            return  # the inference answer itself is then the probe, checked by predict()
        try:
            response = self._client.get(self.health_url, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise PredictorError(f"health probe {_public(self.health_url)} failed: {type(exc).__name__}") from None
        if not response.is_success:
            raise PredictorError(f"health probe {_public(self.health_url)} answered HTTP {response.status_code}")

    def predict(self, candles: Candles | pd.DataFrame | None = None) -> float:
        return self._call(None)

    def replay(self, candles: pd.DataFrame | None, at: pd.Timestamp) -> float:
        """For evaluate/backtest: the endpoint's prediction as of hour `at`, asked as `?at=<UTC ISO>`.

        Only an endpoint that honours `at` (predicting from candles up to that hour) can be
        scored this way; one that ignores it answers its live value for every past hour.
        """
        return self._call({"at": at.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")})

    def _call(self, params: dict[str, str] | None) -> float:
        started = time.monotonic()
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=wait_fixed(RETRY_WAIT_SECONDS),
            stop=self._stop(started),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            value = retrying(self._ask, started, params)
        except _Transient as exc:
            raise PredictorError(f"{_public(self.url)}: {exc} (gave up after {time.monotonic() - started:.1f} s)") \
                from None
        except PredictorError as exc:
            raise PredictorError(f"{_public(self.url)}: {exc}") from None
        if abs(value) > self.max_abs_value:
            raise PredictorError(f"{_public(self.url)}: the endpoint answered {value!r}, beyond the topic's bound "
                                 f"±{self.max_abs_value}")
        return value

    def _stop(self, started: float) -> Any:
        def stop(state: RetryCallState) -> bool:
            return state.attempt_number > self.retries or time.monotonic() - started >= self.deadline
        return stop

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.debug("inference endpoint attempt %d failed (%s); asking again", state.attempt_number, exc)

    def _ask(self, started: float, params: dict[str, str] | None) -> float:
        remaining = self.deadline - (time.monotonic() - started)
        timeout = max(0.1, min(self.timeout, remaining))
        try:
            response = self._client.get(self.url, params=params, timeout=timeout)
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {timeout:.1f} s") from None
        except httpx.TransportError as exc:
            raise _Transient(f"cannot connect ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code} {_snippet(response.text)!r}")
        if response.status_code != 200:
            raise PredictorError(f"HTTP {response.status_code} {_snippet(response.text)!r}")
        return parse_value(response.text)
