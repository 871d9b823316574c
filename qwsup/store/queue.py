"""The masters' and the workers' side of the protocol: requeueing, promoting, pruning,
cron's claims, failing and giving back jobs; the supervisors' names and leases are
names.py's, on which `Queue` is built (the jobs a worker takes and finishes go through
its feed, feed.py).

Each multi-step operation is one Lua script (qwsup/store/lua/*.lua, run through scripts.py,
which also translates redis-py's errors) or a MULTI/EXEC that reads nothing; see
docs/protocol.md for the invariant they keep.
"""

from __future__ import annotations

import re
import time
import uuid

from redis.typing import EncodableT, KeyT

from qwsup.store.keys import CRON, STATE, TICK, WORKER
from qwsup.store.names import REQUEUE_BATCH, Names
from qwsup.store.records import Claim, Requeued, Retry
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, translated


class Queue(Names):
    """One client's view of the queues of one namespace; a job that ends cancelled on
    its way through (given back, failed, requeued, reclaimed) is kept `keep_ms`."""

    # -- a worker's side ---------------------------------------------------

    def give_back(self, worker: str, job_ids: list[bytes]) -> int:
        """Return prefetched jobs, not started, to the front of all:jobs (oldest first
        in `job_ids`); returns how many were still in the worker's list."""
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker), self.keys.all_jobs, self.keys.finished_jobs
        ]  # fmt: skip
        args: list[EncodableT] = [self.keep_ms, *reversed(job_ids)]
        return int(self.scripts.run("giveback", keys, args))

    def report_progress(self, worker: str, reports: dict[str, tuple[float, str]]) -> None:
        """Record the progress of jobs `worker` runs (progress.lua each, one round trip)."""
        with translated(), self.scripts.pipeline() as pipe:
            for job_id, (fraction, message) in reports.items():
                keys: list[KeyT] = [self.keys.job(job_id)]
                self.scripts.run("progress", keys, [worker, repr(fraction), message], pipe=pipe)
            pipe.execute()

    def fail(
        self,
        worker: str,
        job_id: bytes,
        *,
        error: str,
        traceback: str = "",
        permanent: bool = False,
        retry: Retry,
    ) -> int:
        """Record a failed attempt: -1 not owned, 0 failed for good, -2 ended cancelled
        (it was asked to stop), n > 0 to be retried (after n attempts)."""
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.job(job_id),
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.delayed_jobs,
            self.keys.finished_jobs,
        ]
        args: list[EncodableT] = [
            job_id,
            retry.max_attempts,
            error,
            traceback,
            int(permanent),
            int(retry.delay_s * 1000),
            retry.backoff,
            int(retry.delay_max_s * 1000),
            self.keep_ms,
        ]
        return int(self.scripts.run("fail", keys, args))

    # -- the master's side -------------------------------------------------

    def requeue(
        self,
        worker: str,
        *,
        cost: int,
        max_attempts: int,
        reason: str,
        name: str = "",
        token: str = "",
        running: int = 1,
    ) -> Requeued:
        """Move every job of a worker's list back to the front of its queue, if `token`
        still holds the supervisor's name ("" when nobody holds it); else nothing moves
        and the result says `fenced`. `name` is that supervisor's name, by default the
        one in the worker id.

        `cost` attempts are charged to each job it was running, the oldest `running` in
        its list (1 when the worker died, 0 when it was stopped on purpose); a job out
        of attempts goes to failed:jobs.
        """
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.info(name or worker.rpartition(".")[0]),
            self.keys.finished_jobs,
        ]
        total = Requeued(0, 0)
        while True:
            now = f"{time.time():.3f}"
            args: list[EncodableT] = [
                cost, max_attempts, reason, now, REQUEUE_BATCH, token, running, self.keep_ms
            ]  # fmt: skip
            requeued, failed, left, fenced, cancelled = self.scripts.run("requeue", keys, args)
            total = Requeued(
                total.requeued + requeued, total.failed + failed, bool(fenced),
                total.cancelled + cancelled,
            )  # fmt: skip
            if left == 0 or fenced:
                return total

    def promote(self, budget_s: float | None = None) -> int:
        """Move the delayed jobs that are due to the back of their queue, in bounded
        calls; returns how many. With `budget_s`, no new call starts after that many
        seconds: the rest waits for the next call (a master's next turn)."""
        keys: list[KeyT] = [self.keys.delayed_jobs, self.keys.all_jobs]
        args: list[EncodableT] = [BULK_BATCH, BULK_BUDGET_US]
        deadline = None if budget_s is None else time.monotonic() + budget_s
        moved = 0
        while True:
            batch, left = self.scripts.run("promote", keys, args)
            moved += int(batch)
            if not left or (deadline is not None and time.monotonic() >= deadline):
                return moved

    def cron_records(self, names: list[str]) -> tuple[dict[str, int | None], int]:
        """Each schedule's last tick handled (None: no record yet), and the Redis
        clock (unix ms)."""
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hget(self.keys.cron(name), "last_ms")
            pipe.time()
            *lasts, (seconds, micros) = pipe.execute()
        found = {name: int(last) if last else None for name, last in zip(names, lasts, strict=True)}
        return found, int(seconds) * 1000 + int(micros) // 1000

    def claim_tick(
        self, claim: Claim, queue: str, fields: dict[str, str], unique: bool
    ) -> tuple[str, str]:
        """cron.lua: claim a schedule's tick, enqueueing its job on `queue` (with
        `fields`) when the claim fires it: ("fired", id), ("skipped", the unique job
        still running or ""), or ("moved", the record's last tick or "")."""
        job = uuid.uuid4().hex
        k = self.keys
        unique_name = f"cron:{claim.name}" if unique else ""
        keys: list[KeyT] = [
            k.cron(claim.name), k.job(job), k.delayed_jobs, k.queue_jobs(queue),
            k.unique(unique_name), k.finished_jobs,
        ]  # fmt: skip
        args: list[EncodableT] = [
            "" if claim.expected is None else claim.expected, claim.tick, int(claim.fire),
            claim.skipped, job, queue, unique_name,
        ]  # fmt: skip
        for field, value in fields.items():
            args += (field, value)
        args += (CRON, claim.name, TICK, claim.tick)
        outcome, said = self.scripts.run("cron", keys, args)
        return outcome.decode(), said.decode()

    def still_running(self, worker: str, job_id: bytes) -> bool:
        """Whether job `job_id` is still in `worker`'s hands (its state and worker)."""
        with translated():
            state, holder = self.client.hmget(self.keys.job(job_id), [STATE, WORKER])
        return state == b"running" and holder == worker.encode()

    def prune(self, most: int, budget_s: float | None = None) -> int:
        """Remove the finished jobs kept long enough, and the oldest beyond `most` (0:
        no bound but their time), in bounded calls; returns how many. With `budget_s`,
        no new call starts after that many seconds: the rest waits for the next call."""
        keys: list[KeyT] = [self.keys.finished_jobs]
        args: list[EncodableT] = [most, BULK_BATCH, BULK_BUDGET_US]
        deadline = None if budget_s is None else time.monotonic() + budget_s
        removed = 0
        while True:
            batch, left = self.scripts.run("prune", keys, args)
            removed += int(batch)
            if not left or (deadline is not None and time.monotonic() >= deadline):
                return removed

    def ask_to_scale(self, name: str, pool: str, change: str) -> None:
        """Leave a change of a pool's worker count ("+1", "-2", "8") for supervisor
        `name`, which reads it on TTIN or TTOU."""
        with translated():
            self.client.rpush(self.keys.scale(name), f"{pool}\t{change}")

    def take_scale_requests(self, name: str) -> list[tuple[str, str]]:
        """The changes left for supervisor `name`, oldest first; removed as they are read."""
        key = self.keys.scale(name)
        with translated(), self.client.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            entries, _ = pipe.execute()
        requests = []
        for entry in entries:
            pool, _, change = entry.decode(errors="replace").partition("\t")
            if re.fullmatch(r"[+-]?\d{1,5}", change):
                requests.append((pool, change))
        return requests

    def lengths(self, queues: list[str]) -> dict[str, int]:
        """How many ids each queue named (`"all"`, a supervisor's name, ...) holds: one
        LLEN each, pipelined."""
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(self.keys.queue_jobs(queue))
            found = pipe.execute()
        return {queue: int(n) for queue, n in zip(queues, found, strict=True)}
