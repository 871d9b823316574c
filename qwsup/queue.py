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
from .leases import Beat

REQUEUE_BATCH = 100  # ids moved per requeue.lua call
OVERSIZE = "oversize"  # take.lua's kind for a job hash over the size limit
EMPTY = "empty"  # take.lua's kind for an empty id: dropped from the worker's list, never run
# The bulk scripts (promote, retry, retry_all, purge): the most ids per call, and the
# time after which a call stops, so that none blocks Redis for long.
BULK_BATCH = 1000
BULK_BUDGET_US = 2000


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


@dataclass(frozen=True, slots=True)
class Taken:
    """What take.lua did: whether the finished job was still the worker's, whether the
    worker was fenced off (its master no longer holds the name: nothing taken), and the
    jobs taken, oldest first (an empty id among them is kind "empty": dropped, not to run)."""

    finished: bool
    fenced: bool
    jobs: list[Job]


def taken(reply: Any) -> Taken:
    return Taken(bool(reply[0]), bool(reply[1]), [_job(job) for job in reply[2:]])


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


@dataclass(frozen=True, slots=True)
class Refused:
    """A failed unique job left failed by a retry: another job that can still run holds
    its name."""

    id: str
    name: str
    holder: str


@dataclass(frozen=True, slots=True)
class Retried:
    moved: int
    refused: list[Refused]  # left in failed:jobs
    missing: list[str]  # ids named that were not failed jobs


def _str(raw: bytes) -> str:
    return raw.decode(errors="replace")


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
        self._claim = self._script("claim")
        self._release = self._script("release")
        self._beats = self._script("beats")
        self._retry = self._script("retry")
        self._purge = self._script("purge")
        self._enqueue = self._script("enqueue")
        self.blmove = True  # until the server says it has no BLMOVE (before Redis 6.2)

    def _script(self, name: str) -> Script:
        return self.client.register_script(SCRIPTS[name])

    # -- a worker's side ---------------------------------------------------

    def take(self, worker: str, host: str, want: int = 1, token: str = "") -> list[Job]:
        """The next jobs (at most `want`), moved into the worker's own list, oldest first;
        none when no queue has one (or the worker is fenced off: `token` is not the one
        of the hold on supervisor `host`'s name, "" when nobody holds it)."""
        return self.finish_and_take(worker, host, b"", want, token).jobs

    def finish_and_take(
        self, worker: str, host: str, finished: bytes, want: int = 1, token: str = ""
    ) -> Taken:
        """Finish the worker's job `finished` (as ack() does) and take the next jobs, in
        one round trip."""
        keys, args = self.take_call(worker, host, finished, want, token)
        with translated():
            return taken(self._take(keys=keys, args=args))

    def take_call(
        self,
        worker: str,
        host: str,
        finished: bytes,
        want: int,
        token: str,
        blocks_on: str = ALL,
    ) -> tuple[list[KeyT], list[EncodableT]]:
        """take.lua's keys and arguments."""
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.host_jobs(host),
            self.keys.workers(host),
            self.keys.managers,
            self.keys.job(finished) if finished else self.keys.job_prefix,
            self.keys.info(host),
            *(self.keys.host_jobs(name) for name in self.queues),
        ]
        args: list[EncodableT] = [
            self.keys.job_prefix, worker, host, finished, want, self.max_job_bytes,
            self.keys.prefix, token, blocks_on,
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

    def requeue(
        self,
        worker: str,
        *,
        cost: int,
        max_attempts: int,
        reason: str,
        host: str = "",
        token: str = "",
    ) -> Requeued:
        """Move every job of a worker's list back to the front of its queue, if `token`
        still holds supervisor `host`'s name ("" when nobody holds it); else nothing
        moves and the result says `fenced`.

        `cost` attempts are charged to the job it was running (1 when the worker died,
        0 when it was stopped on purpose); a job out of attempts goes to failed:jobs.
        """
        keys: list[KeyT] = [
            self.keys.worker_jobs(worker),
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.info(host or worker.rpartition(".")[0]),
        ]
        total = Requeued(0, 0)
        while True:
            now = f"{time.time():.3f}"
            args: list[EncodableT] = [
                self.keys.prefix, cost, max_attempts, reason, now, REQUEUE_BATCH, token,
            ]  # fmt: skip
            with translated():
                requeued, failed, left, fenced = self._requeue(keys=keys, args=args)
            total = Requeued(total.requeued + requeued, total.failed + failed, bool(fenced))
            if left == 0 or fenced:
                return total

    def promote(self, budget_s: float | None = None) -> int:
        """Move the delayed jobs that are due to the back of their queue, in bounded
        calls; returns how many. With `budget_s`, no new call starts after that many
        seconds: the rest waits for the next call (a master's next turn)."""
        keys: list[KeyT] = [self.keys.delayed_jobs, self.keys.all_jobs]
        args: list[EncodableT] = [BULK_BATCH, self.keys.prefix, BULK_BUDGET_US]
        deadline = None if budget_s is None else time.monotonic() + budget_s
        moved = 0
        while True:
            with translated():
                batch, left = self._promote(keys=keys, args=args)
            moved += int(batch)
            if not left or (deadline is not None and time.monotonic() >= deadline):
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
        token: str,
        pid: int,
        host: str,
        status: str,
        pools: str = "[]",
    ) -> int:
        """Renew the hold on supervisor `name` (its `token`): 1 renewed, 0 the name has no
        holder any more (reclaimed), -1 another master holds it. `pools` (JSON) is what
        `qwsup status` shows of its pools."""
        keys: list[KeyT] = [self.keys.leases, self.keys.managers, self.keys.info(name)]
        args: list[EncodableT] = [name, int(lease_s * 1000), pid, host, status, pools, token]
        with translated():
            return int(self._heartbeat(keys=keys, args=args))

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
        keys: list[KeyT] = [self.keys.info(name), self.keys.managers, self.keys.leases]
        args: list[EncodableT] = [name, token, expected, int(lease_s * 1000)]
        for field, value in holder.items():
            args += [field, value]
        with translated():
            ok, held_by = self._claim(keys=keys, args=args)
        return None if ok else held_by.decode(errors="replace")

    def release(self, name: str, token: str) -> bool:
        """Let supervisor `name` go, if `token` still holds it."""
        keys: list[KeyT] = [self.keys.info(name), self.keys.managers, self.keys.leases]
        with translated():
            return bool(self._release(keys=keys, args=[name, token]))

    def beats(self, names: list[str] | None = None) -> dict[str, Beat]:
        """What the records of the named supervisors (default: every registered one)
        show of their life (see lib/beat.lua), and the lease each heartbeats for."""
        args: list[EncodableT] = [self.keys.prefix, *(names or [])]
        with translated():
            flat = self._beats(keys=[self.keys.managers], args=args)
        found = {}
        for i in range(0, len(flat), 3):
            lease = flat[i + 2].decode(errors="replace")
            lease_s = int(lease) / 1000 if lease.isdigit() else 0.0
            found[flat[i].decode(errors="replace")] = Beat(flat[i + 1].decode(), lease_s)
        return found

    def reclaim(self, dead: str, *, by: str, max_attempts: int, seen: str = "") -> Reclaimed | None:
        """Reclaim the jobs of supervisor `dead`, if its record still shows `seen` (what
        the caller watched not change for a lease), or whatever it shows when `seen` is
        "". None when it is not to be reclaimed (it beat after all)."""
        keys: list[KeyT] = [
            self.keys.leases,
            self.keys.managers,
            self.keys.all_jobs,
            self.keys.failed_jobs,
        ]
        total: Reclaimed | None = None
        first = "1"
        while True:
            args: list[EncodableT] = [
                self.keys.prefix, by, max_attempts, REQUEUE_BATCH, dead, seen, first,
            ]  # fmt: skip
            with translated():
                reply: Any = self._reclaim(keys=keys, args=args)
            if not reply:
                return total
            requeued, failed, finished = reply
            previous = total or Reclaimed(dead, 0, 0)
            total = Reclaimed(dead, previous.requeued + requeued, previous.failed + failed)
            if finished:
                return total
            first = "0"

    # -- an operator's side -------------------------------------------------

    def retry_failed(self, job_ids: list[str] | None) -> Retried:
        """Put failed jobs back at the back of their queue with their attempts reset: the
        named ones, or, with None, every job failed:jobs holds now, oldest first. A unique
        job takes its name again; while a job that can still run holds it, it stays in
        failed:jobs (refused)."""
        if job_ids is None:
            return self._retry_all()
        keys: list[KeyT] = [self.keys.failed_jobs, self.keys.all_jobs]
        moved, refused, missing = 0, list[Refused](), list[str]()
        left = list(job_ids)
        while left:
            batch = left[:BULK_BATCH]
            args: list[EncodableT] = [self.keys.prefix, BULK_BUDGET_US, *batch]
            with translated():
                replies = self._retry(keys=keys, args=args)
            for job_id, reply in zip(batch, replies, strict=False):
                if isinstance(reply, list):
                    refused.append(Refused(job_id, _str(reply[0]), _str(reply[1])))
                elif reply:
                    moved += 1
                else:
                    missing.append(job_id)
            left = left[len(replies) :]
        return Retried(moved, refused, missing)

    def _retry_all(self) -> Retried:
        keys: list[KeyT] = [self.keys.failed_jobs, self.keys.all_jobs]
        with translated():
            todo = int(self.client.llen(self.keys.failed_jobs))
        taken, refused = 0, list[Refused]()
        script = self._script("retry_all")
        while taken < todo:
            most = min(BULK_BATCH, todo - taken)
            args: list[EncodableT] = [self.keys.prefix, most, BULK_BUDGET_US]
            with translated():
                reply = script(keys=keys, args=args)
            if not reply[0]:
                break
            taken += int(reply[0])
            for i in range(1, len(reply), 3):
                refused.append(Refused(*(_str(part) for part in reply[i : i + 3])))
        return Retried(taken - len(refused), refused, [])

    def purge_failed(self) -> int:
        """Remove every job failed:jobs holds now and its hash, oldest first, freeing the
        unique names they hold; returns how many."""
        with translated():
            todo = int(self.client.llen(self.keys.failed_jobs))
        removed = 0
        while removed < todo:
            most = min(BULK_BATCH, todo - removed)
            args: list[EncodableT] = [self.keys.prefix, most, BULK_BUDGET_US]
            with translated():
                batch = int(self._purge(keys=[self.keys.failed_jobs], args=args))
            if not batch:
                break
            removed += batch
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
