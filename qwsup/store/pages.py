"""The bounded reads of jobs for operators: a page of a queue or of delayed:jobs, the few
fields a row of a list shows (one pipelined HMGET), one job's whole hash, and the events
stream (the latest, those to come, the "done" of the last minutes), each job with the
task it calls when it is a task's (qwsup:task, qwsup:args: produce/tasks.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from qwsup.store.events import FOLLOW_BLOCK_MS, Event, event_of
from qwsup.store.jobs import JobInfo, read_job
from qwsup.store.keys import (
    ARGS,
    ATTEMPTS,
    ENQUEUED_AT,
    FAILED_AT,
    LAST_ERROR,
    QUEUE,
    STATE,
    TASK,
    Keys,
)
from qwsup.store.scripts import translated


def text(value: bytes | str | None) -> str:
    """What Redis holds, as text ("" for nothing); bytes that are not UTF-8 escaped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value or ""


def _int(raw: bytes | None) -> int:
    try:
        return int(float(raw)) if raw else 0
    except (ValueError, OverflowError):  # not a number, or none a clock can hold
        return 0


@dataclass(frozen=True)
class TaskCall:
    """What a task's job calls: the task's name and its arguments, decoded (the text of
    qwsup:args as it is when it is not JSON)."""

    name: str
    args: Any


def task_call(fields: dict[bytes, bytes]) -> TaskCall | None:
    """The task a job's hash (or part of it) names, or None when it is no task's job."""
    name = fields.get(TASK.encode())
    if not name:
        return None
    raw = fields.get(ARGS.encode())
    try:
        args = json.loads(raw) if raw else {}
    except ValueError:
        args = text(raw)
    return TaskCall(text(name), args)


@dataclass(frozen=True)
class Row:
    """A job as a list shows it: its id and the few fields read for the row."""

    id: str
    state: str
    queue: str
    attempts: int
    error: str
    at_ms: int | None  # failed at, due at, or enqueued at (by list), unix ms


@dataclass(frozen=True)
class JobRecord:
    info: JobInfo
    task: TaskCall | None  # the task it calls, when it is a task's job


ROW_FIELDS = [STATE, QUEUE, ATTEMPTS, LAST_ERROR, FAILED_AT, ENQUEUED_AT]


class Pages:
    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def rows(self, ids: list[bytes], at: dict[bytes, int | None] | None = None) -> list[Row]:
        """The rows of `ids`: a few fields of each hash, one pipelined read; `at` the time
        a row shows, by id (default: failed at, else enqueued at)."""
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self.keys.job(job_id), ROW_FIELDS)
            found = pipe.execute() if ids else []
        rows = []
        for job_id, (state, queue, attempts, error, failed_at, enqueued_at) in zip(
            ids, found, strict=True
        ):
            if at is not None:
                when = at.get(job_id)
            elif failed_at:
                when = _int(failed_at) * 1000 or None
            else:
                when = _int(enqueued_at) or None
            rows.append(
                Row(text(job_id), text(state) or ("failed" if failed_at else "queued"),
                    text(queue) or "all", _int(attempts), text(error).splitlines()[0][:300]
                    if error else "", when)
            )  # fmt: skip
        return rows

    def delayed(self, start: int, count: int) -> tuple[int, list[tuple[bytes, int]]]:
        """How many jobs delayed:jobs holds, and `count` of them from index `start`
        (soonest first), each with when it is due (unix ms)."""
        key = self.keys.delayed_jobs
        with translated(), self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zrange(key, start, start + count - 1, withscores=True)
            total, found = pipe.execute()
        return int(total), [(job_id, int(score)) for job_id, score in found]

    def waiting(self, queue: str, start: int, count: int) -> tuple[int, list[bytes]]:
        """How many jobs wait on queue `queue`, and `count` of them from the `start`-th
        to be taken (workers take the oldest, at the right end), next first."""
        key = self.keys.queue_jobs(queue)
        with translated(), self.client.pipeline(transaction=False) as pipe:
            pipe.llen(key)
            pipe.lrange(key, -(start + count), -(start + 1))
            total, ids = pipe.execute()
        return int(total), ids[::-1]

    def job(self, job_id: str) -> JobRecord | None:
        """A job from its whole hash, or None when there is no such job."""
        with translated():
            fields: dict[bytes, bytes] = self.client.hgetall(self.keys.job(job_id))
        info = read_job(job_id, fields)
        return None if info is None else JobRecord(info, task_call(fields))

    # -- the events stream ----------------------------------------------------------------

    def done_since(self, start_ms: int, most: int) -> tuple[list[tuple[int, str]], bool]:
        """The jobs finished after `start_ms` (unix ms, Redis clock) by the "done" events,
        each (when, its queue), newest first; at most `most` events are read, and the
        flag says whether that was all of them."""
        with translated():
            entries = self.client.xrevrange(self.keys.events, "+", f"({start_ms}", count=most)
        done = []
        for entry, fields in entries:
            if fields.get(b"event") == b"done":
                done.append((int(entry.partition(b"-")[0]), text(fields.get(b"queue")) or "all"))
        return done, len(entries) < most

    def events(self, count: int) -> list[Event]:
        """The latest `count` events, oldest first, each job's task in `more`."""
        with translated():
            entries = self.client.xrevrange(self.keys.events, count=count)
        return self._with_tasks([event_of(entry, fields) for entry, fields in reversed(entries)])

    def follow(self, after: str) -> Iterator[Event]:
        """The events written after entry `after` ("$": from now), as they come (XREAD
        BLOCK: no polling), for ever; each job's task in `more`."""
        while True:
            with translated():
                found = self.client.xread(
                    {self.keys.events: after}, block=FOLLOW_BLOCK_MS, count=1000
                )
            for _stream, entries in found or []:
                after = entries[-1][0].decode()
                yield from self._with_tasks([event_of(entry, fields) for entry, fields in entries])

    def newest_event_after(self, after: str, block_ms: int) -> str | None:
        """The id of the newest event, once there is one after entry `after` ("$": from
        now), waiting at most `block_ms` for it (XREAD BLOCK); None when none came."""
        with translated():
            found = self.client.xread({self.keys.events: after}, block=block_ms, count=1)
            if not found:
                return None
            newest = self.client.xrevrange(self.keys.events, count=1)
        return str(newest[0][0].decode()) if newest else None

    def _with_tasks(self, events: list[Event]) -> list[Event]:
        """`events`, those of a task's job with `task` and `args` (JSON) in `more`: one
        pipelined read of the jobs named (a job removed since shows none)."""
        ids = list(dict.fromkeys(e.job for e in events))
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self.keys.job(job_id), [TASK, ARGS])
            found = pipe.execute() if ids else []
        tasks = {}
        for job_id, (name, args) in zip(ids, found, strict=True):
            if name:
                tasks[job_id] = {"task": text(name), "args": text(args) or "{}"}
        return [
            replace(e, more={**e.more, **tasks[e.job]}) if e.job in tasks else e for e in events
        ]
