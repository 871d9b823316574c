"""The Python API for producers: one atomic call writes a job's hash and pushes its id
(or, for a job to start later, puts it in delayed:jobs)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import redis

from .config import QUEUE_NAME, Config
from .config import load as load_config
from .connection import make_client
from .errors import DuplicateJob
from .keys import ALL, FIELD_PREFIX, Keys
from .queue import Queue

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
        self.queue = Queue(client, Keys(f"{namespace}:" if namespace else ""))

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
            self.queue.push(chunk, self.queue.keys.host_jobs(name))
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
        replies = self.queue.enqueue_each(
            chunk, name, at_ms=at_ms, delay_ms=delay_ms, unique=unique
        )
        for enqueued, holder in replies:
            if not enqueued:
                raise DuplicateJob(unique, holder)
