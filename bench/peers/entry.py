"""The command line every peer module shares, run with the peer's own venv:

    python -m bench.peers.with_X enqueue WORKLOAD PREFIX COUNT [mark]
    python -m bench.peers.with_X worker CONCURRENCY      (the systems run in-process)

`enqueue` sends COUNT jobs with the ids PREFIX0.. (with `mark`, it first notes its
clock in Redis: the arrival mode's start) and returns when they are all sent."""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from bench.peers.body import job_ids, mark_sent, mark_start


def main(module: str) -> NoReturn:
    """Run `module`'s enqueue(workload, ids) or worker(concurrency), the module imported
    by its own name (not as __main__: the peers name tasks after their module)."""
    peer = importlib.import_module(module)
    enqueue: Callable[[str, list[str]], None] = peer.enqueue
    worker: Callable[[int], None] | None = getattr(peer, "worker", None)
    args = sys.argv[1:]
    if args[:1] == ["enqueue"]:
        workload, prefix, count = args[1], args[2], int(args[3])
        ids = job_ids(prefix, count)
        if args[4:5] == ["mark"]:
            mark_start()
        enqueue(workload, ids)
        if args[4:5] == ["mark"]:
            mark_sent()
    elif args[:1] == ["worker"] and worker is not None:
        worker(int(args[1]))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} enqueue WORKLOAD PREFIX COUNT [mark] | worker N")
    raise SystemExit(0)


def exit_on_term() -> None:
    """TERM ends the process as an exception would (finally blocks run)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def batches(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
