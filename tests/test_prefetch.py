"""Workers that take several short jobs per round trip: process tests of what that
must never cost, a job stranded behind a long one or an attempt charged to a job that
never started."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from qwsup.produce.producer import Producer
from support import Qwsup, assert_drained, done, enqueue, scrape
from testkit import free_port, wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def warm_up(r: redis.Redis) -> None:
    """Short jobs, so that the workers learn to prefetch."""
    ids = enqueue(r, 200)
    wait_until(lambda: set(ids) <= set(done(r)), 30, "the warm-up jobs")


def test_jobs_held_behind_a_long_one_go_to_an_idle_sibling(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    qw.wait_workers(2)
    warm_up(r)
    slow, *fast = Producer(r).enqueue_many([{"sleep": "8"}] + [{"n": str(i)} for i in range(40)])
    wait_until(lambda: r.hget("test:runs", slow) is not None, 10, "the long job to start")
    # the short jobs run on the other worker, long before the long job ends
    wait_until(lambda: set(fast) <= set(done(r)), 5, "the short jobs, not held behind it")
    assert slow not in done(r)
    wait_until(lambda: slow in done(r), 15, "the long job")
    assert_drained(r)


def test_a_worker_killed_holding_jobs_costs_an_attempt_only_to_the_one_it_ran(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "max_attempts": 1})
    qw.wait_workers(1)
    warm_up(r)
    killer, *held = Producer(r).enqueue_many(
        [{"action": "kill"}] + [{"n": str(i)} for i in range(20)]
    )
    wait_until(lambda: set(held) <= set(done(r)), 20, "the jobs taken along with it")
    assert r.lrange("failed:jobs", 0, -1) == [killer.encode()]  # only the one that ran
    assert r.hincrby("test:runs", killer, 0) == 1
    for job_id in held:
        assert r.hincrby("test:runs", job_id, 0) == 1


def test_jobs_finished_before_a_long_one_are_counted_while_it_runs(
    start_qwsup: Start, r: redis.Redis
) -> None:
    port = free_port()
    qw = start_qwsup(
        workers={"count": 1, "heartbeat_timeout": 2, "prefetch": 2},
        metrics={"listen": f"127.0.0.1:{port}"},
    )
    qw.wait_workers(1)
    warm_up(r)
    # batches of two: the long job, 26th, is the second of its batch, so the
    # acknowledgement of the job before it is sent without waiting for the reply
    jobs = [{"n": str(i)} for i in range(25)] + [{"sleep": "8"}] + [{"n": "after"}] * 25
    ids = Producer(r).enqueue_many(jobs)
    short, slow = ids[:25], ids[25]
    wait_until(lambda: r.hget("test:runs", slow) is not None, 10, "the long job to start")
    done_total = ("qwsup_jobs_done_total", ())
    wait_until(lambda: scrape(port)[done_total] == 225, 5, "the jobs before it, counted")
    assert set(short) <= set(done(r)) and slow not in done(r)  # it still runs
