"""A job's state, times, result and retention in its hash, and waiting for its end:
the pure reading of a hash (qwsup/store/jobs.py), then the scripts against a real Redis."""

from __future__ import annotations

import re
import threading
import time

import pytest
import redis
from takes import ack, finish_and_take, take

from qwsup.errors import JobFailed, UnknownJob, WaitTimeout
from qwsup.produce.producer import Producer
from qwsup.store.jobs import ResultError, State, decode_result, encode_result, read_job
from qwsup.store.keys import (
    ENQUEUED_AT,
    FAILED_AT,
    FINISHED_AT,
    RESULT,
    RESULT_TYPE,
    STARTED_AT,
    STATE,
    WORKER,
)
from qwsup.store.queue import Queue
from qwsup.store.records import Retry
from testkit.wait import wait_until

pytestmark = pytest.mark.redis  # (the pure tests are marked unit as well)

W = "host.1"
KEEP_MS = 60_000


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds * 1000 + micros // 1000)


def state(client: redis.Redis, job_id: str) -> bytes | None:
    return client.hget(f"job:{job_id}", STATE)


# -- pure: results and the reading of a hash ------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    "value", ["ok", "", "naïve ✓", b"\x00\xff", {"passed": 12, "failed": [1, 2]}, [1, "a"], 3, 2.5]
)
def test_a_result_comes_back_as_the_handler_returned_it(value: object) -> None:
    encoded = encode_result(value, 0)
    assert encoded is not None
    assert decode_result(*encoded) == value


@pytest.mark.unit
def test_no_result_is_none_and_a_tuple_comes_back_a_list() -> None:
    assert encode_result(None, 10) is None and decode_result(None, None) is None
    encoded = encode_result((1, 2), 0)
    assert encoded == (b"json", b"[1,2]") and decode_result(*encoded) == [1, 2]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (object(), "not JSON-encodable"),
        ({"n": float("nan")}, "not JSON-encodable"),
        ({1: {2: set()}}, "not JSON-encodable"),
        ("x" * 2049, "2,049 bytes, over workers.max_result_kb (2 KB)"),
        (b"x" * 2049, "2,049 bytes"),
        ({"log": "x" * 3000}, "over workers.max_result_kb"),
    ],
)
def test_a_result_that_cannot_be_kept_is_a_clear_error(value: object, problem: str) -> None:
    with pytest.raises(ResultError, match=re.escape(problem)):
        encode_result(value, 2048)


@pytest.mark.unit
def test_a_hash_without_qwsup_fields_is_a_queued_job_and_none_is_no_job() -> None:
    assert read_job("a", {}) is None
    job = read_job("a", {b"to": b"x@example.com"})
    assert job is not None and job.state is State.QUEUED and job.queue == "all"
    assert (job.worker, job.attempts, job.result, job.error) == (None, 0, None, None)
    assert job.fields == {"to": "x@example.com"}


@pytest.mark.unit
def test_a_hash_is_read_with_its_times_in_seconds_whatever_unit_it_holds() -> None:
    raw = {
        STATE.encode(): b"done", ENQUEUED_AT.encode(): b"1733100000.5",  # an earlier version's
        STARTED_AT.encode(): b"1733100001250", FINISHED_AT.encode(): b"1733100002000",
        WORKER.encode(): b"web-1.41", RESULT_TYPE.encode(): b"json",
        RESULT.encode(): b'{"passed":3}', b"qwsup:attempts": b"1", b"n": b"7",
    }  # fmt: skip
    job = read_job("b", raw)
    assert job is not None and job.state is State.DONE
    assert (job.enqueued_at, job.started_at, job.finished_at) == (
        1733100000.5, 1733100001.25, 1733100002.0,
    )  # fmt: skip
    assert (job.worker, job.attempts, job.result, job.fields) == (
        "web-1.41", 1, {"passed": 3}, {"n": "7"},
    )  # fmt: skip
    as_dict = job.as_dict()
    assert {"id", "state", "worker", "attempts", "progress", "result", "error"} <= set(as_dict)
    assert as_dict["state"] == "done" and as_dict["progress"] == 1.0  # done: all of it


@pytest.mark.unit
def test_a_job_of_an_earlier_version_that_failed_for_good_reads_failed() -> None:
    job = read_job("c", {b"n": b"1", FAILED_AT.encode(): b"1733100000.000"})
    assert job is not None and job.state is State.FAILED and job.finished_at == 1733100000.0


@pytest.mark.unit
def test_a_bytes_result_is_base64_in_json() -> None:
    job = read_job(
        "d", {STATE.encode(): b"done", RESULT_TYPE.encode(): b"bytes", RESULT.encode(): b"\xff"}
    )
    assert job is not None and job.as_dict()["result"] == "/w=="


# -- the scripts: each state, and what ends a job ---------------------------------------


def test_a_job_is_queued_running_then_done_with_its_result_kept(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    before = server_ms(client)
    job_id = producer.enqueue({"n": "1"})
    assert state(client, job_id) == b"queued"
    assert before <= int(client.hget(f"job:{job_id}", ENQUEUED_AT) or 0) <= server_ms(client)
    [job] = take(q, W, "host")
    assert state(client, job_id) == b"running"
    info = producer.job(job_id)
    assert info is not None and info.state is State.RUNNING and info.worker == W
    assert ack(q, W, job.id, keep_ms=KEEP_MS, result=(b"json", b'{"passed":3}'))
    info = producer.job(job_id)
    assert info is not None and info.state is State.DONE and info.result == {"passed": 3}
    assert info.finished_at is not None and info.started_at is not None
    assert info.finished_at >= info.started_at
    [(member, score)] = client.zrange("finished:jobs", 0, -1, withscores=True)
    assert member == job_id.encode()
    assert score == int(client.hget(f"job:{job_id}", FINISHED_AT) or 0) + KEEP_MS


def test_a_job_finished_by_a_take_keeps_its_result_too(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    first, second = producer.enqueue({"n": "1"}), producer.enqueue({"n": "2"})
    take(q, W, "host")
    from takes import feed

    line = feed(q, W, "host", keep_ms=KEEP_MS)
    [job] = line.take(first.encode(), 1, (), (b"text", b"built")).jobs
    assert job.id == second.encode() and line.answered().acked == [(first.encode(), True)]
    info = producer.job(first)
    assert info is not None and (info.state, info.result) == (State.DONE, "built")


def test_with_keep_finished_0_a_finished_job_is_deleted_as_before(
    client: redis.Redis, q: Queue
) -> None:
    job_id = Producer(client).enqueue({"n": "1"})
    [job] = take(q, W, "host")
    assert ack(q, W, job.id, keep_ms=0, result=(b"text", b"x"))
    assert client.exists(f"job:{job_id}", "finished:jobs") == 0


def test_a_failed_attempt_is_scheduled_or_queued_and_a_last_one_failed(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    take(q, W, "host")
    later = Retry(max_attempts=3, delay_s=10, backoff=1, delay_max_s=10)
    assert q.fail(W, job_id.encode(), error="boom", retry=later) == 1
    assert state(client, job_id) == b"scheduled"
    client.zadd("delayed:jobs", {job_id: 0})  # due now
    q.promote()
    assert state(client, job_id) == b"queued"
    take(q, W, "host")
    now = Retry(max_attempts=3)
    assert q.fail(W, job_id.encode(), error="boom", retry=now) == 2
    assert state(client, job_id) == b"queued"
    take(q, W, "host")
    assert q.fail(W, job_id.encode(), error="boom again", retry=now) == 0
    info = producer.job(job_id)
    assert info is not None and info.state is State.FAILED and info.error == "boom again"
    assert info.finished_at is not None and info.attempts == 3
    assert client.lrange("failed:jobs", 0, -1) == [job_id.encode()]


def test_jobs_given_back_or_requeued_are_queued_again(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    a, b = producer.enqueue({"n": "1"}), producer.enqueue({"n": "2"})
    take(q, W, "host", want=2)
    assert state(client, a) == state(client, b) == b"running"
    q.give_back(W, [b.encode()])
    assert state(client, b) == b"queued"
    q.requeue(W, cost=0, max_attempts=3, reason="stopped")
    assert state(client, a) == b"queued"


def test_an_id_enqueued_again_after_its_job_ended_is_a_new_job(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    producer.enqueue({"n": "1", "old": "yes"}, job_id="build-7")
    take(q, W, "host")
    assert ack(q, W, b"build-7", keep_ms=KEEP_MS, result=(b"text", b"old result"))
    producer.enqueue({"n": "2"}, job_id="build-7")
    info = producer.job("build-7")
    assert info is not None and info.state is State.QUEUED
    assert (info.fields, info.result) == ({"n": "2"}, None)
    assert client.zcard("finished:jobs") == 0


def test_a_unique_name_is_free_once_its_job_is_done_and_kept(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    first = producer.enqueue({"n": "1"}, unique="nightly")
    take(q, W, "host")
    assert ack(q, W, first.encode(), keep_ms=KEEP_MS)
    client.set("unique:nightly", first)  # as if its release had been lost
    second = producer.enqueue({"n": "2"}, unique="nightly")
    assert client.get("unique:nightly") == second.encode()


# -- retention --------------------------------------------------------------------------


def finished(client: redis.Redis, q: Queue, n: int, keep_ms: int) -> list[str]:
    ids = Producer(client).enqueue_many([{"i": str(i)} for i in range(n)])
    for _ in range(n):
        [job] = take(q, W, "host")
        assert ack(q, W, job.id, keep_ms=keep_ms)
    return ids


def test_pruning_removes_the_jobs_past_their_time_with_their_entries(
    client: redis.Redis, q: Queue
) -> None:
    old = finished(client, q, 3, keep_ms=1)
    fresh = finished(client, q, 2, keep_ms=KEEP_MS)
    wait_until(lambda: server_ms(client) > int(client.hget(f"job:{old[-1]}", FINISHED_AT) or 0) + 1)
    assert q.prune(most=0) == 3
    assert client.exists(*(f"job:{i}" for i in old)) == 0
    assert client.exists(*(f"job:{i}" for i in fresh)) == 2
    assert {m.decode() for m in client.zrange("finished:jobs", 0, -1)} == set(fresh)
    assert q.prune(most=0) == 0


def test_pruning_keeps_at_most_the_newest_keep_finished_max(client: redis.Redis, q: Queue) -> None:
    finished(client, q, 12, keep_ms=KEEP_MS)
    by_age = [m.decode() for m in client.zrange("finished:jobs", 0, -1)]  # oldest first
    assert q.prune(most=5) == 7
    assert [m.decode() for m in client.zrange("finished:jobs", 0, -1)] == by_age[-5:]
    assert [i for i in by_age if client.exists(f"job:{i}")] == by_age[-5:]


def test_pruning_is_bounded_per_call_and_goes_on_until_done(client: redis.Redis, q: Queue) -> None:
    small = Queue(client, q.keys)
    ids = finished(client, q, 30, keep_ms=KEEP_MS)
    calls = []
    original = small.scripts.run

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    small.scripts.run = counted  # type: ignore[method-assign]
    import qwsup.store.queue as queue_module

    batch = queue_module.BULK_BATCH
    queue_module.BULK_BATCH = 7
    try:
        assert small.prune(most=2) == 28
    finally:
        queue_module.BULK_BATCH = batch
    assert calls == ["prune"] * 4 and client.exists(*(f"job:{i}" for i in ids)) == 2


def test_pruning_leaves_a_hash_that_is_a_live_job_again(client: redis.Redis, q: Queue) -> None:
    [job_id] = finished(client, q, 1, keep_ms=1)
    client.hset(f"job:{job_id}", STATE, "running")  # enqueued again by an article producer
    wait_until(lambda: q.prune(most=0) == 1)
    assert client.exists(f"job:{job_id}") == 1 and client.zcard("finished:jobs") == 0


# -- waiting ----------------------------------------------------------------------------


def finish_soon(client: redis.Redis, q: Queue, result: bytes, keep_ms: int = KEEP_MS) -> None:
    """Take the next job and finish it once someone waits for it."""
    [job] = take(q, W, "host")
    wait_until(lambda: client.hget(b"job:" + job.id, "qwsup:waited"), 10, "a waiter")
    assert ack(q, W, job.id, keep_ms=keep_ms, result=(b"text", result) if result else None)


def test_wait_returns_the_result_once_the_job_is_done(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    worker_q = Queue(redis.Redis(connection_pool=client.connection_pool), q.keys)
    thread = threading.Thread(target=finish_soon, args=(client, worker_q, b"green"))
    thread.start()
    started = time.monotonic()
    assert producer.wait(job_id, timeout=20) == "green"
    assert time.monotonic() - started < 10
    thread.join(10)
    assert producer.wait(job_id, timeout=0) == "green"  # done already: at once


def test_wait_with_keep_finished_0_returns_none_when_done(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    thread = threading.Thread(target=finish_soon, args=(client, q, b"x", 0))
    thread.start()
    assert producer.wait(job_id, timeout=20) is None
    thread.join(10)
    assert client.exists(f"job:{job_id}") == 0


def test_wait_raises_the_last_error_of_a_job_that_failed_for_good(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})

    def fail_soon() -> None:
        take(q, W, "host")
        wait_until(lambda: client.hget(f"job:{job_id}", "qwsup:waited"), 10, "a waiter")
        q.fail(W, job_id.encode(), error="ValueError: red", permanent=True, retry=Retry(1, 0, 1, 0))

    thread = threading.Thread(target=fail_soon)
    thread.start()
    with pytest.raises(JobFailed, match="failed for good: ValueError: red") as caught:
        producer.wait(job_id, timeout=20)
    thread.join(10)
    assert (caught.value.state, caught.value.error) == ("failed", "ValueError: red")


def test_wait_times_out_cleanly_and_an_unknown_job_is_an_error(client: redis.Redis) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=f"job {job_id} still queued after 0.3 s"):
        producer.wait(job_id, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    with pytest.raises(UnknownJob, match="no job nope"):
        producer.wait("nope", timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        producer.wait(job_id, timeout=-1)


def test_every_waiter_of_a_job_is_told(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    got: list[object] = []

    def waiter() -> None:
        got.append(Producer(redis.Redis(connection_pool=client.connection_pool)).wait(job_id, 20))

    threads = [threading.Thread(target=waiter) for _ in range(5)]
    for thread in threads:
        thread.start()
    wait_until(lambda: client.info("clients")["blocked_clients"] >= 5, 10, "5 blocked waiters")
    [job] = take(q, W, "host")
    assert ack(q, W, job.id, keep_ms=KEEP_MS, result=(b"text", b"ok"))
    for thread in threads:
        thread.join(10)
    assert got == ["ok"] * 5


def test_a_job_finished_by_a_take_tells_its_waiters(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    take(q, W, "host")
    client.hset(f"job:{job_id}", "qwsup:waited", "1")
    assert finish_and_take(q, W, "host", job_id.encode()).finished
    assert client.lrange(f"ended:{job_id}", 0, -1) == [b"done"]
    assert 0 < client.ttl(f"ended:{job_id}") <= 60
