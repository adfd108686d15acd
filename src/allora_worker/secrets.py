"""Every secret value the process knows, so the log redaction filter can mask it anywhere.

Secrets are registered the moment they are read (mnemonic, private key, API tokens), before any
code path could log them. Masking works on the raw text of every log record and exception,
so a secret passed in the wrong field is still caught.
"""

from __future__ import annotations

import re
import threading
from typing import Any

REDACTED = "***"

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Shortest value worth masking: shorter strings would mask ordinary words in log lines.
_MIN_SECRET_LEN = 6


class SecretRegistry:
    """The secrets one process has read, and the pattern that masks them all."""

    def __init__(self) -> None:
        # Log records are formatted on whichever thread emits them (the health server's, the
        # event loop's): registration and the compiled pattern are shared across threads.
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str | None) -> None:
        """Remember a secret (and, for a mnemonic, its word sequence with any spacing)."""
        if not value:
            return
        value = value.strip()
        if len(value) < _MIN_SECRET_LEN:
            return
        with self._lock:
            self._secrets.add(value)
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                parts = []
                for secret in sorted(self._secrets, key=len, reverse=True):
                    words = secret.split()
                    # A mnemonic may be re-wrapped by whoever prints it: match any whitespace between words.
                    escaped = [re.escape(w) for w in words]
                    parts.append(r"\s+".join(escaped) if len(escaped) > 1 else re.escape(secret))
                self._pattern = re.compile("|".join(parts))
            return self._pattern

    def redact(self, text: str) -> str:
        """`text` with every registered secret replaced by `***`."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)


# The process's one registry. The functions below look it up on every call (never bind it at
# import), so whoever needs a separate set of secrets (a test, an embedding host) replaces it.
REGISTRY = SecretRegistry()


def register_secret(value: str | None) -> None:
    """Remember a secret in the process's registry."""
    REGISTRY.register(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    return REGISTRY.redact(text)


def redact_tree(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every string redacted: for whatever goes to a
    file or an output as a whole (heartbeat.json, `status --json`), whichever field a secret hid in."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value


def describe(exc: BaseException) -> str:
    """One redacted line for logs and the journal."""
    return redact(f"{type(exc).__name__}: {exc}")

