"""A handler's progress (`qwsup.progress(0.42, "linking")`): each call only keeps the
value in memory; a thread of the worker's own sends the latest value of each job at
most every FLUSH_S, all of them in one round trip (progress.lua), so a handler may call
it as often as it likes. The thread starts with the first report of the process."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from qwsup.errors import RedisTrouble

log = logging.getLogger(__name__)

FLUSH_S = 0.5  # the most often a job's progress is written
MAX_MESSAGE = 200  # characters of a progress message kept

Report = tuple[float, str]  # a fraction from 0 to 1, and a short message
Send = Callable[[dict[str, Report]], None]


def checked(fraction: object, message: object) -> Report:
    """A report as it is kept: ValueError or TypeError for what cannot be one."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise TypeError(f"progress is a number from 0 to 1, got {fraction!r}")
    if not 0 <= fraction <= 1 or math.isnan(fraction):
        raise ValueError(f"progress is a number from 0 to 1, got {fraction!r}")
    if not isinstance(message, str):
        raise TypeError(f"a progress message is a str, got {message!r}")
    return float(fraction), message[:MAX_MESSAGE]


class Progress:
    """The reports not sent yet, the latest per job, and the thread that sends them
    with `send` (one call per flush, every job's in one batch)."""

    def __init__(
        self, send: Send, flush_s: float = FLUSH_S, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.send, self.flush_s, self.sleep = send, flush_s, sleep
        self.pending: dict[str, Report] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.failing = False  # the last send failed: said once, until one works

    def report(self, job_id: str, fraction: float, message: str) -> None:
        with self.lock:
            self.pending[job_id] = (fraction, message)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="progress", daemon=True)
                self.thread.start()
        self.ready.set()

    def _run(self) -> None:
        while True:
            self.ready.wait()
            self.flush()
            self.sleep(self.flush_s)  # what is reported meanwhile waits: the latest goes

    def flush(self) -> None:
        """Send what is pending, now."""
        with self.lock:
            batch, self.pending = self.pending, {}
            self.ready.clear()
        if not batch:
            return
        try:
            self.send(batch)
        except RedisTrouble as exc:  # a report is not worth a retry: the next one goes
            if not self.failing:
                log.warning("progress of %d jobs not sent: %s", len(batch), exc)
            self.failing = True
        else:
            self.failing = False
