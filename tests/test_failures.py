"""What the master does about hung, slow, bloated and worn workers: process tests."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable

import psutil
import pytest
import redis

from qwsup.produce.producer import Producer
from qwsup.store.keys import ATTEMPTS, LAST_ERROR
from support import Qwsup, assert_drained, done, enqueue, in_flight, runs, started_pid
from testkit import RedisServer, wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def failed(r: redis.Redis) -> list[str]:
    return [x.decode() for x in r.lrange("failed:jobs", 0, -1)]


def test_a_hung_worker_dumps_its_stack_is_killed_and_its_job_charged(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(
        workers={"count": 1, "heartbeat_timeout": 1, "max_attempts": 2, "retry_delay": 0}
    )
    qw.wait_workers(1)
    [job_id] = enqueue(r, action="hang")
    first = started_pid(r, job_id)
    wait_until(lambda: failed(r) == [job_id], 30, "the hung job to fail for good")
    log = qw.log()
    assert f"worker testhost.{first} sent no heartbeat for 1 s: dumping its stack" in log
    assert 'testjobs.py", line' in log and "in record" in log  # faulthandler's dump
    assert runs(r) == {job_id: 2}
    assert r.hget(f"job:{job_id}", ATTEMPTS) == b"2"
    assert (r.hget(f"job:{job_id}", LAST_ERROR) or b"").endswith(
        b"hung (no heartbeat for 1 s) while running the job"
    )
    qw.wait_workers(1)
    assert r.llen("all:jobs") == 0


def test_a_job_over_its_time_limit_fails_and_the_worker_lives_on(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "job_timeout": 0.5, "max_attempts": 2, "retry_delay": 0})
    [pid] = qw.wait_workers(1)
    [slow] = enqueue(r, sleep="60")
    [quick] = enqueue(r, kind="quick")
    wait_until(lambda: failed(r) == [slow], 20, "the slow job to fail for good")
    wait_until(lambda: done(r) == [quick], 10, "the quick job to run")
    assert r.hget(f"job:{slow}", LAST_ERROR) == b"timed out after 0.5 s"
    assert r.hget(f"job:{slow}", ATTEMPTS) == b"2"
    assert qw.worker_pids() == {pid}  # stopped inside the worker, not by killing it
    assert "SIGKILL" not in qw.log()


def test_a_job_that_ignores_its_time_limit_gets_its_worker_killed(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(
        workers={"count": 1, "job_timeout": 0.5, "max_attempts": 1},
        supervisor={"quick_timeout": 0.5},
    )
    [pid] = qw.wait_workers(1)
    [job_id] = enqueue(r, action="stubborn")  # swallows the worker's JobTimeout
    wait_until(lambda: failed(r) == [job_id], 20, "the job to fail for good")
    assert r.hget(f"job:{job_id}", LAST_ERROR) == (
        f"worker testhost.{pid} timed out after 0.5 s while running the job".encode()
    )
    assert f"worker testhost.{pid} did not stop in time: SIGKILL" in qw.log()
    assert pid not in qw.wait_workers(1)


def test_workers_are_recycled_after_max_jobs(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1, "max_jobs": 10})
    qw.wait_workers(1)
    ids = enqueue(r, 45)
    wait_until(lambda: r.llen("test:done") == 45, 30, "45 jobs done")
    assert runs(r) == dict.fromkeys(ids, 1)
    pids = {int(p) for p in r.hvals("test:pids")}
    assert 4 <= len(pids) <= 5  # 10 or 11 jobs each (the jitter)
    assert qw.log().count("recycling after 1") >= 4
    assert "died" not in qw.log()
    assert_drained(r)


def test_a_worker_over_max_memory_finishes_its_job_and_is_replaced(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "max_memory_mb": 200})
    [pid] = qw.wait_workers(1)
    [job_id] = enqueue(r, action="bloat", mb="230", sleep="2")
    qw.wait_log(f"worker testhost.{pid} uses ")
    assert "over max_memory_mb = 200: replacing it after its job" in qw.log()
    wait_until(lambda: done(r) == [job_id], 20, "the job to finish")
    wait_until(lambda: pid not in qw.worker_pids(), 10, "the worker to be replaced")
    assert runs(r) == {job_id: 1}
    assert qw.wait_workers(1)
    assert_drained(r)


def test_a_worker_far_over_max_memory_is_killed_and_its_job_charged(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "max_memory_mb": 100, "max_attempts": 1})
    [pid] = qw.wait_workers(1)
    [job_id] = enqueue(r, action="bloat", mb="300", sleep="30")
    wait_until(lambda: failed(r) == [job_id], 20, "the job to fail for good")
    error = r.hget(f"job:{job_id}", LAST_ERROR) or b""
    assert error.startswith(f"worker testhost.{pid} used ".encode())
    assert error.endswith(b" MB, far over the 100 MB limit while running the job")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    qw.wait_workers(1)
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_producer_api_reaches_the_host_queue_first(start_qwsup: Start, r: redis.Redis) -> None:
    producer = Producer(r)
    shared = producer.enqueue_many({"i": str(i)} for i in range(5))
    hosted = producer.enqueue({"for": "testhost"}, host="testhost")
    start_qwsup(workers={"count": 1})
    wait_until(lambda: len(done(r)) == 6, 20, "all jobs done")
    assert done(r) == [hosted, *shared]


def test_a_redis_restart_mid_run_loses_nothing_and_is_logged_once(
    start_qwsup: Start, r: redis.Redis, server: RedisServer
) -> None:
    qw = start_qwsup(workers={"count": 2, "retry_delay": 0})
    pids = qw.wait_workers(2)
    ids = enqueue(r, 300, sleep="0.01")
    wait_until(lambda: r.llen("test:done") >= 50, 20, "jobs flowing")
    server.stop()  # SIGTERM: with appendfsync always, nothing written is lost
    qw.wait_log("master: Redis unreachable")
    for pid in pids:
        qw.wait_log(f"testhost.{pid}: Redis unreachable")
    server.start()
    r.connection_pool.reset()
    wait_until(lambda: set(done(r)) == set(ids), 60, "every job done")
    counts = runs(r)
    assert set(counts) == set(ids)
    assert r.llen("failed:jobs") == 0
    for who in ["master", *(f"testhost.{pid}" for pid in pids)]:
        qw.wait_log(f"{who}: Redis reachable again after ", 10)
    log = qw.log()
    for who in ["master", *(f"testhost.{pid}" for pid in pids)]:
        assert log.count(f"{who}: Redis unreachable") == 1, who  # once, not once per retry
    assert qw.worker_pids() == pids  # nobody mistook the outage for dead workers
    assert_drained(r)


def test_a_redis_that_refuses_writes_is_one_trouble_logged_once_per_process(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """Out of memory, Redis refuses every write and still answers reads: the master's
    reads work while its heartbeat is refused. That is one trouble, not one per read."""
    qw = start_qwsup(workers={"count": 2}, supervisor={"lease_timeout": 2})
    pids = qw.wait_workers(2)
    errors = int(r.info("stats").get("total_error_replies", 0))
    r.config_set("maxmemory", "1")  # every write: OOM command not allowed
    try:
        wait_until(
            lambda: int(r.info("stats")["total_error_replies"]) >= errors + 20,
            30,
            "20 refused writes (heartbeats, takes)",
        )
    finally:
        r.config_set("maxmemory", "0")
    [job_id] = enqueue(r)
    wait_until(lambda: job_id in done(r), 15, "a job after the trouble")
    qw.wait_log("master: Redis works again")
    log = qw.log()
    assert log.count("master: Redis refused a command") == 1, log
    assert log.count("master: Redis works again") == 1
    for pid in pids:
        assert log.count(f"testhost.{pid}: Redis refused a command") <= 1
        assert log.count(f"testhost.{pid}: Redis works again") <= 1


def test_a_failed_job_waits_in_delayed_jobs_before_its_retry(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "max_attempts": 3, "retry_delay": 1, "retry_backoff": 2})
    qw.wait_workers(1)
    [job_id] = enqueue(r, action="raise")
    wait_until(lambda: r.zscore("delayed:jobs", job_id), 10, "the job to wait for its retry")
    assert r.hget(f"job:{job_id}", ATTEMPTS) == b"1"
    assert r.llen("all:jobs") == 0 and in_flight(r) == {}
    wait_until(lambda: failed(r) == [job_id], 20, "three attempts")
    starts = [float(t) for t in r.lrange("test:started_at", 0, -1)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 2
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0  # retry_delay, then times retry_backoff
    assert r.zcard("delayed:jobs") == 0
    assert "failed (attempt 1 of 3)" in qw.log() and "failed for good" in qw.log()
