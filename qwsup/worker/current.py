"""What a handler can ask while it runs a job: the job's id, the worker's Redis client,
writes sent with the job's acknowledgement, and a way to report its progress.

    import qwsup

    def handle(job_id: str, data: dict[str, str]) -> None:
        seen = qwsup.redis().incr("visits")          # the worker's client: a round trip
        qwsup.pipeline().hset(f"result:{job_id}", "seen", seen)   # sent with the ack
        qwsup.progress(0.5, "halfway")               # kept in memory, sent coalesced

Each job has its own context (a contextvars.ContextVar set around the handler), so
these answer for the job of the thread or the asyncio task that asks: in the worker's
main thread, in a slot's thread, and in a task on the worker's event loop.

`pipeline()` queues writes that the worker sends inside the script that acknowledges
the job (ack.lua), after it has found the job still the worker's: they are applied
once, together with the job's end, and never for an attempt that failed, nor for one
whose job was requeued meanwhile (it may run again: that run's writes count). A job
whose acknowledgement is sent again (its connection broke before the reply) does not
apply them twice: the second acknowledgement finds the job finished already.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis as redis_py

from qwsup.errors import QwsupError
from qwsup.store.records import Words
from qwsup.worker.progress import Progress, checked

__all__ = ["NotInJob", "Writes", "job_id", "pipeline", "progress", "redis"]

MAX_WRITES = 1_000  # writes a job may send with its acknowledgement
MAX_WORDS = 1_000  # words (the command and its arguments) of one write


class NotInJob(QwsupError):
    """A handler's helper was called outside a job a qwsup worker runs."""


class Writes(redis_py.client.Pipeline):
    """A job's writes (any redis-py write command: `.set`, `.hset`, `.incr`, ...),
    sent with its acknowledgement when the handler returns. Nothing is sent before:
    there is no reply to read, and `execute`, `watch`, `multi` and `discard` are
    refused. `with qwsup.pipeline() as writes:` keeps them (it does not reset)."""

    def execute_command(self, *args: Any, **options: Any) -> Writes:
        return self.pipeline_execute_command(*args, **options)  # never sent now

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Writes:
        if len(self.command_stack) >= MAX_WRITES:
            raise QwsupError(f"a job may send at most {MAX_WRITES} writes with its end")
        words = _words(args)
        if len(words) > MAX_WORDS:
            raise QwsupError(f"a write sent with a job's end has at most {MAX_WORDS} words")
        self.command_stack.append((words, options))
        return self

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        raise QwsupError(
            "qwsup.pipeline()'s writes are sent with the job's acknowledgement: "
            "do not execute them (use qwsup.redis() for a round trip now)"
        )

    def watch(self, *names: Any) -> None:
        raise QwsupError("qwsup.pipeline() cannot WATCH: its writes have no replies")

    def multi(self) -> None:
        raise QwsupError("qwsup.pipeline()'s writes are applied in one step already")

    def discard(self) -> None:
        raise QwsupError("qwsup.pipeline()'s writes cannot be discarded: raise to fail")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        """Unlike a redis-py pipeline's, keeps the writes: they go with the job's end."""

    def words(self) -> tuple[Words, ...]:
        """The writes queued, in order (each word checked as it was queued)."""
        return tuple(args for args, _ in self.command_stack)


def _words(args: tuple[Any, ...]) -> Words:
    """A write's words as the feed packs them: the command name split on spaces as
    redis-py does (`XGROUP CREATE`), each word bytes, int or float; anything else is
    refused when queued (DataError), as redis-py would refuse it when sent."""
    if not args:
        raise redis_py.DataError("a write needs a command")
    first = args[0]
    head = first.encode().split() if isinstance(first, str) else bytes(first).split()
    return (*head, *(_word(arg) for arg in args[1:]))


def _word(arg: object) -> bytes | int | float:
    if isinstance(arg, bool):
        pass
    elif isinstance(arg, bytes | bytearray | memoryview):
        return bytes(arg)
    elif isinstance(arg, str):
        try:
            return arg.encode()
        except UnicodeEncodeError as exc:
            raise redis_py.DataError(f"a write's text is not valid UTF-8: {exc}") from None
    elif isinstance(arg, int):
        return int(arg)  # an IntEnum's value: hiredis packs plain ints only
    elif isinstance(arg, float):
        return float(arg)
    raise redis_py.DataError(
        f"invalid input of type {type(arg).__name__!r} in a write: "
        "convert it to bytes, str, int or float first"
    )


@dataclass(slots=True)
class Current:
    """The job a handler runs, as its helpers see it."""

    id: str
    writes: Writes | None = None

    def words(self) -> tuple[Words, ...]:
        return self.writes.words() if self.writes is not None else ()


_CURRENT: contextvars.ContextVar[Current | None] = contextvars.ContextVar(
    "qwsup_current_job", default=None
)


class _Process:
    """The worker process's side: how to make its handlers' client (set at boot)."""

    make: Callable[[], redis_py.Redis] | None = None
    client: redis_py.Redis | None = None
    cluster = False
    progress: Progress | None = None
    lock = threading.Lock()  # one client, even when slots' threads ask at once


def _current(what: str) -> Current:
    current = _CURRENT.get()
    if current is None:
        raise NotInJob(f"qwsup.{what}() is for a handler, while a qwsup worker runs its job")
    return current


# -- the handler's side ---------------------------------------------------------------


def job_id() -> str:
    """The id of the job this handler runs."""
    return _current("job_id").id


def redis() -> redis_py.Redis:
    """The worker's Redis client, made from the supervisor's `[redis]` settings (TLS,
    ACL user, sentinels or cluster), once per worker process. Thread-safe (a pool of
    connections); replies are bytes."""
    _current("redis")
    with _Process.lock:
        if _Process.client is None:
            assert _Process.make is not None, "a worker sets this up at boot"
            _Process.client = _Process.make()
        return _Process.client


def pipeline() -> Writes:
    """The job's writes, sent with its acknowledgement (see the module's docstring);
    the same pipeline for every call during one job."""
    current = _current("pipeline")
    if _Process.cluster:
        raise QwsupError(
            "qwsup.pipeline() needs one Redis server (or sentinels), not a cluster: "
            "use qwsup.redis() for the job's writes"
        )
    if current.writes is None:
        client = redis()
        current.writes = Writes(client.connection_pool, client.response_callbacks, False, None)
    return current.writes


def progress(fraction: float, message: str = "") -> None:
    """Report how far the job is, a fraction from 0 to 1, and what it does now (a short
    message, at most 200 characters kept). Cheap: the value is kept in memory, and the
    worker writes the latest into the job's hash at most twice a second; `qwsup job`,
    `qwsup status` and Producer.job() show it. ValueError or TypeError for a bad value."""
    current = _current("progress")
    fraction, message = checked(fraction, message)
    assert _Process.progress is not None, "a worker sets this up at boot"
    _Process.progress.report(current.id, fraction, message)


# -- the worker's side ----------------------------------------------------------------


def install(
    make: Callable[[], redis_py.Redis], *, cluster: bool, progress: Progress | None = None
) -> None:
    """At a worker's boot: how its handlers' client is made (on first use), and where
    their progress reports go."""
    _Process.make, _Process.client, _Process.cluster = make, None, cluster
    _Process.progress = progress


def enter(job: str) -> tuple[Current, contextvars.Token[Current | None]]:
    """Around a handler's run: the job it runs (undone by `leave`)."""
    current = Current(job)
    return current, _CURRENT.set(current)


def leave(token: contextvars.Token[Current | None]) -> None:
    _CURRENT.reset(token)
