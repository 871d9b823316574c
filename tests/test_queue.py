"""The Redis protocol against real redis-servers: every script and the invariant it keeps."""

from __future__ import annotations

import pytest
import redis
from takes import ack, feed, finish_and_take, take

from qwsup.produce.producer import Producer
from qwsup.store.failed import FailedJobs
from qwsup.store.keys import (
    ATTEMPTS,
    ENQUEUED_AT,
    FAILED_AT,
    LAST_ERROR,
    QUEUE,
    STARTED_AT,
    STATE,
    TRACEBACK,
    UNIQUE,
    WORKER,
    Keys,
)
from qwsup.store.queue import Queue
from qwsup.store.records import Reclaimed, Retry
from testkit import wait_until

pytestmark = pytest.mark.redis

W = "host.1"  # a worker id
OWN = "host.1:jobs"


def article_enqueue(client: redis.Redis, job_id: str, **fields: str) -> None:
    """What a producer written against the article does."""
    client.hset(f"job:{job_id}", mapping=fields)
    client.lpush("all:jobs", job_id)


def lists(client: redis.Redis) -> dict[str, list[bytes]]:
    keys = ["all:jobs", "host:jobs", OWN, "failed:jobs"]
    return {k: client.lrange(k, 0, -1) for k in keys}


def test_take_moves_the_oldest_job_into_the_workers_list_with_its_data(
    client: redis.Redis, q: Queue
) -> None:
    article_enqueue(client, "a", to="x@example.com")
    article_enqueue(client, "b", to="y@example.com")
    seconds, micros = client.time()
    [job] = take(q, W, "host")
    started_ms = int(client.hget("job:a", STARTED_AT) or 0)
    assert 0 <= started_ms - (seconds * 1000 + micros // 1000) < 1000
    assert client.hmget("job:a", STATE, WORKER) == [b"running", W.encode()]
    assert (job.id, job.kind, job.fields) == (b"a", "hash", {b"to": b"x@example.com"})
    assert lists(client)["all:jobs"] == [b"b"]
    assert lists(client)[OWN] == [b"a"]


def test_take_prefers_the_own_list_then_the_host_queue(client: redis.Redis, q: Queue) -> None:
    article_enqueue(client, "shared", n="1")
    client.hset("job:hosted", "n", "2")
    client.lpush("host:jobs", "hosted")
    client.hset("job:left", "n", "3")
    client.lpush(OWN, "left")
    taken = []
    for _ in range(3):
        [job] = take(q, W, "host")
        taken.append(job.id)
        assert ack(q, W, job.id)
    assert taken == [b"left", b"hosted", b"shared"]
    assert take(q, W, "host") == []
    assert all(v == [] for v in lists(client).values())


def test_a_job_without_hash_or_of_another_type_is_reported_not_crashed(
    client: redis.Redis, q: Queue
) -> None:
    client.lpush("all:jobs", "nohash")
    client.set("job:string", "x")
    client.lpush("all:jobs", "string")
    [first] = take(q, W, "host")
    assert (first.id, first.kind, first.fields) == (b"nohash", "none", {})
    q.fail(W, first.id, retry=Retry(3), error="missing", permanent=True)
    [second] = take(q, W, "host")
    assert (second.id, second.kind) == (b"string", "string")
    assert q.fail(W, second.id, retry=Retry(3), error="wrong type", permanent=True) == 0
    assert client.get("job:string") == b"x"  # a producer's key is never overwritten
    assert lists(client)["failed:jobs"] == [b"string", b"nohash"]
    assert client.hget("job:nohash", LAST_ERROR) == b"missing"


def test_ack_removes_id_and_hash_but_only_for_the_owner(client: redis.Redis, q: Queue) -> None:
    article_enqueue(client, "a", n="1")
    assert take(q, W, "host")
    assert ack(q, "host.2", b"a") is False  # another worker cannot finish it
    assert client.exists("job:a") == 1
    assert ack(q, W, b"a") is True
    assert client.exists("job:a") == 0
    assert lists(client)[OWN] == []
    assert ack(q, W, b"a") is False


def test_fail_retries_at_the_back_then_fails_for_good(client: redis.Redis, q: Queue) -> None:
    article_enqueue(client, "a", n="1")
    article_enqueue(client, "b", n="2")
    for attempt in (1, 2):
        [job] = take(q, W, "host")
        assert job.id == b"a"
        result = q.fail(W, b"a", retry=Retry(3), error=f"boom {attempt}", traceback="tb")
        assert result == attempt
        assert lists(client)["all:jobs"][0] == b"a"  # at the back, behind b
        assert lists(client)[OWN] == []
        [other] = take(q, W, "host")
        assert other.id == b"b"
        q.fail(W, b"b", retry=Retry(100), error="later")
    [job] = take(q, W, "host")
    assert job.id == b"a"
    assert q.fail(W, b"a", retry=Retry(3), error="boom 3", traceback="tb3") == 0
    assert lists(client)["failed:jobs"] == [b"a"]
    saved = client.hgetall("job:a")
    assert saved[ATTEMPTS.encode()] == b"3"
    assert saved[LAST_ERROR.encode()] == b"boom 3"
    assert saved[TRACEBACK.encode()] == b"tb3"
    assert FAILED_AT.encode() in saved
    assert saved[b"n"] == b"1"  # the producer's data is kept for a retry by hand


def test_fail_of_a_job_no_longer_owned_changes_nothing(client: redis.Redis, q: Queue) -> None:
    article_enqueue(client, "a", n="1")
    assert q.fail(W, b"a", retry=Retry(3), error="x") == -1
    assert lists(client)["all:jobs"] == [b"a"]
    assert client.hget("job:a", ATTEMPTS) is None


def test_requeue_of_a_dead_worker_charges_its_running_job_and_keeps_the_order(
    client: redis.Redis, q: Queue
) -> None:
    for job_id in ("a", "b", "c", "d", "e"):
        article_enqueue(client, job_id, n=job_id)
    assert [job.id for job in take(q, W, "host", want=3)] == [b"a", b"b", b"c"]
    assert client.lrange(OWN, 0, -1) == [b"c", b"b", b"a"]  # a runs; b, c were prefetched
    reason = "worker host.1 was killed by SIGKILL"
    moved = q.requeue(W, cost=1, max_attempts=3, reason=reason)
    assert (moved.requeued, moved.failed) == (3, 0)
    assert client.lrange("all:jobs", 0, -1) == [b"e", b"d", b"c", b"b", b"a"]  # a next
    assert client.hget("job:a", ATTEMPTS) == b"1"
    assert client.hget("job:a", LAST_ERROR) == reason.encode()
    assert client.hget("job:b", ATTEMPTS) is None and client.hget("job:c", ATTEMPTS) is None
    client.hset("job:a", ATTEMPTS, 2)  # the job that kills its worker, once more
    assert len(take(q, W, "host", want=2)) == 2
    moved = q.requeue(W, cost=1, max_attempts=3, reason=reason)
    assert (moved.requeued, moved.failed) == (1, 1)
    assert lists(client)["failed:jobs"] == [b"a"]
    assert client.hget("job:a", ATTEMPTS) == b"3"
    assert client.lrange("all:jobs", 0, -1) == [b"e", b"d", b"c", b"b"]


def test_requeue_without_cost_charges_nothing_and_is_bounded_per_call(
    client: redis.Redis, q: Queue
) -> None:
    ids = [f"j{i}".encode() for i in range(250)]  # more than one requeue.lua batch
    client.lpush(OWN, *reversed(ids))
    moved = q.requeue(W, cost=0, max_attempts=1, reason="stopped")
    assert (moved.requeued, moved.failed) == (250, 0)
    assert client.llen(OWN) == 0
    assert client.lrange("all:jobs", 0, -1) == ids  # same order; j249, the oldest, is next
    assert client.hget("job:j0", ATTEMPTS) is None


def test_the_producer_writes_hash_and_id_atomically(client: redis.Redis) -> None:
    producer = Producer(client, namespace="app")
    job_id = producer.enqueue({"to": "x", "n": 3})
    assert client.lrange("app:all:jobs", 0, -1) == [job_id.encode()]
    saved = client.hgetall(f"app:job:{job_id}")
    assert saved[b"to"] == b"x" and saved[b"n"] == b"3"
    assert ENQUEUED_AT.encode() in saved
    hosted = producer.enqueue({"a": "b"}, job_id="mine", host="web-1")
    assert hosted == "mine"
    assert client.lrange("app:web-1:jobs", 0, -1) == [b"mine"]
    many = producer.enqueue_many({"i": i} for i in range(2500))
    assert len(set(many)) == 2500
    assert client.llen("app:all:jobs") == 2501
    assert client.lindex("app:all:jobs", -1) == job_id.encode()  # FIFO: first in, first out


def test_the_producer_refuses_qwsups_own_fields_and_nested_values(client: redis.Redis) -> None:
    producer = Producer(client)
    with pytest.raises(ValueError, match="qwsup"):
        producer.enqueue({ATTEMPTS: "0"})
    with pytest.raises(TypeError):
        producer.enqueue({"a": {"b": "c"}})  # type: ignore[dict-item]
    assert client.dbsize() == 0


def test_a_failed_attempt_waits_in_delayed_jobs_for_a_growing_delay(
    client: redis.Redis, q: Queue
) -> None:
    article_enqueue(client, "a", n="1")
    retry = Retry(max_attempts=5, delay_s=0.3, backoff=2.0, delay_max_s=0.5)
    expected = (300, 500, 500)  # 0.3 s, then 0.6 s capped at 0.5 s
    for attempt, delay_ms in enumerate(expected, 1):
        [job] = wait_until(lambda: take(q, W, "host"), 5, "the job to be due")
        assert job.id == b"a"
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        assert q.fail(W, b"a", retry=retry, error="boom") == attempt
        assert lists(client)["all:jobs"] == [] and lists(client)[OWN] == []
        [(member, due_ms)] = client.zrange("delayed:jobs", 0, -1, withscores=True)
        assert member == b"a"
        assert now_ms + delay_ms - 50 <= due_ms <= now_ms + delay_ms + 50
        assert q.promote() == 0  # not due yet
        wait_until(lambda: q.promote() == 1, 5, "the retry to be due")
        assert lists(client)["all:jobs"] == [b"a"]
        assert client.zcard("delayed:jobs") == 0


def test_promote_moves_each_due_job_once_and_in_bounded_batches(
    client: redis.Redis, q: Queue
) -> None:
    client.zadd("delayed:jobs", {f"j{i}": i for i in range(250)})  # long due
    client.zadd("delayed:jobs", {"later": 2**50})
    other = Queue(client, Keys())  # another master
    assert q.promote() == 250
    assert other.promote() == 0
    assert client.llen("all:jobs") == 250
    assert client.zrange("delayed:jobs", 0, -1) == [b"later"]


def claim(q: Queue, name: str, token: str, expected: str = "") -> str | None:
    return q.claim(name, token, expected=expected, lease_s=60, holder={"pid": "1", "host": name})


def test_a_name_is_held_by_one_token_at_a_time(client: redis.Redis, q: Queue) -> None:
    assert claim(q, "hosta", "1") is None
    assert claim(q, "hosta", "2") == "1"  # held: compare-and-set on the holder's token
    assert q.heartbeat("hosta", 60, token="2", pid=2, host="a", status="ok") == -1
    assert q.heartbeat("hosta", 60, token="1", pid=1, host="a", status="ok") == 1
    assert client.hget("hosta:info", "beats") == b"1"
    assert q.release("hosta", "2") is False and client.exists("hosta:info") == 1
    assert claim(q, "hosta", "2", expected="1") is None  # its holder died here: taken over
    assert q.heartbeat("hosta", 60, token="1", pid=1, host="a", status="ok") == -1
    assert q.release("hosta", "2") is True
    assert client.exists("hosta:info") == 0 and client.smembers("all:managers") == set()


def test_a_dead_supervisor_is_reclaimed_once_and_only_if_it_stayed_silent(
    client: redis.Redis, q: Queue
) -> None:
    other = Queue(client, Keys())
    assert claim(q, "hosta", "1") is None and claim(q, "hostb", "2") is None
    for job_id in ("x", "y", "z"):
        article_enqueue(client, job_id, n="1")
    assert len(take(q, "hostb.7", "hostb", want=2, token="2")) == 2  # registers hostb.7
    assert take(q, "hostb.8", "hostb", token="2")
    assert client.smembers("hostb:workers") == {b"hostb.7", b"hostb.8"}
    seen = q.beats()["hostb"].value
    assert q.heartbeat("hostb", 60, token="2", pid=2, host="b", status="ok") == 1
    assert q.reclaim("hostb", by="hosta", max_attempts=3, seen=seen) is None  # it beat
    seen = q.beats()["hostb"].value
    reclaimed = q.reclaim("hostb", by="hosta", max_attempts=3, seen=seen)
    assert reclaimed == Reclaimed("hostb", 3, 0)
    assert other.reclaim("hostb", by="hostc", max_attempts=3, seen=seen) is None  # done
    assert sorted(client.lrange("all:jobs", 0, -1)) == [b"x", b"y", b"z"]
    assert client.llen("hostb.7:jobs") == client.llen("hostb.8:jobs") == 0
    assert client.hget("job:x", ATTEMPTS) == client.hget("job:z", ATTEMPTS) == b"1"
    assert client.hget("job:y", ATTEMPTS) is None  # prefetched by hostb.7, never started
    assert client.hget("job:x", LAST_ERROR) == (
        b"supervisor hostb stopped heartbeating; its job was reclaimed by hosta"
    )
    assert client.smembers("all:managers") == {b"hosta"}
    assert client.exists("hostb:workers") == 0 and client.exists("hostb:info") == 0
    assert client.zscore("all:leases", "hostb") is None
    # the old owner comes back: its acknowledgement is refused, the job stays queued;
    # its heartbeat finds the name free, and its workers take nothing under the old token
    assert ack(q, "hostb.7", b"x") is False and ack(q, "hostb.8", b"z") is False
    assert client.exists("job:x") == client.exists("job:z") == 1
    assert q.heartbeat("hostb", 60, token="2", pid=2, host="b", status="ok") == 0
    took = finish_and_take(q, "hostb.7", "hostb", b"", 3, token="2")
    assert took.fenced and took.jobs == [] and client.smembers("all:managers") == {b"hosta"}


def test_a_fenced_worker_gives_back_what_a_blocking_wait_moved_into_its_list(
    client: redis.Redis, q: Queue
) -> None:
    assert claim(q, "host", "5") is None
    client.hset("job:a", "n", "1")
    client.lpush(OWN, "a")  # a BLMOVE did this after the reclaim
    assert take(q, W, "host", token="4") == []  # the name's token is 5 now
    assert lists(client)["all:jobs"] == [b"a"] and lists(client)[OWN] == []
    assert [job.id for job in take(q, W, "host", token="5")] == [b"a"]


def test_an_empty_id_is_dropped_and_never_runs(client: redis.Redis, q: Queue) -> None:
    client.lpush("all:jobs", "a", "", "b")  # LPUSH all:jobs "": no job can have that id
    client.hset("job:a", "n", "1")
    client.hset("job:b", "n", "1")
    batch = take(q, W, "host", want=3)
    assert [(job.id, job.kind) for job in batch] == [(b"a", "hash"), (b"", "empty"), (b"b", "hash")]
    assert lists(client)[OWN] == [b"b", b"a"]
    assert ack(q, W, b"a") and ack(q, W, b"b")
    assert take(q, W, "host", want=3) == [] and all(v == [] for v in lists(client).values())


def test_finish_and_take_acknowledges_then_takes_in_one_step(client: redis.Redis, q: Queue) -> None:
    for job_id in ("a", "b"):
        article_enqueue(client, job_id, n=job_id)
    [first] = take(q, W, "host")
    assert first.id == b"a"
    took = finish_and_take(q, W, "host", b"a")
    assert took.finished and [job.id for job in took.jobs] == [b"b"]
    assert client.exists("job:a") == 0
    assert lists(client)[OWN] == [b"b"]
    took = finish_and_take(q, "host.2", "host", b"b")  # not host.2's job
    assert not took.finished and took.jobs == []
    assert client.exists("job:b") == 1 and lists(client)[OWN] == [b"b"]
    took = finish_and_take(q, W, "host", b"b")
    assert took.finished and took.jobs == [] and not took.fenced
    assert all(v == [] for v in lists(client).values())


def test_take_several_oldest_first_own_list_first_and_a_host_job_alone(
    client: redis.Redis, q: Queue
) -> None:
    for job_id in ("a", "b", "c"):
        article_enqueue(client, job_id, n=job_id)
    client.hset("job:h", "n", "h")
    client.lpush("host:jobs", "h")
    client.hset("job:left", "n", "left")
    client.lpush(OWN, "left")
    batch = take(q, W, "host", want=3)  # what the worker held, topped up from all:jobs
    assert [job.id for job in batch] == [b"left", b"a", b"b"]
    assert all(client.hget(b"job:" + job.id, STARTED_AT) for job in batch)
    assert client.lrange(OWN, 0, -1) == [b"b", b"a", b"left"]  # the oldest runs first
    for job in batch:
        assert ack(q, W, job.id)
    assert [job.id for job in take(q, W, "host", want=3)] == [b"h"]  # a host job comes alone
    assert ack(q, W, b"h")
    assert [job.id for job in take(q, W, "host", want=3)] == [b"c"]
    assert ack(q, W, b"c") and take(q, W, "host", want=3) == []


def test_prefetched_jobs_given_back_go_to_the_front_in_order(client: redis.Redis, q: Queue) -> None:
    for job_id in ("a", "b", "c", "d"):
        article_enqueue(client, job_id, n=job_id)
    assert [job.id for job in take(q, W, "host", want=3)] == [b"a", b"b", b"c"]
    assert q.give_back(W, [b"b", b"c"]) == 2
    assert client.lrange(OWN, 0, -1) == [b"a"]
    assert client.lrange("all:jobs", 0, -1) == [b"d", b"c", b"b"]  # b is taken next
    assert q.give_back(W, [b"b"]) == 0  # no longer ours: nothing moves
    assert ack(q, W, b"b") is False and client.exists("job:b") == 1
    assert client.hget("job:b", ATTEMPTS) is None


def test_a_job_over_the_size_limit_is_taken_without_its_data(client: redis.Redis) -> None:
    q = Queue(client, Keys())
    feed(q, W, "host", max_job_bytes=1000)  # the feed take() uses
    article_enqueue(client, "small", n="1")
    article_enqueue(client, "big", data="x" * 1000)
    small, big = take(q, W, "host", want=2)
    assert small.kind == "hash" and small.fields[b"n"] == b"1"
    assert (big.id, big.kind, big.fields) == (b"big", "oversize", {})
    assert big.size == 1004  # "data" and its value: what the producer wrote
    assert client.lrange(OWN, 0, -1) == [b"big", b"small"]  # taken, to be failed


def test_a_job_for_later_waits_in_delayed_jobs_then_goes_to_its_queue(
    client: redis.Redis, q: Queue
) -> None:
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    assert Producer(q.client).enqueue_each([("soon", {"n": "1"})], "all", delay_ms=300) == [
        (True, "soon")
    ]
    Producer(q.client).enqueue_each(
        [("hosted", {"n": "2"})], "host", at_ms=now_ms - 1000
    )  # already due
    Producer(q.client).enqueue_each([("later", {"n": "3"})], "all", at_ms=now_ms + 3_600_000)
    scores = dict(client.zrange("delayed:jobs", 0, -1, withscores=True))
    assert now_ms + 300 <= scores[b"soon"] <= now_ms + 400  # on the Redis server's clock
    assert scores[b"later"] == now_ms + 3_600_000
    assert client.hget("job:soon", "n") == b"1" and client.hget("job:soon", ENQUEUED_AT)
    assert lists(client)["all:jobs"] == [] and take(q, W, "other") == []
    assert q.promote() == 1
    assert lists(client)["host:jobs"] == [b"hosted"]  # its own queue, not all:jobs
    wait_until(lambda: q.promote() == 1, 5, "the delay to pass")
    assert lists(client)["all:jobs"] == [b"soon"]
    assert client.zrange("delayed:jobs", 0, -1) == [b"later"]


def test_a_due_id_whose_key_is_not_a_hash_still_moves(client: redis.Redis, q: Queue) -> None:
    client.set("job:odd", "a producer's string")
    client.zadd("delayed:jobs", {"odd": 1})
    assert q.promote() == 1
    assert lists(client)["all:jobs"] == [b"odd"]


def test_a_unique_name_is_held_until_its_job_is_finished_or_failed_for_good(
    client: redis.Redis, q: Queue
) -> None:
    assert Producer(q.client).enqueue_each([("a", {"n": "1"})], "all", unique="report") == [
        (True, "a")
    ]
    assert Producer(q.client).enqueue_each([("b", {"n": "2"})], "all", unique="report") == [
        (False, "a")
    ]
    assert client.exists("job:b") == 0 and lists(client)["all:jobs"] == [b"a"]  # b: nothing
    [job] = take(q, W, "host")
    assert Producer(q.client).enqueue_each([("c", {"n": "3"})], "all", unique="report") == [
        (False, "a")
    ]
    assert ack(q, W, job.id)  # finished: the name is free
    assert client.exists("unique:report") == 0
    assert Producer(q.client).enqueue_each([("d", {"n": "4"})], "all", unique="report") == [
        (True, "d")
    ]
    [job] = take(q, W, "host")
    assert q.fail(W, job.id, retry=Retry(2), error="boom") == 1  # to be retried: still held
    assert client.get("unique:report") == b"d"
    [job] = take(q, W, "host")
    assert q.fail(W, job.id, retry=Retry(2), error="boom") == 0  # failed for good: free
    assert client.exists("unique:report") == 0
    Producer(q.client).enqueue_each([("e", {"n": "5"})], "all", unique="report")
    take(q, W, "host")
    q.requeue(W, cost=1, max_attempts=1, reason="killed")  # its worker died: failed for good
    assert client.exists("unique:report") == 0 and lists(client)["failed:jobs"] == [b"e", b"d"]


def test_a_stale_job_never_frees_a_name_another_job_holds(client: redis.Redis, q: Queue) -> None:
    client.hset("job:old", mapping={"n": "1", UNIQUE: "report"})  # a producer's forgery
    client.lpush("all:jobs", "old")
    Producer(q.client).enqueue_each([("new", {"n": "2"})], "all", unique="report")
    [old, new] = take(q, W, "host", want=2)
    assert (old.id, new.id) == (b"old", b"new")
    assert ack(q, W, old.id)
    assert client.get("unique:report") == b"new"


def test_queues_are_taken_in_priority_order_and_jobs_go_back_to_their_own(
    client: redis.Redis,
) -> None:
    q = Queue(client, Keys())
    feed(q, W, "host", queues=("high", "low"))  # the feed take() uses
    for job_id, queue in (("a", "low"), ("b", "low"), ("c", "high"), ("d", "all")):
        client.hset(f"job:{job_id}", "n", job_id)
        client.lpush(f"{queue}:jobs", job_id)
    assert [job.id for job in take(q, W, "host", want=3)] == [b"c", b"a", b"b"]
    assert client.hget("job:c", QUEUE) == b"high" and client.hget("job:a", QUEUE) == b"low"
    assert client.llen("all:jobs") == 1  # not one of this worker's queues
    assert q.give_back(W, [b"b"]) == 1
    assert client.lrange("low:jobs", 0, -1) == [b"b"]
    q.requeue(W, cost=1, max_attempts=1, reason="killed")  # c was running: failed for good
    assert client.lrange("low:jobs", 0, -1) == [b"b", b"a"]  # a goes back to its queue
    assert lists(client)["failed:jobs"] == [b"c"]
    assert FailedJobs(q.client, q.keys).retry(["c"]).moved == 1
    assert client.lrange("high:jobs", 0, -1) == [b"c"]  # so does a job retried by hand


def test_a_reclaim_of_many_workers_goes_on_over_bounded_calls(
    client: redis.Redis, q: Queue
) -> None:
    assert claim(q, "hostb", "2") is None
    for n in range(250):  # each looked at counts against a call's 100
        client.sadd("hostb:workers", f"hostb.{n}")
        if n % 2:
            article_enqueue(client, f"j{n}", n="1")
            client.rpoplpush("all:jobs", f"hostb.{n}:jobs")
    reclaimed = q.reclaim("hostb", by="hosta", max_attempts=3, seen=q.beats()["hostb"].value)
    assert reclaimed == Reclaimed("hostb", 125, 0)
    assert client.llen("all:jobs") == 125 and client.exists("hostb:workers") == 0
    assert client.hget("job:j1", ATTEMPTS) == b"1"  # each was its worker's running job


def test_a_reclaim_cut_short_is_found_again_and_finished(client: redis.Redis, q: Queue) -> None:
    """The reclaimer died after its first bounded call: the supervisor stays registered,
    its record without a token does not change, and the next reclaim finishes."""
    assert claim(q, "hostb", "2") is None
    for n in range(3):
        article_enqueue(client, f"j{n}", n="1")
        client.rpoplpush("all:jobs", f"hostb.{n}:jobs")
        client.sadd("hostb:workers", f"hostb.{n}")
    seen = q.beats()["hostb"].value
    keys = ["all:leases", "all:managers", "all:jobs", "failed:jobs", "all:beats", "all:beat_seq"]
    q.scripts.run("reclaim", keys, ["hosta", 3, 2, "hostb", seen, "1"])  # then it died
    assert client.llen("all:jobs") == 1 and client.sismember("all:managers", "hostb")
    assert client.hget("hostb:info", "token") is None  # its workers take nothing now
    assert q.heartbeat("hostb", 60, token="2", pid=2, host="b", status="ok") == 0
    tombstone = q.beats()["hostb"].value
    assert q.reclaim("hostb", by="hostc", max_attempts=3, seen=tombstone) == Reclaimed(
        "hostb", 2, 0
    )
    assert client.llen("all:jobs") == 3 and client.smembers("all:managers") == set()
    assert client.exists("hostb:info", "hostb:workers") == 0
    assert client.zcard("all:beats") == 0


def test_a_requeue_under_a_token_that_lost_the_name_moves_nothing(
    client: redis.Redis, q: Queue
) -> None:
    """Containers from one image have the same worker ids: a master that lost its name
    must not requeue the lists of the new holder's workers."""
    assert claim(q, "host", "new") is None
    client.hset("job:a", "n", "1")
    client.lpush(OWN, "a")  # the new holder's worker host.1 runs it
    moved = q.requeue(W, cost=1, max_attempts=3, reason="gone", token="old")
    assert moved.fenced and (moved.requeued, moved.failed) == (0, 0)
    assert lists(client)[OWN] == [b"a"] and client.hget("job:a", ATTEMPTS) is None
    assert not q.requeue(W, cost=0, max_attempts=3, reason="stopped", token="new").fenced
    assert lists(client)["all:jobs"] == [b"a"]


def test_a_record_of_another_type_does_not_blind_the_watchers(
    client: redis.Redis, q: Queue
) -> None:
    assert claim(q, "good", "1") is None
    client.set("bad:info", "a producer's string")
    client.sadd("all:managers", "bad")
    beats = q.beats()
    assert set(beats) == {"good"} and beats["good"].lease_s == 60.0


# -- the heartbeats' order: the masters' lease watch in one call (watch.lua) ----------


def test_heartbeats_are_numbered_in_the_order_they_ran(client: redis.Redis, q: Queue) -> None:
    assert claim(q, "hosta", "1") is None and claim(q, "hostb", "2") is None
    assert q.heartbeat("hosta", 60, token="1", pid=1, host="a", status="ok") == 1
    assert client.zrange("all:beats", 0, -1, withscores=True) == [(b"hostb", 2.0), (b"hosta", 3.0)]
    assert client.hget("all:beat_seq", "seq") == b"3"
    assert client.hget("hosta:info", "beat_seq") == b"3"
    assert q.heartbeat("hosta", 60, token="9", pid=1, host="a", status="ok") == -1
    assert client.hget("all:beat_seq", "seq") == b"3"  # a refused heartbeat numbers nothing
    assert q.release("hostb", "2") is True
    assert client.zrange("all:beats", 0, -1) == [b"hosta"]


def test_a_watch_reports_those_not_beaten_since_a_number(client: redis.Redis, q: Queue) -> None:
    for n, name in enumerate(["hosta", "hostb", "hostc"], start=1):
        assert claim(q, name, str(n)) is None  # numbered 1, 2, 3
    assert q.heartbeat("hostb", 60, token="2", pid=2, host="b", status="ok") == 1  # 4
    first = q.watch("hosta", "1", -1)
    assert first is not None and (first.seq, first.mark, first.complete) == (4, None, True)
    assert first.suspects == {}
    read = q.watch("hosta", "1", 3)
    assert read is not None and read.mark == 4  # what the first read left in our record
    assert set(read.suspects) == {"hosta", "hostc"}  # hostb beat since 3
    assert read.suspects["hostc"].seq == 3 and read.suspects["hostc"].lease_s == 60.0
    assert read.suspects["hostc"].value == q.beats(["hostc"])["hostc"].value
    assert q.watch("hosta", "7", 3) is None  # not our token: nothing read, nothing written
    assert client.hget("hosta:info", "watch_seq") == b"4"


def test_a_watch_drops_entries_an_older_qwsup_left_and_says_when_one_runs(
    client: redis.Redis, q: Queue
) -> None:
    """A name an older master took over (its claim.lua wrote a record without
    `beat_seq`), or released, is no longer watched through the order; while a
    supervisor registered in all:leases has no number, the watch says it is not complete."""
    for n, name in enumerate(["hosta", "hostb", "hostc"], start=1):
        assert claim(q, name, str(n)) is None
    client.delete("hostb:info")  # an older master takes hostb over: DEL, then HSET
    client.hset("hostb:info", mapping={"token": "8", "beats": "0", "pid": "5"})
    client.zrem("all:leases", "hostc")  # an older master reclaimed hostc, to the end
    client.srem("all:managers", "hostc")
    client.delete("hostc:info")
    client.zadd("all:leases", {"old": 1})  # and one runs under its own name
    client.sadd("all:managers", "old")
    read = q.watch("hosta", "1", 10)
    assert read is not None and set(read.suspects) == {"hosta"}
    assert client.zrange("all:beats", 0, -1) == [b"hosta"]
    assert read.complete is False  # hostb and old are in all:leases only: read their records
    assert q.heartbeat("hostb", 60, token="8", pid=5, host="b", status="ok") == 1  # (any holder)
    client.zrem("all:leases", "old")
    read = q.watch("hosta", "1", 10)
    assert read is not None and read.complete is True


def test_a_reclaim_numbers_the_record_it_leaves_and_removes_the_name_at_the_end(
    client: redis.Redis, q: Queue
) -> None:
    assert claim(q, "hosta", "1") is None and claim(q, "hostb", "2") is None
    read = q.watch("hosta", "1", 2)
    assert read is not None and set(read.suspects) == {"hosta", "hostb"}
    seen = read.suspects["hostb"].value
    assert q.reclaim("hostb", by="hosta", max_attempts=3, seen=seen) == Reclaimed("hostb", 0, 0)
    assert client.zrange("all:beats", 0, -1) == [b"hosta"]
    assert client.hget("all:beat_seq", "seq") == b"3"  # its token-less record was numbered
