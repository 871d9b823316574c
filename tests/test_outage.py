"""Redis trouble is logged once when it starts and once when it ends (qwsup/outage.py)."""

from __future__ import annotations

import logging

import pytest

from qwsup.errors import ConnectionLost, RedisRefused
from qwsup.outage import QUIET_S, Outage

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
