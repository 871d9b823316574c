"""Several supervisors on one Redis: one dies or stalls, another reclaims its jobs."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
import redis

from qwsup.store.keys import ATTEMPTS
from support import Qwsup, done, enqueue, runs, started_pid, state
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def host(start: Start, name: str, **workers: object) -> Qwsup:
    return start(
        config_name=f"{name}.toml",
        supervisor={"name": name, "lease_timeout": 1},
        workers={"count": 1, "retry_delay": 0, **workers},
    )


def lists_of(r: redis.Redis, name: str) -> dict[str, list[bytes]]:
    return {k.decode(): r.lrange(k, 0, -1) for k in r.scan_iter(match=f"{name}.*:jobs")}


def test_a_dead_host_is_reclaimed_once_and_its_host_queue_kept(
    start_qwsup: Start, r: redis.Redis
) -> None:
    b = host(start_qwsup, "hostb")
    b.wait_workers(1)
    [job_id] = enqueue(r, sleep="60")
    started_pid(r, job_id)
    r.lpush("hostb:jobs", "for-b")
    r.hset("job:for-b", "n", "1")
    os.killpg(b.pid, signal.SIGKILL)  # the whole host is gone
    b.wait()
    wait_until(lambda: not b.live_group(), 10, "hostb's processes to be gone")
    r.hset(f"job:{job_id}", "sleep", "0")
    a = host(start_qwsup, "hosta")
    c = host(start_qwsup, "hostc")
    wait_until(lambda: job_id in done(r), 20, "the job to be reclaimed and run")
    assert runs(r) == {job_id: 2}
    reclaims = [line for line in a.log().splitlines() + c.log().splitlines() if "reclaimed" in line]
    assert len(reclaims) == 1, reclaims
    assert (
        "supervisor hostb stopped heartbeating for over 1 s: reclaimed its jobs, 1 back"
        in (reclaims[0])
    )
    assert r.lrange("hostb:jobs", 0, -1) == [b"for-b"]  # waits for hostb to return
    assert r.smembers("all:managers") == {b"hosta", b"hostc"}
    assert lists_of(r, "hostb") == {}


def test_a_stalled_host_that_comes_back_cannot_ack_a_reclaimed_job(
    start_qwsup: Start, r: redis.Redis
) -> None:
    b = host(start_qwsup, "hostb")
    b.wait_workers(1)
    [job_id] = enqueue(r, sleep="3")
    started_pid(r, job_id)
    a = host(start_qwsup, "hosta")
    a.wait_workers(1)
    os.killpg(b.pid, signal.SIGSTOP)  # a long pause, or a partition
    try:
        wait_until(lambda: runs(r).get(job_id) == 2, 20, "hosta to run the job again")
        assert r.hget(f"job:{job_id}", ATTEMPTS) == b"1"
    finally:
        os.killpg(b.pid, signal.SIGCONT)
    b.wait_log("finished, but it had been requeued meanwhile: it may run again", 20)
    assert "supervisor hostb stopped heartbeating" in a.log()
    b.wait_log("our lease had lapsed", 20)
    wait_until(lambda: done(r) == [job_id, job_id], 20, "both runs to finish")
    wait_until(lambda: state(r, job_id) == b"done", 10, "hosta to finish the job")
    assert r.llen("all:jobs") == 0
    assert lists_of(r, "hosta") == {} and lists_of(r, "hostb") == {}
    assert r.smembers("all:managers") == {b"hosta", b"hostb"}


def test_a_stalled_master_s_workers_stop_taking_and_nothing_runs_twice(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """Only the master stops (SIGSTOP, a long pause) while another host runs: its
    workers give back what they hold and take nothing, so the reclaim finds their lists
    empty; the master comes back, says once that it was reclaimed, takes its name again
    and goes on."""
    b = host(start_qwsup, "hostb", count=2)
    b.wait_workers(2)
    a = host(start_qwsup, "hosta")
    a.wait_workers(1)
    ids = enqueue(r, 600, sleep="0.01")
    wait_until(lambda: len(done(r)) >= 20, 15, "hostb to be busy")
    b.send(signal.SIGSTOP)
    try:
        a.wait_log("supervisor hostb stopped heartbeating for over 1 s: reclaimed its jobs", 20)
        stalled_done = len(done(r))
        wait_until(lambda: len(done(r)) >= stalled_done + 20, 20, "hosta to go on alone")
    finally:
        b.send(signal.SIGCONT)
    b.wait_log("our lease had lapsed", 20)
    wait_until(lambda: set(done(r)) == set(ids), 60, "every job to run")
    twice = {job_id: n for job_id, n in runs(r).items() if n > 1}
    assert twice == {}, twice  # the jobs were short: none ran at the reclaim
    assert "silent for" in b.log() and "taking no job, giving back those held" in b.log()
    assert b.log().count("our lease had lapsed") == 1
    wait_until(lambda: r.smembers("all:managers") == {b"hosta", b"hostb"}, 10, "hostb back")
    later = enqueue(r, 40)
    wait_until(lambda: set(later) <= set(done(r)), 20, "the jobs after the stall")
    wait_until(lambda: lists_of(r, "hostb") == {}, 10, "hostb's last acknowledgements")


def old_heartbeat(r: redis.Redis, name: str) -> None:
    """What a master of the previous version writes at each heartbeat (its
    heartbeat.lua): no number in the heartbeats' order."""
    r.zadd("all:leases", {name: 2**50})
    r.sadd("all:managers", name)
    r.hincrby(f"{name}:info", "beats", 1)
    r.hset(f"{name}:info", mapping={"token": "5", "lease_ms": 1000, "pid": 9, "host": "old"})


def test_a_master_of_the_previous_version_is_watched_through_its_record(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """A rolling upgrade: an older master does not number its heartbeats. While it beats
    it is left alone; once it stops, it is reclaimed after a lease, as before."""
    a = host(start_qwsup, "hosta")
    a.wait_workers(1)
    r.hset("job:theirs", "n", "1")
    r.lpush("old.3:jobs", "theirs")  # its worker old.3 runs it
    r.sadd("old:workers", "old.3")
    for _ in range(24):  # as often as hosta heartbeats (6 per lease): 4 leases
        mine = int(r.hget("hosta:info", "beats") or 0)
        old_heartbeat(r, "old")
        wait_until(lambda m=mine: int(r.hget("hosta:info", "beats") or 0) > m, 5, "hosta's beat")
        assert r.exists("old.3:jobs") == 1, "a live older master was reclaimed"
    wait_until(lambda: "theirs" in done(r), 20, "the silent older master's job reclaimed")
    assert "supervisor old stopped heartbeating" in a.log()
    assert r.zrange("all:beats", 0, -1) == [b"hosta"]
