"""The Python API for producers: one atomic call writes a job's hash and pushes its id."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import redis

from .config import Config
from .config import load as load_config
from .connection import make_client
from .keys import FIELD_PREFIX, Keys
from .queue import Queue

Fields = Mapping[str, str | int | float]
CHUNK = 1_000  # jobs per MULTI/EXEC in enqueue_many


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

    def _target(self, host: str | None) -> str:
        return self.queue.keys.host_jobs(host) if host else self.queue.keys.all_jobs

    def enqueue(self, fields: Fields, *, job_id: str | None = None, host: str | None = None) -> str:
        """Write `job:<id>` and push the id on all:jobs (or on `<host>:jobs`) in one
        MULTI/EXEC; returns the id (a new UUID unless given)."""
        job_id = job_id or uuid.uuid4().hex
        self.queue.push([(job_id, check_fields(fields))], self._target(host))
        return job_id

    def enqueue_many(self, jobs: Iterable[Fields], *, host: str | None = None) -> list[str]:
        """Enqueue many jobs, pipelined: each chunk of jobs is one MULTI/EXEC."""
        ids: list[str] = []
        chunk: list[tuple[str, dict[str, str]]] = []
        for fields in jobs:
            chunk.append((uuid.uuid4().hex, check_fields(fields)))
            if len(chunk) == CHUNK:
                self.queue.push(chunk, self._target(host))
                ids += [job_id for job_id, _ in chunk]
                chunk = []
        if chunk:
            self.queue.push(chunk, self._target(host))
            ids += [job_id for job_id, _ in chunk]
        return ids
