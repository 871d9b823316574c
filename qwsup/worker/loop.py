"""The worker: its signals, and its loop of one job at a time.

A worker takes jobs into its own list `<name>.<pid>:jobs`, runs the handler on each,
oldest first, then acknowledges it (or records the failure) in one atomic step: the
job path (path.py), which the loop of slots (slots.py) uses too. It takes several jobs
per round trip when its jobs are short, and gives back those it holds behind a job
that runs long (prefetch.py). It stops on the master's signals (TERM: after the
current job; INT or QUIT: now, its job put back), after `max_jobs` jobs, and by itself
once its master is gone.

It tells its master it has booted through a pipe (whose end also tells it died), and
the rest on its scoreboard (shared memory, see scoreboard.py): when its current job
started, what each job came to, and a heartbeat from a thread of its own
(heartbeat.py). boot.py is what a freshly forked child does before this loop.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from qwsup import proctitle, tracing
from qwsup.config import Config
from qwsup.contract import DUMP_STACK, JOB_CANCEL, JOB_TIMEOUT
from qwsup.scoreboard import MasterBoard, Scoreboard, job_digest
from qwsup.store.feed import Feed
from qwsup.store.queue import Queue
from qwsup.store.records import Job
from qwsup.worker.endings import shown
from qwsup.worker.heartbeat import Heartbeat, heartbeat_interval
from qwsup.worker.path import JobPath, Stop
from qwsup.worker.prefetch import HOLD_TICK_S
from qwsup.worker.runner import Handler, JobCancelled, JobTimeout, Runner
from qwsup.worker.slots import SlotLoop, slots_for

__all__ = ["JobTimeout", "Stop", "StopNow", "StopWaiting", "Worker"]

log = logging.getLogger(__name__)


class StopNow(BaseException):
    """INT or QUIT: leave the current job and exit; it is put back in the queue."""


class StopWaiting(BaseException):
    """TERM while waiting for a job: exit without taking one."""


class Worker:
    def __init__(
        self,
        config: Config,
        queue: Queue,
        handler: Handler,
        master_pid: int,
        status_fd: int,
        board: Scoreboard,
        slot: int = 0,
        master_board: MasterBoard | None = None,
        *,
        feed: Feed,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        parent: Callable[[], int] = os.getppid,
        set_title: Callable[[str], None] = proctitle.set_title,
    ) -> None:
        self.path = JobPath(
            config, queue, feed, board, master_pid, slot, master_board,
            clock=clock, sleep=sleep, parent=parent,
        )  # fmt: skip
        self.config, self.board, self.status_fd = config, board, status_fd
        self.clock, self.set_title = clock, set_title
        self.board_busy = False  # the scoreboard shows a job running (see _board_idle)
        w = config.workers
        traced = tracing.Attempts(w.name, self.path.id) if config.otel.enabled else None
        max_result = int(w.max_result_kb * 1024)
        self.runner = Runner(
            handler, queue.keys.job_prefix, w.job_timeout, clock, max_result, traced
        )
        # several jobs at once (concurrency > 1, or an async handler): see slots.py
        self.slots = slots_for(handler, self.runner, w.concurrency)
        interval = heartbeat_interval(w.heartbeat_timeout)
        self.heartbeat = Heartbeat(self.path.shared, board, interval, self.path, clock)

    # -- signals: record, or leave what is going on at once ---------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(JOB_TIMEOUT, self._on_job_timeout)
        signal.signal(JOB_CANCEL, self._on_cancel)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        faulthandler.register(DUMP_STACK, file=sys.stderr, all_threads=True)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.path.stop = self.path.stop or Stop.AFTER_JOB
        if self.path.idle:
            raise StopWaiting

    def _on_quit(self, signum: int, frame: FrameType | None) -> None:
        self.path.stop = Stop.NOW
        raise StopNow

    def _on_job_timeout(self, signum: int, frame: FrameType | None) -> None:
        if self.slots is not None:
            return  # the loop stops each slot's job past its limit itself
        if self.runner.timed_out(self.path.shared.in_hand):  # not one meant for a job now done
            raise JobTimeout

    def _on_cancel(self, signum: int, frame: FrameType | None) -> None:
        """The master ordered jobs stopped: the one running here (JobCancelled in its
        handler), those of the slots (slots.py), or, later, one held (is_cancelled)."""
        ordered = self.path.orders.read()
        if self.slots is not None:
            for r in self.slots.stop_cancelled(ordered):
                log.info("job %s was cancelled: stopping it", shown(r.job.id))
            return
        in_hand = self.path.shared.in_hand
        digest = job_digest(in_hand.job)
        if in_hand.in_handler and digest in ordered:
            ordered.discard(digest)
            in_hand.cancelled = True
            raise JobCancelled

    def report(self, status: bytes) -> None:
        with contextlib.suppress(OSError):  # the master is gone: the loop notices
            os.write(self.status_fd, status)

    # -- the loop -----------------------------------------------------------------

    def run(self) -> None:
        try:
            self._title("idle")
            signal.pthread_sigmask(signal.SIG_SETMASK, set())  # blocked since before fork
            self.heartbeat.start()
            self.loop()
        except StopWaiting:
            pass
        except StopNow:
            log.info("stopping now%s", "" if self.path.idle else ": the job in hand goes back")
        finally:
            self._release()

    def loop(self) -> None:
        """Take and run jobs until asked to stop (TERM: StopWaiting; INT, QUIT: StopNow),
        orphaned, or due to be recycled."""
        path = self.path
        if self.slots is not None:
            SlotLoop(path, self.slots, self.runner, self._title).run()
            return
        while not path.stopping:
            if path.orphaned():
                log.warning("master %d is gone: exiting", path.master_pid)
                return
            job = self._next_job()
            if job is not None:
                self._run(job)
                if path.jobs.worn_out():
                    log.info("recycling after %d jobs", path.jobs.limit)
                    return

    def _run(self, job: Job) -> None:
        """Run one job (started by _next_job), then send what it came to."""
        path = self.path
        self._title(f"busy {shown(job.id)} since {time.strftime('%H:%M:%S')}")
        in_hand = path.shared.in_hand
        self.board.busy(in_hand.started)
        self.board_busy = True
        if path.is_cancelled(job):
            ran = self.runner.cancelled(in_hand)
        else:
            ran = self.runner.run(job, in_hand)
        outcome = path.ended(job, ran)
        path.idle = True  # (the scoreboard says so when no held job starts next: _next_job)
        if outcome is not None:
            path.count(outcome, self.clock() - in_hand.started)

    def _next_job(self) -> Job | None:
        """A job held from the last take, else None once more jobs were taken into the
        worker's own list (from it, its host queue or its queues), or after a wait. Only
        while the master shows life, and under the token the held jobs were taken with."""
        path = self.path
        path.idle = True
        if path.stopping:
            self._board_idle()
            raise StopWaiting
        if not path.may_take():
            self._board_idle()
            path.sleep(HOLD_TICK_S)
            return None
        job = path.next_held()
        if job is not None:
            return job
        self._board_idle()
        took = path.take(path.want(), take_first=not path.found_nothing)
        if took is None:
            return None
        path.hold(took)
        if took.fenced:
            path.sleep(HOLD_TICK_S)
        return None  # the next turn starts what was taken, if the master still shows life

    def _board_idle(self) -> None:
        """The scoreboard and the title show no job running: written once the last one
        ended and no held job starts at once (one write a job, not two, while a batch
        runs)."""
        if self.board_busy:
            self.board.idle()
            self._title("idle")
            self.board_busy = False

    def _title(self, state: str) -> None:
        self.set_title(f"{proctitle.worker_prefix(self.path.id)}{state}")

    # -- leaving ------------------------------------------------------------------

    def _release(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, JOB_TIMEOUT):
            signal.signal(sig, signal.SIG_IGN)  # we are on our way out
        if self.slots is None:
            self._board_idle()
        self.path.release(len(self.slots.running) if self.slots is not None else 0)
        if self.slots is not None:
            self.slots.close()
        p = self.path
        log.info("exiting: %d jobs done, %d failed", p.jobs.done, p.jobs.failed)
