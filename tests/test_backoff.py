from __future__ import annotations

import pytest

from qwsup.master.backoff import RestartBackoff

pytestmark = pytest.mark.unit


def test_each_failed_boot_doubles_the_pause_up_to_the_cap() -> None:
    backoff = RestartBackoff(base_s=0.5, cap_s=4.0)
    assert backoff.may_spawn(100.0)
    delays = [backoff.boot_failed(100.0) for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert not backoff.may_spawn(103.9)
    assert backoff.not_before == 104.0  # the last pause, 4 s, ends then
    assert backoff.may_spawn(104.0)


def test_a_worker_that_boots_resets_the_backoff() -> None:
    backoff = RestartBackoff(base_s=0.5)
    backoff.boot_failed(10.0)
    backoff.boot_failed(10.0)
    backoff.booted()
    assert backoff.may_spawn(10.0)
    assert backoff.boot_failed(10.0) == 0.5
