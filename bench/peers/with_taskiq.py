"""taskiq with taskiq-redis's stream broker (a consumer group: a message is
acknowledged once its task ran, and one left unacknowledged is claimed again after
the broker's idle timeout). Run by `taskiq worker` with --max-async-tasks."""

from __future__ import annotations

import asyncio

from taskiq_redis import RedisStreamBroker

from bench.peers import body
from bench.peers.entry import batches, main

broker = RedisStreamBroker(url=body.url(), queue_name="peers")


@broker.task(task_name="peers.job")
async def job(workload: str, job_id: str) -> None:
    await body.arun(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    async def send() -> None:
        await broker.startup()
        for chunk in batches(ids, 100):
            await asyncio.gather(*(job.kiq(workload, i) for i in chunk))
        await broker.shutdown()

    asyncio.run(send())


if __name__ == "__main__":
    main("bench.peers.with_taskiq")
