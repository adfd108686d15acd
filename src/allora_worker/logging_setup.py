"""Logging: a console for people, a rotating file with full tracebacks, optional JSON lines.

Every handler's output passes through `allora_worker.secrets.redact` after formatting, so a
secret is masked wherever it hides: the message, its arguments, or an exception's text.
A handler that cannot write (disk full, file removed) must never take the loop down: its
errors are counted and reported once, not raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from allora_worker.secrets import redact

LOGGER_NAME = "allora_worker"
CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"


# The original script's markers carry emoji, and operators grep for them; `log.ascii` turns
# them (and any other non-ASCII character) into plain text for consoles that want none.
_ASCII = (("🚀 ", ""), ("✅ ", "[OK] "), ("❌ ", "[ERROR] "), ("💓 ", ""), ("⏰ ", ""), ("🛑 ", ""),
          ("—", "-"), ("±", "+/-"), ("→", "->"), ("×", "x"))


def to_ascii(text: str) -> str:
    for fancy, plain in _ASCII:
        text = text.replace(fancy, plain)
    return text.encode("ascii", "replace").decode("ascii")


class RedactingFormatter(logging.Formatter):
    """Formats with the wrapped formatter, then masks secrets in the whole text."""

    def __init__(self, inner: logging.Formatter, *, tracebacks: bool = True, ascii_only: bool = False) -> None:
        super().__init__()
        self._inner = inner
        self._tracebacks = tracebacks
        self._ascii = ascii_only

    def format(self, record: logging.LogRecord) -> str:
        text = self._format(record)
        return to_ascii(text) if self._ascii else text

    def _format(self, record: logging.LogRecord) -> str:
        if not self._tracebacks and record.exc_info:
            # The console shows the exception's one-line summary; the file keeps the traceback.
            saved = record.exc_info, record.exc_text
            exc = record.exc_info[1]
            record.exc_info, record.exc_text = None, None
            try:
                text = self._inner.format(record)
                if exc is not None:
                    text = f"{text} ({type(exc).__name__}: {exc})"
            finally:
                record.exc_info, record.exc_text = saved
            return redact(text)
        return redact(self._inner.format(record))


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("topic_id", "nonce", "cycle", "tx_hash", "outcome"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _QuietFailureMixin:
    """Logging must not kill the worker: a failing handler reports once to stderr, then stays quiet."""

    failures = 0
    _reported = False
    _lock = threading.Lock()

    def handleError(self, record: logging.LogRecord) -> None:
        with self._lock:
            type(self).failures += 1
            if not type(self)._reported:
                type(self)._reported = True
                exc = sys.exc_info()[1]
                # stderr itself may be gone (closed pipe): then there is nobody left to tell.
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"allora-worker: log handler failed, continuing without it: {exc}\n")


class SafeRotatingFileHandler(_QuietFailureMixin, logging.handlers.RotatingFileHandler):
    pass


class SafeStreamHandler(_QuietFailureMixin, logging.StreamHandler):  # type: ignore[type-arg]
    pass


def configure_logging(
    *,
    level: str = "INFO",
    log_file: Path | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    backups: int = 5,
    json_lines: bool = False,
    stream: TextIO | None = None,
    ascii_only: bool = False,
) -> logging.Logger:
    """(Re)configure the `allora_worker` logger tree; safe to call again (SIGHUP reload)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    console = SafeStreamHandler(stream or sys.stderr)
    console.setLevel(level)
    inner: logging.Formatter = JsonLinesFormatter() if json_lines else _UTCFormatter(CONSOLE_FORMAT)
    console.setFormatter(RedactingFormatter(inner, tracebacks=json_lines or level == "DEBUG", ascii_only=ascii_only))
    logger.addHandler(console)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = SafeRotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
            )
        except OSError as exc:
            logger.warning("cannot open log file %s (%s); logging to the console only", log_file, exc)
        else:
            # The file keeps everything, tracebacks included, for the post-mortem.
            file_handler.setLevel(logging.DEBUG)
            file_inner = JsonLinesFormatter() if json_lines else _UTCFormatter(FILE_FORMAT)
            file_handler.setFormatter(RedactingFormatter(file_inner, tracebacks=True, ascii_only=ascii_only))
            logger.addHandler(file_handler)
    return logger


def get_logger(name: str) -> logging.Logger:
    """A child of the package logger (`allora_worker.<name>`)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if not name.startswith(LOGGER_NAME) else name)
