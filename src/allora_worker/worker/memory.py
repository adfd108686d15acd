"""Give freed heap memory back to the OS between windows (glibc only).

A cycle allocates and frees a few MB (candle frames, protobuf messages, the prediction's
arrays). CPython and numpy free them with glibc's `free`, which keeps freed pages inside the
process: the daemon's resident size then stays at its busiest cycle's mark while it idles for
the rest of the epoch. `malloc_trim(0)` returns the free pages of every malloc arena (top and
interior, by madvise) without moving live data. Other C libraries (musl, macOS) have no such
call and return memory their own way: there this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Callable


def _load_trim() -> Callable[[int], int] | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _load_trim()


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True when the C library could (glibc), else False."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
