"""Several jobs at once in one worker (`[workers] concurrency`): threads for a plain
handler, asyncio tasks for an async one; the real qwsup on a real Redis."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import psutil
import pytest
import redis

from support import Qwsup, done, enqueue, in_flight, runs
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def times(r: redis.Redis, key: str) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in r.hgetall(key).items()}


def running_jobs(qw: Qwsup) -> list[str]:
    """The jobs `qwsup status --json` shows the one worker running."""
    snap = json.loads(qw.command("status", "--json").stdout)
    [worker] = snap["supervisors"][0]["workers"]
    return sorted(job["id"] for job in worker["jobs"])


def titles(pid: int) -> str:
    return " ".join(p.cmdline()[0] for p in psutil.Process(pid).children())


def test_a_worker_of_ten_threads_runs_ten_jobs_at_once_each_once(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "concurrency": 10, "handler": "testjobs:record_ended"})
    [worker] = qw.wait_workers(1)
    ids = enqueue(r, 10, sleep="6")  # long enough to look at them while they run
    wait_until(lambda: r.hlen("test:pids") == 10, 15, "all ten jobs to start")
    assert [len(jobs) for jobs in in_flight(r).values()] == [10]  # all in its own list
    wait_until(lambda: "busy 10/10" in titles(qw.pid), 5, "the title to count the slots")
    wait_until(lambda: running_jobs(qw) == sorted(ids), 10, "status to list the ten jobs")
    assert f"testhost.{worker}" in qw.command("status").stdout
    wait_until(lambda: len(done(r)) == 10, 30, "all ten jobs done")
    started, ended = times(r, "test:began_at"), times(r, "test:ended_at")
    assert max(started.values()) < min(ended.values())  # all ran at the same time
    assert runs(r) == dict.fromkeys(ids, 1)
    assert {int(p) for p in r.hvals("test:pids")} == {worker}
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_a_killed_worker_charges_an_attempt_to_each_job_it_ran_and_none_to_the_rest(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "concurrency": 4, "max_attempts": 1})
    [worker] = qw.wait_workers(1)
    running = enqueue(r, 4, sleep="30")
    wait_until(lambda: r.hlen("test:pids") == 4, 15, "four jobs to start")
    queued = enqueue(r, 2, sleep="0")
    psutil.Process(worker).kill()
    # the four it ran are out of their one attempt; the two it never started run
    wait_until(lambda: r.llen("failed:jobs") == 4, 20, "the four running jobs failed")
    wait_until(lambda: sorted(done(r)) == sorted(queued), 20, "the two others to run")
    assert sorted(x.decode() for x in r.lrange("failed:jobs", 0, -1)) == sorted(running)
    assert runs(r) == {**dict.fromkeys(running, 1), **dict.fromkeys(queued, 1)}
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_term_lets_every_running_job_finish(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1, "concurrency": 3})
    qw.wait_workers(1)
    ids = enqueue(r, 3, sleep="2")
    wait_until(lambda: r.hlen("test:pids") == 3, 15, "three jobs to start")
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
    assert sorted(done(r)) == sorted(ids) and runs(r) == dict.fromkeys(ids, 1)
    assert in_flight(r) == {} and r.llen("all:jobs") == 0


def test_a_job_past_its_time_limit_is_stopped_in_its_thread_and_the_others_go_on(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "concurrency": 2, "job_timeout": 2, "max_attempts": 1})
    [worker] = qw.wait_workers(1)
    [late] = enqueue(r, action="spin", seconds="30")
    [fine] = enqueue(r, sleep="0.5")
    wait_until(lambda: r.llen("failed:jobs") == 1, 15, "the spinning job to fail")
    assert r.hget(f"job:{late}", "qwsup:last_error") == b"timed out after 2 s"
    wait_until(lambda: done(r) == [fine], 15, "the other job to finish")
    assert psutil.Process(worker).is_running()  # the worker was not killed for it
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_an_async_handler_runs_its_jobs_as_tasks_on_one_event_loop(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "concurrency": 5, "handler": "testjobs:record_async"})
    [worker] = qw.wait_workers(1)
    ids = enqueue(r, 5, sleep="1.5")
    [bad] = enqueue(r, action="raise")
    wait_until(lambda: len(done(r)) == 5, 20, "the five jobs done")
    started, ended = times(r, "test:began_at"), times(r, "test:ended_at")
    assert max(started[i] for i in ids) < min(ended[i] for i in ids)
    # the failing job may wait for a free slot: its failure is awaited before its runs
    wait_until(lambda: r.hget(f"job:{bad}", "qwsup:last_error"), 10, "the failure recorded")
    assert runs(r)[bad] >= 1 and all(runs(r)[i] == 1 for i in ids)
    assert r.hget(f"job:{bad}", "qwsup:last_error").startswith(b"RuntimeError: boom")
    assert {int(p) for p in r.hvals("test:pids")} == {worker}
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
