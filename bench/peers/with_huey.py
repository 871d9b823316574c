"""huey: RedisHuey (blocking pops), a consumer of process workers, no result stored."""

from __future__ import annotations

from huey import RedisHuey

from bench.peers import body
from bench.peers.entry import main

huey = RedisHuey("peers", url=body.url(), blocking=True, results=False)


@huey.task()
def job(workload: str, job_id: str) -> None:
    body.run(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    for i in ids:
        job(workload, i)


if __name__ == "__main__":
    main("bench.peers.with_huey")
