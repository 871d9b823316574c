"""The one job body every system runs, imported inside each system's own venv (it
needs only redis-py): the workload, then one pipelined round trip to the benchmark's
Redis recording that the job ran (SADD of the job's id to a set, INCR of a counter),
so that lost = enqueued - unique and duplicates = count - unique.

    noop   the round trip alone
    io     sleep 20 ms, then the round trip
    cpu    5 ms of pure-Python CPU (this thread's CPU time), then the round trip
    hold   not a workload of the tables: the memory measure's job, which notes that it
           runs (and in which process), waits until the harness releases it (at most
           HOLD_MAX_S), then makes the round trip

A sync handler calls run(); an asyncio one awaits arun(). Each is work() then record():
a handler that sends its writes some other way (qwsup.pipeline(), to come) can call
work() and put record()'s commands on its own pipeline. The URL is the environment's
QWSUP_PEERS_URL; clients are made per process (after a fork) and shared by its threads.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import redis
import redis.asyncio

URL_ENV = "QWSUP_PEERS_URL"
DONE = "peers:done"  # the set of the ids that ran
COUNT = "peers:count"  # how many times a job ran
STARTED = "peers:t0"  # the producer's clock when it began to enqueue (arrival mode)
SENT = "peers:t1"  # and when it had sent the last job
RUNNING = "peers:running"  # hold: how many hold jobs have started
PIDS = "peers:pids"  # hold: the processes they run in
RELEASE = "peers:release"  # hold: set by the harness, the held jobs end
WORKLOADS = ("noop", "io", "cpu")
HOLD = "hold"
IO_S = 0.020
CPU_S = 0.005
HOLD_POLL_S = 0.05
HOLD_MAX_S = 60.0

_lock = threading.Lock()
_sync: tuple[int, redis.Redis] | None = None
_async: dict[tuple[int, int], Any] = {}  # (pid, id of the running loop): its client


def url() -> str:
    return os.environ[URL_ENV]


def client() -> redis.Redis:
    """This process's client (thread-safe: its pool gives each thread a connection)."""
    global _sync
    with _lock:
        if _sync is None or _sync[0] != os.getpid():
            _sync = (os.getpid(), redis.Redis.from_url(url()))
        return _sync[1]


def spin(seconds: float = CPU_S) -> None:
    """Pure-Python work until this thread has spent `seconds` of CPU."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        for i in range(200):
            n += i * i


def work(workload: str) -> None:
    """The workload's own part, before the record."""
    if workload == "io":
        time.sleep(IO_S)
    elif workload == "cpu":
        spin()
    elif workload == HOLD:
        r = client()
        with r.pipeline(transaction=False) as pipe:
            pipe.sadd(PIDS, os.getpid())  # before the count: the harness reads it at n
            pipe.incr(RUNNING)
            pipe.execute()
        end = time.monotonic() + HOLD_MAX_S
        while not r.exists(RELEASE) and time.monotonic() < end:
            time.sleep(HOLD_POLL_S)


def record(pipe: Any, job_id: str) -> None:
    """The commands that record a run, on `pipe` (sync or asyncio): lost and
    duplicates are read from them."""
    pipe.sadd(DONE, job_id)
    pipe.incr(COUNT)


def run(workload: str, job_id: str) -> None:
    work(workload)
    with client().pipeline(transaction=False) as pipe:
        record(pipe, job_id)
        pipe.execute()


async def arun(workload: str, job_id: str) -> None:
    aclient = await awork(workload)
    async with aclient.pipeline(transaction=False) as pipe:
        record(pipe, job_id)
        await pipe.execute()


async def awork(workload: str) -> Any:
    """`work` on an event loop; returns the loop's client."""
    key = (os.getpid(), id(asyncio.get_running_loop()))
    aclient = _async.get(key)
    if aclient is None:
        aclient = _async[key] = redis.asyncio.Redis.from_url(url())
    if workload == "io":
        await asyncio.sleep(IO_S)
    elif workload == "cpu":
        spin()
    elif workload == HOLD:
        await aclient.sadd(PIDS, os.getpid())  # before the count, as in work()
        await aclient.incr(RUNNING)
        end = time.monotonic() + HOLD_MAX_S
        while not await aclient.exists(RELEASE) and time.monotonic() < end:
            await asyncio.sleep(HOLD_POLL_S)
    return aclient


def job_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def mark_start() -> None:
    """The producer's clock as it begins to enqueue: the arrival mode's start."""
    client().set(STARTED, repr(time.time()))


def mark_sent() -> None:
    client().set(SENT, repr(time.time()))
