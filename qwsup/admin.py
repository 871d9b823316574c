"""What operators look at and mend: the state of the queues and supervisors, and the
failed jobs. Read-only views are plain pipelines; every change is a Lua script."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .keys import ATTEMPTS, FAILED_AT, LAST_ERROR, STARTED_AT
from .leases import Beat, LeaseWatch
from .queue import Queue, Reclaimed
from .scripts import translated
from .server import ServerInfo, read_all


@dataclass
class WorkerView:
    id: str
    job: str | None  # the job in its list, if any
    running_s: float | None  # since the job was taken
    pool: str = ""


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
class Snapshot:
    queues: dict[str, int]  # list name: length, all:jobs and every host queue
    delayed: int
    failed: int
    supervisors: list[SupervisorView]
    # the Redis server, or every node of a cluster: eviction, persistence, memory
    servers: list[ServerInfo] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FailedJob:
    id: str
    attempts: int
    error: str
    failed_at: float | None  # unix seconds
    fields: dict[str, str]  # everything in its hash, qwsup's own fields included


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value or ""


def snapshot(queue: Queue) -> Snapshot:
    """One look at everything `qwsup status` shows."""
    keys, client = queue.keys, queue.client
    with translated():
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        names = sorted(_text(n) for n in client.smembers(keys.supervisors))
        pipe = client.pipeline(transaction=False)
        pipe.llen(keys.all_jobs)
        pipe.zcard(keys.delayed_jobs)
        pipe.llen(keys.failed_jobs)
        for name in names:
            pipe.llen(keys.host_jobs(name))
            pipe.zscore(keys.leases, name)
            pipe.hgetall(keys.info(name))
            pipe.smembers(keys.workers(name))
        replies = pipe.execute()
        all_jobs, delayed, failed = replies[:3]
        queues = {keys.all_jobs: all_jobs}
        pools = {name: _pools(info) for name, info in zip(names, replies[5::4], strict=True)}
        served = {q for listed in pools.values() for pool in listed for q in pool["queues"]}
        named = sorted(served - {"all", *names})
        pipe = client.pipeline(transaction=False)
        for name in named:
            pipe.llen(keys.host_jobs(name))
        for name, depth in zip(named, pipe.execute(), strict=True):
            queues[keys.host_jobs(name)] = depth
        supervisors = []
        for i, name in enumerate(names):
            depth, lease, info, members = replies[3 + 4 * i : 7 + 4 * i]
            queues[keys.host_jobs(name)] = depth
            beat = info.get(b"heartbeat_ms")
            workers = sorted(_text(m) for m in members)
            pool_of = {w: pool["name"] for pool in pools[name] for w in pool["workers"]}
            supervisors.append(
                SupervisorView(
                    name=name,
                    alive=lease is not None and lease >= now_ms,
                    heartbeat_age_s=(now_ms - int(beat)) / 1000 if beat else None,
                    pid=int(info[b"pid"]) if b"pid" in info else None,
                    host=_text(info.get(b"host")),
                    status=_text(info.get(b"status")),
                    workers=[_worker(queue, w, now_ms, pool_of.get(w, "")) for w in workers],
                    pools=[PoolView(p["name"], p["count"], p["queues"]) for p in pools[name]],
                )
            )
    return Snapshot(queues, delayed, failed, supervisors, read_all(client))


def _worker(queue: Queue, worker: str, now_ms: int, pool: str) -> WorkerView:
    job = queue.client.lindex(queue.keys.worker_jobs(worker), -1)
    if job is None:
        return WorkerView(worker, None, None, pool)
    started = queue.client.hget(queue.keys.job(job), STARTED_AT)
    running = (now_ms - int(started)) / 1000 if started else None
    return WorkerView(worker, _text(job), running, pool)


def _pools(info: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """A supervisor's pools as its heartbeat recorded them ([] when unreadable)."""
    try:
        pools = json.loads(info.get(b"pools") or b"[]")
        return [
            {"name": str(p["name"]), "count": int(p["count"]),
             "queues": [str(q) for q in p["queues"]], "workers": [str(w) for w in p["workers"]]}
            for p in pools
        ]  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return []


PAGE = 1000  # failed jobs read per round trip: no LRANGE of a whole huge list


def failed_jobs(queue: Queue, limit: int = 100) -> list[FailedJob]:
    """The newest `limit` failed jobs (0: all of them), read a page at a time."""
    jobs: list[FailedJob] = []
    while not limit or len(jobs) < limit:
        want = PAGE if not limit else min(PAGE, limit - len(jobs))
        with translated():
            ids = queue.client.lrange(queue.keys.failed_jobs, len(jobs), len(jobs) + want - 1)
            pipe = queue.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(queue.keys.job(job_id))
            hashes = pipe.execute() if ids else []
        jobs += [_failed(job_id, fields) for job_id, fields in zip(ids, hashes, strict=True)]
        if len(ids) < want:
            break
    return jobs


def failed_job(queue: Queue, job_id: str) -> FailedJob | None:
    """A job that failed for good (its hash has qwsup:failed_at), or None."""
    with translated():
        fields = queue.client.hgetall(queue.keys.job(job_id))
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
    queue: Queue,
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
