"""The notify protocol, against a real datagram socket standing in for systemd."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from qwsup.systemd import Notifier
from support import Qwsup, enqueue
from testkit import wait_until

Start = Callable[..., Qwsup]


class FakeSystemd:
    """A bound AF_UNIX datagram socket, as systemd's NOTIFY_SOCKET is."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qwn"))
        self.path = str(self.dir / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines()))

    def wait_for(self, key: str, value: str | None = None, timeout: float = 15.0) -> dict[str, str]:
        def found() -> dict[str, str] | None:
            for message in self.drain():
                if key in message and (value is None or message[key] == value):
                    self.messages.remove(message)
                    return message
            return None

        return wait_until(found, timeout, f"{key}={value} from qwsup")  # type: ignore[no-any-return]

    def silent_for(self, key: str, seconds: float) -> bool:
        """True when no message with `key` arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            if any(line.startswith(f"{key}=") for line in data.splitlines()):
                return False
        self.sock.settimeout(0.05)
        return True

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        self.dir.rmdir()


@pytest.fixture
def systemd(env: dict[str, str]) -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    env["NOTIFY_SOCKET"] = fake.path
    env["WATCHDOG_USEC"] = "400000"
    yield fake
    fake.close()


@pytest.mark.process
def test_ready_status_reloading_watchdog_and_stopping(
    systemd: FakeSystemd, start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    ready = systemd.wait_for("READY", "1")
    assert ready["STATUS"] == "2/2 workers, 0 busy, 0 jobs done, 0 failed attempts"
    assert len(qw.workers()) == 2
    systemd.wait_for("WATCHDOG", "1")
    enqueue(r, 3)
    systemd.wait_for("STATUS", "2/2 workers, 0 busy, 3 jobs done, 0 failed attempts")

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    qw.send(signal.SIGHUP)
    reloading = systemd.wait_for("RELOADING", "1")
    assert int(reloading["MONOTONIC_USEC"]) >= before
    systemd.wait_for("READY", "1")
    qw.wait_log("reload complete")

    qw.send(signal.SIGSTOP)  # a wedged master loop stops pinging the watchdog
    try:
        systemd.drain()
        systemd.messages.clear()
        assert systemd.silent_for("WATCHDOG", 1.0)
    finally:
        qw.send(signal.SIGCONT)
    systemd.wait_for("WATCHDOG", "1")

    qw.send(signal.SIGTERM)
    systemd.wait_for("STOPPING", "1")
    assert qw.wait() == 0


@pytest.mark.unit
def test_without_notify_socket_nothing_is_sent_and_nothing_raises(tmp_path: Path) -> None:
    quiet = Notifier({})
    assert not quiet.enabled
    quiet.ready("x")
    quiet.watchdog(0.0)
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens"), "WATCHDOG_USEC": "1"})
    gone.ready("x")  # logged at debug level, never raised
    gone.watchdog(0.0)
    gone.close()


@pytest.mark.unit
def test_the_watchdog_is_only_for_the_pid_systemd_names() -> None:
    mine = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000"})
    assert mine.watchdog_s == 1.0
    other = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}
    assert Notifier(other).watchdog_s is None
    assert Notifier({"NOTIFY_SOCKET": "@abstract"}).address == "\0abstract"
