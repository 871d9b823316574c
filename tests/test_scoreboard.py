from __future__ import annotations

import os

import pytest

from qwsup.scoreboard import Scoreboard
from qwsup.totals import BUCKETS, Totals

pytestmark = pytest.mark.unit


def test_what_a_forked_worker_writes_its_master_reads() -> None:
    board = Scoreboard()
    pid = os.fork()
    if pid == 0:  # the worker
        board.beat(123.5)
        board.busy(100.0)
        board.ended("done", 0.02, Totals.bucket(0.02))
        board.ended("retry", 3.0, Totals.bucket(3.0))
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
