"""The benchmark's handlers: `noop` does nothing but note that it ran, one unbuffered
write; `roundtrip` also makes one Redis round trip, a write (INCR of a counter), as a
handler that records a result does."""

from __future__ import annotations

import os
import time

import redis

HANDLED = "bench:handled"  # the counter roundtrip increments

_fd: int | None = None
_client: redis.Redis | None = None


def _log_fd() -> int:
    global _fd
    if _fd is None:
        path = os.path.join(os.environ["QWSUP_BENCH_DIR"], f"ran.{os.getpid()}")
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return _fd


def noop(job_id: str, data: dict[str, str]) -> None:
    """Records the id, and how late it started when the job carries its enqueue time."""
    sent = data.get("sent")
    late = f" {time.time() - float(sent):.6f}" if sent else ""
    os.write(_log_fd(), f"{job_id}{late}\n".encode())


def roundtrip(job_id: str, data: dict[str, str]) -> None:
    """noop, and one INCR on the benchmark's Redis over a client of the worker's own."""
    global _client
    if _client is None:  # imported after fork: one client per worker
        _client = redis.Redis.from_url(os.environ["QWSUP_BENCH_URL"])
    _client.incr(HANDLED)
    noop(job_id, data)


def writes(job_id: str, data: dict[str, str]) -> None:
    """roundtrip's INCR sent with the job's acknowledgement (qwsup.pipeline()) instead
    of a round trip of its own: for qwsup only (the plain loop runs roundtrip)."""
    import qwsup

    qwsup.pipeline().incr(HANDLED)
    noop(job_id, data)


def sleepy(job_id: str, data: dict[str, str]) -> None:
    """Sleeps the job's `sleep` seconds (a job that waits on I/O), then roundtrip."""
    time.sleep(float(data.get("sleep", "0")))
    roundtrip(job_id, data)
