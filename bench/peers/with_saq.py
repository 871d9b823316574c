"""saq with its Redis queue: one worker per process, `concurrency` jobs at once; each
job with retries=3, so that a job swept from a dead worker is retried, not aborted."""

from __future__ import annotations

import asyncio
from typing import Any

from saq import Queue, Worker

from bench.peers import body
from bench.peers.entry import batches, exit_on_term, main

QUEUE = "peers"


async def job(ctx: dict[str, Any], *, w: str, id: str) -> None:
    await body.arun(w, id)


def enqueue(workload: str, ids: list[str]) -> None:
    async def send() -> None:
        queue = Queue.from_url(body.url(), name=QUEUE)
        await queue.connect()
        for chunk in batches(ids, 100):
            await asyncio.gather(
                *(queue.enqueue("job", w=workload, id=i, retries=3) for i in chunk)
            )
        await queue.disconnect()

    asyncio.run(send())


def worker(concurrency: int) -> None:
    async def work() -> None:
        queue = Queue.from_url(body.url(), name=QUEUE)
        await Worker(queue, functions=[job], concurrency=concurrency).start()

    exit_on_term()
    asyncio.run(work())


if __name__ == "__main__":
    main("bench.peers.with_saq")
