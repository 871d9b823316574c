"""What the master's loop waits on: signals and its workers' status pipes.

A signal handler's whole body records the signal (STYLE 1); a wake-up pipe
(`signal.set_wakeup_fd`) cuts the wait short so the loop acts on it at once. A worker
writes READY to its status pipe once its handler is imported; EOF on the pipe means
the worker is gone (or closed it).
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import signal
from types import FrameType
from typing import Generic, TypeVar

T = TypeVar("T")  # what the master knows a status pipe by (its worker's record)


class Wakeups(Generic[T]):
    def __init__(self) -> None:
        self.signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.selector = selectors.DefaultSelector()
        self._read = self._write = -1

    def install(self, handled: tuple[int, ...]) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._read, selectors.EVENT_READ)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in handled:
            signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.signals.put_nowait(signum)

    def next_signal(self) -> int | None:
        try:
            return self.signals.get_nowait()
        except queue.Empty:
            return None

    def watch(self, fd: int, owner: T) -> None:
        self.selector.register(fd, selectors.EVENT_READ, owner)

    def unwatch(self, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)

    def forget(self, fd: int) -> None:
        """Stop watching `fd`, which its owner closes (a socket)."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)

    def wait(self, timeout: float) -> list[T]:
        """Wait at most `timeout` s for a signal or a status pipe; returns the owners of
        the pipes that have something to read."""
        ready = []
        for key, _ in self.selector.select(timeout):
            if key.fd == self._read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._read, 512):
                        pass
            else:
                ready.append(key.data)
        return ready

    def fds(self) -> list[int]:
        """The descriptors a child must not keep (the wake-up pipe; the selector closes
        with `close`)."""
        return [fd for fd in (self._read, self._write) if fd >= 0]

    def close(self) -> None:
        self.selector.close()
