"""What operators look at and mend: the state of the queues and supervisors, and the
failed jobs. Read-only views are plain pipelines; every change is a Lua script. Every
read and write of the operator commands (and of the metrics' collector) goes through
`Operator`, which translates redis-py's errors."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from redis.typing import EncodableT, KeyT

from qwsup.config import Config, CronConfig
from qwsup.master.cron import Ticks
from qwsup.master.leases import LeaseWatch
from qwsup.store.connection import make_client
from qwsup.store.jobs import read_fraction
from qwsup.store.keys import (
    ATTEMPTS,
    FAILED_AT,
    LAST_ERROR,
    PROGRESS,
    PROGRESS_MSG,
    STARTED_AT,
    STATE,
    Keys,
)
from qwsup.store.queue import Queue
from qwsup.store.records import Beat, Reclaimed
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, EVENTS_MAX, Scripts, translated
from qwsup.store.server import ServerInfo, read_all


@dataclass
class RunningJob:
    id: str
    running_s: float | None  # since it was taken
    progress: float | None = None  # from 0 to 1, as its handler last reported
    progress_message: str | None = None
    attempt: int = 1  # which attempt this run is (its attempts used up, plus one)


@dataclass
class WorkerView:
    id: str
    job: str | None  # the job it has run longest (the oldest in its list), if any
    running_s: float | None  # since that job was taken
    pool: str = ""
    # every job it runs, oldest first (a worker of concurrency N runs the oldest N ids
    # of its list)
    jobs: list[RunningJob] = field(default_factory=list)


@dataclass
class PoolView:
    name: str
    count: int  # workers wanted
    queues: list[str]


@dataclass
class SupervisorView:
    name: str
    alive: bool  # its lease runs
    heartbeat_age_s: float | None
    pid: int | None
    host: str
    status: str
    workers: list[WorkerView] = field(default_factory=list)
    pools: list[PoolView] = field(default_factory=list)


@dataclass
class CronView:
    """One schedule as `qwsup cron` and `status` show it (times: unix ms, Redis clock)."""

    name: str
    when: str  # its schedule ("0 3 * * * Europe/Berlin") or interval ("every 30s")
    queue: str
    last_run_ms: int | None  # the tick of the last job it enqueued
    next_run_ms: int
    last_job: str | None
    last_state: str | None  # that job's state (None: gone)
    fired: int
    skipped: int


@dataclass
class Snapshot:
    queues: dict[str, int]  # list name: length, all:jobs and every supervisor's own queue
    delayed: int
    failed: int
    supervisors: list[SupervisorView]
    # the Redis server, or every node of a cluster: eviction, persistence, memory
    servers: list[ServerInfo] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # the names of the paused queues
    paused_lists: list[str] = field(default_factory=list)  # and their lists (as in queues)
    cron: list[CronView] = field(default_factory=list)  # the config's schedules, next first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FailedJob:
    id: str
    attempts: int
    error: str
    failed_at: float | None  # unix seconds
    fields: dict[str, str]  # everything in its hash, qwsup's own fields included


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


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value or ""


def _count(raw: bytes | None) -> int:
    """A count a hash holds (0 when absent or not a count)."""
    return int(raw) if raw and raw.isdigit() else 0


def _str(raw: bytes) -> str:
    return raw.decode(errors="replace")


class Operator:
    """The operator commands' line to Redis, for one namespace: `batch` and `budget_us`
    bound each call of the bulk scripts (retry, retry_all, purge). Reclaiming and
    reading the supervisors' leases are the masters' own steps, through `queue`."""

    def __init__(
        self,
        client: Any,  # a Redis, or a RedisCluster standing in for one
        keys: Keys,
        *,
        batch: int = BULK_BATCH,
        budget_us: int = BULK_BUDGET_US,
        events_max: int = EVENTS_MAX,
    ) -> None:
        self.client = client
        self.keys = keys
        self.batch = batch
        self.budget_us = budget_us
        self.scripts = Scripts(client, keys.prefix, events_max)
        self.queue = Queue(client, keys, events_max=events_max)

    @classmethod
    def from_config(cls, config: Config, client: Any = None) -> Operator:
        """The operator of the Redis and namespace `config` names (over `client`, or a
        new one)."""
        keys = Keys(config.redis.prefix())
        client = client if client is not None else make_client(config)
        return cls(client, keys, events_max=config.events.max_len)

    @contextlib.contextmanager
    def reading(self) -> Iterator[redis.client.Pipeline]:
        """A pipeline of reads (no transaction), its errors translated: execute it inside."""
        with translated(), self.client.pipeline(transaction=False) as pipe:
            yield pipe

    def now_ms(self) -> int:
        """The Redis server's clock, unix ms."""
        with translated():
            seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def supervisor_names(self) -> list[str]:
        with translated():
            return sorted(_text(n) for n in self.client.smembers(self.keys.supervisors))

    def pause(self, queues: list[str]) -> None:
        """Every worker on every host stops taking from `queues` (at its next take: within
        a second); what runs goes on, producers still enqueue."""
        with translated():
            self.client.sadd(self.keys.paused, *queues)

    def resume(self, queues: list[str]) -> None:
        with translated():
            self.client.srem(self.keys.paused, *queues)

    def paused(self) -> list[str]:
        with translated():
            return sorted(_text(n) for n in self.client.smembers(self.keys.paused))

    def failed_count(self) -> int:
        with translated():
            return int(self.client.llen(self.keys.failed_jobs))

    def failed_ids(self, start: int, count: int) -> list[bytes]:
        """`count` ids of failed:jobs from index `start` (0: the newest)."""
        with translated():
            ids: list[bytes] = self.client.lrange(self.keys.failed_jobs, start, start + count - 1)
        return ids

    def job_fields(self, job_id: bytes | str) -> dict[bytes, bytes]:
        with translated():
            fields: dict[bytes, bytes] = self.client.hgetall(self.keys.job(job_id))
        return fields

    def record(self, name: str, *fields: str) -> list[bytes | None]:
        """Fields of supervisor `name`'s record (<name>:info)."""
        with translated():
            values: list[bytes | None] = self.client.hmget(self.keys.info(name), list(fields))
        return values

    def running(self, worker: str, slots: int = 1) -> list[tuple[bytes, list[bytes | None]]]:
        """The jobs worker `worker` runs (the oldest `slots` in its list, oldest first),
        each with when it started it (qwsup:started_at, unix ms), its progress, its
        message and its attempts used up (each None when absent)."""
        with translated():
            jobs = self.client.lrange(self.keys.worker_jobs(worker), -slots, -1)[::-1]
            if not jobs:
                return []
            with self.client.pipeline(transaction=False) as pipe:
                for job in jobs:
                    pipe.hmget(self.keys.job(job), [STARTED_AT, PROGRESS, PROGRESS_MSG, ATTEMPTS])
                found = pipe.execute()
        return list(zip(jobs, found, strict=True))

    def ask_to_scale(self, name: str, pool: str, change: str) -> None:
        self.queue.ask_to_scale(name, pool, change)

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
            batch = left[: self.batch]
            replies = self.scripts.run("retry", keys, [self.budget_us, *batch])
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
        todo = self.failed_count()
        taken, refused = 0, list[Refused]()
        while taken < todo:
            most = min(self.batch, todo - taken)
            reply = self.scripts.run("retry_all", keys, [most, self.budget_us])
            if not reply[0]:
                break
            taken += int(reply[0])
            for i in range(1, len(reply), 3):
                refused.append(Refused(*(_str(part) for part in reply[i : i + 3])))
        return Retried(taken - len(refused), refused, [])

    def purge_ids(self, job_ids: list[str]) -> int:
        """Remove the named failed jobs and their hashes (an id not in failed:jobs is left
        alone); returns how many were removed."""
        removed, left = 0, list(job_ids)
        while left:
            args: list[EncodableT] = [self.budget_us, *left[: self.batch]]
            done, gone = self.scripts.run("purge_ids", [self.keys.failed_jobs], args)
            removed, left = removed + int(gone), left[int(done) :]
        return removed

    def purge_failed(self) -> int:
        """Remove every job failed:jobs holds now and its hash, oldest first, freeing the
        unique names they hold; returns how many."""
        todo = self.failed_count()
        removed = 0
        while removed < todo:
            most = min(self.batch, todo - removed)
            args: list[EncodableT] = [most, self.budget_us]
            batch = int(self.scripts.run("purge", [self.keys.failed_jobs], args))
            if not batch:
                break
            removed += batch
        return removed


def cron_views(op: Operator, schedules: tuple[CronConfig, ...]) -> list[CronView]:
    """Each schedule of the config with its record (cron.lua's): last and next run, and
    its last job's state, in the order of the file."""
    now_ms = op.now_ms()
    with op.reading() as pipe:
        for cron in schedules:
            pipe.hgetall(op.keys.cron(cron.name))
        records = pipe.execute()
    with op.reading() as pipe:
        for record in records:
            pipe.hget(op.keys.job(record.get(b"job", b"")), STATE)
        states = pipe.execute()
    views = []
    for cron, record, state in zip(schedules, records, states, strict=True):
        ticks = Ticks.of(cron)
        last = int(record[b"last_ms"]) if b"last_ms" in record else None
        zone = "" if cron.timezone == "UTC" else f" {cron.timezone}"
        when = f"every {cron.every}" if cron.every else f"{cron.schedule}{zone}"
        job = record.get(b"job")
        views.append(
            CronView(
                cron.name, when, cron.queue,
                int(record[b"fired_ms"]) if b"fired_ms" in record else None,
                ticks.next_after(max(now_ms, last or 0)),
                _text(job) if job else None,
                (_text(state) if state else None) if job else None,
                int(record.get(b"fired", 0)), int(record.get(b"skipped", 0)),
            )
        )  # fmt: skip
    return views


def snapshot(op: Operator, schedules: tuple[CronConfig, ...] = ()) -> Snapshot:
    """One look at everything `qwsup status` shows."""
    keys = op.keys
    now_ms = op.now_ms()
    names = op.supervisor_names()
    with op.reading() as pipe:
        pipe.llen(keys.all_jobs)
        pipe.zcard(keys.delayed_jobs)
        pipe.llen(keys.failed_jobs)
        for name in names:
            pipe.llen(keys.queue_jobs(name))
            pipe.zscore(keys.leases, name)
            pipe.hgetall(keys.info(name))
            pipe.smembers(keys.workers(name))
        replies = pipe.execute()
        all_jobs, delayed, failed = replies[:3]
        queues = {keys.all_jobs: all_jobs}
    pools = {name: _pools(info) for name, info in zip(names, replies[5::4], strict=True)}
    served = {q for listed in pools.values() for pool in listed for q in pool["queues"]}
    paused = op.paused()
    named = sorted((served | set(paused)) - {"all", *names})
    with op.reading() as pipe:
        for name in named:
            pipe.llen(keys.queue_jobs(name))
        depths = pipe.execute()
    for name, depth in zip(named, depths, strict=True):
        queues[keys.queue_jobs(name)] = depth
    supervisors = []
    for i, name in enumerate(names):
        depth, lease, info, members = replies[3 + 4 * i : 7 + 4 * i]
        queues[keys.queue_jobs(name)] = depth
        beat = info.get(b"heartbeat_ms")
        workers = sorted(_text(m) for m in members)
        pool_of = {w: pool["name"] for pool in pools[name] for w in pool["workers"]}
        slots = {w: pool["concurrency"] for pool in pools[name] for w in pool["workers"]}
        supervisors.append(
            SupervisorView(
                name=name,
                alive=lease is not None and lease >= now_ms,
                heartbeat_age_s=(now_ms - int(beat)) / 1000 if beat else None,
                pid=int(info[b"pid"]) if b"pid" in info else None,
                host=_text(info.get(b"host")),
                status=_text(info.get(b"status")),
                workers=[
                    _worker(op, w, now_ms, pool_of.get(w, ""), slots.get(w, 1)) for w in workers
                ],
                pools=[PoolView(p["name"], p["count"], p["queues"]) for p in pools[name]],
            )
        )
    return Snapshot(
        queues, delayed, failed, supervisors, read_all(op.client), paused,
        [keys.queue_jobs(name) for name in paused],
        sorted(cron_views(op, schedules), key=lambda view: view.next_run_ms),
    )  # fmt: skip


def _worker(op: Operator, worker: str, now_ms: int, pool: str, slots: int) -> WorkerView:
    jobs = [
        RunningJob(
            _text(job),
            (now_ms - int(started)) / 1000 if started else None,
            read_fraction(_text(progress)),
            _text(message) if message else None,
            _count(attempts) + 1,
        )
        for job, (started, progress, message, attempts) in op.running(worker, slots)
    ]
    if not jobs:
        return WorkerView(worker, None, None, pool)
    return WorkerView(worker, jobs[0].id, jobs[0].running_s, pool, jobs)


def _pools(info: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """A supervisor's pools as its heartbeat recorded them ([] when unreadable)."""
    try:
        pools = json.loads(info.get(b"pools") or b"[]")
        return [
            {"name": str(p["name"]), "count": int(p["count"]),
             "queues": [str(q) for q in p["queues"]], "workers": [str(w) for w in p["workers"]],
             "concurrency": int(p.get("concurrency", 1))}
            for p in pools
        ]  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return []


PAGE = 1000  # failed jobs read per round trip: no LRANGE of a whole huge list


def failed_jobs(op: Operator, limit: int = 100) -> list[FailedJob]:
    """The newest `limit` failed jobs (0: all of them), read a page at a time."""
    jobs: list[FailedJob] = []
    while not limit or len(jobs) < limit:
        want = PAGE if not limit else min(PAGE, limit - len(jobs))
        ids = op.failed_ids(len(jobs), want)
        with op.reading() as pipe:
            for job_id in ids:
                pipe.hgetall(op.keys.job(job_id))
            hashes = pipe.execute() if ids else []
        jobs += [_failed(job_id, fields) for job_id, fields in zip(ids, hashes, strict=True)]
        if len(ids) < want:
            break
    return jobs


def failed_job(op: Operator, job_id: str) -> FailedJob | None:
    """A job that failed for good (its hash has qwsup:failed_at), or None."""
    fields = op.job_fields(job_id)
    return _failed(job_id, fields) if FAILED_AT.encode() in fields else None


def _failed(job_id: bytes | str, fields: dict[Any, Any]) -> FailedJob:
    failed_at = fields.get(FAILED_AT.encode())
    return FailedJob(
        id=_text(job_id),
        attempts=int(fields.get(ATTEMPTS.encode(), b"0")),
        error=_text(fields.get(LAST_ERROR.encode())),
        failed_at=float(failed_at) if failed_at else None,
        fields={_text(k): _text(v) for k, v in fields.items()},
    )


def requeue_orphans(
    op: Operator,
    names: list[str],
    *,
    max_attempts: int,
    lease_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Reclaimed]:
    """Reclaim the named supervisors now (an operator knows they are gone), or, with no
    names, every supervisor watched here not heartbeating for a whole lease, by the same
    rule as the masters' (see leases.py): a supervisor whose record changes is alive and
    no longer watched, so this takes a lease only when one is silent."""
    queue = op.queue
    if names:
        found = [queue.reclaim(name, by="", max_attempts=max_attempts) for name in names]
        return [r for r in found if r is not None]
    watch = LeaseWatch(lease_s)
    alive: set[str] = set()
    reclaimed: list[Reclaimed] = []
    first: dict[str, Beat] | None = None
    while True:
        sent = clock()
        beats = queue.beats()
        first = first or beats
        alive |= {name for name, beat in beats.items() if first.get(name, beat) != beat}
        watched = {
            name: beat for name, beat in beats.items() if name in first and name not in alive
        }
        for name in watch.observe(sent, clock(), watched):
            got = queue.reclaim(name, by="", max_attempts=max_attempts, seen=watched[name].value)
            watch.forget(name)
            alive.add(name)  # done with it, either way
            if got is not None:
                reclaimed.append(got)
        if not watched:
            return reclaimed
        sleep(min(lease_s / 8, 0.5))
