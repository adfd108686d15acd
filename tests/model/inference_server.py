"""A small inference server for tests, run as its own process on loopback.

It answers `GET /inference/<token>` the way basic-coin-prediction-node does (the bare number as
text/html, errors as JSON with 4xx/5xx), or lies on purpose. What it does is read, on every
request, from the mode file, so a test switches behaviour while a daemon is using it:

    seq          0.001 * (request number), a different honest value each time; asked with
                 ?at=YYYY-MM-DDTHH:MM:SSZ (a replay), -(day / 1000 + hour / 100000) of that time
    number:V     the bare number V          json:V   {"value": V}
    nan          "nan"                      huge     "1000000000.0"
    html         a 200 HTML error page      error    500 {"error": "model not loaded"}
    hang         never answers (sleeps 60 s)
    flaky:K      HTTP 500 for requests 1..K of this mode, then seq

Every answer is appended to the log file as one JSON line {"n", "mode", "status", "body"}.
`GET /health` answers 200, or 503 while the mode is `unhealthy`.

    python inference_server.py MODE_FILE LOG_FILE   (prints "listening on PORT")
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

MODE_FILE = Path(sys.argv[1])
LOG_FILE = Path(sys.argv[2])
_lock = threading.Lock()
_count = {"n": 0, "mode_n": 0, "mode": ""}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        mode = MODE_FILE.read_text().strip()
        path, _, query = self.path.partition("?")
        at = parse_qs(query).get("at", [None])[0]
        if path == "/health":
            self._send(503 if mode == "unhealthy" else 200, "ok")
            return
        if not path.startswith("/inference/"):
            self._send(404, json.dumps({"error": "not found"}), "application/json")
            return
        with _lock:
            _count["n"] += 1
            if _count["mode"] != mode:
                _count["mode"], _count["mode_n"] = mode, 0
            _count["mode_n"] += 1
            n, mode_n = _count["n"], _count["mode_n"]
        status, body, ctype = 200, str(round(0.001 * n, 6)), "text/html; charset=utf-8"
        kind, _, arg = mode.partition(":")
        if kind == "seq" and at is not None:
            body = str(-(int(at[8:10]) / 1000 + int(at[11:13]) / 100000))
        elif kind == "number":
            body = arg
        elif kind == "json":
            body, ctype = json.dumps({"value": float(arg)}), "application/json"
        elif kind == "nan":
            body = "nan"
        elif kind == "huge":
            body = "1000000000.0"
        elif kind == "html":
            body = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        elif kind == "error":
            status, body, ctype = 500, json.dumps({"error": "model not loaded"}), "application/json"
        elif kind == "hang":
            time.sleep(60)
        elif kind == "flaky" and mode_n <= int(arg):
            status, body = 500, "Internal Server Error"
        with _lock, LOG_FILE.open("a") as log:
            log.write(json.dumps({"n": n, "mode": mode, "status": status, "body": body}) + "\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(status, body, ctype)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
