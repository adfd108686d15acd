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


def register_secret(value: str | None) -> None:
    """Remember a secret (and, for a mnemonic, its word sequence with any spacing)."""
    global _pattern
    if not value:
        return
    value = value.strip()
    if len(value) < _MIN_SECRET_LEN:
        return
    with _lock:
        _secrets.add(value)
        _pattern = None


def registered_count() -> int:
    with _lock:
        return len(_secrets)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            parts = []
            for secret in sorted(_secrets, key=len, reverse=True):
                words = secret.split()
                # A mnemonic may be re-wrapped by whoever prints it: match any whitespace between words.
                escaped = [re.escape(w) for w in words]
                parts.append(r"\s+".join(escaped) if len(escaped) > 1 else re.escape(secret))
            _pattern = re.compile("|".join(parts))
        return _pattern


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    pattern = _compiled()
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


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


def clear_for_tests() -> None:
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None
