"""A worker's line to Redis (qwsup/store/feed.py) against real redis-servers: acknowledgements
sent without waiting, and what happens when the server loses its scripts or the line
breaks with replies still due."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from qwsup.errors import ConnectionLost
from qwsup.produce.producer import Producer
from qwsup.store.feed import Feed
from qwsup.store.keys import STARTED_AT
from qwsup.store.queue import Queue
from qwsup.store.records import JobKind, Taken, taken
from testkit import wait_until

pytestmark = pytest.mark.redis

W = "host.1"
OWN = "host.1:jobs"


def enqueue(client: redis.Redis, *ids: str) -> None:
    for job_id in ids:
        client.hset(f"job:{job_id}", "n", job_id)
        client.lpush("all:jobs", job_id)


def ids(took: Taken) -> list[bytes]:
    return [job.id for job in took.jobs]


def test_acknowledgements_sent_without_waiting_are_done_before_the_next_take(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b", "c", "d")
    feed = Feed(q.client, q.keys, W, "host")
    assert ids(feed.take(b"", 2)) == [b"a", b"b"]  # the first EVALSHA also loads the script
    feed.finish(b"a")  # a done: no reply awaited
    assert feed.answered().acked == []
    assert ids(feed.take(b"b", 2)) == [b"c", b"d"]
    assert feed.answered().acked == [(b"a", True), (b"b", True)]
    assert client.exists("job:a", "job:b") == 0
    assert client.lrange(OWN, 0, -1) == [b"d", b"c"]
    feed.close()


def test_a_held_job_starts_once_the_acknowledgement_before_it_says_it_may(
    client: redis.Redis, q: Queue
) -> None:
    """go_on: the acknowledgement of a job, awaited, says whether the held job after it
    may start (its start stamped then); one cancelled while held ends cancelled there
    and leaves the worker's list, never started."""
    enqueue(client, "a", "b", "c", "d")
    feed = Feed(q.client, q.keys, W, "host", keep_ms=60_000)
    assert ids(feed.take(b"", 4)) == [b"a", b"b", b"c", b"d"]
    client.hdel("job:b", STARTED_AT)
    assert feed.go_on(b"a", b"b")
    assert feed.answered().acked == [(b"a", True)]
    assert client.hget("job:b", STARTED_AT) is not None
    assert Producer(client).cancel("c").outcome == "stopping"  # (running, to Redis)
    assert not feed.go_on(b"b", b"c")
    assert state_of(client, "c") == b"cancelled" and client.lrange(OWN, 0, -1) == [b"d"]
    assert feed.answered().acked == [(b"b", True)]
    assert Producer(client).cancel("d").outcome == "stopping"
    assert not feed.go_on(b"", b"d")  # (no job finished: only the next one asked about)
    assert feed.answered().acked == [] and state_of(client, "d") == b"cancelled"
    assert client.llen(OWN) == 0 and client.zcard("finished:jobs") == 4
    feed.close()


@pytest.mark.parametrize("blmove", [True, False], ids=["BLMOVE", "BRPOPLPUSH"])
def test_a_wait_returns_a_job_pushed_meanwhile_with_its_data(
    client: redis.Redis, q: Queue, blmove: bool
) -> None:
    feed = Feed(q.client, q.keys, W, "host")
    feed.blmove = blmove  # False: as before Redis 6.2
    assert feed.wait(1, 5, "all").jobs == []  # a second with nothing: no job
    pusher = threading.Timer(0.2, enqueue, args=(client, "late"))
    pusher.start()
    [job] = feed.wait(5, 5, "all").jobs
    pusher.join()
    assert (job.id, job.fields[b"n"]) == (b"late", b"late")
    assert client.lrange(OWN, 0, -1) == [b"late"]
    feed.close()


def test_a_long_wait_ends_when_its_wake_says_and_nothing_it_moved_is_lost(
    client: redis.Redis, q: Queue
) -> None:
    """A worker asked to look (or orphaned, or its master silent) leaves a 30 s wait
    within a tick: the line is dropped, Redis frees the blocked client, and an id the
    BLMOVE moved into the worker's list stays there for its next take."""
    feed = Feed(q.client, q.keys, W, "host")
    asked = threading.Event()
    timer = threading.Timer(0.3, asked.set)
    timer.start()
    started = time.monotonic()
    woken = feed.wait(30, 5, "all", asked.is_set, tick_s=0.05)
    assert woken.jobs == [] and woken.woken
    assert time.monotonic() - started < 5
    timer.join()
    wait_until(lambda: int(client.info("clients")["blocked_clients"]) == 0, 5, "unblocked")
    client.hset("job:moved", "n", "1")
    client.lpush(OWN, "moved")  # as if the BLMOVE had moved it just before the wake
    assert ids(feed.take(b"", 5)) == [b"moved"]
    enqueue(client, "late")
    # ("moved" is in hand now) the line works again
    [job] = feed.wait(30, 5, "all", lambda: False, tick_s=0.05, known=1).jobs
    assert job.id == b"late"
    feed.close()


def test_scripts_flushed_between_sends_are_loaded_and_nothing_is_handed_out_twice(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b", "c", "d")
    feed = Feed(q.client, q.keys, W, "host")
    assert ids(feed.take(b"", 2)) == [b"a", b"b"]
    client.script_flush()
    feed.finish(b"a")  # refused: NOSCRIPT
    jobs = feed.take(b"b", 2)  # refused too; both are redone
    assert ids(jobs) == [b"c", b"d"]
    assert feed.answered().acked == [(b"a", True), (b"b", True)]
    assert client.exists("job:a", "job:b") == 0
    assert client.lrange(OWN, 0, -1) == [b"d", b"c"]
    feed.close()


def test_a_line_broken_with_replies_due_resends_the_acknowledgements(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b", "c")
    feed = Feed(q.client, q.keys, W, "host")
    assert ids(feed.take(b"", 3)) == [b"a", b"b", b"c"]
    feed.finish(b"a")
    client.client_kill_filter(_type="normal", skipme=True)  # the feed's connection
    with pytest.raises(ConnectionLost):
        feed.take(b"b", 3)
    assert feed.unsure == [b"a", b"b"]
    feed.settle()  # done already (-1) or done now (1): either way ours, and finished
    assert feed.answered().acked == [(b"a", True), (b"b", True)]
    assert client.exists("job:a", "job:b") == 0
    assert client.lrange(OWN, 0, -1) == [b"c"]
    feed.close()


def test_an_acknowledgement_sent_again_for_a_job_kept_done_is_no_requeue(
    client: redis.Redis, q: Queue
) -> None:
    """With finished jobs kept (keep_finished), a job's hash outlives its end: an
    acknowledgement sent again after a broken line finds the job done by this worker,
    not taken away; a job that was taken away and finished by another stays not ours."""
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host", keep_ms=60_000)
    assert ids(feed.take(b"", 1)) == [b"a"]
    feed.finish(b"a")
    feed.settle()
    assert feed.answered().acked == [(b"a", True)] and state_of(client, "a") == b"done"
    feed.unsure.append(b"a")  # its reply was lost with the line: sent again
    feed.settle()
    assert feed.answered().acked == [(b"a", True)]
    other = Feed(q.client, q.keys, "host.2", "host", keep_ms=60_000)
    assert ids(feed.take(b"", 1)) == [b"b"]
    q.requeue(W, cost=0, max_attempts=3, reason="taken away")
    assert ids(other.take(b"", 1)) == [b"b"]
    other.finish(b"b")
    other.settle()
    feed.unsure.append(b"b")  # ours once, done by the other since
    feed.settle()
    assert feed.answered().acked == [(b"b", False)]
    feed.close()
    other.close()


def state_of(client: redis.Redis, job_id: str) -> bytes | None:
    value: bytes | None = client.hget(f"job:{job_id}", "qwsup:state")
    return value


def test_an_acknowledgement_of_a_job_requeued_meanwhile_is_refused(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 2)
    q.requeue(W, cost=0, max_attempts=3, reason="taken away")
    feed.finish(b"a")
    feed.settle()
    assert feed.answered().acked == [(b"a", False)]
    assert client.exists("job:a") == 1 and client.lrange("all:jobs", 0, -1) == [b"b", b"a"]
    feed.close()


def test_the_kinds_of_a_take_reply_are_typed() -> None:
    """take.lua's kinds come back as JobKind members; another type of key as its name."""
    took = taken([1, 0, 250, [b"a", b"hash", [b"n", b"1"]], [b"", b"empty"],
                  [b"b", b"oversize", 9], [b"c", b"none"], [b"d", b"string"]])  # fmt: skip
    assert took.finished and not took.fenced and took.held_ms == 250
    assert [job.kind for job in took.jobs] == [
        JobKind.HASH, JobKind.EMPTY, JobKind.OVERSIZE, JobKind.MISSING, "string",
    ]  # fmt: skip
    assert all(isinstance(job.kind, JobKind) for job in took.jobs[:4])
    assert took.jobs[0].fields == {b"n": b"1"} and took.jobs[2].size == 9


# -- a job's writes, sent with its acknowledgement (qwsup.pipeline) -------------------

WRITES = ((b"HINCRBY", b"result", b"a", b"1"), (b"RPUSH", b"order", b"a"))


def test_a_jobs_writes_are_applied_with_its_acknowledgement(client: redis.Redis, q: Queue) -> None:
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 2)
    feed.finish(b"a", WRITES)
    feed.take(b"b", 1)  # the last of a batch: its take carries no writes
    answered = feed.answered()
    assert answered.acked == [(b"a", True), (b"b", True)]
    assert client.hgetall("result") == {b"a": b"1"} and client.lrange("order", 0, -1) == [b"a"]
    assert feed.ends == {} and answered.failed_writes == []
    feed.close()


def test_the_last_job_of_a_batch_sends_its_writes_with_the_take(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host")
    assert ids(feed.take(b"", 1)) == [b"a"]
    assert ids(feed.take(b"a", 1, WRITES)) == [b"b"]
    assert feed.answered().acked == [(b"a", True)] and client.exists("job:a") == 0
    assert client.hgetall("result") == {b"a": b"1"}
    feed.close()


def test_a_write_that_fails_is_reported_and_the_others_are_applied(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a")
    client.set("text", "not a list")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 1)
    bad = (WRITES[0], (b"RPUSH", b"text", b"x"), (b"NOSUCHCOMMAND",), WRITES[1])
    feed.finish(b"a", bad)
    feed.settle()
    answered = feed.answered()
    assert answered.acked == [(b"a", True)] and client.exists("job:a") == 0
    [(job_id, failed)] = answered.failed_writes
    assert job_id == b"a" and [n for n, _ in failed] == [2, 3]
    assert "WRONGTYPE" in failed[0][1] and "unknown redis command" in failed[1][1].lower()
    assert client.hgetall("result") == {b"a": b"1"} and client.lrange("order", 0, -1) == [b"a"]
    feed.close()


def test_the_writes_of_a_job_requeued_meanwhile_are_not_applied(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 1)
    q.requeue(W, cost=0, max_attempts=3, reason="taken away")  # it may run again elsewhere
    feed.finish(b"a", WRITES)
    feed.settle()
    assert feed.answered().acked == [(b"a", False)]
    assert client.exists("result", "order") == 0 and feed.ends == {}
    feed.close()


def test_writes_sent_again_after_a_broken_line_are_applied_once(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 2)
    feed.finish(b"a", WRITES)
    client.client_kill_filter(_type="normal", skipme=True)  # the feed's connection
    with pytest.raises(ConnectionLost):
        feed.take(b"b", 1)
    assert feed.unsure == [b"a", b"b"] and b"a" in feed.ends
    feed.settle()  # a: done already (its writes with it) or done now (with them)
    assert feed.answered().acked == [(b"a", True), (b"b", True)]
    assert client.hgetall("result") == {b"a": b"1"} and client.lrange("order", 0, -1) == [b"a"]
    feed.close()


def test_an_acknowledgement_not_sent_for_a_failed_resend_is_sent_again_later(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(client, "a", "b")
    feed = Feed(q.client, q.keys, W, "host")
    feed.take(b"", 2)
    resend = feed._resend_unsure

    def unreachable() -> None:
        raise ConnectionLost("Redis is down")

    feed._resend_unsure = unreachable  # type: ignore[method-assign]  # (what was unsure)
    with pytest.raises(ConnectionLost):
        feed.finish(b"a", WRITES)
    assert feed.unsure == [b"a"] and feed.sent == []  # not lost: to send again
    feed._resend_unsure = resend  # type: ignore[method-assign]  # Redis is back
    feed.settle()
    assert feed.answered().acked == [(b"a", True)] and client.hgetall("result") == {b"a": b"1"}
    feed.close()
