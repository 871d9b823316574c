"""A worker's job path, the one both of its loops use (loop.py, one job at a time;
slots.py, several at once): take jobs into the worker's own list (`take`, whose
`Taken` says all the take learned), hold what was taken along (`hold`; held.py: each
starts once Redis says it may), `start` one, then `finish` it (acknowledged over the
feed, awaited only when a held job comes next) or `fail` it (fail.lua,
awaited), `count` what it came to on the scoreboard, `give_back` what is held and
not started, and `release` the list when leaving.

It takes and starts jobs only while the master shows life: its board (shared memory)
says it renewed its hold on the supervisor's name within a third of the lease
(`may_take`). A worker whose master is silent longer (stopped, a frozen VM, cut off
from Redis) gives back the jobs it holds and has not started, and takes none, until
the master is heard again; it drops what it holds when the hold's token changes (the
name was reclaimed meanwhile, and those jobs were requeued elsewhere).

What a run comes to takes one of two paths:

    returned    -> finish: ack.lua or take.lua over the feed's own connection, sent
                   without waiting for the reply (counted DONE or LOST when it is
                   read), but when a held job comes next (held.py). Redis down: not
                   waited for; the feed sends the unsure acknowledgements again
                   before its next command, and the next take is retried by the
                   loop (Retrying, "feed"). Only a worker about to leave waits, until
                   Redis is reachable, for the replies.
    raised,     -> fail: fail.lua through the queue's client pool, the reply awaited
    timed out,     (RETRY, FAILED, or LOST). Redis down: retried until reachable
    unreadable     (Retrying, "fail") before the worker takes anything else.

The heartbeat thread (heartbeat.py) asks the path for its duties (`give_back`,
`settle_aside`, `police_orphan`): it tries once and leaves the rest to the main
thread, under the locks `Shared` names.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable

from qwsup import logs
from qwsup.config import Config
from qwsup.contract import JOB_TIMEOUT, blocks_on
from qwsup.errors import ExitCode, RedisTrouble
from qwsup.outage import Retrying
from qwsup.scoreboard import MasterBoard, Scoreboard, bucket
from qwsup.store.feed import Feed
from qwsup.store.jobs import Result
from qwsup.store.keys import worker_id
from qwsup.store.queue import Queue
from qwsup.store.records import NOTHING, Job, Retry, Taken, Words
from qwsup.worker import endings
from qwsup.worker.heartbeat import Police, Shared, police
from qwsup.worker.held import Held
from qwsup.worker.orders import StopOrders
from qwsup.worker.prefetch import JobLimit, Prefetch, silence_bound, wait_on
from qwsup.worker.runner import Outcome, Ran
from qwsup.worker.watch import MasterWatch

log = logging.getLogger(__name__)


class Stop(enum.Enum):
    """How the worker was asked to stop."""

    AFTER_JOB = "after the job in hand"  # TERM
    NOW = "now"  # INT or QUIT: the job in hand goes back


class JobPath:
    def __init__(
        self,
        config: Config,
        queue: Queue,
        feed: Feed,
        board: Scoreboard,
        master_pid: int,
        slot: int = 0,
        master_board: MasterBoard | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        parent: Callable[[], int] = os.getppid,
    ) -> None:
        self.config, self.queue, self.feed, self.board = config, queue, feed, board
        self.master_pid = master_pid
        self.master_board = master_board or MasterBoard()
        self.clock, self.sleep = clock, sleep
        self.name = config.supervisor.name
        self.id = worker_id(self.name, os.getpid())
        self.blocks_on = blocks_on(config.workers.queues, slot)
        w = config.workers
        self.retry = Retry(w.max_attempts, w.retry_delay, w.retry_backoff, w.retry_delay_max)
        self.jobs = JobLimit.drawn(w.max_jobs)  # done and failed, and when to recycle
        self.prefetch = Prefetch(w.prefetch, silence_bound(config.supervisor.lease_timeout))
        self.master = MasterWatch(self.master_board, master_pid, self.prefetch, parent)
        self.shared = Shared()  # with the heartbeat thread: see heartbeat.py
        self.orders = StopOrders(self.master_board)
        self.retrying = Retrying(log, clock=clock, sleep=sleep)  # the main thread's
        self.stop: Stop | None = None  # set by the worker's signal handlers
        self.idle = True  # between jobs: TERM ends the worker at once
        self.held_token = 0  # the token of the hold the held jobs were taken under
        self.paused = False  # taking nothing: the master is silent, or we are fenced off
        self.registered = False
        self.last: Taken = NOTHING  # what the last take learned (fenced, held back)
        self.found_nothing = False  # the last take found no job: wait on a queue next
        self.held = Held(
            self.shared, feed, queue, self.id, self.orders, self.retrying, self._count_acked
        )

    @property
    def stopping(self) -> bool:
        return self.stop is not None

    def orphaned(self) -> bool:
        return self.master.orphaned()

    def leaving(self, ending: int = 0) -> bool:
        """Stopping, orphaned, or due to be recycled (`ending` jobs about to end): take
        no further job."""
        return self.stopping or self.jobs.worn_out(ending) or self.orphaned()

    def want(self) -> int:
        return self.prefetch.want(stopping=self.stopping, left=self.jobs.left())

    # -- taking -----------------------------------------------------------------------

    def may_take(self) -> bool:
        """Whether the master shows life (it renewed its hold on the name within the
        silence bound), and what we hold was taken under its current token; else the
        held jobs go back."""
        silent, token = self.master.read()
        if token != self.held_token:
            if not self.give_back(running=False):
                return False
            self.held_token, self.feed.token = token, str(token)
        if self.master.silent(silent):
            self.pause(f"master {self.master_pid} silent for {silent:.1f} s")
            self.give_back(running=False)
            return False
        if self.paused and not self.last.fenced:
            log.info("master heard again: taking jobs")
            self.paused = False
        return True

    def pause(self, why: str) -> None:
        if not self.paused:
            log.warning("%s: taking no job, giving back those held", why)
            self.paused = True

    def take(
        self, want: int, *, take_first: bool = True, block: bool = True, known: int = 0
    ) -> Taken | None:
        """At most `want` jobs into our list (beyond the `known` ones in hand): a take
        (unless `take_first` is False), then, when that found none and `block`, a wait
        on our queue and a take, sent together. None when Redis failed (the caller's
        loop tries again after a pause, Retrying's)."""
        try:
            if not self.registered:
                self.queue.register_worker(self.name, self.id)
                self.registered = True
            looks = self.master_board.looks()  # (before the take: an ask meanwhile counts)
            self.orders.clear()
            with self.shared.line:
                try:
                    took = self.feed.take(b"", want, known=known) if take_first else NOTHING
                    if not took.jobs and block and not took.fenced:
                        wake = lambda: self.master.wake(looks, self.held_token)  # noqa: E731
                        queue, block_s = self._wait_on(took)
                        took = self.feed.wait(block_s, want, queue, wake, known=known)
                finally:
                    self._count_acked()
            self.retrying.worked("feed")
        except RedisTrouble as exc:
            self.retrying.failed(exc, "feed")
            self.found_nothing = False  # take first when Redis is back, then wait
            return None
        self._took(took)
        if took.fenced:
            self.pause("the supervisor's name is no longer held by our master's token")
        return took

    def _took(self, took: Taken) -> None:
        """What a take learned: kept for the next (a limit's hold, the fence)."""
        if took is not NOTHING and not took.woken:
            self.last = took

    def _wait_on(self, took: Taken) -> tuple[str, float]:
        held_ms = (took if took is not NOTHING else self.last).held_ms
        trouble = self.retrying.outage.since is not None
        return wait_on(held_ms, trouble, self.name, self.blocks_on)

    def hold(self, took: Taken) -> None:
        """A take's jobs, held to start one after the other. The next turn waits on a
        queue at once when this one found none; it takes first after a wait ended early
        or a take refused (to be told again)."""
        self.found_nothing = not took.jobs and not took.woken and not took.fenced
        self.held.add(endings.dropped(took.jobs))

    def next_held(self) -> Job | None:
        """The oldest job held that may start (held.py), started; None when none is."""
        job = self.held.next()
        return self.start(job) if job is not None else None

    def start(self, job: Job) -> Job:
        self.shared.in_hand.start(self.clock(), job.id)
        self.idle = False
        return job

    def is_cancelled(self, job: Job) -> bool:
        """Whether the master ordered `job` stopped before it started (it was cancelled
        while it waited in our list): it is not to run."""
        return self.orders.take(job.id)

    # -- ending -----------------------------------------------------------------------

    def ended(self, job: Job, ran: Ran) -> Outcome | None:
        """Send what the run came to; its outcome, or None while Redis has not replied."""
        if ran.failed:
            return self.fail(job, ran)
        self.finish(job, ran.seconds, ran.writes, ran.result)
        return None

    def finish(
        self,
        job: Job,
        seconds: float,
        writes: tuple[Words, ...] = (),
        result: Result | None = None,
        *,
        take_next: bool = True,
    ) -> None:
        """Acknowledge the job: awaited when a held job comes next (it starts only if
        Redis says it may), else with a take of the next jobs in the same round trip,
        unless this worker is about to stop (or `take_next` is False: a worker of slots
        takes for its free slots itself), sent without waiting. The job's `writes` and
        `result` go with its acknowledgement. What it came to is counted when Redis's
        reply is read (_count_acked)."""
        self.prefetch.ran(seconds)
        self.shared.finishing[job.id] = seconds
        self.jobs.done += 1
        leaving = self.leaving(ending=1)
        with self.shared.line:
            try:
                following = self.held.following()
                if following is not None and following.kind == "hash" and not leaving:
                    self.held.ask(following, job.id, writes, result)  # (the reply awaited)
                elif following is not None or leaving or not take_next:
                    self.feed.finish(job.id, writes, result)
                else:
                    self.orders.clear()
                    took = self.feed.take(job.id, self.want(), writes, result)
                    self._took(took)
                    self.hold(took)
                if leaving:
                    self.retrying.until_reachable(self.feed.settle, "feed")
            except RedisTrouble as exc:
                self.retrying.failed(exc, "feed")  # sent again when Redis is back
            self._count_acked()

    def _count_acked(self) -> None:
        """Count the jobs whose acknowledgement Redis has replied to (under `line`), in
        one write of the scoreboard."""
        ended = endings.acknowledged(self.feed.answered(), self.shared.finishing)
        if ended:
            self.board.count(ended)

    def fail(self, job: Job, ran: Ran) -> Outcome:
        """fail.lua, awaited (retried until Redis is reachable): a retry, or failed for
        good, or lost (requeued meanwhile), or cancelled."""
        result = self.retrying.until_reachable(
            lambda: self.queue.fail(
                self.id, job.id, error=ran.error, traceback=ran.trace,
                permanent=ran.permanent, retry=self.retry,
            ),
            "fail",
        )  # fmt: skip
        self.jobs.failed += 1
        return endings.failed(job.id, ran.error, result, self.retry.max_attempts)

    def count(self, outcome: Outcome, seconds: float) -> None:
        """A job's outcome on the scoreboard (under `line`: the heartbeat thread counts
        acknowledgements there too)."""
        with self.shared.line:
            self.board.ended(outcome, seconds, bucket(seconds))

    # -- the heartbeat thread's duties (heartbeat.Duties) -----------------------------

    def give_back(self, *, running: bool = True) -> bool:
        return self.held.give_back(running=running)

    def replies_due(self) -> bool:
        return bool(self.feed.sent)

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

    # -- leaving ----------------------------------------------------------------------

    def release(self, running: int = 0) -> None:
        """Put back what is left in our list (nothing was started on it) and deregister,
        once every acknowledgement sent is done (Redis has replied to it). INT or QUIT
        while `running` jobs run in slots: their ids stay in our list until this process
        is gone, and the master puts the list back then."""
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

    def _put_back(self) -> None:
        _, token = self.master_board.read()  # only while our master holds the name
        moved = self.queue.requeue(
            self.id, cost=0, max_attempts=1, reason="worker stopped", token=str(token)
        )
        if moved.fenced:  # registered still: the holder's sweep finds our list
            log.warning("our master no longer holds the name: leaving our list to it")
        else:
            self.queue.unregister_worker(self.name, self.id)
