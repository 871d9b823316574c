"""The master's worker processes as its loop sees them: forked into a slot, their status
pipes read, reaped, policed. What each event means is the pool's to decide (pool.py)
and who is overdue is police's (deadlines.py); the effects go through `Processes`
(children.py), so a test hands it fakes. Each step returns the actions that follow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from qwsup import contract
from qwsup.master.actions import Action, Spawn
from qwsup.master.children import Processes
from qwsup.master.deadlines import MEMORY_CHECK_S, police
from qwsup.master.pool import Pool, Proc
from qwsup.master.tally import Tally
from qwsup.master.timers import Every
from qwsup.master.wakeups import Wakeups
from qwsup.scoreboard import Scoreboard
from qwsup.store.keys import worker_id
from qwsup.store.requests import Requests

log = logging.getLogger(__name__)

Child = Callable[[Spawn, int, Scoreboard], int]  # what a new child runs: its exit status


class Workers:
    def __init__(
        self,
        pool: Pool,
        processes: Processes,
        wakeups: Wakeups[Proc | Requests],
        tally: Tally,
        clock: Callable[[], float],
        *,
        child: Child,
        private_fds: Callable[[], list[int]],
        gone: Callable[[int], None],
    ) -> None:
        self.pool, self.processes, self.wakeups, self.tally = pool, processes, wakeups, tally
        self.clock = clock
        self.child = child  # the master's: the worker's boot, once its own are closed
        self.private_fds = private_fds  # the master's descriptors a child must not keep
        self.gone = gone  # told the pid of each worker reaped
        self.memory_check = Every(MEMORY_CHECK_S)

    def next_deadline(self) -> float:
        """The next kill due, or the next spawn a backoff allows."""
        kills = [p.dismissal.kill_at for p in self.pool.procs.values() if not p.dismissal.killed]
        return min([*kills, self.pool.next_spawn()])

    def spawn(self, spawn: Spawn) -> None:
        try:
            child = self.processes.spawn(
                lambda status_fd, board: self.child(spawn, status_fd, board), self.private_fds
            )
        except OSError as exc:
            log.error("cannot fork a worker: %s", exc)
            self.pool.backoff(spawn.slot).boot_failed(self.clock())
            return
        wid = worker_id(spawn.config.supervisor.name, child.pid)
        proc = Proc(child.pid, wid, spawn.generation, spawn.slot, self.clock(), child.status_fd)
        proc.board = child.board
        self.pool.started(proc)
        self.wakeups.watch(proc.fd, proc)
        self.tally.totals.started += 1
        log.debug("worker %s started (generation %d)", proc.id, spawn.generation)

    def read_status(self, proc: Proc) -> None:
        """Read what a worker wrote to its pipe; close the pipe at EOF."""
        if proc.fd < 0:
            return
        try:
            data = os.read(proc.fd, 4096)
        except BlockingIOError:
            return
        if contract.READY in data:
            self.pool.booted(proc)
        if not data:
            self.close_pipe(proc)

    def close_pipe(self, proc: Proc) -> None:
        if proc.fd >= 0:
            self.wakeups.unwatch(proc.fd)
            proc.fd = -1

    def reap(self) -> list[Action]:
        """Every worker gone since the last reap, and what each death means."""
        actions: list[Action] = []
        for pid, code in self.processes.reaped():
            proc = self.pool.procs.get(pid)
            if proc is None:
                continue
            self.read_status(proc)  # a READY still in the pipe counts
            self.close_pipe(proc)
            self.gone(pid)
            self.tally.worker_gone(proc, code)
            actions += self.pool.exited(proc, code, self.clock())
        return actions

    def police(self, now: float) -> list[Action]:
        """The signals for the workers that overran a deadline (memory: every
        MEMORY_CHECK_S)."""
        rss_mb = self.processes.rss_mb if self.memory_check.due(now) else None
        scores = {pid: proc.board.read() for pid, proc in self.pool.procs.items()}
        actions = police(self.pool, now, scores, rss_mb)
        self.pool.healthy(now)
        return actions
