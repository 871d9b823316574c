"""The systemd notify protocol, spoken directly (no libsystemd): READY, RELOADING,
STOPPING, STATUS and WATCHDOG datagrams to $NOTIFY_SOCKET.

Without NOTIFY_SOCKET every call does nothing; a failed send is logged at debug
level and never raises: supervising workers matters more than telling systemd.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self.address = address or None
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            self.watchdog_s = int(usec) / 1_000_000 / 2  # ping twice per period
        self._next_ping = 0.0
        self._socket: socket.socket | None = None
        self._status = ""

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> None:
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            log.debug("systemd notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self._status = status
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def status(self, status: str) -> None:
        """Send STATUS= when it changed."""
        if status != self._status:
            self._status = status
            self.send(f"STATUS={status}")

    def watchdog(self, now: float) -> None:
        """Ping the watchdog when due; called from the master loop, so it stops when the
        loop stops."""
        if self.watchdog_s is None or now < self._next_ping:
            return
        self._next_ping = now + self.watchdog_s
        self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
