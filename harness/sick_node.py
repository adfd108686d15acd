"""A real HTTP/2 server on loopback that answers every gRPC request like a sick node does.

Kinds of sickness (what proxies and half-dead nodes in front of a gRPC port really answer):

- `http500`: `:status 500`, text/plain body (a proxy whose backend crashed);
- `html`: `:status 200`, `content-type: text/html`, a web page (a captive portal, a load balancer's
  error page);
- `garbage`: `:status 200`, `application/grpc`, a message of random bytes cut off before the
  length its prefix promises, then `grpc-status: 0` (a broken proxy or node);
- `no_status`: `application/grpc` headers and an empty message, but trailers without `grpc-status`;
- `bad_utf8`: `application/grpc`, `grpc-status: 0`, and a message whose string field is not UTF-8
  (for GetNodeInfo: `default_node_info.moniker` = 0xED 0xA0; a broken node or proxy).

It speaks HTTP/2 with the `h2` library (grpclib's own HTTP/2 layer), in a thread of the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

import h2.config
import h2.connection
import h2.events

KINDS = ("http500", "html", "garbage", "no_status", "bad_utf8")

# GetNodeInfoResponse{default_node_info (1): DefaultNodeInfo{moniker (7): 0xED 0xA0}}: not UTF-8.
_BAD_UTF8_NODE_INFO = b"\x0a\x04\x3a\x02\xed\xa0"


class _Protocol(asyncio.Protocol):
    def __init__(self, node: SickNode) -> None:
        self.node = node
        self.kind = node.kind
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except Exception:
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.node.requests += 1
                self._answer(event.stream_id)
        self._flush()

    def _answer(self, stream: int) -> None:
        if self.kind == "http500":
            self.conn.send_headers(stream, [(":status", "500"), ("content-type", "text/plain")])
            self.conn.send_data(stream, b"upstream connect error or disconnect/reset before headers",
                                end_stream=True)
        elif self.kind == "html":
            self.conn.send_headers(stream, [(":status", "200"), ("content-type", "text/html; charset=utf-8")])
            self.conn.send_data(stream, b"<html><body><h1>502 Bad Gateway</h1></body></html>", end_stream=True)
        else:
            self.conn.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc+proto")])
            # no_status sends an empty message, which decodes as any type: what fails is the trailer,
            # every time (random bytes sometimes failed at decoding first: a different sickness).
            body = {"garbage": os.urandom(48), "bad_utf8": _BAD_UTF8_NODE_INFO}.get(self.kind, b"")
            # garbage: the length prefix promises more than arrives (a message cut off mid-way).
            promised = len(body) * 20 if self.kind == "garbage" else len(body)
            self.conn.send_data(stream, b"\x00" + promised.to_bytes(4, "big") + body)
            trailers = [("x-sick", "1")] if self.kind == "no_status" else [("grpc-status", "0")]
            self.conn.send_headers(stream, trailers, end_stream=True)

    def _flush(self) -> None:
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())


class _LoopServer:
    """A loopback server on an event loop of its own, in a daemon thread; `with` starts and stops it."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"grpc+http://127.0.0.1:{self.port}"

    async def _serve(self) -> asyncio.base_events.Server:
        raise NotImplementedError

    def _start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            # Connections still open are cancelled and their sockets closed while the loop still
            # runs: a coroutine or transport left to the garbage collector after the loop stopped
            # calls into it ("Event loop is closed", an unraisable warning at the end of the run).
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()


class SickNode(_LoopServer):
    """`with SickNode("http500") as node: node.url` — a loopback endpoint that answers sickly."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown sickness {kind!r}; one of {KINDS}")
        super().__init__(f"sick-{kind}")
        self.kind = kind
        self.requests = 0

    async def _serve(self) -> asyncio.base_events.Server:
        return await self._loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)

    def __enter__(self) -> SickNode:
        self._start()
        return self


class SlowProxy(_LoopServer):
    """`with SlowProxy(port, delay) as proxy: proxy.url` — a loopback TCP proxy to a real node that
    holds every chunk from the client for `delay` seconds: a node that answers, slowly."""

    def __init__(self, target_port: int, delay: float) -> None:
        super().__init__("slow-proxy")
        self.target_port = target_port
        self.delay = delay

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer, self.delay), self._pipe(up_reader, writer, 0.0))

    async def _serve(self) -> asyncio.base_events.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    def __enter__(self) -> SlowProxy:
        self._start()
        return self
