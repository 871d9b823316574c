"""The master's orders to stop jobs that were cancelled: it writes them on its board
(shared memory, scoreboard.MasterBoard) and sends the worker JOB_CANCEL to look. A
worker reads them without Redis, as digests of the jobs' ids (scoreboard.job_digest),
when the signal comes and before it starts a job it held.
"""

from __future__ import annotations

import os

from qwsup.scoreboard import MasterBoard, job_digest


class StopOrders:
    def __init__(self, board: MasterBoard) -> None:
        self.board = board
        self.seen = 0  # the orders read so far
        self.pending: set[int] = set()  # digests of jobs ordered stopped, not in hand yet

    def read(self) -> set[int]:
        """The orders given since the last read, added to those pending."""
        given = self.board.orders()
        if given not in (-1, self.seen):
            self.seen, digests = self.board.stop_orders(os.getpid(), self.seen)
            self.pending |= digests
        return self.pending

    def take(self, job_id: bytes) -> bool:
        """Whether job `job_id` was ordered stopped (the order is then used up)."""
        if not self.read():  # (no order pending: no digest to compute, on every job's path)
            return False
        digest = job_digest(job_id)
        if digest in self.pending:
            self.pending.discard(digest)
            return True
        return False

    def clear(self) -> None:
        """Before a take: the orders for jobs not in hand are for jobs gone from our list."""
        self.pending.clear()
