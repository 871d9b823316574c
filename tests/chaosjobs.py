"""The chaos test's handler: records every run and completion; some jobs misbehave once."""

from __future__ import annotations

import time

from testjobs import client


def run(job_id: str, data: dict[str, str]) -> None:
    r = client()
    first = r.hincrby("chaos:runs", job_id, 1) == 1
    kind = data.get("kind", "")
    if first and kind == "hang":  # past job_timeout: stopped by qwsup, then retried
        time.sleep(3600)
    if first and kind == "bloat":  # far over max_memory_mb: killed by qwsup, then retried
        ballast = b"x" * (int(data["mb"]) * 2**20)
        time.sleep(3600)
        del ballast
    time.sleep(float(data.get("sleep", "0")))
    r.hincrby("chaos:completions", job_id, 1)
