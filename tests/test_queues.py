"""Named queues taken in priority order by a running qwsup: process tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from qwsup.produce.producer import Producer
from support import Qwsup, assert_drained, done
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def started(r: redis.Redis) -> list[str]:
    return [x.decode() for x in r.lrange("test:started", 0, -1)]


def test_a_free_worker_takes_the_higher_queue_first(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1, "queues": ["high", "low"], "prefetch": 1})
    qw.wait_workers(1)
    producer = Producer(r)
    busy = producer.enqueue({"sleep": "1"}, queue="low")
    wait_until(lambda: started(r) == [busy], 10, "the worker to be busy")
    low = producer.enqueue_many([{"n": str(i)} for i in range(5)], queue="low")
    high = producer.enqueue_many([{"n": str(i)} for i in range(5)], queue="high")
    other = producer.enqueue({"n": "x"})  # all:jobs: not one of this pool's queues
    wait_until(lambda: set(low + high) <= set(done(r)), 15, "the queued jobs")
    assert started(r) == [busy, *high, *low]
    assert other not in done(r) and r.lrange("all:jobs", 0, -1) == [other.encode()]


def test_a_job_on_a_queue_no_idle_worker_blocks_on_starts_within_a_second(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """One worker blocks on `high` (its first queue); a job pushed on `low` is found by
    the master, which looks at `low` about once a second and asks the worker to end its
    wait (BLOCK_S, 30 s, would be far later); a job on `high` at once."""
    qw = start_qwsup(workers={"count": 1, "queues": ["high", "low"]})
    qw.wait_workers(1)
    producer = Producer(r)
    delays = {}
    for queue in ("low", "high", "low", "high"):
        sent = time.time()
        job_id = producer.enqueue({"n": "1"}, queue=queue)
        wait_until(lambda job_id=job_id: job_id in done(r), 5, f"the job on {queue}")
        at = float(r.lrange("test:started_at", -1, -1)[0])
        delays.setdefault(queue, []).append(at - sent)
    print(f"start delays, s: {delays}")
    assert all(delay < 3 for delay in delays["low"])  # the documented bound, 1 s, with room
    assert_drained(r)
