"""Endpoint failover and deadlines: a dead endpoint, a black hole, an injected outage."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.chain import endpoints
from allora_worker.chain import errors as E
from allora_worker.chain.endpoints import EndpointError, EndpointPool, parse_endpoint
from allora_worker.chain.protos import GetNodeInfoRequest, TendermintStub

from .conftest import Env

pytestmark = pytest.mark.integration


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
async def blackhole() -> AsyncIterator[str]:
    """A TCP server that accepts and never answers: the HTTP/2 handshake hangs forever."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(-1)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"grpc+http://127.0.0.1:{port}"
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()


def test_endpoint_parsing() -> None:
    def shape(url: str) -> tuple[str, int, bool]:
        e = parse_endpoint(url)
        return e.host, e.port, e.ssl

    assert shape("grpc+http://127.0.0.1:9090") == ("127.0.0.1", 9090, False)
    assert shape("grpcs://allora-grpc.testnet.allora.network:443") == (
        "allora-grpc.testnet.allora.network", 443, True)
    assert parse_endpoint("example.org:443").ssl and not parse_endpoint("localhost:9090").ssl
    with pytest.raises(EndpointError):
        parse_endpoint("ftp://x:1")


async def test_dead_first_endpoint_fails_over_to_the_second(env: Env) -> None:
    dead = f"grpc+http://127.0.0.1:{dead_port()}"
    c = env.make_client(endpoints=[dead, env.url])
    assert await c.check_chain_id() == env.devnet.config.chain_id
    assert c.pool.endpoints[0].failures == 1 and c.pool.current.url == env.url
    nonce = await env.open_nonce(c, 67)
    r = await c.submit(67, nonce, 0.5)
    assert [a.txhash for a in env.devnet.accepted_inferences(67)] == [r.txhash]


async def test_all_endpoints_dead_is_unavailable(env: Env) -> None:
    c = env.make_client(endpoints=[f"grpc+http://127.0.0.1:{dead_port()}", f"grpc://127.0.0.1:{dead_port()}"])
    with pytest.raises(E.Unavailable):
        await c.open_nonces(67)


# A 2 s deadline: long against a loopback call even on a loaded machine, so "waited the deadline"
# and "went straight to the good endpoint" cannot be confused (at 0.5 s, a slow call could be 0.4 s).
DEADLINE = 2.0


async def test_blackholed_endpoint_hits_the_deadline(env: Env, blackhole: str) -> None:
    c = env.make_client(endpoints=[blackhole], call_timeout_s=DEADLINE)
    t0 = time.monotonic()
    with pytest.raises(E.DeadlineExceeded):
        await c.open_nonces(67)
    assert DEADLINE * 0.95 < time.monotonic() - t0 < DEADLINE * 4


async def test_blackholed_first_endpoint_fails_over_after_the_deadline(env: Env, blackhole: str) -> None:
    c = env.make_client(endpoints=[blackhole, env.url], call_timeout_s=DEADLINE)
    t0 = time.monotonic()
    assert await c.open_nonces(67) is not None
    assert DEADLINE * 0.95 < time.monotonic() - t0 < DEADLINE * 4
    # The black hole now rests: the next call goes straight to the good endpoint (a try at the
    # black hole would take the whole deadline first).
    t1 = time.monotonic()
    await c.open_nonces(67)
    assert time.monotonic() - t1 < DEADLINE * 0.75


async def test_devnet_blackhole_fault_on_one_method(env: Env) -> None:
    env.devnet.faults.blackhole = {"GetUnfulfilledWorkerNonces"}
    c = env.make_client(call_timeout_s=0.4)
    assert (await c.topic(67)).id == 67  # other methods still answer
    with pytest.raises(E.DeadlineExceeded):
        await c.open_nonces(67)


async def test_a_flaky_answer_is_retried_on_the_same_node(env: Env) -> None:
    c = env.make_client()
    env.devnet.faults.unavailable_for(0.15)  # shorter than the retry rounds
    assert isinstance(await c.open_nonces(67), list)


async def test_injected_outage_then_recovery(env: Env) -> None:
    c = env.make_client()
    # Longer than the pool's retry rounds (0.1 s + 0.2 s): the call must give up, not hang.
    env.devnet.faults.unavailable_for(1.0)
    with pytest.raises(E.Unavailable):
        await c.open_nonces(67)
    await asyncio.sleep(1.05)
    # The single endpoint is cooling down but is still tried (better than failing outright).
    assert isinstance(await c.open_nonces(67), list)


async def test_rounds_retry_quick_failures_not_timeouts_nor_the_chains_answers() -> None:
    """The retry policy of EndpointPool.call, pinned: up to 3 rounds over the endpoints, pausing
    0.1 s x round before each new one; a round that timed out, or the chain's own answer, is final."""
    pool = EndpointPool(["grpc+http://127.0.0.1:1"], call_timeout_s=5.0)  # fn never uses the channel
    calls: list[float] = []

    def failing(exc: BaseException, succeed_on: int | None = None):  # type: ignore[no-untyped-def]
        async def fn(channel: object, timeout: float) -> str:
            calls.append(time.monotonic())
            if succeed_on is not None and len(calls) >= succeed_on:
                return "ok"
            raise exc
        return fn

    assert await pool.call("q", failing(GRPCError(Status.UNAVAILABLE, "flaky"), succeed_on=3)) == "ok"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.1 and calls[2] - calls[1] >= 0.2  # lower bounds: true under load
    calls.clear()
    with pytest.raises(E.Unavailable):
        await pool.call("q", failing(GRPCError(Status.UNAVAILABLE, "down")))
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(E.DeadlineExceeded):
        await pool.call("q", failing(TimeoutError()))
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(E.QueryFailed):
        await pool.call("q", failing(GRPCError(Status.NOT_FOUND, "no such topic")))
    assert len(calls) == 1


def _closed_streams_remembered(channel: object) -> int:
    # grpclib's Channel -> its H2Protocol -> grpclib's Connection -> h2's H2Connection, whose
    # table of closed streams is what grew (h2/connection.py, _closed_streams).
    return len(channel._protocol.processor.connection._connection._closed_streams)  # type: ignore[attr-defined]


async def test_a_long_lived_channel_is_redialed_so_h2_forgets_old_streams(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "CALLS_PER_CONNECTION", 20)
    c = env.make_client()
    ep = c.pool.endpoints[0]
    seen = 0
    for _ in range(60):
        await c.node_chain_id()
        assert ep.channel is not None
        seen = max(seen, _closed_streams_remembered(ep.channel))
    assert seen <= 20  # before the redial: 60, one per call, for the channel's whole life
    # A redial never closes a channel under a call in flight: each call ends on the channel it
    # started on. (The devnet holds each call 0.3 s, so later calls start while earlier ones run;
    # a channel closed under them reconnects on its own and is never closed again: a leak.)
    env.devnet.faults.latency = {"GetNodeInfo": 0.3}
    kept: list[bool] = []

    async def node_info(channel: Channel, timeout: float) -> str:
        answer = await TendermintStub(channel).get_node_info(GetNodeInfoRequest(), timeout=timeout)
        kept.append(ep.channel is channel)
        return answer.default_node_info.network

    answers = await asyncio.gather(*(c.pool.call("GetNodeInfo", node_info) for _ in range(45)))
    assert answers == [env.devnet.config.chain_id] * 45
    assert kept == [True] * 45
