"""Free TCP ports on loopback."""

from __future__ import annotations

import contextlib
import socket


def free_ports(count: int) -> list[int]:
    """`count` ports free on loopback, all different (each socket is held until all are
    found)."""
    with contextlib.ExitStack() as stack:
        found = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            found.append(int(s.getsockname()[1]))
        return found


def free_port() -> int:
    return free_ports(1)[0]


def is_free(port: int) -> bool:
    """Whether `port` can be bound on loopback now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
