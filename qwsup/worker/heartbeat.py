"""The worker's heartbeat thread, and the state it shares with the main thread.

Every few seconds the thread writes a heartbeat on the worker's scoreboard, so that
the master can tell a hung worker (no heartbeat: the interpreter is stuck) from a long
job (heartbeats, busy). While the worker holds prefetched jobs it looks every
HOLD_TICK_S, and behind a job that runs long (GIVE_BACK_S) it gives them back, and reads
the replies to the acknowledgements sent before that job so that they are counted
without waiting for it to end. Once the master is gone nobody else watches the time
limit, so an orphaned worker enforces job_timeout on itself (`police_orphan`).

The thread decides; the worker does the I/O (`Duties`), under the locks `Shared` names.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from qwsup.scoreboard import Scoreboard
from qwsup.store.records import Job
from qwsup.worker.prefetch import HOLD_TICK_S, Prefetch
from qwsup.worker.runner import InHand

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 5.0


def heartbeat_interval(timeout_s: float) -> float:
    """Four heartbeats per workers.heartbeat_timeout, within 50 ms and 5 s."""
    return min(max(timeout_s / 4, MIN_INTERVAL_S), MAX_INTERVAL_S)


@dataclass
class Shared:
    """What the main thread and the heartbeat thread share, and what guards it."""

    # Jobs taken along and not started, oldest first. Guarded by `hold`: the main
    # thread adds to them and starts them, the heartbeat thread gives them back.
    held: deque[Job] = field(default_factory=deque)
    hold: threading.Lock = field(default_factory=threading.Lock)
    # Guards the feed (its connection, the replies due) and the counting of the jobs
    # acknowledged (`finishing`, the scoreboard's counts): the main thread's, and the
    # heartbeat thread's while a job runs long.
    line: threading.Lock = field(default_factory=threading.Lock)
    finishing: dict[bytes, float] = field(default_factory=dict)  # acknowledged, unread: s
    # The job running: written by the main thread only, read here without a lock.
    in_hand: InHand = field(default_factory=InHand)
    # Set by the main thread when it holds jobs: the heartbeat thread looks more often.
    wake: threading.Event = field(default_factory=threading.Event)


class Duties(Protocol):
    """What the heartbeat thread asks of the worker (each safe to call from it)."""

    def give_back(self) -> object: ...  # the held jobs go back, behind a running one
    def replies_due(self) -> bool: ...  # acknowledgements sent, their replies unread
    def settle_aside(self) -> None: ...  # read them (under `line`, if it is free)
    def orphaned(self) -> bool: ...  # the master is gone
    def police_orphan(self) -> None: ...  # enforce job_timeout on ourselves


class Police(enum.Enum):
    """What an orphaned worker does about the job in hand."""

    NOTHING = "nothing"
    SIGNAL = "signal"  # send ourselves JOB_TIMEOUT: the handler gets JobTimeout
    EXIT = "exit"  # the handler ignored it for quick_timeout: exit, the job is requeued


def police(in_hand: InHand, now: float, job_timeout: float, quick_timeout: float) -> Police:
    """What the master would do to a job in hand (job_timeout, then quick_timeout more)."""
    if not job_timeout:
        return Police.NOTHING
    overrun = now - in_hand.started - job_timeout
    if overrun > quick_timeout:
        return Police.EXIT
    if overrun >= 0 and not in_hand.timeout_sent:
        return Police.SIGNAL
    return Police.NOTHING


class Heartbeat:
    def __init__(
        self,
        shared: Shared,
        board: Scoreboard,
        interval: float,
        duties: Duties,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shared = shared
        self.board = board
        self.interval = interval
        self.duties = duties
        self.clock = clock

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.shared.wake.wait(HOLD_TICK_S if self.shared.held else self.interval)
            self.shared.wake.clear()
            self.tick()

    def tick(self) -> None:
        """One look: the heartbeat, then what a long job or a gone master calls for."""
        now = self.clock()
        self.board.beat(now)
        in_hand = self.shared.in_hand
        if in_hand.in_handler and Prefetch.give_back_due(now - in_hand.started):
            if self.shared.held:
                self.duties.give_back()
            if self.duties.replies_due():
                self.duties.settle_aside()
        if self.duties.orphaned() and in_hand.in_handler:
            self.duties.police_orphan()
