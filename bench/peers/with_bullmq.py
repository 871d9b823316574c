"""bullmq (the Python package): one Worker per process, `concurrency` jobs at once,
with its locks and stalled-job check (a job whose worker died runs again)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from bullmq import Queue, Worker

from bench.peers import body
from bench.peers.entry import batches, main

QUEUE = "peers"


async def process(job: Any, token: str) -> None:
    await body.arun(job.data["w"], job.data["id"])


def enqueue(workload: str, ids: list[str]) -> None:
    async def send() -> None:
        queue = Queue(QUEUE, {"connection": body.url()})
        opts = {"removeOnComplete": True}
        for chunk in batches(ids):
            await queue.addBulk(
                [{"name": "job", "data": {"w": workload, "id": i}, "opts": opts} for i in chunk]
            )
        await queue.close()

    asyncio.run(send())


def worker(concurrency: int) -> None:
    async def work() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        opts: Any = {"connection": body.url(), "concurrency": concurrency}
        w = Worker(QUEUE, process, opts)
        await stop.wait()
        await w.close()

    asyncio.run(work())


if __name__ == "__main__":
    main("bench.peers.with_bullmq")
