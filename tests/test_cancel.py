"""Cancelling jobs: the rules (pure), the scripts against a real Redis (a waiting job
leaves its queue; a job in a worker's list ends cancelled whatever moves it next), and
the real qwsup stopping a running job, on this master or on another one."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable

import pytest
import redis
from takes import ack, feed, finish_and_take, take

from qwsup.config import parse as parse_config
from qwsup.errors import JobFailed, UnknownJob
from qwsup.master import cancels
from qwsup.master.actions import Cause, Send, StopJob
from qwsup.master.cancels import Stopping
from qwsup.master.pool import Pool, Proc
from qwsup.produce.producer import Producer
from qwsup.scoreboard import MAX_CANCELS, MasterBoard, job_digest
from qwsup.store.keys import ATTEMPTS
from qwsup.store.queue import Queue
from qwsup.store.records import CANCELLED, Retry
from qwsup.store.requests import Request, parse
from support import Qwsup, runs, started_pid, state
from testkit.wait import wait_until

W = "host.1"
Start = Callable[..., Qwsup]


# -- pure: the rules ---------------------------------------------------------------------


@pytest.mark.unit
def test_a_stop_request_names_a_worker_of_ours_and_a_job() -> None:
    assert parse(b"web-1.41\tjob-7", "web-1") == Request("web-1.41", 41, b"job-7")
    assert parse(b"web-1.41\ta\tb", "web-1") == Request("web-1.41", 41, b"a\tb")
    for raw in (b"web-2.41\tjob-7", b"web-1.41", b"web-1.x\tjob", b"web-1.41\t", b""):
        assert parse(raw, "web-1") is None


@pytest.mark.unit
def test_a_worker_that_keeps_its_cancelled_job_past_quick_timeout_is_due() -> None:
    stopping = Stopping(quick_timeout=5.0)
    first = stopping.ordered(Request("h.1", 1, b"a"), now=100.0)
    stopping.ordered(Request("h.2", 2, b"b"), now=102.0)
    assert first.kill_at == 105.0 and stopping.next_deadline() == 105.0
    assert stopping.due(104.9) == []
    assert [o.job for o in stopping.due(105.0)] == [b"a"]
    assert stopping.due(105.0) == []  # taken off: each is checked once
    stopping.gone(2)
    assert stopping.due(1000.0) == [] and stopping.next_deadline() == float("inf")


def pool_of(*pids: int) -> Pool:
    pool = Pool(parse_config("w.toml", '[supervisor]\nname = "h"\n[workers]\ncount = 2\n'))
    for pid in pids:
        pool.started(Proc(pid, f"h.{pid}", 1, ("default", pid % 2), 0.0))
    return pool


@pytest.mark.unit
def test_a_request_for_a_live_worker_of_ours_becomes_an_order_and_the_rest_are_dropped() -> None:
    pool, stopping = pool_of(7, 8), Stopping(quick_timeout=5.0)
    pool.procs[8].dismissal.killed = True
    requests = [Request("h.7", 7, b"a"), Request("h.8", 8, b"b"), Request("h.9", 9, b"c")]
    requests.append(Request("h.70", 7, b"d"))  # the pid of another worker now
    assert cancels.orders(requests, pool, stopping, now=100.0) == [StopJob(7, b"a")]
    assert [(o.pid, o.job, o.kill_at) for o in stopping.orders] == [(7, b"a", 105.0)]


@pytest.mark.unit
def test_a_worker_still_holding_its_cancelled_job_at_its_deadline_is_killed_for_it() -> None:
    pool, stopping = pool_of(7, 8), Stopping(quick_timeout=5.0)
    cancels.orders([Request("h.7", 7, b"a"), Request("h.8", 8, b"b")], pool, stopping, 100.0)
    asked: list[bytes] = []

    def holds(order: cancels.Order) -> bool:
        asked.append(order.job)
        return order.pid == 7  # worker 8 ended its job in time

    assert cancels.overdue(pool, stopping, 104.0, holds) == [] and asked == []
    assert cancels.overdue(pool, stopping, 105.0, holds) == [Send(7, signal.SIGKILL)]
    assert asked == [b"a", b"b"]
    dismissal = pool.procs[7].dismissal
    assert dismissal.killed and dismissal.cause is Cause.CANCELLED
    assert dismissal.reason == "its job a was cancelled and did not stop"
    assert not pool.procs[8].dismissal.killed
    assert cancels.overdue(pool, stopping, 1000.0, holds) == []  # each order settled once


@pytest.mark.unit
def test_the_board_tells_each_worker_its_own_stop_orders_once() -> None:
    board = MasterBoard()
    try:
        assert board.orders() == 0 and board.stop_orders(10, 0) == (0, set())
        board.order_stop(10, b"a")
        board.order_stop(11, b"b")
        board.order_stop(10, b"c")
        seen, mine = board.stop_orders(10, 0)
        assert (seen, mine) == (3, {job_digest(b"a"), job_digest(b"c")})
        assert board.stop_orders(10, seen) == (3, set())  # nothing new
        assert board.stop_orders(11, 0) == (3, {job_digest(b"b")})
        for i in range(MAX_CANCELS + 5):  # more than the board keeps: the latest stay
            board.order_stop(12, str(i).encode())
        seen, latest = board.stop_orders(12, 3)
        assert seen == MAX_CANCELS + 8 and len(latest) == MAX_CANCELS
        assert job_digest(str(MAX_CANCELS + 4).encode()) in latest
        assert job_digest(b"0") not in latest
    finally:
        board.close()


# -- the scripts ------------------------------------------------------------------------


@pytest.mark.redis
def test_a_queued_job_leaves_its_queue_and_ends_cancelled(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    keep, gone = producer.enqueue({"n": "1"}), producer.enqueue({"n": "2"}, unique="nightly")
    done = producer.cancel(gone)
    assert (done.outcome, done.state.value) == ("cancelled", "queued")
    assert client.lrange("all:jobs", 0, -1) == [keep.encode()]
    assert state(client, gone) == b"cancelled" and client.zscore("finished:jobs", gone)
    assert client.exists("unique:nightly") == 0  # its name is free
    assert producer.cancel(gone).outcome == "ended"  # a second cancel changes nothing
    with pytest.raises(JobFailed, match=f"job {gone} cancelled") as caught:
        producer.wait(gone, timeout=1)
    assert caught.value.state == "cancelled"
    with pytest.raises(UnknownJob):
        producer.cancel("no-such-job")


@pytest.mark.redis
def test_a_plain_producers_waiting_job_ends_cancelled_and_keeps_its_hash(
    client: redis.Redis,
) -> None:
    """A job enqueued with the article's protocol (HSET job:<id>, LPUSH all:jobs: no
    qwsup: field) reads as queued: cancelled, it is kept as cancelled like any other,
    and whoever waits for it is told."""
    client.hset("job:plain", "n", "1")
    client.lpush("all:jobs", "plain")
    producer = Producer(client)
    waiter = threading.Thread(target=lambda: told.append(_waited(producer, "plain")))
    told: list[str] = []
    client.hset("job:plain", "qwsup:waited", "1")  # as a waiter's wait.lua marks it
    waiter.start()
    done = producer.cancel("plain")
    assert (done.outcome, done.state.value) == ("cancelled", "queued")
    assert client.llen("all:jobs") == 0
    assert state(client, "plain") == b"cancelled" and client.hget("job:plain", "n") == b"1"
    assert client.zscore("finished:jobs", "plain")
    waiter.join(10)
    assert told == ["cancelled"]
    info = producer.job("plain")
    assert info is not None and info.state.value == "cancelled"


def _waited(producer: Producer, job_id: str) -> str:
    try:
        producer.wait(job_id, timeout=10)
    except JobFailed as failed:
        return failed.state
    return "done"


@pytest.mark.redis
def test_a_job_on_a_named_or_host_queue_leaves_that_one(client: redis.Redis) -> None:
    producer = Producer(client)
    built = producer.enqueue({"n": "1"}, queue="builds")
    hosted = producer.enqueue({"n": "2"}, host="web-1")
    assert producer.cancel(built).outcome == producer.cancel(hosted).outcome == "cancelled"
    assert client.llen("builds:jobs") == client.llen("web-1:jobs") == 0


@pytest.mark.redis
def test_a_scheduled_job_leaves_delayed_jobs(client: redis.Redis) -> None:
    producer = Producer(client)
    later = producer.enqueue({"n": "1"}, delay=3600)
    assert producer.cancel(later).state.value == "scheduled"
    assert client.zcard("delayed:jobs") == 0 and state(client, later) == b"cancelled"


@pytest.mark.redis
def test_an_ended_job_is_left_as_it_is(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    take(q, W, "host")
    assert ack(q, W, job_id.encode(), keep_ms=60_000, result=(b"text", b"ok"))
    done = producer.cancel(job_id)
    assert (done.outcome, done.state.value) == ("ended", "done")
    assert producer.wait(job_id, timeout=1) == "ok"


@pytest.mark.redis
def test_a_running_job_is_asked_to_stop_and_its_master_is_told(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    take(q, W, "host")
    done = producer.cancel(job_id)
    assert (done.outcome, done.worker) == ("stopping", W)
    assert client.lrange("host:cancels", 0, -1) == [f"{W}\t{job_id}".encode()]
    assert state(client, job_id) == b"running"  # until its worker lets it go


@pytest.mark.redis
@pytest.mark.parametrize("how", ["acked", "failed", "requeued", "given back"])
def test_a_job_asked_to_stop_ends_cancelled_whatever_moves_it(
    client: redis.Redis, q: Queue, how: str
) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"}, unique="nightly")
    take(q, W, "host")
    producer.cancel(job_id)
    if how == "acked":  # it returned before it could be stopped
        assert ack(q, W, job_id.encode(), keep_ms=60_000, result=(b"text", b"late"))
    elif how == "failed":  # JobCancelled, or anything else it raised
        assert q.fail(W, job_id.encode(), error="x", retry=Retry(max_attempts=5)) == -2
    elif how == "requeued":  # its worker killed, or it died
        moved = q.requeue(W, cost=1, max_attempts=5, reason="killed")
        assert (moved.requeued, moved.cancelled) == (0, 1)
    else:
        assert q.give_back(W, [job_id.encode()]) == 1
    info = producer.job(job_id)
    assert info is not None and info.state.value == "cancelled" and info.result is None
    assert client.hget(f"job:{job_id}", ATTEMPTS) is None  # not charged
    assert client.llen("all:jobs") == client.llen("failed:jobs") == client.llen(f"{W}:jobs") == 0
    assert client.exists("unique:nightly", "delayed:jobs") == 0


@pytest.mark.redis
def test_a_cancelled_job_already_in_a_workers_list_is_dropped_by_its_take(
    client: redis.Redis, q: Queue
) -> None:
    """A worker's blocking wait moved the id into its list just before the cancel: the
    job is cancelled all the same, and the take drops it."""
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    client.lmove("all:jobs", f"{W}:jobs", "RIGHT", "LEFT")  # as the BLMOVE does
    assert producer.cancel(job_id).outcome == "cancelled"
    [job] = take(q, W, "host")
    assert (job.id, job.kind) == (job_id.encode(), CANCELLED)
    assert client.llen(f"{W}:jobs") == 0 and state(client, job_id) == b"cancelled"


@pytest.mark.redis
def test_a_job_asked_to_stop_while_held_is_dropped_by_the_next_take(
    client: redis.Redis, q: Queue
) -> None:
    producer = Producer(client)
    first, held = producer.enqueue({"n": "1"}), producer.enqueue({"n": "2"})
    take(q, W, "host", want=2)
    assert producer.cancel(held).outcome == "stopping"
    # the worker went away and a new one reads its list (take.lua's held), none known
    got = feed(q, W, "host").take(b"", 2, known=0).jobs
    assert [(j.id, j.kind) for j in got] == [(first.encode(), "hash"), (held.encode(), CANCELLED)]
    assert finish_and_take(q, W, "host", first.encode()).finished


@pytest.mark.redis
def test_cancel_queue_cancels_what_waits_and_leaves_the_rest(client: redis.Redis) -> None:
    producer = Producer(client)
    waiting = producer.enqueue_many([{"n": str(i)} for i in range(25)], queue="builds")
    other = producer.enqueue({"n": "x"})
    assert producer.cancel_queue("builds") == 25
    assert client.llen("builds:jobs") == 0 and client.lrange("all:jobs", 0, -1) == [other.encode()]
    assert all(state(client, i) == b"cancelled" for i in waiting)
    assert producer.cancel_queue("builds") == 0
    with pytest.raises(ValueError, match="queue names"):
        producer.cancel_queue("no such")


# -- the real qwsup ---------------------------------------------------------------------


def stopped_at(r: redis.Redis, job_id: str) -> tuple[str, float]:
    raw = wait_until(lambda: r.hget("test:stopped", job_id), 15, f"job {job_id} stopped")
    what, when = raw.decode().split()
    return what, float(when)


@pytest.mark.process
def test_a_running_job_is_stopped_at_once_and_its_worker_goes_on(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"handler": "testjobs:cancellable", "count": 1})
    qw.wait_workers(1)
    producer = Producer(r)
    job_id = producer.enqueue({"sleep": "60"})
    pid = started_pid(r, job_id)
    asked = time.time()
    shown = qw.command("cancel", job_id)
    assert shown.returncode == 0, shown.stderr
    assert f"{job_id}: cancelled, running on testhost.{pid}: its master stops it" in shown.stdout
    what, when = stopped_at(r, job_id)
    assert what == "JobCancelled" and when - asked < 5  # (the command's own start included)
    wait_until(lambda: state(r, job_id) == b"cancelled", 10, "the job cancelled")
    info = producer.job(job_id)
    assert info is not None and info.attempts == 0 and r.llen("failed:jobs") == 0
    assert qw.worker_pids() == {pid}  # the same worker goes on
    after = producer.enqueue({"sleep": "0"})
    wait_until(lambda: state(r, after) == b"done", 10, "the next job")
    qw.wait_log(f"job {job_id} cancelled")
    again = qw.command("cancel", job_id, "no-such-job")
    assert again.returncode == 1
    assert f"{job_id}: had ended (cancelled): nothing to cancel" in again.stdout
    assert "cancel: no job no-such-job" in again.stderr


@pytest.mark.process
def test_a_job_cancelled_while_held_never_starts(start_qwsup: Start, r: redis.Redis) -> None:
    """A worker holds b, taken along behind a, when a's handler cancels b. The master is
    stopped (SIGSTOP): no stop order reaches the worker. Redis says whether b may start,
    in the acknowledgement of a: b ends cancelled, never started. (A worker takes b
    with a only while its jobs are short: short jobs come before each pair, and the
    pairs go on until one was held.)"""
    qw = start_qwsup(
        workers={"handler": "testjobs:cancelling", "count": 1, "prefetch": 10},
        supervisor={"lease_timeout": 60},  # (its workers go on 20 s without their master)
    )
    qw.wait_workers(1)
    producer = Producer(r)

    def short_jobs() -> None:  # a worker whose jobs are short takes up to 10 at once
        ids = producer.enqueue_many([{"n": str(i)} for i in range(30)])
        wait_until(lambda: all(state(r, i) == b"done" for i in ids), 15, "the short jobs")

    qw.send(signal.SIGSTOP)
    answers = []
    try:
        deadline = time.monotonic() + 15
        while b"stopping" not in answers and time.monotonic() < deadline:
            short_jobs()
            a, b = f"a{len(answers)}", f"b{len(answers)}"
            with r.pipeline() as pipe:  # a plain producer's two jobs, at once
                pipe.hset(f"job:{a}", mapping={"other": b})
                pipe.hset(f"job:{b}", "record", "1")
                pipe.lpush("all:jobs", a, b)
                pipe.execute()
            wait_until(lambda a=a: state(r, a) == b"done", 15, f"{a} done")
            wait_until(lambda b=b: state(r, b) == b"cancelled", 15, f"{b} cancelled")
            answers.append(r.hget("test:cancel", b))  # stopping: it was in the worker's list
            assert b not in runs(r) and r.llen("all:jobs") == 0
        assert b"stopping" in answers, answers
        qw.wait_log(f"job {b} was cancelled while held: dropped, not started")
    finally:
        qw.send(signal.SIGCONT)
    after = producer.enqueue({"n": "after"})
    wait_until(lambda: state(r, after) == b"done", 15, "the next job")


@pytest.mark.process
def test_a_job_that_will_not_stop_has_its_worker_killed_after_quick_timeout(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(
        workers={"handler": "testjobs:record", "count": 1, "prefetch": 1},
        supervisor={"quick_timeout": 1},
    )
    [pid] = qw.wait_workers(1)
    producer = Producer(r)
    stubborn = producer.enqueue({"action": "stubborn"})
    assert started_pid(r, stubborn) == pid
    asked = time.monotonic()
    assert producer.cancel(stubborn).outcome == "stopping"
    wait_until(lambda: state(r, stubborn) == b"cancelled", 15, "the job cancelled")
    took = time.monotonic() - asked
    assert 1.0 <= took < 10
    qw.wait_log(f"its job {stubborn} was cancelled and did not stop within 1 s: SIGKILL")
    [new] = qw.wait_workers(1)
    assert new != pid
    info = producer.job(stubborn)
    assert info is not None and info.attempts == 0 and r.llen("failed:jobs") == 0
    after = producer.enqueue({"n": "1"})
    wait_until(lambda: state(r, after) == b"done", 10, "the next job, on the new worker")
    assert runs(r)[stubborn] == 1


@pytest.mark.process
@pytest.mark.parametrize(
    "handler", ["testjobs:cancellable", "testjobs:cancellable_async"], ids=["threads", "asyncio"]
)
def test_in_a_worker_of_several_jobs_only_the_cancelled_one_stops(
    start_qwsup: Start, r: redis.Redis, handler: str
) -> None:
    qw = start_qwsup(workers={"handler": handler, "count": 1, "concurrency": 3})
    [pid] = qw.wait_workers(1)
    producer = Producer(r)
    ids = [producer.enqueue({"sleep": "3"}) for _ in range(3)]
    for job_id in ids:
        assert started_pid(r, job_id) == pid
    producer.cancel(ids[1])
    what, _ = stopped_at(r, ids[1])
    assert what in ("JobCancelled", "CancelledError")
    for job_id in ids:
        wanted = b"cancelled" if job_id == ids[1] else b"done"
        wait_until(lambda j=job_id, w=wanted: state(r, j) == w, 20, f"{job_id} {wanted!r}")
    assert r.hget("test:stopped", ids[0]) is None and r.hget("test:stopped", ids[2]) is None
    assert qw.worker_pids() == {pid} and runs(r) == dict.fromkeys(ids, 1)


@pytest.mark.process
def test_a_job_running_on_another_host_is_cancelled_within_a_second(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """Two masters on one Redis (two hosts): a job running on hostb is cancelled from
    hosta's command line; hostb stops it, and the other job of hostb goes on."""
    hosta = start_qwsup(
        "a.toml", workers={"handler": "testjobs:cancellable", "count": 1, "queues": ["a"]},
        supervisor={"name": "hosta"},
    )  # fmt: skip
    hostb = start_qwsup(
        "b.toml", workers={"handler": "testjobs:cancellable", "count": 2, "queues": ["b"]},
        supervisor={"name": "hostb"},
    )  # fmt: skip
    hosta.wait_workers(1)
    hostb.wait_workers(2)
    producer = Producer(r)
    doomed = producer.enqueue({"sleep": "60"}, queue="b")
    spared = producer.enqueue({"sleep": "4"}, queue="b")
    for job_id in (doomed, spared):
        started_pid(r, job_id)
    assert producer.job(doomed).worker.startswith("hostb.")  # type: ignore[union-attr]
    asked = time.time()
    assert Producer(r).cancel(doomed).outcome == "stopping"
    what, when = stopped_at(r, doomed)
    wait_until(lambda: state(r, doomed) == b"cancelled", 10, "the job cancelled")
    print(f"a job running on another host: stopped {1000 * (when - asked):.0f} ms after its cancel")
    assert what == "JobCancelled" and when - asked < 1.0
    wait_until(lambda: state(r, spared) == b"done", 20, "the other job of hostb")
    assert r.hget("test:stopped", spared) is None
    hostb.wait_log(f"job {doomed} was cancelled: stopping it on worker hostb.")
    assert "was cancelled" not in hosta.log()
    assert json.loads(hosta.command("job", doomed, "--json").stdout)["state"] == "cancelled"
