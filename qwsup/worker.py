"""The worker: what one forked child does from boot to exit.

A worker takes jobs into its own list `<name>.<pid>:jobs`, runs the handler on each,
oldest first, then acknowledges it (or records the failure) in one atomic step. It
takes several jobs per round trip when its jobs are short (see feed.py and
`_want`), and gives back those it holds behind a job that runs long.
It stops on the master's signals (TERM: after the current job; INT or QUIT: now,
its job put back), after `max_jobs` jobs, and by itself once its master is gone.
It takes and starts jobs only while its master shows life: the master's board (shared
memory) says it renewed its hold on the supervisor's name within a third of the
lease. A worker whose master is silent longer (stopped, a frozen VM, cut off from
Redis) gives back the jobs it holds and has not started, and takes none, until the
master is heard again; it drops what it holds when the hold's token changes (the
name was reclaimed meanwhile, and those jobs were requeued elsewhere).

It tells its master it has booted through a pipe (whose end also tells it died), and
the rest on its scoreboard (shared memory, see scoreboard.py): when its current job
started, what each job came to, and a heartbeat from a thread of its own every few
seconds, so that the master can tell a hung worker (no heartbeat: the interpreter is
stuck) from a long job (heartbeats, busy).
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import logging
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from . import logs, privileges, proctitle
from .config import Config
from .connection import make_client
from .errors import ExitCode, HandlerError, RedisTrouble
from .feed import Feed
from .keys import FIELD_PREFIX, Keys, worker_id
from .outage import Outage
from .privileges import RunAs
from .queue import EMPTY, OVERSIZE, Job, Queue, Retry
from .scoreboard import MasterBoard, Scoreboard
from .totals import Totals

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, str]], object]
T = TypeVar("T")

BLOCK_S = 1  # how long one wait on all:jobs blocks; bounds how late a stop is noticed
MAX_ERROR = 2_000  # characters of an error line kept on the job
MAX_TRACEBACK = 64_000
RETRY_MAX_S = 5.0  # longest pause between two tries while Redis is unreachable
DUMP_STACK = signal.SIGUSR1  # the master asks for a stack dump before killing a hung worker
JOB_TIMEOUT = signal.SIGUSR2  # the master says the current job has run too long
PREFETCH_SPAN_S = 0.005  # a batch of prefetched jobs is sized to run about this long
PACE_WEIGHT = 0.2  # of the last job in the running average of job durations
GIVE_BACK_S = 0.25  # jobs held behind one running this long go back to all:jobs
HOLD_TICK_S = 0.1  # how often the heartbeat thread looks, while jobs are held


READY = b"R"  # written to the master's pipe once the handler is imported


class Outcome:
    """What a job came to, as the worker counts it on its scoreboard."""

    DONE = "done"
    RETRY = "retry"  # failed, will be retried
    FAILED = "failed"  # failed for good
    LOST = "lost"  # it was no longer ours when it ended (requeued meanwhile)


class StopNow(BaseException):
    """INT or QUIT: leave the current job and exit; it is put back in the queue."""


class StopWaiting(BaseException):
    """TERM while waiting for a job: exit without taking one."""


class JobTimeout(BaseException):
    """Raised in the handler when the master says the job ran past job_timeout; a
    BaseException so that the handler's `except Exception` does not swallow it."""


def load_handler(spec: str) -> Handler:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise HandlerError(f"{module_name} has no function {attr}")
    return handler  # type: ignore[no-any-return]


def decode_job(job: Job, key: str) -> tuple[dict[str, str], str | None]:
    """The producer's fields as strings, or the reason (one line) the job cannot run."""
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
        if field.startswith(FIELD_PREFIX):
            continue
        try:
            data[field] = raw_value.decode()
        except UnicodeDecodeError:
            return {}, f"field {field[:40]!r} of {key} is not UTF-8"
    return data, None


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text[:MAX_ERROR]


def heartbeat_interval(timeout_s: float) -> float:
    return min(max(timeout_s / 4, 0.05), 5.0)


class Worker:
    def __init__(
        self,
        config: Config,
        queue: Queue,
        handler: Handler,
        master_pid: int,
        status_fd: int,
        board: Scoreboard,
        slot: int = 0,
        master_board: MasterBoard | None = None,
    ) -> None:
        self.config = config
        # The queue it blocks on when idle: the pool's workers spread over its queues, so
        # that a job pushed on any of them usually wakes one at once; every take looks at
        # all of them, in order, so none waits longer than BLOCK_S for an idle worker.
        queues = config.workers.queues
        self.blocks_on = queues[slot % len(queues)]
        self.queue = queue
        self.handler = handler
        self.master_pid = master_pid
        self.status_fd = status_fd
        self.board = board
        self.master_board = master_board or MasterBoard()
        # the master is silent once its hold was not renewed for this long (it renews
        # six times per lease): take nothing, hold nothing
        self.silence_s = config.supervisor.lease_timeout / 3
        self.held_token = 0  # the token of the hold the held jobs were taken under
        self.paused = False  # taking nothing: the master is silent, or we are fenced off
        self.name = config.supervisor.name
        self.id = worker_id(self.name, os.getpid())
        w = config.workers
        self.retry = Retry(w.max_attempts, w.retry_delay, w.retry_backoff, w.retry_delay_max)
        # recycle after max_jobs, plus up to 10% so that workers do not all restart at once
        self.job_limit = random.randint(w.max_jobs, w.max_jobs + w.max_jobs // 10)
        self.stopping = False
        self.idle = True
        self.in_handler = False
        self.registered = False
        self.feed = Feed(
            queue.client,
            queue.keys,
            self.id,
            self.name,
            queue.queues,
            queue.max_job_bytes,
            self.blocks_on,
        )
        self.found_nothing = False  # the last take found no job: wait on all:jobs next
        # Jobs taken along and not started, oldest first; `hold` guards them against the
        # heartbeat thread giving them back.
        self.held: deque[Job] = deque()
        self.hold = threading.Lock()
        # The feed and the outcome counts: the main thread's, and the heartbeat thread's
        # while a job runs long (it reads the replies to earlier acknowledgements, so
        # that they are counted without waiting for the long job to end).
        self.line = threading.Lock()
        self.pace = PREFETCH_SPAN_S  # running average of job durations, seconds
        self.finishing: dict[bytes, float] = {}  # acknowledged, reply not read: seconds
        self._wake = threading.Event()  # wakes the heartbeat thread when jobs are held
        self.job_started = 0.0
        self._timeout_sent = False
        self.jobs_done = 0
        self.jobs_failed = 0
        self.outage = Outage(log)
        self._retry_s = 0.0

    # -- signals: record, or leave what is going on at once ---------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(JOB_TIMEOUT, self._on_job_timeout)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        faulthandler.register(DUMP_STACK, file=sys.stderr, all_threads=True)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if self.idle:
            raise StopWaiting

    def _on_quit(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        raise StopNow

    def _on_job_timeout(self, signum: int, frame: FrameType | None) -> None:
        limit = self.config.workers.job_timeout
        # the signal may arrive just after that job ended: only the job it was meant for
        if self.in_handler and limit and time.monotonic() - self.job_started >= limit * 0.99:
            raise JobTimeout

    def report(self, status: bytes) -> None:
        with contextlib.suppress(OSError):  # the master is gone: the loop notices
            os.write(self.status_fd, status)

    def _beat(self, interval: float) -> None:
        """The heartbeat thread. Once the master is gone nobody else watches the time
        limit, so an orphaned worker enforces job_timeout on itself. While the worker
        holds prefetched jobs it also looks every HOLD_TICK_S whether to give them back."""
        while True:
            self._wake.wait(HOLD_TICK_S if self.held else interval)
            self._wake.clear()
            now = time.monotonic()
            self.board.beat(now)
            if self.in_handler and now - self.job_started >= GIVE_BACK_S:
                if self.held:
                    self._give_back()
                if self.feed.sent:
                    self._settle_aside()
            if os.getppid() != self.master_pid and self.in_handler:
                self._police_orphan()

    def _settle_aside(self) -> None:
        """From the heartbeat thread, while the current job runs long: read the replies
        to the acknowledgements sent before it, and count those jobs."""
        if not self.line.acquire(blocking=False):
            return
        try:
            if self.in_handler:
                self.feed.settle()
                self._count_acked()
        except RedisTrouble:
            pass  # the main thread finds out, and resends, when the job ends
        finally:
            self.line.release()

    def _give_back(self, *, running: bool = True) -> bool:
        """The jobs held (taken along, not started) go back to their queue, each only if
        it is still in our list: behind a job that runs long (`running`), so that an idle
        sibling can take them, or when this worker may not start them. False when they
        are kept (Redis unreachable): they are not started before they can go back."""
        with self.hold:
            if not self.held or (running and not self.in_handler):
                return not self.held
            try:
                self.queue.give_back(self.id, [job.id for job in self.held])
            except RedisTrouble:
                return False
            self.held.clear()
            return True

    def _police_orphan(self) -> None:
        limit = self.config.workers.job_timeout
        if not limit:
            return
        overrun = time.monotonic() - self.job_started - limit
        if overrun > self.config.supervisor.quick_timeout:
            log.error("orphaned, and the job ignores its time limit: exiting; it will be requeued")
            logs.flush()
            os._exit(ExitCode.ERROR)
        if overrun >= 0 and not self._timeout_sent:
            self._timeout_sent = True
            os.kill(os.getpid(), JOB_TIMEOUT)

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        try:
            proctitle.set_title(f"{proctitle.worker_prefix(self.id)}idle")
            signal.pthread_sigmask(signal.SIG_SETMASK, set())  # blocked since before fork
            interval = heartbeat_interval(self.config.workers.heartbeat_timeout)
            threading.Thread(target=self._beat, args=(interval,), daemon=True).start()
            while not self.stopping:
                if os.getppid() != self.master_pid:
                    log.warning("master %d is gone: exiting", self.master_pid)
                    break
                job = self._next_job()
                if job is not None:
                    self._run(job)
                    if self._worn_out():
                        log.info("recycling after %d jobs", self.job_limit)
                        break
        except StopWaiting:
            pass
        except StopNow:
            log.info("stopping now%s", "" if self.idle else ": the job in hand goes back")
        finally:
            self._release()

    def _next_job(self) -> Job | None:
        """A job held from the last take, else None once more jobs were taken into the
        worker's own list (from it, its host queue or its queues), or after a wait. Only
        while the master shows life, and under the token the held jobs were taken with."""
        self.idle = True
        if self.stopping:
            raise StopWaiting
        if not self._may_take():
            time.sleep(HOLD_TICK_S)
            return None
        with self.hold:
            if self.held:
                return self._start(self.held.popleft())
        try:
            if not self.registered:
                self.queue.register_worker(self.name, self.id)
                self.registered = True
            with self.line:
                try:
                    jobs = [] if self.found_nothing else self.feed.take(b"", self._want())
                    if not jobs and not self.feed.fenced:
                        jobs = self.feed.wait(BLOCK_S, self._want(), self.blocks_on)
                finally:
                    self._count_acked()
            self._reachable("feed")
        except RedisTrouble as exc:
            self._unreachable(exc, "feed")
            return None
        self._hold(jobs)
        if self.feed.fenced:
            self._pause("the supervisor's name is no longer held by our master's token")
            self.found_nothing = False  # take again (and be told again) next time
            time.sleep(HOLD_TICK_S)
        return None  # the next turn starts what was taken, if the master still shows life

    def _may_take(self) -> bool:
        """Whether the master shows life (it renewed its hold on the name within
        silence_s), and what we hold was taken under its current token; else the held
        jobs go back."""
        silent, token = self.master_board.read()
        if token != self.held_token:
            if not self._give_back(running=False):
                return False
            self.held_token, self.feed.token = token, str(token)
        if silent > self.silence_s:
            self._pause(f"master {self.master_pid} silent for {silent:.1f} s")
            self._give_back(running=False)
            return False
        if self.paused and not self.feed.fenced:
            log.info("master heard again: taking jobs")
            self.paused = False
        return True

    def _pause(self, why: str) -> None:
        if not self.paused:
            log.warning("%s: taking no job, giving back those held", why)
            self.paused = True

    def _hold(self, jobs: list[Job]) -> None:
        self.found_nothing = not jobs
        if any(job.kind == EMPTY for job in jobs):
            log.error("dropped an empty job id taken from a queue: no job can have it")
            jobs = [job for job in jobs if job.kind != EMPTY]
        with self.hold:
            self.held.extend(jobs)
        if len(self.held) > 1:
            self._wake.set()  # the heartbeat thread looks more often while jobs are held

    def _start(self, job: Job) -> Job:
        self.job_started = time.monotonic()
        self._timeout_sent = False
        self.idle = False
        return job

    def _want(self) -> int:
        """How many jobs to take: about PREFETCH_SPAN_S of them at the running average
        job duration, within `prefetch`, and no more than are left before recycling."""
        if self.stopping:
            return 1
        want = min(self.config.workers.prefetch, int(PREFETCH_SPAN_S / max(self.pace, 1e-6)))
        if self.job_limit:
            want = min(want, self.job_limit - self.jobs_done - self.jobs_failed)
        return max(1, want)

    def _run(self, job: Job) -> None:
        job_id = job.id.decode("utf-8", "backslashreplace")
        since = time.strftime("%H:%M:%S")
        shown = proctitle.printable(job_id)
        proctitle.set_title(f"{proctitle.worker_prefix(self.id)}busy {shown} since {since}")
        self.board.busy(self.job_started)
        data, problem = decode_job(job, self.queue.keys.job_prefix + job_id)
        if problem is not None:
            outcome = self._fail(job, job_id, problem, "", permanent=True)
        else:
            try:
                self.in_handler = True
                try:
                    self.handler(job_id, data)
                finally:
                    self.in_handler = False
            except JobTimeout:
                limit = self.config.workers.job_timeout
                outcome = self._fail(job, job_id, f"timed out after {limit:g} s", _traceback())
            except (Exception, SystemExit) as exc:
                outcome = self._fail(job, job_id, _one_line(exc), _traceback())
            else:
                outcome = None
                self._finish(job)
        self.idle = True
        self.board.idle()
        if outcome is not None:
            seconds = time.monotonic() - self.job_started
            with self.line:
                self.board.ended(outcome, seconds, Totals.bucket(seconds))
        proctitle.set_title(f"{proctitle.worker_prefix(self.id)}idle")

    def _worn_out(self, ending: int = 0) -> bool:
        """Due to be recycled (after max_jobs), counting `ending` jobs about to end."""
        ran = self.jobs_done + self.jobs_failed + ending
        return bool(self.job_limit) and ran >= self.job_limit

    def _leaving_after_this_job(self) -> bool:
        """Stopping, orphaned, or due to be recycled: take no further job."""
        return self.stopping or self._worn_out(ending=1) or os.getppid() != self.master_pid

    # -- acknowledging, retried while Redis is unreachable -----------------------

    def _finish(self, job: Job) -> None:
        """Acknowledge the job: sent without waiting when a held job comes next, else
        with a take of the next jobs in the same round trip, unless this worker is about
        to stop. What it came to is counted when Redis's reply is read (_count_acked)."""
        seconds = time.monotonic() - self.job_started
        self.pace += (seconds - self.pace) * PACE_WEIGHT
        self.finishing[job.id] = seconds
        self.jobs_done += 1
        leaving = self._leaving_after_this_job()
        with self.line:
            try:
                with self.hold:
                    following = self.held[0] if self.held else None
                if following is not None or leaving:
                    starts = following.id if following and following.kind == "hash" else b""
                    self.feed.finish(job.id, starts)
                else:
                    self._hold(self.feed.take(job.id, self._want()))
                if leaving:
                    self._until_reachable(self.feed.settle, "feed")
            except RedisTrouble as exc:
                self._unreachable(exc, "feed")  # sent again when Redis is back
            self._count_acked()

    def _count_acked(self) -> None:
        """Count the jobs whose acknowledgement Redis has replied to."""
        for job_id, owned in self.feed.acked:
            seconds = self.finishing.pop(job_id, 0.0)
            if owned:
                outcome = Outcome.DONE
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("job %s done", _shown(job_id))
            else:
                outcome = Outcome.LOST
                log.warning(
                    "job %s finished, but it had been requeued meanwhile: it may run again",
                    _shown(job_id),
                )
            self.board.ended(outcome, seconds, Totals.bucket(seconds))
        self.feed.acked.clear()

    def _fail(
        self, job: Job, job_id: str, error: str, trace: str, *, permanent: bool = False
    ) -> str:
        result = self._until_reachable(
            lambda: self.queue.fail(
                self.id, job.id, error=error, traceback=trace, permanent=permanent,
                retry=self.retry,
            ),
            "fail",
        )  # fmt: skip
        self.jobs_failed += 1
        shown = proctitle.printable(job_id)
        max_attempts = self.retry.max_attempts
        if result < 0:
            log.warning("job %s failed (%s), but it had been requeued meanwhile", shown, error)
            return Outcome.LOST
        if result == 0:
            log.error("job %s failed for good, moved to failed:jobs: %s", shown, error)
            return Outcome.FAILED
        log.warning("job %s failed (attempt %d of %d): %s", shown, result, max_attempts, error)
        return Outcome.RETRY

    def _until_reachable(self, call: Callable[[], T], what: str) -> T:
        while True:
            try:
                result = call()
            except RedisTrouble as exc:
                self._unreachable(exc, what)
                continue
            self._reachable(what)
            return result

    def _unreachable(self, exc: RedisTrouble, what: str) -> None:
        self.outage.down(exc, what, time.monotonic())
        self._retry_s = min(max(self._retry_s * 2, 0.05), RETRY_MAX_S)
        time.sleep(self._retry_s * random.uniform(0.5, 1.0))

    def _reachable(self, what: str) -> None:
        self.outage.up(what, time.monotonic())
        self._retry_s = 0.0

    # -- leaving ------------------------------------------------------------------

    def _release(self) -> None:
        """Put back what is left in our list (nothing was started on it) and deregister,
        once every acknowledgement sent is done (Redis has replied to it)."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, JOB_TIMEOUT):
            signal.signal(sig, signal.SIG_IGN)  # we are on our way out
        try:
            with self.line:
                self.feed.settle()
                self._count_acked()
                self.feed.close()
            _, token = self.master_board.read()  # only while our master holds the name
            moved = self.queue.requeue(
                self.id, cost=0, max_attempts=1, reason="worker stopped", token=str(token)
            )
            if moved.fenced:  # registered still: the holder's sweep finds our list
                log.warning("our master no longer holds the name: leaving our list to it")
            else:
                self.queue.unregister_worker(self.name, self.id)
        except RedisTrouble as exc:
            log.error("could not put back our jobs (%s): the master will", exc)
        log.info("exiting: %d jobs done, %d failed", self.jobs_done, self.jobs_failed)


def _shown(job_id: bytes) -> str:
    return proctitle.printable(job_id.decode("utf-8", "backslashreplace"))


def _traceback() -> str:
    return traceback.format_exc()[-MAX_TRACEBACK:]


def boot(
    config: Config,
    status_fd: int,
    master_pid: int,
    board: Scoreboard,
    run_as: RunAs | None,
    slot: int = 0,
    master_board: MasterBoard | None = None,
) -> int:
    """Everything a freshly forked child does; returns its exit code.

    Signals arrive blocked and reset to their defaults; they are unblocked once the
    worker's own handlers are in place. The worker becomes `run_as` before anything of
    the handler's is imported.
    """
    random.seed()
    worker_id_ = worker_id(config.supervisor.name, os.getpid())
    logs.set_who(worker_id_)
    if run_as is not None:
        privileges.drop(run_as)
    proctitle.set_title(f"{proctitle.worker_prefix(worker_id_)}booting")
    client = make_client(config, socket_timeout=BLOCK_S + 10.0)
    max_job_bytes = int(config.workers.max_job_mb * 2**20)
    queue = Queue(client, Keys(config.redis.prefix()), max_job_bytes, config.workers.queues)
    try:
        handler = load_handler(config.workers.handler)
    except HandlerError as exc:
        log.error("handler %s: %s", config.workers.handler, exc)
        return ExitCode.HANDLER
    worker = Worker(config, queue, handler, master_pid, status_fd, board, slot, master_board)
    worker.install_signals()
    board.beat(time.monotonic())
    worker.report(READY)
    worker.run()
    return ExitCode.OK
