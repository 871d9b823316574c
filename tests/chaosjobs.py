"""The chaos test's handlers: each records every run and completion; some jobs
misbehave once. `run` is a plain handler (a process of its own, or a thread of a
worker of concurrency N), `run_async` the same as an async one. Each also sends an
effect with its acknowledgement (qwsup.pipeline()), applied once per job however
often it ran."""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio

import qwsup
from testjobs import client

EFFECTS = "chaos:effects"  # job id -> how often its effect sent with the ack was applied

_async: redis.asyncio.Redis | None = None


def run(job_id: str, data: dict[str, str]) -> None:
    r = client()
    first = r.hincrby("chaos:runs", job_id, 1) == 1
    kind = data.get("kind", "")
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
    if _async is None:
        _async = redis.asyncio.Redis.from_url(os.environ["QWSUP_TEST_REDIS"])
    first = await _async.hincrby("chaos:runs", job_id, 1) == 1
    kind = data.get("kind", "")
    if first and kind == "hang":  # cancelled at job_timeout, then retried
        await asyncio.sleep(3600)
    if first and kind == "bloat":
        ballast = b"x" * (int(data["mb"]) * 2**20)
        await asyncio.sleep(3600)
        del ballast
    await asyncio.sleep(float(data.get("sleep", "0")))
    await _async.hincrby("chaos:completions", job_id, 1)
    qwsup.pipeline().hincrby(EFFECTS, job_id, 1)
