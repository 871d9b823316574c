"""The jobs a worker holds: taken along with the one it runs, in its list, not started
(path.py). Each starts only once Redis has said it may, that is, it was not cancelled
while it waited there: the take that took it says so for the first of a batch, the
acknowledgement of the job before it for the next (`ask`, awaited), ack.lua alone
otherwise (after a failure, or when that reply was lost with the line). Behind a job
that runs long, and when the worker may not start them, they go back to their queue
(`give_back`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from qwsup.errors import RedisTrouble
from qwsup.outage import Retrying
from qwsup.store.feed import Feed
from qwsup.store.jobs import Result
from qwsup.store.queue import Queue
from qwsup.store.records import Job, Words
from qwsup.worker import endings
from qwsup.worker.heartbeat import Shared
from qwsup.worker.orders import StopOrders

log = logging.getLogger(__name__)


class Held:
    """The held jobs of worker `worker` (in `shared.held`, under `shared.hold`); what
    Redis answers is counted by `counted` (the path's, under `shared.line`)."""

    def __init__(
        self,
        shared: Shared,
        feed: Feed,
        queue: Queue,
        worker: str,
        orders: StopOrders,
        retrying: Retrying,
        counted: Callable[[], None],
    ) -> None:
        self.shared, self.feed, self.queue, self.worker = shared, feed, queue, worker
        self.orders, self.retrying, self.counted = orders, retrying, counted
        self.may_start = b""  # the held job Redis last said may start (not cancelled)

    def add(self, jobs: list[Job]) -> None:
        """A take's jobs: the first may start (the take looked at its cancel mark)."""
        with self.shared.hold:
            if jobs and not self.shared.held:
                self.may_start = jobs[0].id
            self.shared.held.extend(jobs)
        if len(self.shared.held) > 1:
            self.shared.wake.set()  # the heartbeat thread looks more often while jobs are held

    def following(self) -> Job | None:
        with self.shared.hold:
            return self.shared.held[0] if self.shared.held else None

    def next(self) -> Job | None:
        """The oldest job held that may start, out of the held; None when none is."""
        shared = self.shared
        while True:
            with shared.hold:
                if not shared.held:
                    return None
                job = shared.held[0]
                if job.id == self.may_start or job.kind != "hash":
                    return shared.held.popleft()
            with shared.line:
                self.retrying.until_reachable(functools.partial(self.ask, job), "feed")
                self.counted()

    def ask(
        self, job: Job, finished: bytes = b"", writes: tuple[Words, ...] = (),
        result: Result | None = None,
    ) -> None:  # fmt: skip
        """Ask ack.lua (with the acknowledgement of `finished`, if any) whether the held
        `job` may start: then `may_start` names it; else it ended cancelled there, and it
        is dropped, never started (under `shared.line`)."""
        if self.feed.go_on(finished, job.id, writes, result):
            self.may_start = job.id
            return
        with self.shared.hold:
            if self.shared.held and self.shared.held[0] is job:
                self.shared.held.popleft()
        self.orders.take(job.id)  # (the master's stop order for it, if it came)
        log.info("job %s was cancelled while held: dropped, not started", endings.shown(job.id))

    def give_back(self, *, running: bool = True) -> bool:
        """The jobs held go back to their queue, each only if it is still in our list:
        behind a job that runs long (`running`), so that an idle sibling can take them,
        or when this worker may not start them. False when they are kept (Redis
        unreachable): they are not started before they can go back."""
        shared = self.shared
        with shared.hold:
            if not shared.held or (running and not shared.in_hand.in_handler):
                return not shared.held
            try:
                self.queue.give_back(self.worker, [job.id for job in shared.held])
            except RedisTrouble:
                return False
            shared.held.clear()
            return True
