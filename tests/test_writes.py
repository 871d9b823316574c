"""A handler's writes sent with its job's acknowledgement (qwsup.pipeline()), and the
worker's own client (qwsup.redis()): the real qwsup on a real Redis."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
import redis

from support import Qwsup, enqueue, state
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def counts(r: redis.Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(key).items()}


@pytest.mark.parametrize(
    ("handler", "concurrency"),
    [("record_writes", 1), ("record_writes", 4), ("record_writes_async", 4)],
    ids=["one-at-a-time", "threads", "asyncio"],
)
def test_each_jobs_writes_are_applied_once_with_its_end(
    start_qwsup: Start, r: redis.Redis, handler: str, concurrency: int
) -> None:
    qw = start_qwsup(
        workers={"count": 2, "concurrency": concurrency, "handler": f"testjobs:{handler}"}
    )
    qw.wait_workers(2)
    ids = enqueue(r, 40, sleep="0.01")
    wait_until(lambda: r.llen("job:test:order") == 40, 20, "every job's writes")
    assert counts(r, "job:test:applied") == dict.fromkeys(ids, 1)
    assert sorted(x.decode() for x in r.lrange("job:test:order", 0, -1)) == sorted(ids)
    wait_until(lambda: all(state(r, i) == b"done" for i in ids), 10, "the jobs finished")
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
    assert "but its write" not in qw.log()  # no write failed


def test_a_failed_attempts_writes_are_never_applied(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(
        workers={"count": 1, "handler": "testjobs:record_writes", "max_attempts": 2,
                 "retry_delay": 0},
    )  # fmt: skip
    qw.wait_workers(1)
    [job] = enqueue(r, 1, action="raise")
    wait_until(lambda: r.llen("failed:jobs") == 1, 20, "the job failed for good")
    assert counts(r, "job:test:runs") == {job: 2}  # it ran twice, each a round trip
    assert r.exists("job:test:applied", "job:test:order") == 0
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_a_write_redis_refuses_is_logged_and_the_job_is_done(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "handler": "testjobs:record_writes"})
    qw.wait_workers(1)
    [job] = enqueue(r, 1, action="badwrite")
    qw.wait_log(f"job {job} done, but its write 2 failed: WRONGTYPE")
    assert counts(r, "job:test:applied") == {job: 1}  # the others were applied
    assert r.lrange("job:test:order", 0, -1) == [job.encode()]
    assert state(r, job) == b"done" and r.llen("failed:jobs") == 0
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
