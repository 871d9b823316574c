"""A job as anyone can follow it: its state, timings, attempts, error, progress and
result, read from the fields of its hash (docs/protocol.md names them). Pure: no Redis
here; `Producer.job` and `qwsup job` read the hash and hand it to `read_job`.

A handler's return value is the job's result: `encode_result` turns it into what the
hash holds (a type and bytes) and `decode_result` back."""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass, field
from typing import Any

from qwsup.store.keys import (
    ATTEMPTS,
    ENQUEUED_AT,
    FAILED_AT,
    FIELD_PREFIX,
    FINISHED_AT,
    LAST_ERROR,
    PROGRESS,
    PROGRESS_AT,
    PROGRESS_MSG,
    QUEUE,
    RESULT,
    RESULT_TYPE,
    STARTED_AT,
    STATE,
    TRACEBACK,
    WORKER,
)

Result = tuple[bytes, bytes]  # (its type: b"text", b"bytes" or b"json"; its bytes)


class State(enum.StrEnum):
    QUEUED = "queued"  # on a queue (or its hash has no qwsup:state: a producer of the article)
    SCHEDULED = "scheduled"  # in delayed:jobs: to start later, or waiting for a retry
    RUNNING = "running"  # in a worker's list: running, or taken along to run next
    DONE = "done"
    FAILED = "failed"  # for good: in failed:jobs
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({State.DONE, State.FAILED, State.CANCELLED})


class ResultError(ValueError):
    """A handler's return value that cannot be the job's result: the attempt fails."""


def encode_result(value: object, max_bytes: int) -> Result | None:
    """What a handler returned as the job's result (None: no result); ResultError for
    what JSON cannot encode or what is over `max_bytes` (0: no limit)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        kind, data = b"bytes", bytes(value)
    elif isinstance(value, str):
        kind, data = b"text", value.encode("utf-8", "surrogatepass")
    else:
        try:
            data = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ResultError(f"the handler's result is not JSON-encodable: {exc}") from None
        kind = b"json"
    if max_bytes and len(data) > max_bytes:
        raise ResultError(
            f"the handler's result is {len(data):,} bytes, over workers.max_result_kb "
            f"({max_bytes // 1024:,} KB)"
        )
    return kind, data


def decode_result(kind: bytes | None, data: bytes | None) -> object:
    """A result as the handler returned it (JSON decoded: a tuple comes back a list)."""
    if not kind or data is None:
        return None
    if kind == b"bytes":
        return data
    if kind == b"json":
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")
    return data.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class JobInfo:
    """What qwsup knows of a job. Times are unix seconds (Redis clock), or None."""

    id: str
    state: State
    queue: str  # the queue it goes back to: "all" for all:jobs
    worker: str | None  # the worker that runs it (running), or that ran it last
    attempts: int  # attempts used up (failed or cut short)
    enqueued_at: float | None
    started_at: float | None  # when a worker last took it
    finished_at: float | None
    error: str | None  # the last failure, one line
    traceback: str | None
    result: object = None
    result_type: str | None = None  # text, bytes, json; None: no result
    progress: float | None = None  # from 0 to 1 (qwsup.progress); a job done is at 1
    progress_message: str | None = None
    progress_at: float | None = None  # when it was recorded
    fields: dict[str, str] = field(default_factory=dict)  # the producer's

    def as_dict(self) -> dict[str, Any]:
        """For JSON: every key always there; a bytes result as base64 text."""
        result = self.result
        if isinstance(result, bytes):
            result = base64.b64encode(result).decode()
        return {
            "id": self.id, "state": self.state.value, "queue": self.queue,
            "worker": self.worker, "attempts": self.attempts,
            "enqueued_at": self.enqueued_at, "started_at": self.started_at,
            "finished_at": self.finished_at, "error": self.error,
            "traceback": self.traceback, "result": result, "result_type": self.result_type,
            "progress": self.progress, "progress_message": self.progress_message,
            "progress_at": self.progress_at, "fields": self.fields,
        }  # fmt: skip


def read_job(job_id: str, raw: dict[bytes, bytes]) -> JobInfo | None:
    """A job from its hash's fields (HGETALL); None when it has none (no such job)."""
    if not raw:
        return None
    got = {k.decode("utf-8", "replace"): v for k, v in raw.items()}

    def text(name: str) -> str | None:
        value = got.get(name)
        return None if value is None else value.decode("utf-8", "replace")

    state = _state(text(STATE), FAILED_AT in got)
    kind = got.get(RESULT_TYPE)
    progress = 1.0 if state is State.DONE else read_fraction(text(PROGRESS))
    return JobInfo(
        id=job_id,
        state=state,
        queue=text(QUEUE) or "all",
        worker=text(WORKER),
        attempts=_int(text(ATTEMPTS)),
        enqueued_at=_time(text(ENQUEUED_AT)),
        started_at=_time(text(STARTED_AT)),
        finished_at=_time(text(FINISHED_AT)) or _time(text(FAILED_AT)),
        error=text(LAST_ERROR),
        traceback=text(TRACEBACK) or None,
        result=decode_result(kind, got.get(RESULT)),
        result_type=kind.decode("utf-8", "replace") if kind else None,
        progress=progress,
        progress_message=text(PROGRESS_MSG),
        progress_at=_time(text(PROGRESS_AT)),
        fields={
            k: v.decode("utf-8", "backslashreplace")
            for k, v in got.items()
            if not k.startswith(FIELD_PREFIX)
        },
    )


def _state(value: str | None, failed_for_good: bool) -> State:
    """qwsup:state; a hash without one is queued (a producer of the article), or failed
    when it has qwsup:failed_at (a job of an earlier version)."""
    try:
        return State(value or "")
    except ValueError:
        return State.FAILED if failed_for_good else State.QUEUED


def read_fraction(value: str | None) -> float | None:
    try:
        return min(1.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _time(value: str | None) -> float | None:
    """Unix seconds from what the hash holds: unix ms (qwsup's times), or unix seconds
    (qwsup:failed_at, and qwsup:enqueued_at of earlier versions)."""
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    if number is None:
        return None
    return number / 1000 if number > 1e11 else number
