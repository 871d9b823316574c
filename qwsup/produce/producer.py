"""The Python API for producers, and their side of the protocol: one atomic call writes
a job's hash and pushes its id (or, for a job to start later, puts it in delayed:jobs);
a job is read back (`job`) and waited for (`wait`: blocking on the job's ended:<id>
list, never polling)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from qwsup.config import QUEUE_NAME, Config
from qwsup.config import load as load_config
from qwsup.errors import DuplicateJob, JobFailed, UnknownJob, WaitTimeout
from qwsup.produce.tasks import task_fields
from qwsup.store.connection import make_client
from qwsup.store.jobs import JobInfo, State, read_job
from qwsup.store.keys import ALL, FIELD_PREFIX, Keys
from qwsup.store.namespace import Client
from qwsup.store.producer import ProducerStore
from qwsup.store.scripts import EVENTS_MAX
from qwsup.tracing import Enqueues
from qwsup.tracing import start as start_tracing

Fields = Mapping[str, str | int | float]
When = datetime | float  # a start time: a datetime, or unix seconds
CHUNK = 1_000  # jobs per pipeline in enqueue_many


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did: `outcome` "cancelled" (it was waiting: it ended cancelled),
    "stopping" (it is in `worker`'s list: being stopped), or "ended" (it had ended in
    `state` already: nothing changed)."""

    id: str
    outcome: str
    state: State  # its state when it was cancelled
    worker: str | None = None


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

    def __init__(
        self,
        client: Client,
        namespace: str = "",
        keep_finished: float = 3600.0,
        events_max: int = EVENTS_MAX,
        tracing: bool = False,
    ) -> None:
        """`keep_finished`: how long a job this producer cancels stays (as the workers'
        `[workers] keep_finished`); `events_max`: `[events] max_len`, for the events of
        what it enqueues and cancels; `tracing`: a span for each enqueue, its context in
        the job's `traceparent` field (OpenTelemetry's API, with the application's own
        tracer provider or the one `tracing.start` sets up: see tracing.py)."""
        self.tracing = Enqueues() if tracing else None
        self.keys = Keys(f"{namespace}:" if namespace else "")
        self.store = ProducerStore(client, self.keys, round(keep_finished * 1000), events_max)

    @classmethod
    def from_config(cls, config: Config | str) -> Producer:
        """A producer for the Redis (and namespace) a qwsup config file names."""
        if isinstance(config, str):
            config = load_config(config)
        keep_s = config.longest_kept_ms / 1000
        if config.otel.enabled:
            start_tracing()
        return cls(
            make_client(config), config.redis.namespace, keep_s, config.events.max_len,
            tracing=config.otel.enabled,
        )  # fmt: skip

    @overload
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
        wait: None = None,
    ) -> str: ...

    @overload
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
        wait: float,
    ) -> object: ...

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
        wait: float | None = None,
    ) -> object:
        """Write `job:<id>` and push the id on all:jobs (or on `<queue>:jobs`, or on
        `<host>:jobs` for supervisor `host` only) in one atomic step; returns the id (a
        new UUID unless given). With `at` (a datetime,
        or unix seconds) or `delay` (seconds, on the Redis server's clock) the job
        waits in delayed:jobs until then. With `unique`, the job is refused with
        DuplicateJob while another job enqueued with that name is queued, waiting or
        running (until it is finished or failed for good). With `wait` (seconds), it
        then waits for the job's end and returns its result instead, as `wait()`."""
        job_id = job_id or uuid.uuid4().hex
        target = target_queue(queue, host)
        if wait is not None:
            _check_timeout(wait)
        self._send([(job_id, check_fields(fields))], target, at, delay, unique or "")
        if wait is not None:
            return self.wait(job_id, timeout=wait)
        return job_id

    def enqueue_task(
        self,
        task: str,
        /,
        *,
        job_id: str | None = None,
        queue: str | None = None,
        host: str | None = None,
        at: When | None = None,
        delay: float | None = None,
        unique: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Enqueue a job of task `task` (a function of a qwsup.Tasks registry) with these
        keyword arguments (JSON-encodable: TypeError otherwise), as `enqueue` does;
        returns the job id. The workers check the arguments against the function (a job
        that does not fit fails for good); `Task.enqueue` checks them here too."""
        if not task or not isinstance(task, str):
            raise ValueError(f"a task is named by a non-empty str, got {task!r}")
        fields = task_fields(task, kwargs)
        job_id = job_id or uuid.uuid4().hex
        self._send([(job_id, fields)], target_queue(queue, host), at, delay, unique or "")
        return job_id

    def job(self, job_id: str) -> JobInfo | None:
        """What qwsup knows of job `job_id` (state, worker, attempts, times, error,
        result), or None when there is no such job (never enqueued, or removed since
        it ended: see `[workers] keep_finished`)."""
        return read_job(job_id, self.store.fields(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> object:
        """Wait for job `job_id` to end, at most `timeout` seconds (None: for ever), and
        return its result (None when it returned none, or when finished jobs are not
        kept: keep_finished = 0). Raises JobFailed (its `state` "failed" or
        "cancelled", its last `error`) when it failed for good or was cancelled,
        WaitTimeout when it is still going after `timeout`, UnknownJob when there is no
        such job. Blocks in Redis (BLMOVE on the job's ended:<id> list) rather than
        asking again and again: a waiter costs Redis about one look at the job every
        store/producer.py's WAIT_BLOCK_S (less when the client's socket timeout is
        shorter)."""
        if timeout is not None:
            _check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        most = self.store.longest_block()
        while True:
            raw, told = self.store.look_at_end(job_id)
            info = read_job(job_id, raw)
            state = info.state if info is not None else None
            if state is None and told:  # ended, and not kept (keep_finished = 0)
                state = State(told.decode())
            if state is None:
                raise UnknownJob(job_id)
            if state.ended:
                return _outcome(job_id, state, info)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeout(job_id, state.value, timeout or 0.0)
            self.store.block_on_end(job_id, most if left is None else min(most, left))

    def cancel(self, job_id: str) -> Cancelled:
        """Cancel job `job_id`. Waiting (queued or scheduled): it never runs, and ends
        cancelled now. In a worker's list (running, or taken along to run next): its
        master, on whatever host, stops it within about a second (JobCancelled in the
        handler; its worker is killed after quick_timeout when the handler does not give
        up), and it ends cancelled. Ended already: nothing changes (`ended`). UnknownJob
        when there is no such job."""
        outcome, state, worker = self.store.cancel(job_id)
        if outcome == "unknown":
            raise UnknownJob(job_id)
        return Cancelled(job_id, outcome, State(state), worker or None)

    def cancel_queue(self, queue: str) -> int:
        """Cancel every job waiting on queue `queue` ("all" for all:jobs) now, in bounded
        calls; jobs pushed meanwhile are left alone. Returns how many were cancelled."""
        return self.store.cancel_queue(target_queue(queue, None))

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
        if at is not None and delay is not None:
            raise ValueError("give a start time (at) or a delay, not both")
        if delay is not None and not 0 <= delay < math.inf:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        at_ms = delay_ms = None
        if at is not None:
            at_ms = round((at.timestamp() if isinstance(at, datetime) else float(at)) * 1000)
        if delay is not None:
            delay_ms = round(delay * 1000)
        if self.tracing is None:
            replies = self.enqueue_each(chunk, name, at_ms=at_ms, delay_ms=delay_ms, unique=unique)
        else:
            with self.tracing.enqueue(name, chunk) as traced:
                replies = self.enqueue_each(
                    traced, name, at_ms=at_ms, delay_ms=delay_ms, unique=unique
                )
        for enqueued, holder in replies:
            if not enqueued:
                raise DuplicateJob(unique, holder)

    def enqueue_each(
        self,
        jobs: list[tuple[str, dict[str, str]]],
        queue: str,
        *,
        at_ms: int | None = None,
        delay_ms: int | None = None,
        unique: str = "",
    ) -> list[tuple[bool, str]]:
        """Enqueue each job as it is (its id and checked fields), atomically per job, the
        batch in one round trip: store/producer.py's `enqueue_each`."""
        return self.store.enqueue_each(jobs, queue, at_ms=at_ms, delay_ms=delay_ms, unique=unique)


def _check_timeout(timeout: float) -> None:
    if not 0 <= timeout < math.inf:
        raise ValueError(f"a wait's timeout is a number of seconds >= 0, got {timeout!r}")


def _outcome(job_id: str, state: State, info: JobInfo | None) -> object:
    """A waited job's result, or JobFailed."""
    if state is State.DONE:
        return info.result if info is not None else None
    raise JobFailed(job_id, state.value, info.error if info is not None else None)
