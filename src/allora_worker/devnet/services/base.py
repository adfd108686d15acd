"""grpclib plumbing shared by every service: unary handlers that decode/encode betterproto2 messages.

The SDK ships only client stubs, so each service declares (method name, function, request type,
response type) and `DevnetService.__mapping__` turns them into grpclib handlers on the real paths.
Every call passes the fault injector first, after the request was read (a black hole has accepted it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import betterproto2
import grpclib.const
from grpclib.server import Stream

from allora_worker.devnet.faults import FaultInjector
from allora_worker.devnet.state import ChainState

Method = tuple[
    str, Callable[[Any], betterproto2.Message], type[betterproto2.Message], type[betterproto2.Message]
]


class DevnetService:
    SERVICE: str = ""

    def __init__(self, state: ChainState, faults: FaultInjector) -> None:
        self.state = state
        self.faults = faults
        self.calls: dict[str, int] = {}

    def methods(self) -> list[Method]:
        raise NotImplementedError

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        mapping: dict[str, grpclib.const.Handler] = {}
        for name, func, request_type, response_type in self.methods():
            path = f"/{self.SERVICE}/{name}"
            mapping[path] = grpclib.const.Handler(
                self._wrap(path, func), grpclib.const.Cardinality.UNARY_UNARY, request_type, response_type
            )
        return mapping

    def _wrap(
        self, path: str, func: Callable[[Any], betterproto2.Message]
    ) -> Callable[[Stream[Any, Any]], Any]:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            self.calls[path] = self.calls.get(path, 0) + 1
            await self.faults.before_call(path)
            await stream.send_message(func(request))

        return handle
