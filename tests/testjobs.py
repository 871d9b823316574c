"""Handlers the process tests run; each records what it did in the test's Redis."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import redis

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["QWSUP_TEST_REDIS"])
    return _client


def record(job_id: str, data: dict[str, str]) -> None:
    """Counts each run in test:runs; the `action` field says what else to do."""
    r = client()
    r.hincrby("test:runs", job_id, 1)
    r.rpush("test:started", job_id)
    r.rpush("test:started_at", time.time())
    r.hset("test:pids", job_id, os.getpid())
    action = data.get("action", "")
    if action == "bloat":  # hold this many MB, written so that they are resident
        ballast = b"x" * (int(data["mb"]) * 2**20)
    if "sleep" in data:
        time.sleep(float(data["sleep"]))
    if action == "hold":  # runs until test:release is set (30 s at most)
        end = time.monotonic() + 30
        while time.monotonic() < end and not r.exists("test:release"):
            time.sleep(0.02)  # (the job's own pace)
    if action == "hang":  # catastrophic backtracking in C, never letting go of the GIL
        re.match(r"(a+)+$", "a" * 64 + "b")
    if action == "stubborn":  # swallows whatever is raised in it, even BaseException
        for _ in range(600):
            with contextlib.suppress(BaseException):
                time.sleep(0.1)
    if action == "spin":  # busy in Python (where a JobTimeout sent to its thread lands)
        end = time.monotonic() + float(data["seconds"])
        while time.monotonic() < end:
            pass
    if action == "raise":
        raise RuntimeError(f"boom {job_id}")
    if action == "exit":
        os._exit(13)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "bloat":
        del ballast
    r.rpush("test:done", job_id)


def cancelling(job_id: str, data: dict[str, str]) -> None:
    """Cancels job `other` when it names one (test:cancel says what the cancel answered);
    a job with `record` counts its run in test:runs; any other does nothing, at once (so
    that a worker's jobs are short, and it takes several at a time)."""
    if "other" in data:
        from qwsup.produce.producer import Producer

        client().hset(
            "test:cancel", data["other"], Producer(client()).cancel(data["other"]).outcome
        )
    elif "record" in data:
        client().hincrby("test:runs", job_id, 1)


def record_mail(job_id: str, data: dict[str, str]) -> None:
    """As record, and says in test:handler that this handler ran it (a second pool's)."""
    client().hset("test:handler", job_id, "record_mail")
    record(job_id, data)


def record_ended(job_id: str, data: dict[str, str]) -> None:
    """As record, with when it began and ended in test:began_at and test:ended_at (to
    check which jobs ran at the same time)."""
    client().hset("test:began_at", job_id, time.time())
    record(job_id, data)
    client().hset("test:ended_at", job_id, time.time())


_async_client: object = None


async def record_async(job_id: str, data: dict[str, str]) -> None:
    """An async handler: its runs, start and end in the test's Redis over one asyncio
    client kept across jobs (the worker's event loop lives as long as the worker)."""
    import asyncio

    import redis.asyncio

    global _async_client
    if _async_client is None:
        _async_client = redis.asyncio.Redis.from_url(os.environ["QWSUP_TEST_REDIS"])
    r: redis.asyncio.Redis = _async_client  # type: ignore[assignment]
    await r.hincrby("test:runs", job_id, 1)
    await r.rpush("test:started", job_id)
    await r.hset("test:began_at", job_id, time.time())
    await r.hset("test:pids", job_id, os.getpid())
    if "sleep" in data:
        await asyncio.sleep(float(data["sleep"]))
    if data.get("action") == "raise":
        raise RuntimeError(f"boom {job_id}")
    await r.hset("test:ended_at", job_id, time.time())
    await r.rpush("test:done", job_id)


def record_writes(job_id: str, data: dict[str, str]) -> None:
    """Counts each run through the worker's own client (qwsup.redis(), a round trip
    now) and sends its record with the job's acknowledgement (qwsup.pipeline()), under
    job:test:* (keys the `qwsup` user of conf/redis-acl.conf may write). `action`:
    `raise` fails after queueing the writes; `badwrite` adds a write Redis refuses."""
    import qwsup

    assert qwsup.job_id() == job_id
    qwsup.redis().hincrby("job:test:runs", job_id, 1)
    writes = qwsup.pipeline()
    writes.hincrby("job:test:applied", job_id, 1)
    if data.get("action") == "badwrite":
        writes.rpush("job:test:applied", "a list push on a hash")
    writes.rpush("job:test:order", job_id)
    if "sleep" in data:
        time.sleep(float(data["sleep"]))
    if data.get("action") == "raise":
        raise RuntimeError(f"boom {job_id}")


async def record_writes_async(job_id: str, data: dict[str, str]) -> None:
    """record_writes as an async handler: each task sees its own job."""
    import asyncio

    import qwsup

    qwsup.pipeline().hincrby("job:test:applied", job_id, 1)
    await asyncio.sleep(float(data.get("sleep", "0")))
    assert qwsup.job_id() == job_id  # still its own after the others ran meanwhile
    qwsup.pipeline().rpush("job:test:order", job_id)


def _result(data: dict[str, str]) -> object:
    """What the `result` field asks a handler to return."""
    import json

    kind, value = data.get("result", ""), data.get("value", "")
    if kind == "text":
        return value
    if kind == "json":
        return json.loads(value)
    if kind == "bytes":
        return value.encode()
    if kind == "object":
        return object()
    if kind == "big":
        return "x" * int(value)
    return None


def returning(job_id: str, data: dict[str, str]) -> object:
    """As record, then returns what its `result` and `value` fields ask for."""
    record(job_id, data)
    return _result(data)


async def returning_async(job_id: str, data: dict[str, str]) -> object:
    """returning as an async handler."""
    await record_async(job_id, data)
    return _result(data)


def progressing(job_id: str, data: dict[str, str]) -> None:
    """Reports its progress `steps` times as fast as it can (step i of n: i/n, "step
    i"), writing in test:calls how many calls it made, then holds the last value for
    `hold` seconds (released early once test:release is set)."""
    import qwsup

    steps = int(data.get("steps", "1000"))
    for i in range(1, steps + 1):
        qwsup.progress(i / steps, f"step {i}")
    client().hset("test:calls", job_id, steps)
    end = time.monotonic() + float(data.get("hold", "0"))
    while time.monotonic() < end and not client().exists("test:release"):
        time.sleep(0.02)


def cancellable(job_id: str, data: dict[str, str]) -> None:
    """Runs for `sleep` seconds (30 by default) in small steps; when it is stopped it
    writes what stopped it, and when, in test:stopped, and lets it go on up."""
    r = client()
    r.hincrby("test:runs", job_id, 1)
    r.hset("test:pids", job_id, os.getpid())
    r.hset("test:began_at", job_id, time.time())
    try:
        end = time.monotonic() + float(data.get("sleep", "30"))
        while time.monotonic() < end:
            time.sleep(0.02)
    except BaseException as exc:
        r.hset("test:stopped", job_id, f"{type(exc).__name__} {time.time()}")
        raise
    r.rpush("test:done", job_id)


async def cancellable_async(job_id: str, data: dict[str, str]) -> None:
    """cancellable as an async handler (a cancelled task sees CancelledError)."""
    import asyncio

    r = client()
    r.hincrby("test:runs", job_id, 1)
    r.hset("test:pids", job_id, os.getpid())
    try:
        await asyncio.sleep(float(data.get("sleep", "30")))
    except BaseException as exc:
        r.hset("test:stopped", job_id, f"{type(exc).__name__} {time.time()}")
        raise
    r.rpush("test:done", job_id)


from qwsup import Tasks  # noqa: E402 (the registry the task tests run: handler testjobs:tasks)

tasks = Tasks()


@tasks.task
def add(a: int, b: int = 0) -> int:
    client().hincrby("test:task_runs", "add", 1)
    return a + b


@tasks.task
def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@tasks.task
def explode(reason: str) -> None:
    client().hincrby("test:task_runs", "explode", 1)
    raise RuntimeError(reason)
