"""The job events stream (all:events): what each step of a job writes there (the
scripts, against a real Redis), the cap, and `qwsup events` on the real qwsup."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis
from takes import ack, take

from qwsup.produce.producer import Producer
from qwsup.store.events import event_of, last
from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from qwsup.store.records import Retry
from support import Qwsup, state
from testkit.wait import wait_until

W = "host.1"


def events(client: redis.Redis) -> list[tuple[str, str, str, str]]:
    """(event, job id, queue, worker) of every entry, oldest first."""
    return [(e.event, e.job, e.queue, e.worker) for e in last(client, "all:events", 1000)]


@pytest.mark.unit
def test_an_entry_reads_as_an_event_with_its_time() -> None:
    event = event_of(
        b"1733100000123-0",
        {b"event": b"retrying", b"id": b"j1", b"queue": b"all", b"worker": b"h.1",
         b"attempt": b"2", b"error": b"boom"},
    )  # fmt: skip
    assert (event.at, event.event, event.job, event.more) == (
        1733100000.123, "retrying", "j1", {"attempt": "2", "error": "boom"},
    )  # fmt: skip
    assert event.as_dict()["worker"] == "h.1" and "retrying" in event.line()
    assert "attempt=2 error=boom" in event.line()


@pytest.mark.redis
def test_a_jobs_life_is_on_the_stream_in_order(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"}, queue="builds")
    line = Queue(client, Keys(), 60_000)
    from takes import feed

    [job] = feed(q, W, "host", queues=("builds",)).take(b"", 1).jobs
    line.report_progress(W, {job_id: (0.5, "half")})
    assert ack(q, W, job.id, keep_ms=60_000)
    assert events(client) == [
        ("enqueued", job_id, "builds", ""), ("started", job_id, "builds", W),
        ("progress", job_id, "builds", W), ("done", job_id, "builds", W),
    ]  # fmt: skip
    progress = last(client, "all:events", 2)[0]
    assert progress.more == {"progress": "0.5", "message": "half"}


@pytest.mark.redis
def test_failures_retries_and_cancels_are_on_the_stream(client: redis.Redis, q: Queue) -> None:
    producer = Producer(client)
    job_id = producer.enqueue({"n": "1"})
    take(q, W, "host")
    q.fail(W, job_id.encode(), error="boom", retry=Retry(max_attempts=2))
    take(q, W, "host")
    q.fail(W, job_id.encode(), error="boom again", retry=Retry(max_attempts=2))
    gone = producer.enqueue({"n": "2"})
    producer.cancel(gone)
    got = last(client, "all:events", 100)
    assert [(e.event, e.job) for e in got] == [
        ("enqueued", job_id),
        ("started", job_id),
        ("retrying", job_id),
        ("started", job_id),
        ("failed", job_id),
        ("enqueued", gone),
        ("cancelled", gone),
    ]
    assert got[2].more == {"attempt": "1", "error": "boom"}
    assert got[4].more == {"error": "boom again"}


@pytest.mark.redis
def test_the_stream_is_capped_and_max_len_0_writes_none(client: redis.Redis) -> None:
    Producer(client, events_max=100).enqueue_many([{"n": str(i)} for i in range(1000)])
    assert 100 <= client.xlen("all:events") < 300  # MAXLEN ~: trimmed by whole nodes
    client.delete("all:events")
    Producer(client, events_max=0).enqueue_many([{"n": str(i)} for i in range(10)])
    assert client.exists("all:events") == 0


@pytest.mark.process
def test_qwsup_events_shows_the_latest_and_follows_new_ones(
    start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    producer = Producer(r)
    first = producer.enqueue({"n": "1"})
    wait_until(lambda: state(r, first) == b"done", 10, "the first job")
    shown = qw.command("events", "--json")
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(e["event"], e["id"]) for e in lines] == [
        ("enqueued", first),
        ("started", first),
        ("done", first),
    ]
    assert lines[2]["worker"].startswith("testhost.") and lines[2]["queue"] == "all"
    command = [sys.executable, "-m", "qwsup", "-c", str(qw.config), "events", "-n", "0", "-f"]
    follower = subprocess.Popen(
        command, env=qw.env, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        wait_until(  # its XREAD is blocked before the job is enqueued
            lambda: any(c.get("cmd") == "xread" for c in r.client_list()), 10, "the follower"
        )
        second = producer.enqueue({"n": "2"})
        assert follower.stdout is not None
        seen = [follower.stdout.readline() for _ in range(3)]
        assert [line.split()[2:4] for line in seen] == [
            ["enqueued", second],
            ["started", second],
            ["done", second],
        ]
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()
    assert code == 0
