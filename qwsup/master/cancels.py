"""The master's side of cancelling a running job (pure, given the time and the state):
a stop request heard on `<name>:cancels` (store/requests.py) becomes an order to the
worker that runs the job, and a worker that still holds the job `quick_timeout` after
its order is killed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from qwsup import proctitle
from qwsup.master.actions import Action, Cause, StopJob
from qwsup.master.pool import Pool
from qwsup.store.requests import Request

log = logging.getLogger(__name__)


@dataclass
class Order:
    """A worker ordered to stop a job; killed at `kill_at` if it still holds it."""

    worker: str
    pid: int
    job: bytes
    kill_at: float


class Stopping:
    """The stop orders given and not yet settled. Pure: the master gives the time."""

    def __init__(self, quick_timeout: float) -> None:
        self.quick_timeout = quick_timeout
        self.orders: list[Order] = []

    def ordered(self, request: Request, now: float) -> Order:
        order = Order(request.worker, request.pid, request.job, now + self.quick_timeout)
        self.orders.append(order)
        return order

    def due(self, now: float) -> list[Order]:
        """The orders whose time is up (to check: does the worker still hold its job?),
        taken off the list."""
        due = [o for o in self.orders if o.kill_at <= now]
        self.orders = [o for o in self.orders if o.kill_at > now]
        return due

    def gone(self, pid: int) -> None:
        """Worker `pid` is gone: its list went back (its cancelled job ends cancelled)."""
        self.orders = [o for o in self.orders if o.pid != pid]

    def next_deadline(self) -> float:
        return min((o.kill_at for o in self.orders), default=math.inf)


def printable(job: bytes) -> str:
    return proctitle.printable(job.decode("utf-8", "backslashreplace"))


def orders(requests: list[Request], pool: Pool, stopping: Stopping, now: float) -> list[Action]:
    """Each request for a live worker of ours: order it to stop the job (the master's
    board says which, JOB_CANCEL says look), to be killed if it still holds it after
    quick_timeout (`overdue`)."""
    actions: list[Action] = []
    for request in requests:
        proc = pool.procs.get(request.pid)
        if proc is None or proc.id != request.worker or proc.dismissal.killed:
            job = printable(request.job)
            log.info("job %s was cancelled; worker %s is gone already", job, request.worker)
            continue
        log.info("job %s was cancelled: stopping it on worker %s", printable(request.job), proc.id)
        actions.append(StopJob(proc.pid, request.job))
        stopping.ordered(request, now)
    return actions


def overdue(
    pool: Pool, stopping: Stopping, now: float, holds: Callable[[Order], bool]
) -> list[Action]:
    """A worker still holding a cancelled job (`holds`: Redis says so) quick_timeout
    after it was ordered to stop it is killed; what else it held goes back to the
    queues uncharged, and the cancelled job ends cancelled (put_back)."""
    actions: list[Action] = []
    for order in stopping.due(now):
        proc = pool.procs.get(order.pid)
        if proc is None or proc.dismissal.killed or not holds(order):
            continue
        job = printable(order.job)
        log.warning(
            "worker %s: its job %s was cancelled and did not stop within %g s: SIGKILL",
            proc.id, job, stopping.quick_timeout,
        )  # fmt: skip
        actions += pool.kill(proc, Cause.CANCELLED, f"its job {job} was cancelled and did not stop")
    return actions
