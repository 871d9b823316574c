"""The chaos test's handlers: each records every run and completion; some jobs
misbehave once. `run` is a plain handler (a process of its own, or a thread of a
worker of concurrency N), `run_async` the same as an async one. Each also sends an
effect with its acknowledgement (qwsup.pipeline()), applied once per job however
often it ran. A cron tick's job records its tick and ends; a job of the rate-limited
queue records when it was taken (Redis clock) and when it started (this host's). Every
run of a job records when its handler started (STARTED: its latest start, this host's
clock), for the cancels to be checked against."""

from __future__ import annotations

import asyncio
import os
import time

import redis
import redis.asyncio

import qwsup
from testjobs import client

EFFECTS = "chaos:effects"  # job id -> how often its effect sent with the ack was applied
TICKS = "chaos:ticks"  # a cron tick's job id -> its tick (unix ms, Redis clock)
PACED = "chaos:paced"  # "<job id>:<taken at, Redis clock>" -> started at (unix ms, here)
STARTED = "chaos:started"  # job id -> when its handler last started (unix s, here)

_async: redis.asyncio.Redis | None = None


def run(job_id: str, data: dict[str, str]) -> None:
    started = time.time()
    r = client()
    kind = data.get("kind", "")
    if kind == "tick" or data.get("paced"):
        note(r, job_id, kind)
        if kind == "tick":
            return
    with r.pipeline(transaction=False) as pipe:
        pipe.hincrby("chaos:runs", job_id, 1).hset(STARTED, job_id, repr(started))
        first = pipe.execute()[0] == 1
    if first and kind == "hang":  # past job_timeout: stopped by qwsup, then retried
        for _ in range(36_000):  # in Python between short sleeps: a thread can be stopped
            time.sleep(0.1)
    if first and kind == "bloat":  # far over max_memory_mb: killed by qwsup, then retried
        ballast = b"x" * (int(data["mb"]) * 2**20)
        time.sleep(3600)
        del ballast
    time.sleep(float(data.get("sleep", "0")))
    r.hincrby("chaos:completions", job_id, 1)
    qwsup.pipeline().hincrby(EFFECTS, job_id, 1)


async def run_async(job_id: str, data: dict[str, str]) -> None:
    global _async
    started = time.time()
    if _async is None:
        _async = redis.asyncio.Redis.from_url(os.environ["QWSUP_TEST_REDIS"])
    kind = data.get("kind", "")
    if kind == "tick" or data.get("paced"):
        await asyncio.to_thread(note, client(), job_id, kind)
        if kind == "tick":
            return
    async with _async.pipeline(transaction=False) as pipe:
        pipe.hincrby("chaos:runs", job_id, 1).hset(STARTED, job_id, repr(started))
        first = (await pipe.execute())[0] == 1
    if first and kind == "hang":  # cancelled at job_timeout, then retried
        await asyncio.sleep(3600)
    if first and kind == "bloat":
        ballast = b"x" * (int(data["mb"]) * 2**20)
        await asyncio.sleep(3600)
        del ballast
    await asyncio.sleep(float(data.get("sleep", "0")))
    await _async.hincrby("chaos:completions", job_id, 1)
    qwsup.pipeline().hincrby(EFFECTS, job_id, 1)


def note(r: redis.Redis, job_id: str, kind: str) -> None:
    """What a tick's job, or one of the rate-limited queue ("paced" among its fields),
    leaves for the count (chaos.py)."""
    tick, taken = r.hmget(f"job:{job_id}", ["qwsup:tick", "qwsup:started_at"])
    if kind == "tick":
        r.hset(TICKS, job_id, tick or b"")
    else:
        r.hsetnx(PACED, f"{job_id}:{(taken or b'').decode()}", round(time.time() * 1000))
