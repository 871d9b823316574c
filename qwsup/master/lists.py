"""The lists of the master's workers gone: each goes back to the queues (requeue.lua)
once, while the master holds its name; a periodic sweep finds the lists of workers that
died unseen (a master killed before it could requeue them).

`unseen` decides whose lists the sweep takes (pure); `Lists` carries it out over Redis
and keeps what is still to requeue while Redis is unreachable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from qwsup.master.actions import Requeue
from qwsup.master.timers import Every
from qwsup.master.totals import Totals
from qwsup.ops.report import counted
from qwsup.outage import Outage
from qwsup.store.keys import split_worker_id
from qwsup.store.queue import Queue

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 10.0


def unseen(
    registered: Iterable[str], known: set[str], name: str, is_live: Callable[[int, str], bool]
) -> list[str]:
    """The workers registered under supervisor `name` that this master does not know
    and whose process is gone (a pid alone could be reused: `is_live` checks its title)."""
    gone = []
    for wid in sorted(set(registered) - known):
        parts = split_worker_id(wid)
        if parts is not None and parts[0] == name and not is_live(parts[1], wid):
            gone.append(wid)
    return gone


class Lists:
    def __init__(
        self,
        queue: Queue,
        name: str,
        outage: Outage,
        totals: Totals,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.name = name
        self.outage = outage
        self.totals = totals
        self.clock = clock
        self.pending: list[Requeue] = []  # in the order the workers went
        self.sweeps = Every(SWEEP_INTERVAL_S)

    def requeue(self, token: int) -> None:
        """Put the pending lists back, under the name's `token` (0: the name is not ours
        just now: they wait); stops at the first Redis failure."""
        while self.pending and token:
            r = self.pending[0]
            with self.outage.guard("requeue", self.clock) as attempt:
                moved = self.queue.requeue(
                    r.worker, cost=r.cost, max_attempts=r.max_attempts, reason=r.reason,
                    name=self.name, token=str(token), running=r.running,
                )  # fmt: skip
                if not moved.fenced:
                    self.queue.unregister_worker(self.name, r.worker)
            if attempt.failed:
                return
            self.pending.pop(0)
            if moved.fenced:
                log.warning("worker %s: the name is no longer ours: its list is left", r.worker)
                continue
            self.totals.requeued += moved.requeued
            self.totals.failed += moved.failed
            if moved.requeued or moved.failed:
                log.warning(
                    "worker %s: %s back in the queue, %d out of attempts to failed:jobs",
                    r.worker, counted(moved.requeued, "job"), moved.failed,
                )  # fmt: skip

    def sweep(
        self,
        now: float,
        known: set[str],
        is_live: Callable[[int, str], bool],
        max_attempts: int,
        running: int = 1,
    ) -> None:
        """Every SWEEP_INTERVAL_S: queue for requeueing the lists of `unseen` workers."""
        if not self.sweeps.due(now):
            return
        registered: set[str] = set()
        with self.outage.guard("sweep", self.clock) as attempt:
            registered = self.queue.registered_workers(self.name)
        if attempt.failed:
            return
        known = known | {r.worker for r in self.pending}
        for wid in unseen(registered, known, self.name, is_live):
            log.warning("worker %s is gone: requeueing its jobs", wid)
            reason = f"worker {wid} was found dead with the job"
            self.pending.append(Requeue(wid, 1, reason, max_attempts, running))
