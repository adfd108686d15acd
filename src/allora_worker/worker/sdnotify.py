"""systemd's notify protocol (READY, WATCHDOG, STOPPING, STATUS); a no-op outside systemd.

Three lines of socket code: a library would add a dependency for less than it saves.
"""

from __future__ import annotations

import os
import socket

from allora_worker.logging_setup import get_logger

log = get_logger("sdnotify")


class SystemdNotifier:
    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self._address = address
        watchdog_usec = os.environ.get("WATCHDOG_USEC")
        # Ping at half the configured watchdog period, as systemd recommends.
        usec = int(watchdog_usec) if watchdog_usec and watchdog_usec.isdigit() else 0
        self.watchdog_interval = usec / 2e6 if usec else None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> bool:
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
            return True
        except OSError as exc:
            log.warning("systemd notify failed: %s", exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")
