"""HTTP health and metrics: `/healthz`, `/readyz`, `/metrics`, on 127.0.0.1 by default.

`/healthz` answers 503 when the loop stalled (no progress for `stall_seconds`), when no chain
endpoint has answered for longer than a submission window, or when a topic went
`max_windows_without_success` windows without an accepted submission, so a supervisor or an
alert sees a worker that is alive but useless. Windows are counted from the chain's nonces when
the chain answers, and from the epochs that elapsed while it does not: a failed poll is never
progress for a topic.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from allora_worker.logging_setup import get_logger
from allora_worker.worker.metrics import WorkerMetrics

log = get_logger("health")


@dataclass
class HealthState:
    """What the loop tells the health server; read from the server thread."""

    stall_seconds: float = 600.0
    max_windows_without_success: int = 3
    ready: bool = False
    # "active" or "standby" when the journal is shared (PostgreSQL lease); None on a single host.
    role: str | None = None
    # Monotonic: a wall-clock jump must neither fake a stall nor hide one.
    last_progress: float = field(default_factory=time.monotonic)
    windows_without_success: dict[int, int] = field(default_factory=dict)
    # Monotonic time a chain endpoint last answered a poll (pre-flight counts: it asked the chain).
    last_chain_answer: float = field(default_factory=time.monotonic)
    # Per topic, from the chain's topic: seconds a window stays open, and seconds per epoch.
    window_seconds: dict[int, float] = field(default_factory=dict)
    epoch_seconds: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self) -> None:
        with self._lock:
            self.last_progress = time.monotonic()

    def chain_answered(self) -> None:
        with self._lock:
            self.last_chain_answer = time.monotonic()

    def timing(self, topic_id: int, *, window_seconds: float, epoch_seconds: float) -> None:
        with self._lock:
            self.window_seconds[topic_id] = window_seconds
            self.epoch_seconds[topic_id] = epoch_seconds

    def window_result(self, topic_id: int, accepted: bool) -> None:
        with self._lock:
            self.windows_without_success[topic_id] = (
                0 if accepted else self.windows_without_success.get(topic_id, 0) + 1
            )

    def verdict(self, now: float | None = None) -> tuple[bool, dict[str, object]]:
        now = now if now is not None else time.monotonic()
        with self._lock:
            stalled_for = now - self.last_progress
            blind_for = now - self.last_chain_answer
            counts = dict(self.windows_without_success)
            for topic_id, epoch in self.epoch_seconds.items():
                # While no endpoint answers, every epoch that elapsed opened a window we cannot
                # have filled; the chain's nonces replace this estimate once it answers again.
                counts[topic_id] = counts.get(topic_id, 0) + (int(blind_for // epoch) if epoch > 0 else 0)
            failing = {
                str(topic): count for topic, count in counts.items() if count >= self.max_windows_without_success
            }
            window = max(self.window_seconds.values(), default=None)
            detail: dict[str, object] = {
                "ready": self.ready,
                **({"role": self.role} if self.role is not None else {}),
                "seconds_since_progress": round(stalled_for, 1),
                "seconds_since_chain_answered": round(blind_for, 1),
                "windows_without_success": {str(k): v for k, v in sorted(counts.items())},
            }
        problems = []
        if stalled_for > self.stall_seconds:
            problems.append(f"loop made no progress for {stalled_for:.0f}s")
        if window is not None and blind_for > window:
            problems.append(f"no chain endpoint answered for {blind_for:.0f}s (a window is {window:.0f}s)")
        for topic, count in failing.items():
            problems.append(f"topic {topic}: {count} windows without an accepted submission")
        detail["problems"] = problems
        return not problems, detail


class HealthServer:
    def __init__(self, host: str, port: int, state: HealthState, metrics: WorkerMetrics,
                 page: Callable[[], str] | None = None) -> None:
        self.state = state
        self.metrics = metrics
        handler = _make_handler(state, metrics.render, page)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health server listening on %s (/healthz /readyz /metrics, status page at /)", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(state: HealthState, render: Callable[[], bytes],
                  page: Callable[[], str] | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/" and page is not None:
                try:
                    body = page().encode("utf-8")
                except Exception as exc:  # the page must never take the health server down
                    log.warning("status page failed: %s", exc)
                    self._send(500, _json({"error": "status page failed; see the log"}))
                    return
                self._send(200, body, "text/html; charset=utf-8")
            elif path == "/metrics":
                self._send(200, render(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                healthy, detail = state.verdict()
                body = _json({"status": "ok" if healthy else "unhealthy", **detail})
                self._send(200 if healthy else 503, body)
            elif path == "/readyz":
                ready: dict[str, object] = {"ready": state.ready}
                if state.role is not None:
                    ready["role"] = state.role
                self._send(200 if state.ready else 503, _json(ready))
            else:
                self._send(404, _json({"error": "not found", "paths": ["/", "/healthz", "/readyz", "/metrics"]}))

        def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("health %s", format % args)

    return Handler


def _json(data: dict[str, object]) -> bytes:
    return json.dumps(data).encode() + b"\n"
