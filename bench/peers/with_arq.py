"""arq: one worker per process, max_jobs concurrent jobs, polling every 10 ms
(its default is 500 ms), results not kept."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from bench.peers import body
from bench.peers.entry import batches, main


async def job(ctx: dict[str, Any], workload: str, job_id: str) -> None:
    await body.arun(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    async def send() -> None:
        pool = await create_pool(RedisSettings.from_dsn(body.url()))
        for chunk in batches(ids, 100):
            await asyncio.gather(*(pool.enqueue_job("job", workload, i) for i in chunk))
        await pool.aclose()

    asyncio.run(send())


def worker(concurrency: int) -> None:
    Worker(
        [job], redis_settings=RedisSettings.from_dsn(body.url()), max_jobs=concurrency,
        poll_delay=0.01, keep_result=0, log_results=False,
    ).run()  # fmt: skip


if __name__ == "__main__":
    main("bench.peers.with_arq")
