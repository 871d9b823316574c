"""Several jobs at once in one worker (`[workers] concurrency = N`): threads for a plain
handler, tasks on one asyncio event loop for an `async def` handler.

The slots only run handlers. The worker's main thread keeps the one job path: it
takes jobs into its own list (the feed), starts each in a free slot, and sends what
each came to (acknowledged over the feed, failed through the queue) as they end, in
the order they end. So every job in flight is in the worker's list until it is
finished, as with one job per process.

A job's time limit: a thread is sent JobTimeout (raised at the next Python line it
runs: a thread blocked inside C, say in time.sleep, sees it only when the call
returns), a task is cancelled. A job that does not stop gets its worker killed by the
master after quick_timeout (or by the worker itself once orphaned); every job it was
running is then charged an attempt.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qwsup import logs
from qwsup.errors import ExitCode
from qwsup.scoreboard import job_digest
from qwsup.store.records import Job
from qwsup.worker import endings
from qwsup.worker.endings import shown
from qwsup.worker.prefetch import HOLD_TICK_S, LOOK_S
from qwsup.worker.runner import Handler, InHand, JobCancelled, JobTimeout, Ran, Runner

if TYPE_CHECKING:
    from qwsup.worker.path import JobPath

log = logging.getLogger(__name__)


@dataclass
class Running:
    job: Job
    in_hand: InHand
    future: Future[Ran] | None = None
    thread: int = 0  # the ident of the thread that runs it (threads)
    task: asyncio.Task[Ran] | None = None  # the task that runs it (asyncio)
    stopped: bool = False  # sent JobTimeout, or cancelled, for its time limit


@dataclass
class Ended:
    job: Job
    in_hand: InHand
    ran: Ran


@dataclass
class Slots:
    """Up to `size` jobs running at once; `ended` hands back the runs that ended."""

    runner: Runner
    size: int
    running: dict[bytes, Running] = field(default_factory=dict)
    _done: queue.SimpleQueue[Running] = field(default_factory=queue.SimpleQueue)

    @property
    def free(self) -> int:
        return self.size - len(self.running)

    def oldest_start(self) -> float:
        """When the longest-running job started (0.0: none runs)."""
        return min((r.in_hand.started for r in self.running.values()), default=0.0)

    def start(self, job: Job, now: float) -> None:
        in_hand = InHand()
        in_hand.start(now, job.id)
        running = Running(job, in_hand)
        self.running[job.id] = running
        self._submit(running)

    def ended(self, timeout: float) -> list[Ended]:
        """The runs that ended, after waiting at most `timeout` s for the first."""
        first: Running | None = None
        if timeout > 0:
            try:
                first = self._done.get(timeout=timeout)
            except queue.Empty:
                return []
        found = [first] if first is not None else []
        while True:
            try:
                found.append(self._done.get_nowait())
            except queue.Empty:
                break
        out = []
        for r in found:
            self.running.pop(r.job.id, None)
            assert r.future is not None
            out.append(Ended(r.job, r.in_hand, r.future.result()))
        return out

    def over_limit(self, now: float, limit: float) -> list[Running]:
        """Stop the jobs running past `limit` s (0: none); returns those stopped now."""
        if not limit:
            return []
        late = [
            r
            for r in self.running.values()
            if not r.stopped and r.in_hand.in_handler and now - r.in_hand.started >= limit
        ]
        for r in late:
            r.stopped = True
            self._stop(r, JobTimeout)
        return late

    def stop_cancelled(self, digests: set[int]) -> list[Running]:
        """Stop the jobs whose ids' digests (scoreboard.job_digest) are in `digests`:
        their master ordered them stopped, they were cancelled. Only those: the other
        slots go on. Returns the jobs stopped, whose digests leave `digests`."""
        found = [r for r in self.running.values() if job_digest(r.job.id) in digests]
        for r in found:
            digests.discard(job_digest(r.job.id))
            if not r.in_hand.cancelled:
                r.in_hand.cancelled = r.stopped = True
                self._stop(r, JobCancelled)
        return found

    def stuck(self, now: float, after: float) -> bool:
        """Whether a job stopped for its time limit still runs `after` s after it began."""
        return any(r.stopped and now - r.in_hand.started > after for r in self.running.values())

    def _finished(self, running: Running) -> None:
        self._done.put(running)

    def _submit(self, running: Running) -> None:
        raise NotImplementedError

    def _stop(self, running: Running, why: type[BaseException]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing waits for the runs still going: the process is about to exit."""


class ThreadSlots(Slots):
    def __init__(self, runner: Runner, size: int) -> None:
        super().__init__(runner, size)
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="job")

    def _submit(self, running: Running) -> None:
        def run() -> Ran:
            running.thread = threading.get_ident()
            return self.runner.run(running.job, running.in_hand)

        running.future = self.pool.submit(run)
        running.future.add_done_callback(lambda _: self._finished(running))

    def _stop(self, running: Running, why: type[BaseException]) -> None:
        if running.thread:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(running.thread), ctypes.py_object(why)
            )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class TaskSlots(Slots):
    """One event loop, in a thread of its own, for as long as the worker lives: an
    async handler may keep its clients (Redis, HTTP) across jobs."""

    def __init__(self, runner: Runner, size: int) -> None:
        super().__init__(runner, size)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="jobs", daemon=True)
        self.thread.start()

    def _submit(self, running: Running) -> None:
        async def run() -> Ran:
            running.task = asyncio.current_task()
            return await self.runner.run_async(running.job, running.in_hand)

        running.future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        running.future.add_done_callback(lambda _: self._finished(running))

    def _stop(self, running: Running, why: type[BaseException]) -> None:
        # the task, not the future: the handler sees CancelledError and the run ends
        # as timed out (or cancelled: in_hand.cancelled), through the future, once the
        # handler has unwound
        if running.task is not None:
            self.loop.call_soon_threadsafe(running.task.cancel)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=1.0)
        if not self.loop.is_running():
            self.loop.close()


def slots_for(handler: Handler, runner: Runner, size: int) -> Slots | None:
    """The slots a worker runs its jobs in; None for one plain job at a time (in the
    main thread, the worker's classic loop)."""
    if is_async(handler):
        return TaskSlots(runner, size)
    return ThreadSlots(runner, size) if size > 1 else None


def is_async(handler: Callable[..., object]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    )


class SlotLoop:
    """A worker's loop when it runs its jobs in slots: the main thread takes jobs into
    the free slots, starts them, and sends what each came to as it ends, through the
    worker's job path (path.py; loop.py is the loop of one job at a time)."""

    def __init__(
        self, path: JobPath, slots: Slots, runner: Runner, title: Callable[[str], None]
    ) -> None:
        self.path, self.slots, self.runner, self.title = path, slots, runner, title
        self.shown = ""  # the title last set
        self.busy = (0.0, 0)  # what the scoreboard last said: the oldest start, the running

    def run(self) -> None:
        """Up to `concurrency` jobs at once: take into the free slots and start them,
        then send what each came to as it ends. Asked to stop (TERM), orphaned or due
        to be recycled, it takes no more and returns once the jobs running have ended."""
        path, slots = self.path, self.slots
        limit = path.config.workers.job_timeout
        quick_s = path.config.supervisor.quick_timeout
        while True:
            leaving = path.leaving()
            if leaving and not slots.running:
                return
            if not leaving and slots.free:
                self._fill()
                self._show()  # busy as soon as jobs run: not only after the wait
            wait = LOOK_S if slots.running else 0.0
            if limit:
                wait = min(wait, limit / 10)
            for ended in slots.ended(wait):
                self._ended(ended)
            for late in slots.over_limit(path.clock(), limit):
                log.warning("job %s: over its %g s limit: stopping it", shown(late.job.id), limit)
            if limit and path.orphaned() and slots.stuck(path.clock(), limit + quick_s):
                log.error(
                    "orphaned, and a job ignores its time limit: exiting; it will be requeued"
                )
                logs.flush()
                os._exit(ExitCode.ERROR)
            self._show()

    def _fill(self) -> None:
        """Take at most as many jobs as there are free slots, and start them (blocking
        on a queue, as a worker of one slot does, only while none runs)."""
        path, slots = self.path, self.slots
        path.idle = not slots.running
        if not path.may_take():
            if not slots.running:
                path.sleep(HOLD_TICK_S)
            return
        left = path.jobs.left()
        want = min(slots.free, left - len(slots.running)) if left is not None else slots.free
        if want <= 0:
            return
        # (a take skips the ids we have in hand; it blocks only while none runs)
        took = path.take(want, block=not slots.running, known=len(slots.running))
        if took is None:
            return
        path.idle = False
        for job in endings.dropped(took.jobs):
            if path.is_cancelled(job):
                in_hand = InHand()
                in_hand.start(path.clock(), job.id)
                self._ended(Ended(job, in_hand, self.runner.cancelled(in_hand)))
            else:
                slots.start(job, path.clock())

    def _ended(self, ended: Ended) -> None:
        """Send what a slot's run came to: acknowledged over the feed (its reply read
        with the next take), or failed through the queue (awaited)."""
        path = self.path
        job, ran = ended.job, ended.ran
        seconds = path.clock() - ended.in_hand.started
        if ran.failed:
            path.count(path.fail(job, ran), seconds)
        else:
            path.finish(job, seconds, ran.writes, ran.result, take_next=False)

    def _show(self) -> None:
        """The scoreboard's busy time is the oldest job's (the master's job_timeout
        backstop), with the number of jobs running (k of N); the title says the same."""
        path, slots = self.path, self.slots
        busy = (slots.oldest_start(), len(slots.running))
        if busy != self.busy:  # a write only when it changed
            path.board.busy(*busy)  # (0.0 and 0: idle)
            self.busy = busy
        title = f"busy {len(slots.running)}/{slots.size}" if slots.running else "idle"
        if title != self.shown:
            self.title(title)
            self.shown = title
