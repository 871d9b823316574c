"""The masters' and the workers' side of the protocol: requeueing, promoting, the
registries, the supervisors' holds and leases, failing and giving back jobs (the jobs
a worker takes and finishes go through its feed, feed.py).

Each multi-step operation is one Lua script (qwsup/store/lua/*.lua, run through scripts.py,
which also translates redis-py's errors) or a MULTI/EXEC that reads nothing; see
docs/protocol.md for the invariant they keep.
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from redis.typing import EncodableT, KeyT

from qwsup.store.keys import CRON, STATE, TICK, WORKER, Keys
from qwsup.store.records import Beat, Claim, Suspect, Watched
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, EVENTS_MAX, Scripts, translated

REQUEUE_BATCH = 100  # ids moved per requeue.lua call
WATCH_LIMIT = 1000  # suspects one watch.lua call reports at most (the rest in later calls)


class JobKind(enum.StrEnum):
    """What take.lua found for a job it took: the Redis type of its key ("hash", "none"
    when missing, or another type), or one of qwsup's own kinds."""

    HASH = "hash"
    MISSING = "none"
    OVERSIZE = "oversize"  # a job hash over the size limit, its data not sent
    EMPTY = "empty"  # an empty id: dropped from the worker's list, never run
    CANCELLED = "cancelled"  # a job cancelled: dropped from the worker's list, never run


OVERSIZE = JobKind.OVERSIZE
EMPTY = JobKind.EMPTY
CANCELLED = JobKind.CANCELLED
KEEP_MS = 3_600_000  # [workers] keep_finished's default
_KINDS = {kind.value: kind for kind in JobKind}


@dataclass(frozen=True, slots=True)
class Job:
    id: bytes
    kind: JobKind | str  # the Redis type of the job's key ("none": missing), or "oversize"
    fields: dict[bytes, bytes]
    size: int = 0  # "oversize": the bytes of data the hash holds


def _job(reply: Any) -> Job:
    """One job of take.lua's reply: {id, type of its key[, {field, value, ...}]}, or
    {id, "oversize", bytes}."""
    job_id, raw = reply[0], reply[1].decode()
    kind: JobKind | str = _KINDS.get(raw, raw)  # another type of key: its Redis name
    if kind == JobKind.OVERSIZE:
        return Job(job_id, kind, {}, int(reply[2]))
    flat: list[bytes] = reply[2] if len(reply) > 2 else []
    return Job(job_id, kind, dict(zip(flat[::2], flat[1::2], strict=True)))


@dataclass(frozen=True, slots=True)
class Taken:
    """What take.lua did: whether the finished job was still the worker's, whether the
    worker was fenced off (its master no longer holds the name: nothing taken), how long
    until a queue that held jobs back (paused, at a limit) may give one (ms; 0: none
    held any back), and the jobs taken, oldest first (an empty id among them is kind
    "empty": dropped, not to run)."""

    finished: bool
    fenced: bool
    jobs: list[Job]
    held_ms: int = 0
    woken: bool = False  # a wait ended early by the worker (Feed.wait): nothing taken


NOTHING = Taken(finished=False, fenced=False, jobs=[])  # no take: what a wait ended early gives


def taken(reply: Any) -> Taken:
    jobs = [_job(job) for job in reply[3:]]
    return Taken(bool(reply[0]), bool(reply[1]), jobs, int(reply[2]))


@dataclass(frozen=True, slots=True)
class Retry:
    """When a failed job runs again: after delay_s, growing by backoff, at most
    delay_max_s; never after max_attempts."""

    max_attempts: int
    delay_s: float = 0.0
    backoff: float = 1.0
    delay_max_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Reclaimed:
    name: str  # the dead supervisor
    requeued: int
    failed: int


@dataclass(frozen=True, slots=True)
class Requeued:
    requeued: int
    failed: int
    fenced: bool = False  # the caller's token no longer holds the name: nothing moved
    cancelled: int = 0  # jobs asked to stop meanwhile: ended cancelled, not requeued


class Queue:
    """One client's view of the queues of one namespace; a job that ends cancelled on
    its way through (given back, failed, requeued, reclaimed) is kept `keep_ms`."""

    def __init__(
        self, client: redis.Redis, keys: Keys, keep_ms: int = KEEP_MS, events_max: int = EVENTS_MAX
    ) -> None:
        self.client = client
        self.keys = keys
        self.scripts = Scripts(client, keys.prefix, events_max)
        self.keep_ms = keep_ms

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

    def register_worker(self, name: str, worker: str) -> None:
        with translated():
            self.client.sadd(self.keys.workers(name), worker)

    def unregister_worker(self, name: str, worker: str) -> None:
        with translated():
            self.client.srem(self.keys.workers(name), worker)

    def registered_workers(self, name: str) -> set[str]:
        with translated():
            members = self.client.smembers(self.keys.workers(name))
        return {m.decode(errors="replace") if isinstance(m, bytes) else m for m in members}

    def heartbeat(
        self,
        name: str,
        lease_s: float,
        *,
        token: str,
        pid: int,
        host: str,
        status: str,
        pools: str = "[]",
    ) -> int:
        """Renew the hold on supervisor `name` (its `token`): 1 renewed, 0 the name has no
        holder any more (reclaimed), -1 another master holds it. `pools` (JSON) is what
        `qwsup status` shows of its pools."""
        keys: list[KeyT] = [
            self.keys.leases, self.keys.supervisors, self.keys.info(name), self.keys.beats,
            self.keys.beat_seq,
        ]  # fmt: skip
        args: list[EncodableT] = [name, int(lease_s * 1000), pid, host, status, pools, token]
        return int(self.scripts.run("heartbeat", keys, args))

    def holder(self, name: str) -> dict[bytes, bytes]:
        """The record of whoever holds supervisor `name` ({} when none)."""
        with translated():
            record: dict[bytes, bytes] = self.client.hgetall(self.keys.info(name))  # type: ignore[assignment]
        return record

    def claim(
        self, name: str, token: str, *, expected: str, lease_s: float, holder: dict[str, str]
    ) -> str | None:
        """Take supervisor `name` for `token` if its hold is now `expected` ("" for none);
        None when taken, else the token that holds it."""
        keys: list[KeyT] = [
            self.keys.info(name), self.keys.supervisors, self.keys.leases, self.keys.beats,
            self.keys.beat_seq,
        ]  # fmt: skip
        args: list[EncodableT] = [name, token, expected, int(lease_s * 1000)]
        for field, value in holder.items():
            args += [field, value]
        ok, held_by = self.scripts.run("claim", keys, args)
        return None if ok else held_by.decode(errors="replace")

    def release(self, name: str, token: str) -> bool:
        """Let supervisor `name` go, if `token` still holds it."""
        keys: list[KeyT] = [
            self.keys.info(name), self.keys.supervisors, self.keys.leases, self.keys.beats,
        ]  # fmt: skip
        return bool(self.scripts.run("release", keys, [name, token]))

    def beats(self, names: list[str] | None = None) -> dict[str, Beat]:
        """What the records of the named supervisors (default: every registered one)
        show of their life (see lib/beat.lua), and the lease each heartbeats for."""
        flat = self.scripts.run("beats", [self.keys.supervisors], names or [])
        found = {}
        for i in range(0, len(flat), 3):
            lease = flat[i + 2].decode(errors="replace")
            lease_s = int(lease) / 1000 if lease.isdigit() else 0.0
            found[flat[i].decode(errors="replace")] = Beat(flat[i + 1].decode(), lease_s)
        return found

    def watch(self, name: str, token: str, upto: int, limit: int = WATCH_LIMIT) -> Watched | None:
        """watch.lua, for the master that holds `name` under `token`: the heartbeats'
        counter now, and the supervisors that have not beaten since it stood at `upto`
        (-1: none), at most `limit`, the longest silent first. None when `token` does
        not hold the name."""
        keys: list[KeyT] = [
            self.keys.beats, self.keys.beat_seq, self.keys.leases, self.keys.info(name)
        ]  # fmt: skip
        reply: Any = self.scripts.run("watch", keys, [token, upto, limit])
        if not reply:
            return None
        seq, mark, complete, *flat = reply
        suspects = {}
        for i in range(0, len(flat), 4):
            lease = flat[i + 3].decode(errors="replace")
            lease_s = int(lease) / 1000 if lease.isdigit() else 0.0
            suspect = Suspect(int(flat[i + 1]), flat[i + 2].decode(errors="replace"), lease_s)
            suspects[flat[i].decode(errors="replace")] = suspect
        found = mark.decode(errors="replace")
        return Watched(int(seq), int(found) if found.isdigit() else None, bool(complete), suspects)

    def reclaim(self, dead: str, *, by: str, max_attempts: int, seen: str = "") -> Reclaimed | None:
        """Reclaim the jobs of supervisor `dead`, if its record still shows `seen` (what
        the caller watched not change for a lease), or whatever it shows when `seen` is
        "". None when it is not to be reclaimed (it beat after all)."""
        keys: list[KeyT] = [
            self.keys.leases,
            self.keys.supervisors,
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.beats,
            self.keys.beat_seq,
            self.keys.finished_jobs,
        ]
        total: Reclaimed | None = None
        first = "1"
        while True:
            args: list[EncodableT] = [
                by, max_attempts, REQUEUE_BATCH, dead, seen, first, self.keep_ms
            ]  # fmt: skip
            reply: Any = self.scripts.run("reclaim", keys, args)
            if not reply:
                return total
            requeued, failed, finished = reply
            previous = total or Reclaimed(dead, 0, 0)
            total = Reclaimed(dead, previous.requeued + requeued, previous.failed + failed)
            if finished:
                return total
            first = "0"
