"""The benchmark's handler: does nothing but note that it ran, one unbuffered write."""

from __future__ import annotations

import os
import time

_fd: int | None = None


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
