"""The Python API for producers, and their side of the protocol: one atomic call writes
a job's hash and pushes its id (or, for a job to start later, puts it in delayed:jobs)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import redis
from redis.typing import EncodableT, KeyT

from .config import QUEUE_NAME, Config
from .config import load as load_config
from .connection import make_client
from .errors import DuplicateJob
from .keys import ALL, ENQUEUED_AT, FIELD_PREFIX, Keys
from .scripts import Scripts, translated

Fields = Mapping[str, str | int | float]
When = datetime | float  # a start time: a datetime, or unix seconds
CHUNK = 1_000  # jobs per MULTI/EXEC in enqueue_many


def target_queue(queue: str | None, host: str | None) -> str:
    """Where a job goes: a queue, a supervisor's own queue, or all:jobs."""
    if queue is not None and host is not None:
        raise ValueError("give a queue or a host, not both")
    if queue is not None and not QUEUE_NAME.match(queue):
        raise ValueError(f"queue names are letters, digits, '_' or '-', got {queue!r}")
    return queue or host or ALL


def check_fields(fields: Fields) -> dict[str, str]:
    """The fields as strings; ValueError or TypeError for what a job cannot hold."""
    out: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(name, str):
            raise TypeError(f"field names must be strings, got {name!r}")
        if name.startswith(FIELD_PREFIX):
            raise ValueError(f"field {name!r}: names starting with {FIELD_PREFIX!r} are qwsup's")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"field {name!r}: values must be strings or numbers, got {value!r}")
        out[name] = str(value)
    return out


class Producer:
    """Enqueues jobs: `Producer(redis.Redis(...)).enqueue({"to": "a@example.com"})`."""

    def __init__(self, client: redis.Redis, namespace: str = "") -> None:
        self.client = client
        self.keys = Keys(f"{namespace}:" if namespace else "")
        self.scripts = Scripts(client, self.keys.prefix)

    @classmethod
    def from_config(cls, config: Config | str) -> Producer:
        """A producer for the Redis (and namespace) a qwsup config file names."""
        if isinstance(config, str):
            config = load_config(config)
        return cls(make_client(config), config.redis.namespace)

    def enqueue(
        self,
        fields: Fields,
        *,
        job_id: str | None = None,
        queue: str | None = None,
        host: str | None = None,
        at: When | None = None,
        delay: float | None = None,
        unique: str | None = None,
    ) -> str:
        """Write `job:<id>` and push the id on all:jobs (or on `<queue>:jobs`, or on
        `<host>:jobs` for supervisor `host` only) in one atomic step; returns the id (a
        new UUID unless given). With `at` (a datetime,
        or unix seconds) or `delay` (seconds, on the Redis server's clock) the job
        waits in delayed:jobs until then. With `unique`, the job is refused with
        DuplicateJob while another job enqueued with that name is queued, waiting or
        running (until it is finished or failed for good)."""
        job_id = job_id or uuid.uuid4().hex
        target = target_queue(queue, host)
        self._send([(job_id, check_fields(fields))], target, at, delay, unique or "")
        return job_id

    def enqueue_many(
        self,
        jobs: Iterable[Fields],
        *,
        queue: str | None = None,
        host: str | None = None,
        at: When | None = None,
        delay: float | None = None,
    ) -> list[str]:
        """Enqueue many jobs, pipelined: each chunk of jobs is one round trip (and each
        job atomic)."""
        target = target_queue(queue, host)
        ids: list[str] = []
        chunk: list[tuple[str, dict[str, str]]] = []
        for fields in jobs:
            chunk.append((uuid.uuid4().hex, check_fields(fields)))
            if len(chunk) == CHUNK:
                self._send(chunk, target, at, delay)
                ids += [job_id for job_id, _ in chunk]
                chunk = []
        if chunk:
            self._send(chunk, target, at, delay)
            ids += [job_id for job_id, _ in chunk]
        return ids

    def _send(
        self,
        chunk: list[tuple[str, dict[str, str]]],
        name: str,
        at: When | None,
        delay: float | None,
        unique: str = "",
    ) -> None:
        if at is None and delay is None and not unique:
            self.push(chunk, name)
            return
        if at is not None and delay is not None:
            raise ValueError("give a start time (at) or a delay, not both")
        if delay is not None and not 0 <= delay < math.inf:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        at_ms = delay_ms = None
        if at is not None:
            at_ms = round((at.timestamp() if isinstance(at, datetime) else float(at)) * 1000)
        if delay is not None:
            delay_ms = round(delay * 1000)
        replies = self.enqueue_each(chunk, name, at_ms=at_ms, delay_ms=delay_ms, unique=unique)
        for enqueued, holder in replies:
            if not enqueued:
                raise DuplicateJob(unique, holder)

    # -- the Redis side ---------------------------------------------------------

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
                    self.keys.job(job_id), self.keys.delayed_jobs, self.keys.queue_jobs(queue),
                    self.keys.unique(unique),  # "unique:" when none: a key the ACL allows
                ]  # fmt: skip
                args: list[EncodableT] = [job_id, *when, queue, unique, ENQUEUED_AT, now]
                for name, value in fields.items():
                    args += [name, value]
                self.scripts.run("enqueue", keys, args, pipe=pipe)
            replies = pipe.execute()
        return [(bool(ok), holder.decode(errors="replace")) for ok, holder in replies]

    def push(self, jobs: list[tuple[str, dict[str, str]]], queue: str) -> None:
        """Write each job's hash and push its id on the queue named `queue`, in one
        MULTI/EXEC for the whole batch."""
        now = f"{time.time():.3f}"
        with translated(), self.client.pipeline(transaction=True) as pipe:
            for job_id, fields in jobs:
                mapping: dict[EncodableT, EncodableT] = {ENQUEUED_AT: now}
                mapping.update(fields)
                pipe.hset(self.keys.job(job_id), mapping=mapping)
                pipe.lpush(self.keys.queue_jobs(queue), job_id)
            pipe.execute()
