"""Which idle workers the master asks to look at every queue (qwsup/master/looks.py)."""

from __future__ import annotations

import pytest

from qwsup.config import parse
from qwsup.master import looks
from qwsup.master.actions import AskToLook, StopMode
from qwsup.master.looks import Idle, to_wake, unwatched
from qwsup.master.pool import Pool, Proc
from qwsup.scoreboard import MAX_LOOKS

pytestmark = pytest.mark.unit

HOST = "web"


def test_nothing_is_read_while_no_worker_idles() -> None:
    assert unwatched([], HOST) == []


def test_the_host_queue_and_the_queues_no_idle_worker_waits_on_are_read() -> None:
    idle = [Idle(1, ("high", "low"), "high"), Idle(2, ("all",), "all")]
    assert unwatched(idle, HOST) == [HOST, "low"]
    both = [*idle, Idle(3, ("high", "low"), "low")]
    assert unwatched(both, HOST) == [HOST]


def test_one_idle_worker_that_takes_from_it_is_asked_for_each_queue_with_jobs() -> None:
    idle = [Idle(1, ("all",), "all"), Idle(2, ("high", "low"), "high"), Idle(3, ("b",), "b")]
    assert to_wake(idle, {HOST: 0, "low": 0}, HOST) == []
    assert to_wake(idle, {"low": 4}, HOST) == [2]  # the one whose pool takes "low"
    assert to_wake(idle, {HOST: 1, "low": 4}, HOST) == [1, 2]  # every pool takes the host's
    assert to_wake([Idle(2, ("high", "low"), "high")], {HOST: 1, "low": 4}, HOST) == [2]


def test_at_most_max_looks_workers_are_asked_at_once() -> None:
    idle = [Idle(pid, (f"q{pid}", "all"), "all") for pid in range(20)]
    waiting = {f"q{pid}": 1 for pid in range(20)}
    assert to_wake(idle, waiting, HOST) == list(range(MAX_LOOKS))


def test_the_idle_workers_are_those_up_not_stopping_and_running_nothing() -> None:
    config = parse(
        "w.toml", '[supervisor]\nname = "h"\n[workers]\ncount = 4\nqueues = ["a", "b"]\n'
    )
    pool = Pool(config)
    procs = [Proc(pid, f"h.{pid}", 1, ("default", pid - 1), 0.0) for pid in (1, 2, 3, 4)]
    try:
        for proc in procs:
            pool.started(proc)
            pool.booted(proc)
        procs[1].board.busy(now=5.0)  # runs a job
        procs[2].dismissal.mode = StopMode.GRACEFUL  # being stopped
        procs[3].ready = False  # not booted
        assert looks.idle_workers(pool.procs.values(), config) == [Idle(1, ("a", "b"), "a")]
        procs[1].board.idle()
        assert [i.blocks_on for i in looks.idle_workers(pool.procs.values(), config)] == ["a", "b"]
    finally:
        for proc in procs:
            proc.board.close()


def test_the_request_to_look_names_the_chosen_workers_or_is_not_made() -> None:
    idle = [Idle(1, ("high",), "high"), Idle(2, ("high", "low"), "high")]
    assert looks.wake(idle, {"low": 4}, HOST) == [AskToLook((2,))]
    assert looks.wake(idle, {"low": 0}, HOST) == []
