"""The slots a worker runs several jobs in (slots.py): threads and asyncio tasks, with
the real runner and handlers that wait on events; no Redis, no process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from qwsup.store.records import Job
from qwsup.worker.runner import Ending, Runner
from qwsup.worker.slots import Slots, TaskSlots, ThreadSlots, is_async, slots_for
from testkit import wait_until

pytestmark = pytest.mark.unit

GO = threading.Event()


def job(n: int, **fields: str) -> Job:
    return Job(f"j{n}".encode(), "hash", {k.encode(): v.encode() for k, v in fields.items()})


def blocking(job_id: str, data: dict[str, str]) -> None:
    """Waits for GO, in Python (where a JobTimeout sent to its thread lands)."""
    while not GO.is_set():
        time.sleep(0.001)
    if data.get("fail"):
        raise ValueError(job_id)


async def waiting(job_id: str, data: dict[str, str]) -> None:
    while not GO.is_set():
        await asyncio.sleep(0.001)
    if data.get("fail"):
        raise ValueError(job_id)


@pytest.fixture(params=["threads", "tasks"])
def slots(request: pytest.FixtureRequest) -> Iterator[Slots]:
    GO.clear()
    if request.param == "threads":
        made: Slots = ThreadSlots(Runner(blocking, "job:", 5.0), 3)
    else:
        made = TaskSlots(Runner(waiting, "job:", 5.0), 3)
    yield made
    GO.set()
    made.close()


def all_ended(slots: Slots, n: int) -> list[tuple[bytes, Ending]]:
    got: list[tuple[bytes, Ending]] = []

    def more() -> bool:
        got.extend((e.job.id, e.ran.ending) for e in slots.ended(0.05))
        return len(got) >= n

    wait_until(more, 10, f"{n} runs to end")
    return sorted(got)


def test_jobs_run_at_once_up_to_the_size_and_end_as_they_end(slots: Slots) -> None:
    for n in range(3):
        slots.start(job(n, fail="1" if n == 2 else ""), 100.0 + n)
    assert slots.free == 0 and slots.oldest_start() == 100.0
    assert slots.ended(0.05) == []  # all three wait for GO
    GO.set()
    assert all_ended(slots, 3) == [
        (b"j0", Ending.RETURNED), (b"j1", Ending.RETURNED), (b"j2", Ending.RAISED),
    ]  # fmt: skip
    assert slots.free == 3 and slots.oldest_start() == 0.0


def test_a_job_past_its_limit_is_stopped_and_the_others_are_not(slots: Slots) -> None:
    slots.start(job(1), 10.0)
    slots.start(job(2), 14.0)
    wait_until(lambda: all(r.in_hand.in_handler for r in slots.running.values()), 5, "handlers")
    assert slots.over_limit(14.9, 5.0) == []  # j1 has run 4.9 s of its 5
    [late] = slots.over_limit(15.0, 5.0)
    assert late.job.id == b"j1"
    assert slots.over_limit(15.5, 5.0) == []  # stopped once
    assert all_ended(slots, 1) == [(b"j1", Ending.TIMED_OUT)]
    assert list(slots.running) == [b"j2"]
    assert not slots.stuck(16.0, 5.0)  # j1 ended: nothing stopped still runs
    GO.set()
    assert all_ended(slots, 1) == [(b"j2", Ending.RETURNED)]


def test_a_job_without_its_data_ends_unreadable_without_running() -> None:
    slots = ThreadSlots(Runner(blocking, "job:", 0.0), 2)
    try:
        slots.start(Job(b"gone", "none", {}), 1.0)
        assert all_ended(slots, 1) == [(b"gone", Ending.UNREADABLE)]
    finally:
        slots.close()


def test_the_slots_follow_the_handler() -> None:
    runner = Runner(blocking, "job:", 0.0)
    assert slots_for(blocking, runner, 1) is None  # one plain job at a time: the classic loop
    threads = slots_for(blocking, runner, 4)
    tasks = slots_for(waiting, Runner(waiting, "job:", 0.0), 1)  # async: tasks, even for 1
    assert isinstance(threads, ThreadSlots) and isinstance(tasks, TaskSlots)
    threads.close()
    tasks.close()

    class Callable:
        async def __call__(self, job_id: str, data: dict[str, str]) -> None: ...

    assert is_async(waiting) and is_async(Callable()) and not is_async(blocking)
