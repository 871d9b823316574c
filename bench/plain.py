"""The article's loop, as the reference: BLMOVE, HGETALL, then DEL + LREM (3 round trips
a job), in one process per worker:  python -m bench.plain REDIS_URL [MODULE:HANDLER]
(the handler by default: bench.jobs:noop)"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Callable

import redis


def main(url: str, handler: str = "bench.jobs:noop") -> None:
    module, name = handler.split(":")
    handle: Callable[[str, dict[str, str]], None] = getattr(importlib.import_module(module), name)
    client = redis.Redis.from_url(url)
    processing = f"plain.{os.getpid()}:jobs"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        job_id = client.blmove("all:jobs", processing, 1, "RIGHT", "LEFT")
        if not job_id:
            continue
        data = client.hgetall(b"job:" + job_id)
        handle(job_id.decode(), {k.decode(): v.decode() for k, v in data.items()})
        with client.pipeline(transaction=False) as pipe:
            pipe.delete(b"job:" + job_id)
            pipe.lrem(processing, 1, job_id)
            pipe.execute()


if __name__ == "__main__":
    main(*sys.argv[1:3])
