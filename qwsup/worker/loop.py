"""The worker: what one forked child does from boot to exit.

A worker takes jobs into its own list `<name>.<pid>:jobs`, runs the handler on each,
oldest first, then acknowledges it (or records the failure) in one atomic step. It
takes several jobs per round trip when its jobs are short, and gives back those it
holds behind a job that runs long (prefetch.py).
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
started, what each job came to, and a heartbeat from a thread of its own
(heartbeat.py).

Where the rest lives: running the handler on a job, its time limit and how the run
ended in runner.py; how many jobs to take and when to give them back in prefetch.py;
the heartbeat thread and the state it shares with the main thread in heartbeat.py;
the feed's own connection to Redis in feed.py.
"""

from __future__ import annotations

import contextlib
import enum
import faulthandler
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from qwsup import logs, privileges, proctitle, tracing
from qwsup.config import Config
from qwsup.contract import DUMP_STACK, JOB_CANCEL, JOB_TIMEOUT, READY, blocks_on
from qwsup.errors import ExitCode, HandlerError, RedisTrouble
from qwsup.limits import held_wait_s
from qwsup.outage import Retrying
from qwsup.privileges import RunAs
from qwsup.scoreboard import MasterBoard, Scoreboard, bucket, job_digest
from qwsup.store.connection import make_client
from qwsup.store.feed import Feed
from qwsup.store.jobs import Result
from qwsup.store.keys import Keys, worker_id
from qwsup.store.queue import CANCELLED, EMPTY, Job, Queue, Retry
from qwsup.store.records import Words
from qwsup.worker import current
from qwsup.worker.heartbeat import Heartbeat, Police, Shared, heartbeat_interval, police
from qwsup.worker.prefetch import BLOCK_S, HOLD_TICK_S, STAMP_AFTER_S, Prefetch, silence_bound
from qwsup.worker.progress import Progress
from qwsup.worker.runner import (
    Handler,
    JobCancelled,
    JobTimeout,
    Outcome,
    Ran,
    Runner,
    decode_job,
    load_handler,
)
from qwsup.worker.slots import SlotLoop, slots_for

# What master.py and the handlers import from here; decode_job and load_handler too.
__all__ = ["JobTimeout", "Worker", "boot"]
__all__ += ["decode_job", "load_handler"]

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 11.0  # a reply that takes longer: the line is lost


class Stop(enum.Enum):
    """How the worker was asked to stop."""

    AFTER_JOB = "after the job in hand"  # TERM
    NOW = "now"  # INT or QUIT: the job in hand goes back


class StopNow(BaseException):
    """INT or QUIT: leave the current job and exit; it is put back in the queue."""


class StopWaiting(BaseException):
    """TERM while waiting for a job: exit without taking one."""


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
        *,
        feed: Feed,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        parent: Callable[[], int] = os.getppid,
        set_title: Callable[[str], None] = proctitle.set_title,
    ) -> None:
        self.config = config
        self.blocks_on = blocks_on(config.workers.queues, slot)
        self.queue = queue
        self.master_pid = master_pid
        self.status_fd = status_fd
        self.board = board
        self.master_board = master_board or MasterBoard()
        self.clock, self.sleep, self.parent, self.set_title = clock, sleep, parent, set_title
        self.held_token = 0  # the token of the hold the held jobs were taken under
        self.paused = False  # taking nothing: the master is silent, or we are fenced off
        self.name = config.supervisor.name
        self.id = worker_id(self.name, os.getpid())
        w = config.workers
        self.retry = Retry(w.max_attempts, w.retry_delay, w.retry_backoff, w.retry_delay_max)
        # recycle after max_jobs, plus up to 10% so that workers do not all restart at once
        self.job_limit = random.randint(w.max_jobs, w.max_jobs + w.max_jobs // 10)
        self.stop: Stop | None = None
        self.idle = True
        self.board_busy = False  # the scoreboard shows a job running (see _board_idle)
        self.registered = False
        self.feed = feed
        self.found_nothing = False  # the last take found no job: wait on a queue next
        self.taken_at = 0.0  # when the jobs held were taken (our clock)
        self.prefetch = Prefetch(w.prefetch, silence_bound(config.supervisor.lease_timeout))
        max_result = int(w.max_result_kb * 1024)
        traced = None
        if config.otel.enabled:  # a span for each attempt (tracing.py)
            traced = tracing.Attempts(w.name, self.id)
        self.runner = Runner(
            handler, queue.keys.job_prefix, w.job_timeout, clock, max_result, traced
        )
        # several jobs at once (concurrency > 1, or an async handler): see slots.py
        self.slots = slots_for(handler, self.runner, w.concurrency)
        self.shared = Shared()  # with the heartbeat thread: see heartbeat.py
        interval = heartbeat_interval(w.heartbeat_timeout)
        self.heartbeat = Heartbeat(self.shared, board, interval, self, clock)
        self.jobs_done = 0
        self.jobs_failed = 0
        self.quick_s = config.supervisor.quick_timeout
        self.orders_seen = 0  # the master's stop orders read so far (its board)
        self.to_stop: set[int] = set()  # digests of jobs ordered stopped, not in hand yet
        self.retrying = Retrying(log, clock=clock, sleep=sleep)  # the main thread's

    @property
    def stopping(self) -> bool:
        return self.stop is not None

    # -- signals: record, or leave what is going on at once ---------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(JOB_TIMEOUT, self._on_job_timeout)
        signal.signal(JOB_CANCEL, self._on_cancel)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        faulthandler.register(DUMP_STACK, file=sys.stderr, all_threads=True)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.stop = self.stop or Stop.AFTER_JOB
        if self.idle:
            raise StopWaiting

    def _on_quit(self, signum: int, frame: FrameType | None) -> None:
        self.stop = Stop.NOW
        raise StopNow

    def _on_job_timeout(self, signum: int, frame: FrameType | None) -> None:
        if self.slots is not None:
            return  # the loop stops each slot's job past its limit itself
        if self.runner.timed_out(self.shared.in_hand):  # not one meant for a job now done
            raise JobTimeout

    def _on_cancel(self, signum: int, frame: FrameType | None) -> None:
        """The master ordered jobs stopped: the one running here (JobCancelled in its
        handler), those of the slots (slots.py), or, later, one held (is_cancelled)."""
        self.to_stop |= self._new_orders()
        if self.slots is not None:
            for r in self.slots.stop_cancelled(self.to_stop):
                log.info("job %s was cancelled: stopping it", _shown(r.job.id))
            return
        in_hand = self.shared.in_hand
        digest = job_digest(in_hand.job)
        if in_hand.in_handler and digest in self.to_stop:
            self.to_stop.discard(digest)
            in_hand.cancelled = True
            raise JobCancelled

    def _new_orders(self) -> set[int]:
        """The digests of the jobs the master ordered this worker to stop since we last
        looked (its board; no Redis)."""
        given = self.master_board.orders()
        if given in (-1, self.orders_seen):
            return set()
        self.orders_seen, digests = self.master_board.stop_orders(os.getpid(), self.orders_seen)
        return digests

    def is_cancelled(self, job: Job) -> bool:
        """Whether the master ordered `job` stopped before it started (it was cancelled
        while it waited in our list): it is not to run."""
        self.to_stop |= self._new_orders()
        if not self.to_stop:  # (no order pending: no digest to compute, on every job's path)
            return False
        digest = job_digest(job.id)
        if digest in self.to_stop:
            self.to_stop.discard(digest)
            return True
        return False

    def dropped(self, jobs: list[Job]) -> list[Job]:
        """A take's jobs but those take.lua dropped: an empty id, a cancelled job."""
        if any(job.kind == EMPTY for job in jobs):
            log.error("dropped an empty job id taken from a queue: no job can have it")
        for job in jobs:
            if job.kind == CANCELLED:
                log.info("job %s was cancelled: dropped, not run", _shown(job.id))
        return [job for job in jobs if job.kind not in (EMPTY, CANCELLED)]

    def report(self, status: bytes) -> None:
        with contextlib.suppress(OSError):  # the master is gone: the loop notices
            os.write(self.status_fd, status)

    # -- the loop -----------------------------------------------------------------

    def run(self) -> None:
        try:
            self._title("idle")
            signal.pthread_sigmask(signal.SIG_SETMASK, set())  # blocked since before fork
            self.heartbeat.start()
            self.loop()
        except StopWaiting:
            pass
        except StopNow:
            log.info("stopping now%s", "" if self.idle else ": the job in hand goes back")
        finally:
            self._release()

    def loop(self) -> None:
        """Take and run jobs until asked to stop (TERM: StopWaiting; INT, QUIT: StopNow),
        orphaned, or due to be recycled."""
        if self.slots is not None:
            SlotLoop(self, self.slots).run()
            return
        while not self.stopping:
            if self.orphaned():
                log.warning("master %d is gone: exiting", self.master_pid)
                return
            job = self._next_job()
            if job is not None:
                self._run(job)
                if self._worn_out():
                    log.info("recycling after %d jobs", self.job_limit)
                    return

    def _run(self, job: Job) -> None:
        """Run one job (started by _next_job), then send what it came to (_ended)."""
        shown = proctitle.printable(job.id.decode("utf-8", "backslashreplace"))
        self._title(f"busy {shown} since {time.strftime('%H:%M:%S')}")
        in_hand = self.shared.in_hand
        self.board.busy(in_hand.started)
        self.board_busy = True
        if self.is_cancelled(job):
            ran = self.runner.cancelled(in_hand)
        else:
            ran = self.runner.run(job, in_hand)
        outcome = self._ended(job, ran)
        self.idle = True  # (the scoreboard says so when no held job starts next: _next_job)
        if outcome is not None:
            self._count(outcome, self.clock() - in_hand.started)

    def _count(self, outcome: Outcome, seconds: float) -> None:
        """A job's outcome on the scoreboard (under `line`: the heartbeat thread counts
        acknowledgements there too)."""
        with self.shared.line:
            self.board.ended(outcome, seconds, bucket(seconds))

    def _title(self, state: str) -> None:
        self.set_title(f"{proctitle.worker_prefix(self.id)}{state}")

    def _next_job(self) -> Job | None:
        """A job held from the last take, else None once more jobs were taken into the
        worker's own list (from it, its host queue or its queues), or after a wait. Only
        while the master shows life, and under the token the held jobs were taken with."""
        self.idle = True
        if self.stopping:
            self._board_idle()
            raise StopWaiting
        if not self._may_take():
            self._board_idle()
            self.sleep(HOLD_TICK_S)
            return None
        with self.shared.hold:
            if self.shared.held:
                return self._start(self.shared.held.popleft())
        self._board_idle()
        jobs = self.take(self._want(), take_first=not self.found_nothing)
        if jobs is None:
            return None
        woken, self.feed.woken = self.feed.woken, False
        self._hold(jobs)
        if woken:
            self.found_nothing = False  # the wait was ended early: take first next turn
        if self.feed.fenced:
            self._pause("the supervisor's name is no longer held by our master's token")
            self.found_nothing = False  # take again (and be told again) next time
            self.sleep(HOLD_TICK_S)
        return None  # the next turn starts what was taken, if the master still shows life

    def _board_idle(self) -> None:
        """The scoreboard and the title show no job running: written once the last one
        ended and no held job starts at once (one write a job, not two, while a batch
        runs)."""
        if self.board_busy:
            self.board.idle()
            self._title("idle")
            self.board_busy = False

    def take(self, want: int, *, take_first: bool = True, block: bool = True) -> list[Job] | None:
        """At most `want` jobs into our list: a take (unless `take_first` is False),
        then, when that found none and `block`, a wait on our queue and a take, sent
        together. None when Redis failed (the caller's loop tries again after a
        pause, Retrying's)."""
        try:
            if not self.registered:
                self.queue.register_worker(self.name, self.id)
                self.registered = True
            looks = self.master_board.looks()  # (before the take: an ask meanwhile counts)
            self.to_stop.clear()  # (orders for jobs not in hand: they are gone)
            with self.shared.line:
                try:
                    jobs = self.feed.take(b"", want) if take_first else []
                    if not jobs and block and not self.feed.fenced:
                        wake = lambda: self._wake(looks)  # noqa: E731
                        queue, block_s = self._wait_on()
                        jobs = self.feed.wait(block_s, want, queue, wake)
                finally:
                    self._count_acked()
            self.retrying.worked("feed")
        except RedisTrouble as exc:
            self.retrying.failed(exc, "feed")
            self.found_nothing = False  # take first when Redis is back, then wait
            return None
        return jobs

    def _wait_on(self) -> tuple[str, float]:
        """Where an idle worker waits, and how long: on its queue for BLOCK_S (1 s while a
        trouble is open, so that its end is seen); while its last take found jobs held
        back (a paused queue, a limit), on its supervisor's own queue, only until the
        hold may end (at most a second): a timer, not a loop of takes, and never a wait
        that would move a held-back job."""
        if self.feed.held_ms:
            return self.name, held_wait_s(self.feed.held_ms)
        return self.blocks_on, BLOCK_S if self.retrying.outage.since is None else 1

    def _wake(self, looks: int) -> bool:
        """Whether to end a wait on a queue early (looked at every WAKE_TICK_S, without
        Redis): the master asked this worker to look at every queue (a job waits on one
        no idle worker is blocked on), it is gone, silent, or holds the name under
        another token. So a long wait in Redis delays none of these."""
        if self.master_board.asked_to_look(os.getpid(), looks) or self.orphaned():
            return True
        silent, token = self.master_board.read()
        return token != self.held_token or self.prefetch.master_silent(silent)

    def _may_take(self) -> bool:
        """Whether the master shows life (it renewed its hold on the name within the
        silence bound), and what we hold was taken under its current token; else the
        held jobs go back."""
        silent, token = self.master_board.read()
        if token != self.held_token:
            if not self._give_back(running=False):
                return False
            self.held_token, self.feed.token = token, str(token)
        if self.prefetch.master_silent(silent):
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
        jobs = self.dropped(jobs)
        with self.shared.hold:
            self.shared.held.extend(jobs)
        self.taken_at = self.clock()
        if len(self.shared.held) > 1:
            self.shared.wake.set()  # the heartbeat thread looks more often while jobs are held

    def _start(self, job: Job) -> Job:
        self.shared.in_hand.start(self.clock(), job.id)
        self.idle = False
        return job

    def _want(self) -> int:
        left = self.job_limit - self.jobs_done - self.jobs_failed if self.job_limit else None
        return self.prefetch.want(stopping=self.stopping, left=left)

    def _worn_out(self, ending: int = 0) -> bool:
        """Due to be recycled (after max_jobs), counting `ending` jobs about to end."""
        ran = self.jobs_done + self.jobs_failed + ending
        return bool(self.job_limit) and ran >= self.job_limit

    def _leaving_after_this_job(self) -> bool:
        """Stopping, orphaned, or due to be recycled: take no further job."""
        return self.stopping or self._worn_out(ending=1) or self.orphaned()

    # -- what a run comes to: which path each ending takes --------------------------
    #
    # returned    -> _finish: ack.lua or take.lua over the feed's own connection, sent
    #                without waiting for the reply (counted DONE or LOST when it is
    #                read). Redis down: not waited for; the feed sends the unsure
    #                acknowledgements again before its next command, and the next take
    #                is retried by the loop (Retrying, "feed"). Only a worker about to
    #                leave waits, until Redis is reachable, for the replies.
    # raised,     -> _fail: fail.lua through the queue's client pool, the reply awaited
    # timed out,     (RETRY, FAILED, or LOST). Redis down: retried until reachable
    # unreadable     (Retrying, "fail") before the worker takes anything else.
    # The heartbeat thread tries once and leaves the rest to the main thread: the held
    # jobs it could not give back stay held (not started before they go back), replies
    # it could not read are read (and resent) when the job ends.

    def _ended(self, job: Job, ran: Ran) -> Outcome | None:
        """Send what the run came to; its outcome, or None while Redis has not replied."""
        if ran.failed:
            return self._fail(job, ran)
        self._finish(job, ran.seconds, ran.writes, ran.result)
        return None

    def _finish(
        self,
        job: Job,
        seconds: float,
        writes: tuple[Words, ...] = (),
        result: Result | None = None,
        *,
        take_next: bool = True,
    ) -> None:
        """Acknowledge the job: sent without waiting when a held job comes next, else
        with a take of the next jobs in the same round trip, unless this worker is about
        to stop (or `take_next` is False: a worker of slots takes for its free slots
        itself). The job's `writes` and `result` go with its acknowledgement. What it came to is
        counted when Redis's reply is read (_count_acked)."""
        self.prefetch.ran(seconds)
        self.shared.finishing[job.id] = seconds
        self.jobs_done += 1
        leaving = self._leaving_after_this_job()
        with self.shared.line:
            try:
                with self.shared.hold:
                    following = self.shared.held[0] if self.shared.held else None
                if following is not None or leaving or not take_next:
                    self.feed.finish(job.id, self._stamps(following), writes, result)
                else:
                    self.to_stop.clear()  # (orders for jobs not in hand: they are gone)
                    self._hold(self.feed.take(job.id, self._want(), writes, result))
                if leaving:
                    self.retrying.until_reachable(self.feed.settle, "feed")
            except RedisTrouble as exc:
                self.retrying.failed(exc, "feed")  # sent again when Redis is back
            self._count_acked()

    def _stamps(self, following: Job | None) -> bytes:
        """The id of the held job that starts next, for the acknowledgement to stamp
        its qwsup:started_at again: only when it waited in our list longer than
        STAMP_AFTER_S since its take stamped it (b"": no stamp; a stamp costs Redis
        about a third of an acknowledgement)."""
        if following is None or following.kind != "hash":
            return b""
        return following.id if self.clock() - self.taken_at > STAMP_AFTER_S else b""

    def _count_acked(self) -> None:
        """Count the jobs whose acknowledgement Redis has replied to (under `line`), in
        one write of the scoreboard."""
        if not self.feed.acked:
            return
        ended = []
        debug = log.isEnabledFor(logging.DEBUG)
        for job_id, owned in self.feed.acked:
            seconds = self.shared.finishing.pop(job_id, 0.0)
            if owned:
                outcome = Outcome.DONE
                if debug:
                    log.debug("job %s done", _shown(job_id))
            else:
                outcome = Outcome.LOST
                log.warning(
                    "job %s finished, but it had been requeued meanwhile: it may run again",
                    _shown(job_id),
                )
            ended.append((outcome.value, seconds, bucket(seconds)))
        self.board.count(ended)
        self.feed.acked.clear()
        for job_id, failed in self.feed.failed_writes:
            for n, error in failed:
                log.error("job %s done, but its write %d failed: %s", _shown(job_id), n, error)
        self.feed.failed_writes.clear()

    def _fail(self, job: Job, ran: Ran) -> Outcome:
        result = self.retrying.until_reachable(
            lambda: self.queue.fail(
                self.id, job.id, error=ran.error, traceback=ran.trace,
                permanent=ran.permanent, retry=self.retry,
            ),
            "fail",
        )  # fmt: skip
        self.jobs_failed += 1
        shown, error = _shown(job.id), ran.error
        if result == -2:
            log.info("job %s cancelled", shown)
            return Outcome.CANCELLED
        if result < 0:
            log.warning("job %s failed (%s), but it had been requeued meanwhile", shown, error)
            return Outcome.LOST
        if result == 0:
            log.error("job %s failed for good, moved to failed:jobs: %s", shown, error)
            return Outcome.FAILED
        attempts = self.retry.max_attempts
        log.warning("job %s failed (attempt %d of %d): %s", shown, result, attempts, error)
        return Outcome.RETRY

    # -- the heartbeat thread's duties (heartbeat.Duties) ---------------------------

    def give_back(self) -> bool:
        return self._give_back()

    def replies_due(self) -> bool:
        return bool(self.feed.sent)

    def orphaned(self) -> bool:
        return self.parent() != self.master_pid

    def settle_aside(self) -> None:
        """From the heartbeat thread, while the current job runs long: read the replies
        to the acknowledgements sent before it, and count those jobs."""
        if not self.shared.line.acquire(blocking=False):
            return
        try:
            if self.shared.in_hand.in_handler:
                self.feed.settle()
                self._count_acked()
        except RedisTrouble:
            pass  # the main thread finds out, and resends, when the job ends
        finally:
            self.shared.line.release()

    def _give_back(self, *, running: bool = True) -> bool:
        """The jobs held (taken along, not started) go back to their queue, each only if
        it is still in our list: behind a job that runs long (`running`), so that an idle
        sibling can take them, or when this worker may not start them. False when they
        are kept (Redis unreachable): they are not started before they can go back."""
        shared = self.shared
        with shared.hold:
            if not shared.held or (running and not shared.in_hand.in_handler):
                return not shared.held
            try:
                self.queue.give_back(self.id, [job.id for job in shared.held])
            except RedisTrouble:
                return False
            shared.held.clear()
            return True

    def police_orphan(self) -> None:
        """Once the master is gone, what it would do to a job past job_timeout."""
        in_hand, w = self.shared.in_hand, self.config.workers
        verdict = police(in_hand, self.clock(), w.job_timeout, self.config.supervisor.quick_timeout)
        if verdict is Police.EXIT:
            log.error("orphaned, and the job ignores its time limit: exiting; it will be requeued")
            logs.flush()
            os._exit(ExitCode.ERROR)
        if verdict is Police.SIGNAL:
            in_hand.timeout_sent = True
            os.kill(os.getpid(), JOB_TIMEOUT)

    # -- leaving ------------------------------------------------------------------

    def _release(self) -> None:
        """Put back what is left in our list (nothing was started on it) and deregister,
        once every acknowledgement sent is done (Redis has replied to it). INT or QUIT
        while jobs run in slots: their ids stay in our list until this process is gone,
        and the master puts the list back then."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, JOB_TIMEOUT):
            signal.signal(sig, signal.SIG_IGN)  # we are on our way out
        if self.slots is None:
            self._board_idle()
        running = len(self.slots.running) if self.slots is not None else 0
        try:
            with self.shared.line:
                self.feed.settle()
                self._count_acked()
                self.feed.close()
            if running:
                log.info("leaving our list, with %d jobs running, to the master", running)
            else:
                self._put_back()
        except RedisTrouble as exc:
            log.error("could not put back our jobs (%s): the master will", exc)
        if self.slots is not None:
            self.slots.close()
        log.info("exiting: %d jobs done, %d failed", self.jobs_done, self.jobs_failed)

    def _put_back(self) -> None:
        _, token = self.master_board.read()  # only while our master holds the name
        moved = self.queue.requeue(
            self.id, cost=0, max_attempts=1, reason="worker stopped", token=str(token)
        )
        if moved.fenced:  # registered still: the holder's sweep finds our list
            log.warning("our master no longer holds the name: leaving our list to it")
        else:
            self.queue.unregister_worker(self.name, self.id)


def _shown(job_id: bytes) -> str:
    return proctitle.printable(job_id.decode("utf-8", "backslashreplace"))


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
    # (a wait's reply is read only once it is there, feed.wait: no timeout covers BLOCK_S)
    client = make_client(config, socket_timeout=SOCKET_TIMEOUT_S)
    keys, w = Keys(config.redis.prefix()), config.workers
    keep_ms = round(w.keep_finished * 1000)
    queue = Queue(client, keys, keep_ms, config.events.max_len)
    reports = Progress(lambda batch: queue.report_progress(worker_id_, batch))
    current.install(lambda: make_client(config), cluster=config.redis.cluster, progress=reports)
    max_job_bytes = int(w.max_job_mb * 2**20)  # a bigger job hash fails unread
    feed = Feed(
        client, keys, worker_id_, config.supervisor.name, w.queues, max_job_bytes,
        blocks_on(w.queues, slot), keep_ms, config.events.max_len, config.limits(w.queues),
        traced=config.otel.enabled,
    )  # fmt: skip
    if config.otel.enabled:
        tracing.start()  # after the fork: the SDK's export thread is this process's own
    try:
        handler = load_handler(config.workers.handler, pythonpath=config.workers.pythonpath)
    except HandlerError as exc:
        log.error("handler %s: %s", config.workers.handler, exc)
        return ExitCode.HANDLER
    worker = Worker(
        config, queue, handler, master_pid, status_fd, board, slot, master_board, feed=feed
    )
    worker.install_signals()
    board.beat(time.monotonic())
    worker.report(READY)
    try:
        worker.run()
    finally:
        if config.otel.enabled:
            tracing.stop()  # its buffered spans sent: the worker leaves by os._exit
    return ExitCode.OK
