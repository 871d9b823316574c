"""Handlers the process tests run; each records what it did in the test's Redis."""

from __future__ import annotations

import os
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
    r.hset("test:pids", job_id, os.getpid())
    if "sleep" in data:
        time.sleep(float(data["sleep"]))
    action = data.get("action", "")
    if action == "raise":
        raise RuntimeError(f"boom {job_id}")
    if action == "exit":
        os._exit(13)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    r.rpush("test:done", job_id)
