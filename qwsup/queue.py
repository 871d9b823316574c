"""The Redis side of the protocol: every read and write of queues, jobs and registries.

Each multi-step operation is one Lua script (qwsup/lua/*.lua) or a MULTI/EXEC that
reads nothing; see docs/protocol.md for the invariant they keep. redis-py's
connection errors are translated into `ConnectionLost` here, and nowhere else.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script
from redis.typing import EncodableT, KeyT

from .errors import ConnectionLost, RedisRefused
from .keys import ALL, ENQUEUED_AT, Keys

REQUEUE_BATCH = 100  # ids moved per requeue.lua call
OVERSIZE = "oversize"  # take.lua's kind for a job hash over the size limit


def _source(name: str) -> str:
    """A script's source, each `-- qwsup:include NAME` line replaced by lua/lib/NAME.lua:
    Redis runs every script on its own, so the functions several share are pasted in."""
    lua = resources.files("qwsup").joinpath("lua")

    def included(match: re.Match[str]) -> str:
        return lua.joinpath("lib", f"{match[1]}.lua").read_text(encoding="utf-8").rstrip("\n")

    text = lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return re.sub(r"^-- qwsup:include (\w+)$", included, text, flags=re.MULTILINE)


# Every script's source, read once at import: a worker that drops privileges after fork
# may no longer be able to read qwsup's files.
SCRIPTS = {
    entry.name.removesuffix(".lua"): _source(entry.name.removesuffix(".lua"))
    for entry in resources.files("qwsup").joinpath("lua").iterdir()
    if entry.name.endswith(".lua")
}


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn redis-py's errors into ConnectionLost (unreachable) or RedisRefused (an error
    reply, such as WRONGTYPE for a queue key that is not a list)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionLost(str(exc) or type(exc).__name__) from None
    except redis.ResponseError as exc:
        raise RedisRefused(str(exc)) from None


def no_such_command(exc: redis.ResponseError) -> bool:
    return "unknown command" in str(exc).lower()


@dataclass(frozen=True, slots=True)
class Job:
    id: bytes
    kind: str  # the Redis type of the job's key ("none": missing), or "oversize"
    fields: dict[bytes, bytes]
    size: int = 0  # "oversize": the bytes of data the hash holds


def _job(reply: Any) -> Job:
    """One job of take.lua's reply: {id, type of its key[, {field, value, ...}]}, or
    {id, "oversize", bytes}."""
    job_id, kind = reply[0], reply[1].decode()
    if kind == OVERSIZE:
        return Job(job_id, kind, {}, int(reply[2]))
    flat: list[bytes] = reply[2] if len(reply) > 2 else []
    return Job(job_id, kind, dict(zip(flat[::2], flat[1::2], strict=True)))


def taken(reply: Any) -> tuple[bool, list[Job]]:
    """take.lua's reply: whether the finished job was still ours, then the jobs taken."""
    return bool(reply[0]), [_job(job) for job in reply[1:]]


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


class Queue:
    """One client's view of the queues of one namespace."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        max_job_bytes: int = 0,
        queues: tuple[str, ...] = (ALL,),
    ) -> None:
        self.client = client
        self.keys = keys
        self.max_job_bytes = max_job_bytes  # a bigger job hash fails unread; 0: no limit
        self.queues = queues  # the worker's queues, in priority order
        self._take = self._script("take")
        self._ack = self._script("ack")
        self._giveback = self._script("giveback")
        self._fail = self._script("fail")
        self._requeue = self._script("requeue")
        self._promote = self._script("promote")
        self._heartbeat = self._script("heartbeat")
        self._reclaim = self._script("reclaim")
        self._retry = self._script("retry")
        self._purge = self._script("purge")
        self._enqueue = self._script("enqueue")
        self.blmove = True  # until the server says it has no BLMOVE (before Redis 6.2)

    def _script(self, name: str) -> Script:
        return self.client.register_script(SCRIPTS[name])

    # -- a worker's side ---------------------------------------------------

    def take(self, worker: str, host: str, want: int = 1) -> list[Job]:
        """The next jobs (at most `want`), moved into the worker's own list, oldest first;
        none when no queue has one."""
        return self.finish_and_take(worker, host, b"", want)[1]

    def finish_and_take(
        self, worker: str, host: str, finished: bytes, want: int = 1
    ) -> tuple[bool, list[Job]]:
        """Finish the worker's job `finished` (as ack() does) and take the next jobs, in
        one round trip: (whether this worker still owned the finished job, the jobs)."""
        keys, args = self.take_call(worker, host, finished, want)
        with translated():
            return taken(self._take(keys=keys, args=args))

    def take_call(
        self, worker: str, host: str, finished: bytes, want: int
    ) -> tuple[list[KeyT], list[EncodableT]]:
        """take.lua's keys and arguments."""
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.host_jobs(host),
            self.keys.workers(host),
            self.keys.managers,
            self.keys.job(finished) if finished else self.keys.job_prefix,
            *(self.keys.host_jobs(name) for name in self.queues),
        ]
        args: list[EncodableT] = [
            self.keys.job_prefix, worker, host, finished, want, self.max_job_bytes,
            self.keys.prefix,
        ]  # fmt: skip
        return keys, args

    def wait_call(self, worker: str, timeout_s: int, queue: str) -> tuple[EncodableT, ...]:
        """The command that blocks on one queue: BLMOVE, or BRPOPLPUSH before Redis 6.2."""
        src, dst = self.keys.host_jobs(queue), self.keys.worker_jobs(worker)
        if self.blmove:
            return ("BLMOVE", src, dst, "RIGHT", "LEFT", timeout_s)
        return ("BRPOPLPUSH", src, dst, timeout_s)

    def ack(self, worker: str, job_id: bytes) -> bool:
        """Finish the job; False when the worker no longer owned it."""
        keys, args = self.ack_call(worker, job_id, b"")
        with translated():
            return int(self._ack(keys=keys, args=args)) == 1

    def ack_call(
        self, worker: str, job_id: bytes, next_id: bytes
    ) -> tuple[list[KeyT], list[EncodableT]]:
        """ack.lua's keys and arguments; `next_id` is the job the worker starts next."""
        next_key = self.keys.job(next_id) if next_id else self.keys.job_prefix
        keys: list[KeyT] = [self.keys.worker_jobs(worker), self.keys.job(job_id), next_key]
        return keys, [job_id, next_id, self.keys.prefix]

    def give_back(self, worker: str, job_ids: list[bytes]) -> int:
        """Return prefetched jobs, not started, to the front of all:jobs (oldest first
        in `job_ids`); returns how many were still in the worker's list."""
        keys: list[KeyT] = [self.keys.worker_jobs(worker), self.keys.all_jobs]
        with translated():
            args: list[EncodableT] = [self.keys.prefix, *reversed(job_ids)]
            return int(self._giveback(keys=keys, args=args))

    def script(self, name: str) -> Script:
        """One of the scripts, for a caller that sends it on a connection of its own."""
        return {"take": self._take, "ack": self._ack}[name]

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
        """Record a failed attempt: -1 not owned, 0 failed for good, n > 0 to be retried
        (after n attempts)."""
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.job(job_id),
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.delayed_jobs,
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
            self.keys.prefix,
        ]
        with translated():
            return int(self._fail(keys=keys, args=args))

    # -- the master's side -------------------------------------------------

    def requeue(self, worker: str, *, cost: int, max_attempts: int, reason: str) -> Requeued:
        """Move every job of a worker's list back to the front of all:jobs.

        `cost` attempts are charged to each (1 when the worker died, 0 when it was
        stopped on purpose); a job out of attempts goes to failed:jobs.
        """
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.all_jobs,
            self.keys.failed_jobs,
        ]
        total = Requeued(0, 0)
        while True:
            now = f"{time.time():.3f}"
            args: list[EncodableT] = [
                self.keys.prefix, cost, max_attempts, reason, now, REQUEUE_BATCH,
            ]  # fmt: skip
            with translated():
                requeued, failed, left = self._requeue(keys=keys, args=args)
            total = Requeued(total.requeued + requeued, total.failed + failed)
            if left == 0:
                return total

    def promote(self) -> int:
        """Move the delayed jobs that are due back to all:jobs; returns how many."""
        keys: list[KeyT] = [self.keys.delayed_jobs, self.keys.all_jobs]
        moved = 0
        while True:
            with translated():
                batch = int(self._promote(keys=keys, args=[REQUEUE_BATCH, self.keys.prefix]))
            moved += batch
            if batch < REQUEUE_BATCH:
                return moved

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
        pid: int,
        host: str,
        status: str,
        pools: str = "[]",
    ) -> bool:
        """Renew the supervisor's lease; False when it had lapsed (or this is the first).
        `pools` (JSON) is what `qwsup status` shows of its pools."""
        keys: list[KeyT] = [self.keys.leases, self.keys.managers, self.keys.info(name)]
        args: list[EncodableT] = [name, int(lease_s * 1000), pid, host, status, pools]
        with translated():
            return bool(self._heartbeat(keys=keys, args=args))

    def reclaim(
        self, name: str, *, max_attempts: int, lease_s: float, dead: str = ""
    ) -> Reclaimed | None:
        """Reclaim the jobs of one supervisor whose lease is over, if there is one, or of
        supervisor `dead` whatever its lease says."""
        keys: list[KeyT] = [
            self.keys.leases,
            self.keys.managers,
            self.keys.all_jobs,
            self.keys.failed_jobs,
        ]
        args: list[EncodableT] = [
            self.keys.prefix, name, max_attempts, REQUEUE_BATCH, int(lease_s * 1000), dead,
        ]  # fmt: skip
        total: Reclaimed | None = None
        while True:
            with translated():
                reply: Any = self._reclaim(keys=keys, args=args)
            if not reply:
                return total
            raw_name, requeued, failed, finished = reply
            name_ = raw_name.decode(errors="replace")
            if total is not None and name_ != total.name:
                return total  # that one is done; the next call takes this one
            previous = total or Reclaimed(name_, 0, 0)
            total = Reclaimed(name_, previous.requeued + requeued, previous.failed + failed)
            if finished:
                return total

    def unregister_manager(self, name: str) -> None:
        with translated(), self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.leases, name)
            pipe.srem(self.keys.managers, name)
            pipe.delete(self.keys.info(name))
            pipe.execute()

    # -- an operator's side -------------------------------------------------

    def retry_failed(self, job_ids: list[str] | None) -> int:
        """Put failed jobs (all of them when `job_ids` is None) back in all:jobs with
        their attempts reset; returns how many moved."""
        keys: list[KeyT] = [self.keys.failed_jobs, self.keys.all_jobs]
        with translated():
            if job_ids is not None:
                args: list[EncodableT] = [self.keys.job_prefix, *job_ids, self.keys.prefix]
                return int(self._retry(keys=keys, args=args))
            moved = 0
            while batch := self.client.lrange(self.keys.failed_jobs, -REQUEUE_BATCH, -1):
                oldest_first: list[EncodableT] = [
                    self.keys.job_prefix, *reversed(batch), self.keys.prefix,
                ]  # fmt: skip
                moved += int(self._retry(keys=keys, args=oldest_first))
            return moved

    def purge_failed(self) -> int:
        """Remove every failed job and its hash; returns how many."""
        removed = 0
        while True:
            with translated():
                batch = int(
                    self._purge(
                        keys=[self.keys.failed_jobs], args=[self.keys.job_prefix, REQUEUE_BATCH]
                    )
                )
            removed += batch
            if batch < REQUEUE_BATCH:
                return removed

    # -- a producer's side -------------------------------------------------

    def enqueue_each(
        self,
        jobs: list[tuple[str, dict[str, str]]],
        queue: str,
        *,
        at_ms: int | None = None,
        delay_ms: int | None = None,
        unique: str = "",
    ) -> list[tuple[bool, str]]:
        """Enqueue each job with enqueue.lua (atomic per job, the batch in one pipeline):
        pushed on the queue named `queue` ("all", or a supervisor's name), or put in
        delayed:jobs, due at `at_ms` (unix ms) or `delay_ms` from now on the Redis
        server's clock; a `unique` job only while no other job holds that name. Returns
        per job (whether it was enqueued, its id or that of the job holding the name)."""
        now = f"{time.time():.3f}"
        when = ["" if at_ms is None else at_ms, "" if delay_ms is None else delay_ms]
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for job_id, fields in jobs:
                keys: list[KeyT] = [
                    self.keys.job(job_id), self.keys.delayed_jobs, self.keys.host_jobs(queue),
                    self.keys.unique(unique),  # "unique:" when none: a key the ACL allows
                ]  # fmt: skip
                args: list[EncodableT] = [job_id, *when, queue, unique, ENQUEUED_AT, now]
                for name, value in fields.items():
                    args += [name, value]
                self._enqueue(keys=keys, args=args, client=pipe)
            replies = pipe.execute()
        return [(bool(ok), holder.decode(errors="replace")) for ok, holder in replies]

    def push(self, jobs: list[tuple[str, dict[str, str]]], queue: str) -> None:
        """Write each job's hash and push its id, in one MULTI/EXEC for the whole batch."""
        now = f"{time.time():.3f}"
        with translated(), self.client.pipeline(transaction=True) as pipe:
            for job_id, fields in jobs:
                mapping: dict[EncodableT, EncodableT] = {ENQUEUED_AT: now}
                mapping.update(fields)
                pipe.hset(self.keys.job(job_id), mapping=mapping)
                pipe.lpush(queue, job_id)
            pipe.execute()
