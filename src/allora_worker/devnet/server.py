"""Running the devnet: a grpclib server on loopback plus a block clock, in-process or in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from types import TracebackType
from typing import Self

from grpclib.server import Server

from allora_worker.devnet.config import DevnetConfig, TopicConfig
from allora_worker.devnet.faults import FaultInjector, FaultPlan
from allora_worker.devnet.services import DevnetService, build_services
from allora_worker.devnet.state import AcceptedInference, Block, ChainState

log = logging.getLogger("allora_worker.devnet")


class Devnet:
    """The devnet on the current asyncio loop: `async with Devnet(config) as dn: ... dn.grpc_url`."""

    def __init__(self, config: DevnetConfig | None = None) -> None:
        self.config = config or DevnetConfig()
        self.injector = FaultInjector(self.config.faults, lambda: self.state.height)
        self.state = ChainState(self.config, self.injector)
        self.services: list[DevnetService] = build_services(self.state, self.injector)
        self._server: Server | None = None
        self._clock: asyncio.Task[None] | None = None
        self._new_block = asyncio.Condition()
        self.port = 0

    # ----- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = Server(self.services)
        await self._server.start(self.config.host, self.config.port)
        inner = self._server._server  # grpclib keeps the asyncio server
        sockets = inner.sockets if isinstance(inner, asyncio.Server) else []
        self.port = int(sockets[0].getsockname()[1])
        if self.config.auto_blocks:
            self._clock = asyncio.create_task(self._run_clock(), name="devnet-clock")
        log.info("devnet %s serving on %s", self.config.chain_id, self.endpoint)

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        self.injector.release_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _run_clock(self) -> None:
        # Schedule against a fixed start so block times do not drift with handler load.
        interval = self.config.block_time
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            await self._produce()

    async def _produce(self) -> Block:
        block = self.state.advance_block()
        async with self._new_block:
            self._new_block.notify_all()
        return block

    # ----- addresses ------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.port}"

    @property
    def grpc_url(self) -> str:
        """The URL form the official SDK's AlloraNetworkConfig takes."""
        return f"grpc+http://{self.endpoint}"

    # ----- control for tests ----------------------------------------------------------------
    @property
    def faults(self) -> FaultPlan:
        """The live fault plan; mutate its fields to flip faults at run time."""
        return self.injector.plan

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the plan (re-seeds the random draws)."""
        self.injector.plan = plan

    async def advance_blocks(self, count: int = 1) -> int:
        for _ in range(count):
            await self._produce()
        return self.state.height

    async def wait_for_height(self, height: int, timeout: float = 10.0) -> int:
        async def reached() -> None:
            async with self._new_block:
                await self._new_block.wait_for(lambda: self.state.height >= height)

        await asyncio.wait_for(reached(), timeout)
        return self.state.height

    def fund(self, address: str, amount: int) -> None:
        self.state.fund(address, amount)

    def register_worker(self, topic_id: int, address: str) -> None:
        self.state.register_worker(topic_id, address)

    def add_topic(self, topic: TopicConfig) -> None:
        self.state.add_topic(topic)

    def bump_sequence(self, address: str, count: int = 1) -> int:
        """Simulate an external tx from the same key (another process sharing the wallet)."""
        return self.state.bump_sequence(address, count)

    def accepted_inferences(self, topic_id: int | None = None) -> list[AcceptedInference]:
        return self.state.accepted_inferences(topic_id)

    @property
    def height(self) -> int:
        return self.state.height


class DevnetThread:
    """The devnet on its own loop in a daemon thread, for sync code: `with DevnetThread(cfg) as dn:`.

    State reads and control calls are thread-safe (the chain state has one lock); the live
    `faults` plan is the same object the server reads.
    """

    def __init__(self, config: DevnetConfig | None = None) -> None:
        self.config = config or DevnetConfig()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devnet", daemon=True)
        self.devnet: Devnet | None = None

    def start(self) -> Self:
        self._thread.start()

        async def make() -> Devnet:
            devnet = Devnet(self.config)
            await devnet.start()
            return devnet

        self.devnet = asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self.devnet is not None:
            asyncio.run_coroutine_threadsafe(self.devnet.stop(), self._loop).result(timeout=10)
            self.devnet = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _dn(self) -> Devnet:
        if self.devnet is None:
            raise RuntimeError("devnet is not running")
        return self.devnet

    @property
    def state(self) -> ChainState:
        return self._dn.state

    @property
    def port(self) -> int:
        return self._dn.port

    @property
    def endpoint(self) -> str:
        return self._dn.endpoint

    @property
    def grpc_url(self) -> str:
        return self._dn.grpc_url

    @property
    def height(self) -> int:
        return self._dn.height

    @property
    def faults(self) -> FaultPlan:
        return self._dn.faults

    def set_faults(self, plan: FaultPlan) -> None:
        self._dn.set_faults(plan)

    def advance_blocks(self, count: int = 1) -> int:
        return asyncio.run_coroutine_threadsafe(self._dn.advance_blocks(count), self._loop).result(timeout=10)

    def wait_for_height(self, height: int, timeout: float = 10.0) -> int:
        future = asyncio.run_coroutine_threadsafe(self._dn.wait_for_height(height, timeout), self._loop)
        return future.result(timeout=timeout + 1)

    def fund(self, address: str, amount: int) -> None:
        self._dn.fund(address, amount)

    def register_worker(self, topic_id: int, address: str) -> None:
        self._dn.register_worker(topic_id, address)

    def add_topic(self, topic: TopicConfig) -> None:
        self._dn.add_topic(topic)

    def bump_sequence(self, address: str, count: int = 1) -> int:
        return self._dn.bump_sequence(address, count)

    def accepted_inferences(self, topic_id: int | None = None) -> list[AcceptedInference]:
        return self._dn.accepted_inferences(topic_id)
