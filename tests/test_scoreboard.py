from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from qwsup.master.totals import Totals
from qwsup.scoreboard import BUCKETS, MasterBoard, Scoreboard, boottime, bucket

pytestmark = pytest.mark.process  # forks a writer: shared memory across processes


def test_what_a_forked_worker_writes_its_master_reads() -> None:
    board = Scoreboard()
    pid = os.fork()
    if pid == 0:  # the worker
        board.beat(123.5)
        board.busy(100.0)
        board.ended("done", 0.02, bucket(0.02))
        board.ended("retry", 3.0, bucket(3.0))
        board.busy(200.0)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    score = board.read()
    assert (score.beat, score.busy_since) == (123.5, 200.0)
    assert (score.done, score.retried, score.failed, score.lost) == (1, 1, 0, 0)
    assert score.duration_sum == pytest.approx(3.02)
    assert score.buckets[BUCKETS.index(0.025)] == 1 and score.buckets[BUCKETS.index(5)] == 1
    totals = Totals(done=5).with_jobs_of([score])
    assert (totals.done, totals.attempts_failed) == (6, 1)
    assert dict(totals.histogram())["+Inf"] == 2
    board.close()


def writing_meanwhile(write: Callable[[int], None]) -> Iterator[None]:
    """`write(i)` over and over in a forked process (the way a worker and its master
    share these pages) while the caller reads."""
    pid = os.fork()
    if pid == 0:  # the writer: until its parent has read enough (at most 30 s)
        try:
            i, deadline = 0, time.monotonic() + 30
            while time.monotonic() < deadline:
                i += 1
                write(i)
        finally:
            os._exit(0)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_the_master_board_is_never_read_half_written() -> None:
    """struct writes a number byte by byte: read without the sequence lock, about 1% of
    these reads saw half of one (a renewal near time 0: a master silent since boot)."""
    board = MasterBoard()
    board.renewed(boottime(), 1)
    with contextlib.contextmanager(writing_meanwhile)(
        lambda i: board.renewed(boottime(), i % 7 + 1)
    ):
        seen = [board.read() for _ in range(100_000)]
    bad = [(s, t) for s, t in seen if not (0 <= s < 5 and 1 <= t <= 7)]
    assert bad == []


def test_a_worker_s_scoreboard_is_never_read_half_written() -> None:
    board = Scoreboard()
    with contextlib.contextmanager(writing_meanwhile)(lambda i: board.beat(1000.0 + i % 2)):
        beats = {board.read().beat for _ in range(100_000)}
    assert beats <= {0.0, 1000.0, 1001.0}


def test_a_board_whose_writer_stopped_mid_write_is_read_as_silent() -> None:
    board = MasterBoard()
    board.renewed(boottime(), 3)
    board.seq.begin()  # the master is stopped right here (SIGSTOP mid-write)
    assert board.read() == (math.inf, 3)
    score = Scoreboard()
    score.beat(5.0)
    assert score.read().beat == 5.0
    score.seq.begin()
    assert score.read().beat == 5.0  # the last whole read


def test_several_jobs_counted_in_one_write_add_up_as_one_at_a_time() -> None:
    ended = [("done", 0.5, 2), ("done", 0.25, 1), ("lost", 1.0, 2), ("retry", 0.0, 0)]
    together, alone = Scoreboard(), Scoreboard()
    together.count(ended)
    for outcome, seconds, index in ended:
        alone.ended(outcome, seconds, index)
    score = together.read()
    assert score == alone.read()
    assert (score.done, score.lost, score.retried, score.failed) == (2, 1, 1, 0)
    assert score.duration_sum == 1.75 and score.buckets[:3] == (1, 1, 2)
