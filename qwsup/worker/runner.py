"""Running a handler on one job: loading the handler, decoding the job, its time
limit, and what the run ended in.

`Runner.run` touches no Redis and keeps no state between calls: what it needs to know
about the job in hand (when it started, whether the handler is on the stack) is in
the `InHand` it is given, one per job running, so that it could be called from
several threads at once. What the worker does with the ending (acknowledge, fail,
retry) is the worker's (see Worker._ended in worker.py).

The time limit: the master (or, once the master is gone, the worker's own heartbeat
thread) sends JOB_TIMEOUT to a job that ran past workers.job_timeout; the signal
handler asks `timed_out` whether the signal is for the job in hand (it may arrive just
after that job ended) and then raises JobTimeout in the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qwsup import proctitle
from qwsup.errors import HandlerError
from qwsup.store.jobs import Result, ResultError, encode_result
from qwsup.store.keys import ARGS, ATTEMPTS, FIELD_PREFIX, QUEUE, TASK
from qwsup.store.records import OVERSIZE, Job, Words
from qwsup.worker import current

if TYPE_CHECKING:
    from qwsup.tracing import Attempts

Handler = Callable[[str, dict[str, str]], object]

MAX_ERROR = 2_000  # characters of an error line kept on the job
MAX_TRACEBACK = 64_000


class JobTimeout(BaseException):
    """Raised in the handler when the master says the job ran past job_timeout; a
    BaseException so that the handler's `except Exception` does not swallow it."""


class JobCancelled(BaseException):
    """Raised in the handler when its job was cancelled (`qwsup cancel`,
    Producer.cancel) while it ran: the job ends cancelled. A BaseException, as
    JobTimeout is; a handler that does not give up within quick_timeout has its worker
    killed."""


class Ending(enum.Enum):
    """How a run ended, as the runner sees it."""

    RETURNED = "returned"  # the handler returned: the job is done
    RAISED = "raised"  # the handler raised (or called sys.exit): a failed attempt
    TIMED_OUT = "timed out"  # JobTimeout: a failed attempt
    UNREADABLE = "unreadable"  # the job cannot run (missing, oversize, not UTF-8): failed for good
    CANCELLED = "cancelled"  # JobCancelled, or cancelled before it started: ends cancelled


class Outcome(enum.StrEnum):
    """What a job came to, once Redis has replied; the values are the scoreboard's."""

    DONE = "done"
    RETRY = "retry"  # failed, will be retried
    FAILED = "failed"  # failed for good
    LOST = "lost"  # it was no longer ours when it ended (requeued meanwhile)
    CANCELLED = "cancelled"  # it was cancelled: it ended cancelled


@dataclass(frozen=True, slots=True)
class Ran:
    """A run's ending; for a failure, the error (one line) and the traceback; for a
    run that returned, its result and the writes it sends with its acknowledgement
    (qwsup.pipeline)."""

    ending: Ending
    seconds: float
    error: str = ""
    trace: str = ""
    writes: tuple[Words, ...] = ()
    result: Result | None = None

    @property
    def failed(self) -> bool:
        return self.ending is not Ending.RETURNED

    @property
    def outcome(self) -> str:
        """What its trace says it came to: done, or the way it failed."""
        return self.ending.value if self.failed else "done"

    @property
    def permanent(self) -> bool:
        """Failed for good, whatever attempts are left (a cancelled job ends cancelled:
        fail.lua sees it was asked to stop)."""
        return self.ending in (Ending.UNREADABLE, Ending.CANCELLED)


@dataclass
class InHand:
    """The job a worker runs, as its signal handlers and its heartbeat thread see it.
    Written by the thread that runs the job; read by the others without a lock (each
    field is one assignment)."""

    started: float = 0.0  # time.monotonic() when it started
    in_handler: bool = False  # the handler is on the stack: JobTimeout may be raised
    timeout_sent: bool = False  # the orphaned worker sent itself JOB_TIMEOUT for it
    job: bytes = b""  # its id
    cancelled: bool = False  # its master ordered it stopped: it was cancelled

    def start(self, now: float, job: bytes = b"") -> None:
        self.started, self.in_handler, self.timeout_sent = now, False, False
        self.job, self.cancelled = job, False


def load_handler(spec: str, pythonpath: tuple[str, ...] = ()) -> Handler:
    """The function `spec` names ("package.module:function"), imported once the
    directories of `pythonpath` (a pool's workers.pythonpath) lead sys.path, in their
    order. When the handler's top-level package is nowhere on the path, the error says
    how to put it there."""
    import sys

    module_name, _, attr = spec.partition(":")
    sys.path[:0] = [directory for directory in pythonpath if directory not in sys.path]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        problem = f"cannot import {module_name}: {type(exc).__name__}: {exc}"
        top = module_name.partition(".")[0]
        if isinstance(exc, ModuleNotFoundError) and exc.name == top:
            searched = f" (with pythonpath {', '.join(pythonpath)})" if pythonpath else ""
            problem += (
                f"; no directory on the import path of {sys.executable}{searched} holds "
                f"{top}: put the application's directory (the one holding {top}) on "
                "PYTHONPATH, install the application into this environment "
                f"({sys.executable} -m pip install -e /path/to/app), or set "
                'pythonpath = ["/path/to/app"] in [workers] (or in the pool\'s [[pools]] table)'
            )
        raise HandlerError(problem) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise HandlerError(f"{module_name} has no function {attr}")
    return handler  # type: ignore[no-any-return]


TASK_FIELDS = (TASK.encode(), ARGS.encode())  # what a registry of tasks is given too


def decode_job(
    job: Job, key: str, keep: tuple[bytes, ...] = ()
) -> tuple[dict[str, str], str | None]:
    """The producer's fields as strings (and those of qwsup's named in `keep`), or the
    reason (one line) the job cannot run."""
    key = proctitle.printable(key, 200)
    if job.kind == "none":
        return {}, f"job hash {key} does not exist"
    if job.kind == OVERSIZE:
        return {}, f"job hash {key} holds {job.size:,} bytes, over workers.max_job_mb"
    if job.kind != "hash":
        return {}, f"{key} is a Redis {job.kind}, not a hash"
    data: dict[str, str] = {}
    for raw_field, raw_value in job.fields.items():
        try:
            field = raw_field.decode()
        except UnicodeDecodeError:
            return {}, f"a field name of {key} is not UTF-8: {raw_field[:40]!r}"
        if field.startswith(FIELD_PREFIX) and raw_field not in keep:
            continue
        try:
            data[field] = raw_value.decode()
        except UnicodeDecodeError:
            return {}, f"field {field[:40]!r} of {key} is not UTF-8"
    return data, None


class Runner:
    def __init__(
        self,
        handler: Handler,
        job_prefix: str,
        job_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        max_result_bytes: int = 0,
        tracing: Attempts | None = None,
    ) -> None:
        """`tracing`: a span for each attempt (tracing.py); the jobs then come with
        their attempts and queue (Feed(traced=True))."""
        self.handler = handler
        self.tracing = tracing
        self.job_prefix = job_prefix  # of the job hashes' keys, for the error lines
        self.job_timeout = job_timeout  # workers.job_timeout; 0: none
        self.clock = clock
        self.max_result_bytes = max_result_bytes  # workers.max_result_kb; 0: no limit
        # a registry of tasks (qwsup.Tasks) is given the job's task and arguments too
        self.keep = TASK_FIELDS if getattr(handler, "is_task_registry", False) else ()

    def run(self, job: Job, in_hand: InHand) -> Ran:
        """Decode the job and run the handler on it (started at in_hand.started)."""
        args = self._decoded(job, in_hand)
        if isinstance(args, Ran):
            return args
        if self.tracing is None:
            return self._call(args, in_hand)
        with self._span(job, args) as span:
            ran = self._call(args, in_hand)
            self.tracing.ended(span, ran.outcome, ran.error if ran.failed else None)
        return ran

    def _call(self, args: tuple[str, dict[str, str]], in_hand: InHand) -> Ran:
        try:
            with _InHandler(in_hand, args[0]) as running:
                value = self.handler(*args)
            writes = running.words()
        except BaseException as exc:
            return self._failed(exc, in_hand)
        return self._returned(value, writes, in_hand)

    async def run_async(self, job: Job, in_hand: InHand) -> Ran:
        """`run` for an `async def` handler, as a task on the worker's event loop; the
        task cancelled (its time limit) is a run that timed out."""
        args = self._decoded(job, in_hand)
        if isinstance(args, Ran):
            return args
        if self.tracing is None:
            return await self._call_async(args, in_hand)
        with self._span(job, args) as span:  # the task's own context
            ran = await self._call_async(args, in_hand)
            self.tracing.ended(span, ran.outcome, ran.error if ran.failed else None)
        return ran

    def _span(
        self, job: Job, args: tuple[str, dict[str, str]]
    ) -> contextlib.AbstractContextManager[Any]:
        """The span of this attempt: take.lua gave the job's attempts used up and its
        queue along with it (the handler sees neither)."""
        assert self.tracing is not None
        used = job.fields.get(ATTEMPTS.encode(), b"0")
        queue = job.fields.get(QUEUE.encode(), b"all").decode("utf-8", "replace")
        attempt = int(used) + 1 if used.isdigit() else None
        return self.tracing.attempt(args[0], args[1], attempt, queue)

    async def _call_async(self, args: tuple[str, dict[str, str]], in_hand: InHand) -> Ran:
        try:
            with _InHandler(in_hand, args[0]) as running:  # the task's own context
                value = await self.handler(*args)  # type: ignore[misc]
            writes = running.words()
        except BaseException as exc:
            return self._failed(exc, in_hand)
        return self._returned(value, writes, in_hand)

    def _returned(self, value: object, writes: tuple[Words, ...], in_hand: InHand) -> Ran:
        """A run that returned `value`: done with it as the result, or a failed attempt
        when it cannot be one (not JSON-encodable, over max_result_kb)."""
        try:
            result = encode_result(value, self.max_result_bytes)
        except ResultError as exc:
            return Ran(Ending.RAISED, self._since(in_hand), str(exc)[:MAX_ERROR])
        return Ran(Ending.RETURNED, self._since(in_hand), writes=writes, result=result)

    def cancelled(self, in_hand: InHand) -> Ran:
        """The run of a job cancelled before its handler started."""
        return Ran(Ending.CANCELLED, self._since(in_hand), "cancelled before it started")

    def _decoded(self, job: Job, in_hand: InHand) -> tuple[str, dict[str, str]] | Ran:
        """The handler's arguments, or the run of a job that cannot run."""
        job_id = job.id.decode("utf-8", "backslashreplace")
        data, problem = decode_job(job, self.job_prefix + job_id, self.keep)
        if problem is not None:
            return Ran(Ending.UNREADABLE, self._since(in_hand), problem)
        return job_id, data

    def _failed(self, exc: BaseException, in_hand: InHand) -> Ran:
        """What a handler's exception makes of its run; anything else (the worker's own
        StopNow, KeyboardInterrupt) goes on up."""
        if isinstance(exc, JobCancelled) or (
            isinstance(exc, asyncio.CancelledError) and in_hand.cancelled
        ):
            return Ran(Ending.CANCELLED, self._since(in_hand), "cancelled", _traceback())
        if isinstance(exc, JobTimeout | asyncio.CancelledError):
            error = f"timed out after {self.job_timeout:g} s"
            return Ran(Ending.TIMED_OUT, self._since(in_hand), error, _traceback())
        if getattr(exc, "permanent", False):  # a job that cannot run (BadTask): no retry
            return Ran(Ending.UNREADABLE, self._since(in_hand), one_line(exc), _traceback())
        if isinstance(exc, Exception | SystemExit):
            return Ran(Ending.RAISED, self._since(in_hand), one_line(exc), _traceback())
        raise exc

    def timed_out(self, in_hand: InHand) -> bool:
        """Whether a JOB_TIMEOUT that arrives now is meant for the job in hand: its
        handler runs, and has run for the limit (less 1%, a margin for the sender's
        measure of the same time)."""
        limit = self.job_timeout
        return in_hand.in_handler and bool(limit) and self._since(in_hand) >= limit * 0.99

    def _since(self, in_hand: InHand) -> float:
        return self.clock() - in_hand.started


class _InHandler:
    """Around a handler's call, sync or awaited: JobTimeout may be raised meanwhile
    (`in_handler`), and the job's context is set for qwsup.job_id() and pipeline()."""

    __slots__ = ("in_hand", "job_id", "token")

    def __init__(self, in_hand: InHand, job_id: str) -> None:
        self.in_hand, self.job_id = in_hand, job_id

    def __enter__(self) -> current.Current:
        running, self.token = current.enter(self.job_id)
        self.in_hand.in_handler = True
        return running

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.in_hand.in_handler = False
        current.leave(self.token)


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text[:MAX_ERROR]


def _traceback() -> str:
    return traceback.format_exc()[-MAX_TRACEBACK:]
