"""The worker's decisions without a process or Redis: prefetch sizing and give-back
(qwsup/worker/prefetch.py), the heartbeat thread's looks (qwsup/worker/heartbeat.py), and the
Worker itself driven with a fake feed, a fake queue and a fake clock."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from qwsup.config import parse
from qwsup.errors import ConnectionLost
from qwsup.scoreboard import MasterBoard, Scoreboard, boottime
from qwsup.store.keys import Keys
from qwsup.store.records import EMPTY, Answered, Job, Requeued, Retry, Taken
from qwsup.worker.heartbeat import Heartbeat, Police, Shared, heartbeat_interval, police
from qwsup.worker.loop import Stop, StopNow, StopWaiting, Worker
from qwsup.worker.prefetch import (
    BLOCK_S,
    GIVE_BACK_S,
    HOLD_TICK_S,
    PREFETCH_SPAN_S,
    Prefetch,
    silence_bound,
)
from qwsup.worker.runner import Handler, InHand, JobTimeout

pytestmark = pytest.mark.unit

MASTER = 4242


class Clock:
    """The worker's monotonic clock; its pauses move it on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def jobs(*names: str) -> list[Job]:
    return [Job(name.encode(), "hash", {b"n": name.encode()}) for name in names]


class FakeFeed:
    """Hands out the jobs of `pool`, at most `want` per take; an acknowledgement sent
    without a take (finish) is replied to by the next command."""

    def __init__(self, pool: list[Job]) -> None:
        self.pool = deque(pool)
        self.token = ""
        self.fenced = False
        self.woken = False
        self.held_ms = 0  # what a take says: how long jobs are held back
        self.held: list[int] = []  # what each of the next takes says, before held_ms
        self.waits: list[tuple[str, float]] = []  # each wait: its queue and block_s
        self.wakes: list[Callable[[], bool]] = []  # the wake of each wait
        self.sent: list[bytes] = []
        self.acked: list[tuple[bytes, bool]] = []
        self.taken: list[int] = []  # how many jobs each take handed out
        self.finished: list[tuple[bytes, bytes]] = []  # (job, the held job asked about)
        self.cancelled: set[bytes] = set()  # held jobs ack.lua finds cancelled
        self.failed_writes: list[tuple[bytes, list[tuple[int, str]]]] = []

    def take(
        self,
        finished: bytes,
        want: int,
        writes: tuple[object, ...] = (),
        result: object = None,
        *,
        known: int = 0,
    ) -> Taken:
        self._replies()
        if finished:
            self.acked.append((finished, True))
        batch = [self.pool.popleft() for _ in range(min(want, len(self.pool)))]
        self.taken.append(len(batch))
        held_ms = self.held.pop(0) if self.held else self.held_ms
        return Taken(True, self.fenced, batch, held_ms)

    def wait(
        self,
        block_s: float,
        want: int,
        queue: str,
        wake: Callable[[], bool] = lambda: False,
        *,
        known: int = 0,
    ) -> Taken:
        self.waits.append((queue, block_s))
        self.wakes.append(wake)
        if self.woken:
            return Taken(False, False, [], woken=True)
        return self.take(b"", want)

    def finish(self, job_id: bytes, writes: tuple[object, ...] = (), result: object = None) -> None:
        self.finished.append((job_id, b""))
        self.sent.append(job_id)

    def go_on(
        self,
        job_id: bytes,
        next_id: bytes,
        writes: tuple[object, ...] = (),
        result: object = None,
    ) -> bool:
        """Awaited: what was sent before is answered, and this too."""
        self.finished.append((job_id, next_id))
        if job_id:
            self.sent.append(job_id)
        self._replies()
        return next_id not in self.cancelled

    def settle(self) -> None:
        self._replies()

    def answered(self) -> Answered:
        answered = Answered(self.acked, self.failed_writes)
        self.acked, self.failed_writes = [], []
        return answered

    def close(self) -> None:
        pass

    def _replies(self) -> None:
        self.acked += [(job_id, True) for job_id in self.sent]
        self.sent.clear()


class FakeQueue:
    keys = Keys("t:")

    def __init__(self) -> None:
        self.given_back: list[list[bytes]] = []
        self.give_back_fails = False
        self.failures: list[tuple[bytes, str, bool]] = []
        self.fail_result = 1
        self.unreachable_for = 0  # fail() calls that find Redis unreachable
        self.registered: list[str] = []

    def register_worker(self, name: str, worker: str) -> None:
        self.registered.append(worker)

    def unregister_worker(self, name: str, worker: str) -> None:
        self.registered.remove(worker)

    def give_back(self, worker: str, job_ids: list[bytes]) -> int:
        if self.give_back_fails:
            raise ConnectionLost("Connection refused")
        self.given_back.append(job_ids)
        return len(job_ids)

    def fail(
        self, worker: str, job_id: bytes, *, error: str, traceback: str, permanent: bool,
        retry: Retry,
    ) -> int:  # fmt: skip
        if self.unreachable_for:
            self.unreachable_for -= 1
            raise ConnectionLost("Connection refused")
        self.failures.append((job_id, error, permanent))
        return self.fail_result

    def requeue(self, worker: str, **kwargs: Any) -> Requeued:
        return Requeued(0, 0)


class Rig:
    """A Worker on fakes, its master alive (renewed just now, token 1)."""

    def __init__(self, pool: list[Job], handler: Handler | None = None, toml: str = "") -> None:
        self.clock = Clock()
        self.feed = FakeFeed(pool)
        self.queue = FakeQueue()
        self.board = Scoreboard()
        self.master_board = MasterBoard()
        self.master_board.renewed(boottime(), 1)
        self.parent = MASTER
        self.titles: list[str] = []
        self.ran: list[str] = []
        config = parse("test.toml", f'[supervisor]\nname = "h"\n{toml}')
        fake: Any = self.queue
        self.worker = Worker(
            config, fake, handler or self.handle, MASTER, -1, self.board, 0, self.master_board,
            feed=self.feed, clock=self.clock, sleep=self.clock.sleep,
            parent=lambda: self.parent, set_title=self.titles.append,
        )  # fmt: skip

    def handle(self, job_id: str, data: dict[str, str]) -> None:
        self.ran.append(job_id)

    def start_next(self) -> Job:
        """Take (if nothing is held) and start the next job."""
        for _ in range(3):
            job = self.worker._next_job()
            if job is not None:
                return job
        raise AssertionError("no job started")

    def silence_master(self, seconds: float, token: int = 1) -> None:
        self.master_board.renewed(boottime() - seconds, token)


# -- prefetch.py ------------------------------------------------------------------


def test_short_jobs_grow_the_batches_and_a_long_one_shrinks_them() -> None:
    prefetch = Prefetch(limit=10, silence_s=10)
    assert prefetch.want(stopping=False, left=None) == 1  # it starts as if jobs took the span
    wants = []
    for _ in range(30):
        prefetch.ran(PREFETCH_SPAN_S / 100)
        wants.append(prefetch.want(stopping=False, left=None))
    assert wants == sorted(wants) and wants[-1] == 10  # grows, up to workers.prefetch
    prefetch.ran(1.0)
    assert prefetch.want(stopping=False, left=None) == 1
    for _ in range(30):
        prefetch.ran(PREFETCH_SPAN_S / 100)
    assert prefetch.want(stopping=False, left=3) == 3  # no more than are left before recycling
    assert prefetch.want(stopping=True, left=None) == 1  # stopping: one at a time


def test_held_jobs_go_back_behind_a_long_job_and_silence_is_a_third_of_the_lease() -> None:
    assert not Prefetch.give_back_due(GIVE_BACK_S - 0.01)
    assert Prefetch.give_back_due(GIVE_BACK_S)
    prefetch = Prefetch(limit=10, silence_s=silence_bound(30))
    assert not prefetch.master_silent(10.0) and prefetch.master_silent(10.01)


# -- heartbeat.py -----------------------------------------------------------------


class Duties:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.due = False
        self.gone = False

    def give_back(self) -> bool:
        self.calls.append("give_back")
        return True

    def replies_due(self) -> bool:
        return self.due

    def settle_aside(self) -> None:
        self.calls.append("settle_aside")

    def orphaned(self) -> bool:
        return self.gone

    def police_orphan(self) -> None:
        self.calls.append("police_orphan")


def test_the_heartbeat_gives_back_and_settles_only_behind_a_job_that_runs_long() -> None:
    clock, shared, board, duties = Clock(), Shared(), Scoreboard(), Duties()
    heartbeat = Heartbeat(shared, board, 1.0, duties, clock)
    shared.in_hand.start(clock.now)
    shared.in_hand.in_handler = True
    shared.held.extend(jobs("a", "b"))
    duties.due = True
    clock.now += GIVE_BACK_S / 2
    heartbeat.tick()
    assert duties.calls == [] and board.read().beat == clock.now
    clock.now += GIVE_BACK_S
    heartbeat.tick()
    assert duties.calls == ["give_back", "settle_aside"]
    shared.held.clear()
    duties.due = False
    heartbeat.tick()
    assert duties.calls == ["give_back", "settle_aside"]  # nothing held, no reply due
    shared.in_hand.in_handler = False  # between jobs: the main thread does it
    shared.held.extend(jobs("c"))
    duties.due = True
    heartbeat.tick()
    assert duties.calls == ["give_back", "settle_aside"]


def test_an_orphaned_worker_polices_its_own_job_only_while_one_runs() -> None:
    clock, shared, duties = Clock(), Shared(), Duties()
    heartbeat = Heartbeat(shared, Scoreboard(), 1.0, duties, clock)
    duties.gone = True
    heartbeat.tick()
    assert duties.calls == []
    shared.in_hand.in_handler = True
    heartbeat.tick()
    assert duties.calls == ["police_orphan"]


def test_an_orphan_signals_its_job_at_the_limit_once_then_exits_after_quick_timeout() -> None:
    in_hand = InHand()
    in_hand.start(100.0)
    assert police(in_hand, 1e9, job_timeout=0, quick_timeout=5) is Police.NOTHING  # no limit
    assert police(in_hand, 109.9, job_timeout=10, quick_timeout=5) is Police.NOTHING
    assert police(in_hand, 110.0, job_timeout=10, quick_timeout=5) is Police.SIGNAL
    in_hand.timeout_sent = True
    assert police(in_hand, 115.0, job_timeout=10, quick_timeout=5) is Police.NOTHING
    assert police(in_hand, 115.1, job_timeout=10, quick_timeout=5) is Police.EXIT


def test_heartbeats_come_four_times_per_timeout_within_bounds() -> None:
    assert heartbeat_interval(8) == 2.0
    assert heartbeat_interval(0.1) == 0.05 and heartbeat_interval(3600) == 5.0


# -- the Worker ---------------------------------------------------------------------


def test_held_jobs_go_back_when_the_master_goes_silent_and_taking_resumes_when_it_is_heard(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rig = Rig(jobs("a", "b", "c", "d"), toml="[workers]\nprefetch = 3\n")
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10  # short jobs: takes of 3
    assert rig.start_next().id == b"a"
    assert [j.id for j in rig.worker.path.shared.held] == [b"b", b"c"]
    rig.silence_master(60)
    assert rig.worker._next_job() is None
    assert rig.queue.given_back == [[b"b", b"c"]] and not rig.worker.path.shared.held
    assert rig.worker.path.paused and rig.clock.pauses == [HOLD_TICK_S]
    assert rig.worker._next_job() is None  # still silent: nothing taken
    assert rig.feed.taken == [3]
    rig.master_board.renewed(boottime(), 1)
    assert rig.start_next().id == b"d"
    assert not rig.worker.path.paused
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith(f"master {MASTER} silent for 60.")
    assert messages[0].endswith(": taking no job, giving back those held")
    assert messages[1:] == ["master heard again: taking jobs"]


def test_a_long_wait_ends_early_when_the_master_asks_or_goes_silent_or_away() -> None:
    """An idle worker waits up to BLOCK_S in Redis; what it must notice sooner it looks
    at every WAKE_TICK_S on its master's board and its parent, without Redis."""
    rig = Rig([])
    assert rig.worker._next_job() is None  # a take found nothing: then a wait
    [wake] = rig.feed.wakes
    assert wake() is False
    rig.master_board.ask_to_look([os.getpid() + 1])  # another worker
    assert wake() is False
    rig.master_board.ask_to_look([os.getpid() + 1, os.getpid()])
    assert wake() is True
    rig.worker._next_job()
    wake = rig.feed.wakes[-1]  # asked before this wait's take: not asked again
    assert wake() is False
    rig.silence_master(60)
    assert wake() is True
    rig.master_board.renewed(boottime(), 2)  # another token: the name was taken again
    assert wake() is True
    rig.master_board.renewed(boottime(), 1)
    rig.parent = 1  # orphaned
    assert wake() is True


def test_a_worker_held_back_by_a_limit_waits_on_a_timer_not_on_its_queue() -> None:
    """A take that found jobs held back (a pause, a limit) makes the next wait one on the
    supervisor's own queue (never one that would move a held-back job), only until the
    hold may end, at most a second; once nothing holds it back, the usual long wait."""
    rig = Rig([])
    rig.feed.held = [300, 60_000, 0]  # what each take says (a wait ends with a take)
    assert rig.worker._next_job() is None  # a take, then a wait as the take says
    rig.worker._next_job()  # (the last take found none: a wait at once, as it said)
    rig.worker._next_job()
    name, queue = rig.worker.path.name, rig.worker.path.blocks_on
    assert rig.feed.waits == [(name, 0.3), (name, 1.0), (queue, BLOCK_S)]


def test_after_a_wait_ended_early_the_next_turn_takes_first() -> None:
    rig = Rig([])
    assert rig.worker._next_job() is None  # a take, then a wait that timed out
    assert rig.worker.path.found_nothing  # so the next turn waits at once

    rig.feed.woken = True  # the next wait is ended early, as Feed.wait does when its wake says so
    assert rig.worker._next_job() is None
    assert rig.worker.path.found_nothing is False  # the next turn takes before it waits


def test_jobs_held_under_an_old_token_go_back_before_any_starts() -> None:
    rig = Rig(jobs("a", "b", "c"), toml="[workers]\nprefetch = 3\n")
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10
    rig.start_next()
    assert rig.feed.token == "1"
    rig.master_board.renewed(boottime(), 2)  # the name was reclaimed and taken again
    rig.queue.give_back_fails = True  # Redis unreachable: kept, and not started
    assert rig.worker._next_job() is None and len(rig.worker.path.shared.held) == 2
    rig.queue.give_back_fails = False
    assert rig.worker._next_job() is None  # given back, then a take finds nothing
    assert rig.queue.given_back == [[b"b", b"c"]]
    assert rig.feed.token == "2"


def test_a_worker_recycles_after_max_jobs_and_takes_no_job_beyond_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rig = Rig(jobs(*"abcdefghij"), toml="[workers]\nmax_jobs = 5\n")
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10  # it would take 10 at once
    rig.worker.loop()
    assert rig.ran == ["a", "b", "c", "d", "e"]
    assert sum(rig.feed.taken) == 5 and not rig.worker.path.shared.held
    assert rig.feed.sent == []  # the last acknowledgement settled before leaving
    assert rig.board.read().done == 5
    assert "recycling after 5 jobs" in [r.getMessage() for r in caplog.records]


def test_an_acknowledgement_is_counted_once_redis_replies_to_it() -> None:
    rig = Rig(jobs("a", "b"), toml="[workers]\nprefetch = 2\n")
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10
    rig.worker._run(rig.start_next())
    assert rig.feed.finished == [(b"a", b"b")]  # awaited, for b to start
    assert rig.board.read().done == 1
    rig.worker._run(rig.start_next())  # nothing held next: acknowledged with a take
    assert rig.board.read().done == 2
    busy = [t.split("busy ")[1][0] if "busy" in t else "idle" for t in rig.titles[-2:]]
    assert busy == ["a", "b"]  # b started right after a: never shown idle between them
    assert rig.board.read().busy_since > 0
    assert rig.worker._next_job() is None  # nothing held: idle while it takes
    assert rig.titles[-1].endswith("idle") and rig.board.read().busy_since == 0


def test_a_held_job_starts_only_once_redis_says_it_was_not_cancelled() -> None:
    """Each held job's start is asked of Redis first: with the acknowledgement of the
    job before it, or alone after a failure (fail.lua says nothing of it). One found
    cancelled is dropped, never run, and the next is asked about in turn."""
    rig = Rig(jobs("a", "b", "c", "d", "e"), toml="[workers]\nprefetch = 5\n")
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10
    rig.feed.cancelled = {b"b", b"d"}

    def handler(job_id: str, data: dict[str, str]) -> None:
        rig.ran.append(job_id)
        if job_id == "c":
            raise RuntimeError("c fails")

    rig.worker.runner.handler = handler
    rig.queue.fail_result = 2  # (a retry)
    for _ in range(3):
        rig.worker._run(rig.start_next())
    assert rig.ran == ["a", "c", "e"] and not rig.worker.path.shared.held
    assert rig.feed.finished == [
        (b"a", b"b"), (b"", b"c"), (b"", b"d"), (b"", b"e"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("result", "retried", "failed", "lost"), [(2, 1, 0, 0), (0, 0, 1, 0), (-1, 0, 0, 1)]
)
def test_what_the_queue_says_of_a_failure_is_what_the_scoreboard_counts(
    result: int, retried: int, failed: int, lost: int
) -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        raise ValueError("boom")

    rig = Rig(jobs("a"), handler)
    rig.queue.fail_result = result
    rig.worker._run(rig.start_next())
    assert rig.queue.failures == [(b"a", "ValueError: boom", False)]
    score = rig.board.read()
    assert (score.retried, score.failed, score.lost, score.done) == (retried, failed, lost, 0)
    assert rig.worker.path.jobs.failed == 1


def test_a_failure_is_sent_again_until_redis_answers_before_the_next_job() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        raise JobTimeout

    rig = Rig(jobs("a", "b"), handler, toml="[workers]\njob_timeout = 2\n")
    rig.queue.unreachable_for = 3
    rig.worker._run(rig.start_next())
    assert rig.queue.failures == [(b"a", "timed out after 2 s", False)]
    assert len(rig.clock.pauses) == 3 and rig.clock.pauses == sorted(rig.clock.pauses)
    assert rig.worker.path.retrying.outage.since is not None  # logged as over once quiet
    assert rig.board.read().retried == 1


def test_a_job_that_cannot_be_read_fails_for_good_and_an_empty_id_is_dropped() -> None:
    rig = Rig([Job(b"", EMPTY, {}), Job(b"x", "none", {})])
    rig.worker.path.prefetch.pace = PREFETCH_SPAN_S / 10
    rig.worker._run(rig.start_next())
    assert rig.ran == []
    assert rig.queue.failures == [(b"x", "job hash t:job:x does not exist", True)]


def test_an_orphaned_worker_takes_nothing_and_leaves_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(jobs("a"))
    rig.parent = 1  # reparented: the master is gone
    rig.worker.loop()
    assert rig.ran == [] and rig.feed.taken == []
    assert [r.getMessage() for r in caplog.records] == [f"master {MASTER} is gone: exiting"]


def test_term_stops_an_idle_worker_at_once_and_a_busy_one_after_its_job() -> None:
    rig = Rig(jobs("a"))
    with pytest.raises(StopWaiting):
        rig.worker._on_term(15, None)
    assert rig.worker.path.stop is Stop.AFTER_JOB
    busy = Rig(jobs("a")).worker
    busy.path.idle = False
    busy._on_term(15, None)  # recorded: the loop ends after the job
    assert busy.path.stop is Stop.AFTER_JOB and busy.path.want() == 1
    with pytest.raises(StopNow):
        busy._on_quit(3, None)
    assert busy.path.stop is Stop.NOW


def test_a_late_time_limit_signal_does_not_reach_the_next_job() -> None:
    rig = Rig(jobs("a"), toml="[workers]\njob_timeout = 1\n")
    rig.start_next()
    in_hand = rig.worker.path.shared.in_hand
    in_hand.in_handler = True
    rig.clock.now += 0.5
    rig.worker._on_job_timeout(12, None)  # not yet due: ignored
    rig.clock.now += 0.5
    with pytest.raises(JobTimeout):
        rig.worker._on_job_timeout(12, None)
