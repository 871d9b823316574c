"""What a handler asks while it runs (qwsup/worker/current.py): its job's id and the writes it
sends with the job's end, seen per job in threads and asyncio tasks; no Redis (the
writes are queued, never sent, and a client is made but never connects)."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Iterator

import pytest
import redis

import qwsup
from qwsup.errors import QwsupError
from qwsup.store.records import Job
from qwsup.worker import current
from qwsup.worker.runner import Ending, InHand, Runner

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def worker_process() -> Iterator[None]:
    """As a worker's boot does: a client made on first use (never connected here)."""
    current.install(lambda: redis.Redis(port=1), cluster=False)
    yield
    current.install(lambda: redis.Redis(port=1), cluster=False)


def job(name: str) -> Job:
    return Job(name.encode(), "hash", {b"n": b"1"})


def test_outside_a_job_the_helpers_say_so() -> None:
    for helper in (qwsup.job_id, qwsup.redis, qwsup.pipeline):
        with pytest.raises(qwsup.NotInJob, match="for a handler"):
            helper()


def test_a_run_gets_its_jobs_id_and_returns_its_writes_encoded() -> None:
    seen: list[str] = []

    def handler(job_id: str, data: dict[str, str]) -> None:
        seen.append(qwsup.job_id())
        qwsup.pipeline().hset(f"result:{job_id}", "n", 7).incr("count")
        assert qwsup.pipeline() is qwsup.pipeline()  # one per job

    ran = Runner(handler, "job:", 0).run(job("a"), InHand())
    assert ran.ending is Ending.RETURNED and seen == ["a"]
    assert ran.writes == ((b"HSET", b"result:a", b"n", 7), (b"INCRBY", b"count", 1))
    with pytest.raises(qwsup.NotInJob):
        qwsup.job_id()  # the run is over


def test_a_run_that_raises_sends_no_writes() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        qwsup.pipeline().set("k", "v")
        raise ValueError("no")

    ran = Runner(handler, "job:", 0).run(job("a"), InHand())
    assert ran.ending is Ending.RAISED and ran.writes == ()


def test_the_writes_are_not_for_executing_and_are_bounded() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        writes = qwsup.pipeline()
        with pytest.raises(QwsupError, match="do not execute them"):
            writes.execute()
        with pytest.raises(QwsupError, match="at most 1000 words"):
            writes.sadd("s", *range(current.MAX_WORDS))
        for n in range(current.MAX_WRITES):
            writes.incr(f"k{n}")
        with pytest.raises(QwsupError, match="at most 1000 writes"):
            writes.incr("one more")

    ran = Runner(handler, "job:", 0).run(job("a"), InHand())
    assert ran.ending is Ending.RETURNED and len(ran.writes) == current.MAX_WRITES


def test_a_write_is_packed_as_redis_py_would_and_a_bad_word_refused_when_queued() -> None:
    class Status(enum.IntEnum):
        OK = 200

    def handler(job_id: str, data: dict[str, str]) -> None:
        writes = qwsup.pipeline()
        writes.set("k", bytearray(b"v")).rpush("l", memoryview(b"w"), 1.5, Status.OK)
        writes.execute_command("XGROUP CREATE", "s", "g", "$")  # split as redis-py does
        for bad, name in ((None, "'NoneType'"), (True, "'bool'"), ("\udcff", "not valid UTF-8")):
            with pytest.raises(redis.DataError, match=name):
                writes.execute_command("SET", "k", bad)
        for refused in (lambda: writes.watch("k"), writes.multi, writes.discard):
            with pytest.raises(QwsupError):
                refused()
        with qwsup.pipeline() as again:  # the usual redis-py idiom keeps them
            again.incr("n")

    ran = Runner(handler, "job:", 0).run(job("a"), InHand())
    assert ran.ending is Ending.RETURNED
    assert ran.writes == (
        (b"SET", b"k", b"v"),
        (b"RPUSH", b"l", b"w", 1.5, 200),
        (b"XGROUP", b"CREATE", b"s", b"g", b"$"),
        (b"INCRBY", b"n", 1),
    )
    assert type(ran.writes[1][4]) is int  # hiredis packs a plain int, not an IntEnum


def test_on_a_cluster_the_writes_are_refused_with_a_reason() -> None:
    current.install(lambda: redis.Redis(port=1), cluster=True)

    def handler(job_id: str, data: dict[str, str]) -> None:
        qwsup.pipeline()

    ran = Runner(handler, "job:", 0).run(job("a"), InHand())
    assert ran.ending is Ending.RAISED and "not a cluster" in ran.error


def test_the_workers_client_is_made_once_and_shared() -> None:
    clients: list[object] = []

    def handler(job_id: str, data: dict[str, str]) -> None:
        clients.append(qwsup.redis())

    runner = Runner(handler, "job:", 0)
    runner.run(job("a"), InHand())
    runner.run(job("b"), InHand())
    assert clients[0] is clients[1]


def test_threads_and_tasks_each_see_their_own_job() -> None:
    both = threading.Barrier(2, timeout=5)

    def handler(job_id: str, data: dict[str, str]) -> None:
        qwsup.pipeline().rpush("order", job_id)
        both.wait()  # the other thread's job runs meanwhile
        assert qwsup.job_id() == job_id

    runner = Runner(handler, "job:", 0)
    results = {}

    def run(name: str) -> None:
        results[name] = runner.run(job(name), InHand())

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert {n: r.writes for n, r in results.items()} == {
        n: ((b"RPUSH", b"order", n.encode()),) for n in ("a", "b")
    }

    async def async_handler(job_id: str, data: dict[str, str]) -> None:
        qwsup.pipeline().rpush("order", job_id)
        await asyncio.sleep(0.01)  # the other task runs meanwhile
        assert qwsup.job_id() == job_id

    async def both_tasks() -> list[object]:
        runner = Runner(async_handler, "job:", 0)
        return list(await asyncio.gather(*(runner.run_async(job(n), InHand()) for n in "ab")))

    ran = asyncio.run(both_tasks())
    assert [r.writes for r in ran] == [((b"RPUSH", b"order", n.encode()),) for n in "ab"]  # type: ignore[attr-defined]
