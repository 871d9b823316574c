"""Redis trouble is logged once when it starts and once when it ends, and retried with
growing pauses until Redis answers (qwsup/outage.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from qwsup.errors import ConnectionLost, RedisRefused
from qwsup.outage import QUIET_S, RETRY_MAX_S, RETRY_MIN_S, Outage, Retrying

pytestmark = pytest.mark.unit

OOM = RedisRefused("OOM command not allowed when used memory > 'maxmemory'.")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_refused_writes_and_working_reads_are_one_trouble(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    outage = Outage(logging.getLogger("t"))
    t = 0.0
    for _ in range(18):  # 9 s of a master whose reads work and whose writes are refused
        outage.up("promote", t)
        outage.down(OOM, "heartbeat", t + 0.1)
        outage.up("watch", t + 0.2)
        t += 0.5
    assert len(lines(caplog)) == 1 and lines(caplog)[0].startswith("Redis refused a command")
    outage.up("heartbeat", t)  # the write works again, but the last failure was just now
    assert len(lines(caplog)) == 1
    outage.up("promote", t + QUIET_S)
    assert lines(caplog)[1:] == [f"Redis works again after {t + QUIET_S - 0.1:.1f} s"]
    assert outage.since is None


def test_an_unreachable_server_is_one_trouble_until_every_kind_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    outage = Outage(logging.getLogger("t"))
    outage.down(ConnectionLost("Connection refused"), "take", 10.0)
    outage.down(ConnectionLost("Connection refused"), "ack", 10.5)
    outage.up("take", 12.0)
    assert outage.since == 10.0  # ack has not worked since
    outage.up("ack", 13.0)
    assert outage.since is None
    assert lines(caplog) == [
        "Redis unreachable (Connection refused): retrying",
        "Redis reachable again after 3.0 s",
    ]
    outage.down(ConnectionLost("again"), "take", 20.0)
    assert lines(caplog)[-1] == "Redis unreachable (again): retrying"  # a new trouble


class FakeTime:
    """A clock that the pauses move on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def failing(times: int, result: str = "ok") -> Callable[[], str]:
    """A command that fails `times` times with Redis unreachable, then works."""
    left = [times]

    def call() -> str:
        if left[0]:
            left[0] -= 1
            raise ConnectionLost("Connection refused")
        return result

    return call


def test_until_reachable_retries_with_doubling_pauses_up_to_the_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    t = FakeTime()
    retrying = Retrying(logging.getLogger("t"), clock=t.clock, sleep=t.sleep, jitter=lambda: 1.0)
    assert retrying.until_reachable(failing(10), "fail") == "ok"
    assert t.pauses == [RETRY_MIN_S * 2**i for i in range(7)] + [RETRY_MAX_S] * 3
    assert lines(caplog) == [
        "Redis unreachable (Connection refused): retrying",
        f"Redis reachable again after {t.now - 100.0:.1f} s",  # the pauses, 21.35 s
    ]
    assert retrying.pause_s == 0.0  # the next trouble starts with a short pause again
    assert retrying.until_reachable(failing(1), "fail") == "ok"
    assert t.pauses[-1] == RETRY_MIN_S


def test_until_reachable_does_not_wait_when_redis_answers() -> None:
    t = FakeTime()
    retrying = Retrying(logging.getLogger("t"), clock=t.clock, sleep=t.sleep)
    assert retrying.until_reachable(failing(0, "first"), "feed") == "first"
    assert t.pauses == []


def test_pauses_are_jittered_between_half_and_all_of_the_backoff() -> None:
    t = FakeTime()
    retrying = Retrying(logging.getLogger("t"), clock=t.clock, sleep=t.sleep, jitter=lambda: 0.5)
    retrying.until_reachable(failing(3), "fail")
    assert t.pauses == [RETRY_MIN_S / 2, RETRY_MIN_S, RETRY_MIN_S * 2]


def test_an_error_that_is_not_redis_trouble_is_not_retried() -> None:
    t = FakeTime()
    retrying = Retrying(logging.getLogger("t"), clock=t.clock, sleep=t.sleep)

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retrying.until_reachable(broken, "fail")
    assert t.pauses == []
