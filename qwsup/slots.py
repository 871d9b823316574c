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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .queue import Job
from .runner import Handler, InHand, JobTimeout, Ran, Runner

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
        in_hand.start(now)
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
            self._stop(r)
        return late

    def stuck(self, now: float, after: float) -> bool:
        """Whether a job stopped for its time limit still runs `after` s after it began."""
        return any(r.stopped and now - r.in_hand.started > after for r in self.running.values())

    def _finished(self, running: Running) -> None:
        self._done.put(running)

    def _submit(self, running: Running) -> None:
        raise NotImplementedError

    def _stop(self, running: Running) -> None:
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

    def _stop(self, running: Running) -> None:
        if running.thread:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(running.thread), ctypes.py_object(JobTimeout)
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

    def _stop(self, running: Running) -> None:
        # the task, not the future: the handler sees CancelledError and the run ends
        # as timed out, through the future, once the handler has unwound
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
