"""Which idle workers the master asks to look at every queue (qwsup/master/looks.py)."""

from __future__ import annotations

import pytest

from qwsup.master.looks import Idle, to_wake, unwatched
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
