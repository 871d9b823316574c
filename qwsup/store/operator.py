"""The operators' line to Redis: what `qwsup status`, the dashboard and the metrics read
of the queues, the supervisors and their workers, the cron records and the server, and
the few writes of their own (pause, resume, a scale request, reclaiming a supervisor).

`Operator` is built once per client from the config; its methods return records, never a
pipeline, and raise redis-py's errors translated (RedisTrouble). The failed jobs are
`Operator.failed` (failed.py), the paged lists, a job and the events `Operator.pages`
(pages.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from qwsup.config import Config
from qwsup.errors import RedisTrouble
from qwsup.limits import Limits
from qwsup.store.connection import make_client
from qwsup.store.failed import FailedJobs
from qwsup.store.jobs import read_fraction
from qwsup.store.keys import ATTEMPTS, PROGRESS, PROGRESS_MSG, STARTED_AT, STATE, Keys
from qwsup.store.pages import Pages, text
from qwsup.store.queue import Queue
from qwsup.store.records import Beat, Reclaimed
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, EVENTS_MAX, translated
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

    @property
    def served(self) -> set[str]:
        """The queues its pools take from, by name."""
        return {queue for pool in self.pools for queue in pool.queues}


@dataclass(frozen=True)
class Counts:
    """What waits beside the queues: jobs for later and retries, jobs failed for good,
    and the queues paused (by name)."""

    delayed: int
    failed: int
    paused: list[str]


@dataclass(frozen=True)
class CronRecord:
    """A schedule's record (cron.lua's) and its last job's state. Times: unix ms."""

    name: str
    last_ms: int | None  # the last tick it claimed
    fired_ms: int | None  # the tick of the last job it enqueued
    job: str | None  # that job
    job_state: str | None  # its state (None: gone)
    fired: int
    skipped: int


@dataclass(frozen=True)
class Gauges:
    """One scrape's look at the queues (`depths` by name), for the metrics."""

    depths: dict[str, int]
    delayed: int
    failed: int
    paused: set[str]
    in_window: dict[str, int]  # jobs started in the rate limit's window, by queue
    limited: dict[str, int]  # jobs counted against the concurrency limit, by queue


@contextlib.contextmanager
def _every_error() -> Iterator[None]:
    """Translated, and what translation leaves of redis-py's errors (a cluster's) too."""
    try:
        with translated():
            yield
    except redis.RedisError as exc:
        raise RedisTrouble(str(exc) or type(exc).__name__) from None


def _count(raw: bytes | None) -> int:
    """A count a hash holds (0 when absent or not a count)."""
    return int(raw) if raw and raw.isdigit() else 0


class Operator:
    """The operators' reads and writes for one namespace. `batch` and `budget_us` bound
    each call of the failed jobs' bulk scripts (retry, purge)."""

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
        self.queue = Queue(client, keys, events_max=events_max)
        self.failed = FailedJobs(
            client, keys, batch=batch, budget_us=budget_us, events_max=events_max
        )
        self.pages = Pages(client, keys)

    @classmethod
    def from_config(cls, config: Config, client: Any = None) -> Operator:
        """The operator of the Redis and namespace `config` names (over `client`, or a
        new one)."""
        client = client if client is not None else make_client(config)
        return cls(client, Keys(config.redis.prefix()), events_max=config.events.max_len)

    def now_ms(self) -> int:
        """The Redis server's clock, unix ms."""
        with translated():
            seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def depths(self, queues: list[str]) -> dict[str, int]:
        """How many jobs wait on each queue named ("all", a named queue, a supervisor's
        own): the one read of queue depths, the masters' too (Queue.lengths)."""
        return self.queue.lengths(queues) if queues else {}

    def counts(self) -> Counts:
        with translated(), self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.delayed_jobs)
            pipe.llen(self.keys.failed_jobs)
            pipe.smembers(self.keys.paused)
            delayed, failed, paused = pipe.execute()
        return Counts(int(delayed), int(failed), sorted(text(n) for n in paused))

    def paused(self) -> list[str]:
        with translated():
            return sorted(text(n) for n in self.client.smembers(self.keys.paused))

    def pause(self, queues: list[str]) -> None:
        """Every worker on every host stops taking from `queues` (at its next take: within
        a second); what runs goes on, producers still enqueue."""
        with translated():
            self.client.sadd(self.keys.paused, *queues)

    def resume(self, queues: list[str]) -> None:
        with translated():
            self.client.srem(self.keys.paused, *queues)

    # -- the supervisors ----------------------------------------------------------------

    def supervisors(self, now_ms: int) -> list[SupervisorView]:
        """Every registered supervisor, by name, with its lease, record, pools and
        workers, and the jobs each worker runs: four round trips whatever their number."""
        keys = self.keys
        with translated():
            names = sorted(text(n) for n in self.client.smembers(keys.supervisors))
            with self.client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.zscore(keys.leases, name)
                    pipe.hgetall(keys.info(name))
                    pipe.smembers(keys.workers(name))
                replies = pipe.execute() if names else []
        found = []
        for i, name in enumerate(names):
            lease, info, members = replies[3 * i : 3 * i + 3]
            beat = info.get(b"heartbeat_ms")
            pools = _pools(info)
            found.append(
                SupervisorView(
                    name=name,
                    alive=lease is not None and lease >= now_ms,
                    heartbeat_age_s=(now_ms - int(beat)) / 1000 if beat else None,
                    pid=int(info[b"pid"]) if b"pid" in info else None,
                    host=text(info.get(b"host")),
                    status=text(info.get(b"status")),
                    workers=[WorkerView(w, None, None) for w in sorted(text(m) for m in members)],
                    pools=[PoolView(p["name"], p["count"], p["queues"]) for p in pools],
                )
            )
            for worker in found[-1].workers:
                pool = next((p for p in pools if worker.id in p["workers"]), None)
                worker.pool = pool["name"] if pool else ""
        self._running([w for s in found for w in s.workers], _slots(replies[1::3]), now_ms)
        return found

    def _running(self, workers: list[WorkerView], slots: dict[str, int], now_ms: int) -> None:
        """Fill in the jobs each worker runs (the oldest `slots` of its list, oldest
        first), each with when it started it, its progress and its attempt."""
        if not workers:
            return
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for w in workers:
                pipe.lrange(self.keys.worker_jobs(w.id), -slots.get(w.id, 1), -1)
            lists = [found[::-1] for found in pipe.execute()]
            for job in (job for jobs in lists for job in jobs):
                pipe.hmget(self.keys.job(job), [STARTED_AT, PROGRESS, PROGRESS_MSG, ATTEMPTS])
            fields = iter(pipe.execute() if any(lists) else [])
        for worker, jobs in zip(workers, lists, strict=True):
            for job in jobs:
                started, progress, message, attempts = next(fields)
                worker.jobs.append(
                    RunningJob(
                        text(job),
                        (now_ms - int(started)) / 1000 if started else None,
                        read_fraction(text(progress)),
                        text(message) if message else None,
                        _count(attempts) + 1,
                    )
                )
            if worker.jobs:
                worker.job, worker.running_s = worker.jobs[0].id, worker.jobs[0].running_s

    def process(self, name: str) -> tuple[int, str]:
        """Supervisor `name`'s master as its record says: its pid (0: none) and host."""
        with translated():
            pid, host = self.client.hmget(self.keys.info(name), ["pid", "host"])
        return int(pid or 0), text(host)

    def ask_to_scale(self, name: str, pool: str, change: str) -> None:
        self.queue.ask_to_scale(name, pool, change)

    def beats(self) -> dict[str, Beat]:
        return self.queue.beats()

    def reclaim(self, name: str, *, max_attempts: int, seen: str = "") -> Reclaimed | None:
        """Put supervisor `name`'s jobs back in the queues (if its record still shows
        `seen`, or whatever it shows when `seen` is "")."""
        return self.queue.reclaim(name, by="", max_attempts=max_attempts, seen=seen)

    # -- cron, the server, the metrics ----------------------------------------------------

    def cron_records(self, names: list[str]) -> list[CronRecord]:
        """The record of each schedule named, in order, and its last job's state."""
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.keys.cron(name))
            records = pipe.execute() if names else []
            for record in records:
                pipe.hget(self.keys.job(record.get(b"job", b"")), STATE)
            states = pipe.execute() if names else []
        found = []
        for name, record, state in zip(names, records, states, strict=True):
            job = record.get(b"job")
            found.append(
                CronRecord(
                    name,
                    int(record[b"last_ms"]) if b"last_ms" in record else None,
                    int(record[b"fired_ms"]) if b"fired_ms" in record else None,
                    text(job) if job else None,
                    text(state) if job and state else None,
                    int(record.get(b"fired", 0)),
                    int(record.get(b"skipped", 0)),
                )
            )
        return found

    def servers(self) -> list[ServerInfo]:
        """The server, or every node of a cluster: eviction, persistence, memory."""
        return read_all(self.client)

    def gauges(self, queues: list[str], limits: tuple[Limits, ...]) -> Gauges:
        """The depths of `queues`, what waits beside them, and where the limits stand;
        any error of redis-py's raised as RedisTrouble."""
        k = self.keys
        with _every_error():
            depths = self.depths(queues)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(k.delayed_jobs)
                pipe.llen(k.failed_jobs)
                pipe.smembers(k.paused)
                pipe.time()
                delayed, failed, paused, (seconds, micros) = pipe.execute()
                now_ms = int(seconds) * 1000 + int(micros) // 1000
                for limit in limits:
                    pipe.zcount(k.started(limit.queue), now_ms - limit.window_ms + 1, "+inf")
                    pipe.scard(k.running(limit.queue))
                counts = pipe.execute() if limits else []
        names = [limit.queue for limit in limits]
        return Gauges(
            depths, int(delayed), int(failed), {text(n) for n in paused},
            dict(zip(names, counts[::2], strict=True)), dict(zip(names, counts[1::2], strict=True)),
        )  # fmt: skip


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


def _slots(infos: list[dict[bytes, bytes]]) -> dict[str, int]:
    """How many jobs each worker runs at once, from its supervisor's pools."""
    return {w: p["concurrency"] for info in infos for p in _pools(info) for w in p["workers"]}
