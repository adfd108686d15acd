"""gRPC endpoints with failover: every call has a deadline; a dead endpoint is skipped for a while.

Only transport-level failures fail over (connection refused/reset, UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED, our own deadline). An application answer (NOT_FOUND, INVALID_ARGUMENT with a
chain error) is the chain speaking and is returned to the caller unchanged: asking the next node
would only repeat it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from grpclib.client import Channel
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_incrementing

from allora_worker.chain.errors import DeadlineExceeded, QueryFailed, Unavailable
from allora_worker.secrets import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

_FAILOVER_STATUSES = frozenset(
    {Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED, Status.CANCELLED}
)
# A failed endpoint sits out for this long (doubling per consecutive failure, capped).
_COOLDOWN_START_S = 1.0
_COOLDOWN_MAX_S = 60.0
# h2 remembers every stream a connection ever closed, up to 65,536 of them (h2/connection.py,
# MAX_CLOSED_STREAMS; ~105 bytes each, ~8 MB at the cap): a channel kept for months grew by every
# call it made, about 0.1 MB per 100 windows. A channel is dialed afresh after this many calls, at
# a moment with no call in flight on it, which bounds that table at ~0.1 MB for one redial a
# thousand calls.
CALLS_PER_CONNECTION = 1000
# Latency per endpoint (a moving average): a preferred endpoint slower than _SLOW_S gives way to
# one _FASTER_FACTOR times faster, or to one not measured yet.
_LATENCY_ALPHA = 0.3
_SLOW_S = 0.5
_FASTER_FACTOR = 3.0


class EndpointError(ValueError):
    """An endpoint string that cannot be used."""


class MalformedAnswer(Exception):
    """A gRPC message that does not decode (bytes that are not UTF-8 where a string belongs, a
    truncated field): a broken node or proxy said it, not the chain, so another endpoint is asked."""


class _StrictProtoCodec(ProtoCodec):
    # betterproto2 raises whatever the bytes provoke (UnicodeDecodeError, struct.error, ...), and
    # grpclib passes it up unchanged; one type lets the pool fail over on exactly this case.
    def decode(self, data: bytes, message_type: type) -> object:  # type: ignore[override]
        try:
            return super().decode(data, message_type)
        except Exception as exc:
            raise MalformedAnswer(f"undecodable {getattr(message_type, '__name__', message_type)} "
                                  f"({type(exc).__name__})") from None


@dataclass
class Endpoint:
    url: str
    host: str
    port: int
    ssl: bool
    failures: int = 0
    down_until: float = 0.0
    # Seconds per answered call, smoothed (None until it has answered once).
    latency_s: float | None = None
    channel: Channel | None = field(default=None, repr=False)
    # Calls started on `channel`, and those not finished yet.
    calls: int = 0
    in_flight: int = 0

    def open(self) -> Channel:
        if self.channel is not None and self.calls >= CALLS_PER_CONNECTION and not self.in_flight:
            self.reset()
        if self.channel is None:
            self.channel = Channel(host=self.host, port=self.port, ssl=self.ssl, codec=_StrictProtoCodec())
            self.calls = 0
        self.calls += 1
        return self.channel

    def reset(self) -> None:
        """Drop the connection: the next call dials again (a hung HTTP/2 session is not reused)."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def parse_endpoint(url: str) -> Endpoint:
    """`grpc+http://h:p` / `grpc://h:p` / `http://h:p` (plaintext), `grpcs://h:p` / `grpc+https://h:p` /
    `https://h:p` (TLS), or bare `h:p` (TLS on 443, plaintext otherwise)."""
    text = url.strip()
    if "://" not in text:
        host, _, port_s = text.rpartition(":")
        if not host or not port_s.isdigit():
            raise EndpointError(f"endpoint {url!r}: expected host:port or a scheme://host:port URL")
        port = int(port_s)
        return Endpoint(url=text, host=host, port=port, ssl=port == 443)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("grpc+http", "grpc", "http"):
        ssl = False
    elif scheme in ("grpcs", "grpc+https", "https"):
        ssl = True
    else:
        raise EndpointError(f"endpoint {url!r}: unknown scheme {scheme!r} (use grpc+http:// or grpcs://)")
    if not parts.hostname:
        raise EndpointError(f"endpoint {url!r}: no host")
    port = parts.port or (443 if ssl else 9090)
    return Endpoint(url=text, host=parts.hostname, port=port, ssl=ssl)


# grpclib's messages for an answer that did not come from a gRPC server at all (an HTTP error page,
# a proxy's HTML, missing gRPC trailers): whatever status grpclib maps them to, the chain said
# nothing, so another endpoint is asked (grpclib/client.py: _raise_for_status,
# _raise_for_content_type, _process_grpc_status).
_NOT_GRPC_MESSAGES = ("Received :status", "Invalid content-type", "Missing content-type",
                      "Missing grpc-status", "Invalid grpc-status")


def is_transport_failure(exc: BaseException) -> bool:
    if isinstance(exc, GRPCError):
        return exc.status in _FAILOVER_STATUSES or (exc.message or "").startswith(_NOT_GRPC_MESSAGES)
    # grpclib asserts on a malformed message frame ("Received less data than expected"): a
    # garbage answer, not the chain's.
    return isinstance(
        exc, (OSError, ConnectionError, StreamTerminatedError, ProtocolError, asyncio.TimeoutError, EOFError,
              AssertionError, MalformedAnswer)
    )


# Rounds over all endpoints per call, and the pause before the next round (× round number).
_ROUNDS = 3
_ROUND_BACKOFF_S = 0.1


class _RoundFailed(Exception):
    def __init__(self, last: BaseException | None) -> None:
        super().__init__(str(last))
        self.last = last


def _timed_out(exc: BaseException | None) -> bool:
    return isinstance(exc, asyncio.TimeoutError) or (
        isinstance(exc, GRPCError) and exc.status == Status.DEADLINE_EXCEEDED
    )


class EndpointPool:
    """Ordered endpoints; calls go to the first healthy one and fail over on transport errors."""

    def __init__(self, urls: list[str], *, call_timeout_s: float) -> None:
        if not urls:
            raise EndpointError("no gRPC endpoint configured")
        self.endpoints = [parse_endpoint(u) for u in urls]
        self.call_timeout_s = call_timeout_s
        self._preferred = 0

    @property
    def current(self) -> Endpoint:
        return self.endpoints[self._preferred]

    def rotate(self) -> None:
        """Prefer the next endpoint (after a mempool-full answer, say): spread load, try another node."""
        self._preferred = (self._preferred + 1) % len(self.endpoints)

    def _order(self) -> list[int]:
        now = time.monotonic()
        n = len(self.endpoints)
        idx = [(self._preferred + i) % n for i in range(n)]
        healthy = [i for i in idx if self.endpoints[i].down_until <= now]
        # A slow preferred node (it answers, in seconds) costs every window several round trips:
        # another healthy endpoint that is much faster, or not measured yet, goes first. Between
        # comparably fast nodes the preference stays put (one node's mempool sees our txs in order).
        first = self.endpoints[healthy[0]] if healthy else None
        if first is not None and first.latency_s is not None and first.latency_s > _SLOW_S:
            faster = [i for i in healthy[1:] if self.endpoints[i].latency_s is None
                      or self.endpoints[i].latency_s * _FASTER_FACTOR < first.latency_s]  # type: ignore[operator]
            if faster:
                healthy.remove(faster[0])
                healthy.insert(0, faster[0])
        # Endpoints in cool-down are still tried last: with every node marked down, trying beats failing.
        cooling = sorted((i for i in idx if self.endpoints[i].down_until > now),
                         key=lambda i: self.endpoints[i].down_until)
        return healthy + cooling

    async def call(self, what: str, fn: Callable[[Channel, float], Awaitable[T]]) -> T:
        """Run `fn(channel, timeout)` on the endpoints in order until one answers.

        Raises `QueryFailed` for an application-level gRPC error (no failover), `DeadlineExceeded`
        when every endpoint failed and the last one on a deadline, else `Unavailable`.
        """
        started = time.monotonic()
        # The first round runs bare: nearly every call answers in it, and building and driving
        # tenacity's machinery per request was a measurable share of a request's CPU
        # (bench/bench_call_cpu.py). Only a failed first round goes through the retry policy below,
        # which replays that failure as its first attempt, so rounds, waits and give-up are unchanged.
        try:
            return await self._call_round(what, fn)
        except _RoundFailed as failed:
            first: _RoundFailed | None = failed

        async def rounds() -> T:
            nonlocal first
            if first is not None:
                replay, first = first, None
                raise replay
            return await self._call_round(what, fn)

        def give_up(state: RetryCallState) -> bool:
            # A node that answered UNAVAILABLE quickly is usually up: one flaky answer must not
            # cost a window. A round of timeouts is not retried (it would only double the wait),
            # and no round starts once the call's deadline has passed.
            failed = state.outcome.exception() if state.outcome is not None else None
            last = failed.last if isinstance(failed, _RoundFailed) else None
            return (state.attempt_number >= _ROUNDS or _timed_out(last)
                    or time.monotonic() - started > self.call_timeout_s)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_RoundFailed),
            stop=give_up,
            # Before round n+1: _ROUND_BACKOFF_S x n.
            wait=wait_incrementing(start=_ROUND_BACKOFF_S, increment=_ROUND_BACKOFF_S),
            reraise=True,
        )
        try:
            result: T = await retrying(rounds)
            return result
        except _RoundFailed as failed:
            last = failed.last
        deadline = _timed_out(last)
        detail = redact(f"{type(last).__name__}: {last}") if last is not None else "no endpoint"
        if deadline:
            raise DeadlineExceeded(f"{what}: no endpoint answered within {self.call_timeout_s:g}s ({detail})")
        # An immediate failure is not a timeout: say what failed (a DNS lookup, a refused connection).
        if isinstance(last, socket.gaierror):
            hosts = ", ".join(sorted({e.host for e in self.endpoints}))
            detail = f"cannot resolve host {hosts}: DNS lookup failed ({last})"
        raise Unavailable(f"{what}: no endpoint could be reached ({detail})")

    async def _call_round(self, what: str, fn: Callable[[Channel, float], Awaitable[T]]) -> T:
        last: BaseException | None = None
        for i in self._order():
            ep = self.endpoints[i]
            sent = time.monotonic()
            try:
                # Our own deadline bounds everything, including a connect that never completes
                # (asyncio.timeout, not wait_for: no extra task per request).
                channel = ep.open()
                ep.in_flight += 1
                try:
                    async with asyncio.timeout(self.call_timeout_s):
                        result = await fn(channel, self.call_timeout_s)
                finally:
                    ep.in_flight -= 1
            except Exception as exc:
                if isinstance(exc, GRPCError) and not is_transport_failure(exc):
                    # The node answered: the chain's verdict, the same on any other node.
                    raise QueryFailed(
                        f"{what}: {exc.status.name}: {exc.message}",
                        status=exc.status.name, grpc_message=exc.message or "",
                    ) from None
                if not is_transport_failure(exc):
                    raise
                last = exc
                self._mark_down(ep, exc, what)
                continue
            took = time.monotonic() - sent
            ep.latency_s = took if ep.latency_s is None else (1 - _LATENCY_ALPHA) * ep.latency_s + _LATENCY_ALPHA * took
            if ep.failures:
                log.info("endpoint %s is back", ep.url)
            ep.failures = 0
            ep.down_until = 0.0
            self._preferred = i
            return result
        raise _RoundFailed(last)

    def _mark_down(self, ep: Endpoint, exc: BaseException, what: str) -> None:
        ep.failures += 1
        cooldown = min(_COOLDOWN_MAX_S, _COOLDOWN_START_S * 2 ** (ep.failures - 1))
        ep.down_until = time.monotonic() + cooldown
        ep.reset()
        # One WARNING when an endpoint starts failing, then DEBUG until it is back ("endpoint ... is
        # back"): an outage with one endpoint used to log ~1 line a second.
        (log.warning if ep.failures == 1 else log.debug)(
            "endpoint %s failed on %s (%s); next endpoint, this one rests %.0fs",
            ep.url, what, redact(type(exc).__name__ + ": " + str(exc))[:300], cooldown)

    def close(self) -> None:
        for ep in self.endpoints:
            ep.reset()
