from __future__ import annotations

import pytest

from qwsup.master.timers import Every

pytestmark = pytest.mark.unit


def test_a_duty_is_due_at_once_then_one_interval_after_it_was_found_due() -> None:
    every = Every(10.0)
    assert every.due(100.0)
    assert not every.due(109.9)
    assert every.due(112.0)  # late: the next one counts from now, not from 110
    assert not every.due(121.9)
    assert every.due(122.0)


def test_a_restart_puts_the_next_time_one_interval_away() -> None:
    every = Every(5.0)
    every.restart(50.0)
    assert not every.due(54.0)
    assert every.at == 55.0
