"""rq: `rq worker-pool` of SimpleWorkers (each runs its jobs in its own process, one
at a time, instead of forking a work horse per job); each job with a Retry, so that
the started-job registry's cleanup requeues a dead worker's job instead of failing it."""

from __future__ import annotations

import redis
from rq import Queue, Retry

from bench.peers import body
from bench.peers.entry import batches, main

QUEUE = "peers"
JOB = "bench.peers.with_rq.job"  # by name: enqueue runs as __main__
RETRY = Retry(max=3)


def job(workload: str, job_id: str) -> None:
    body.run(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    queue = Queue(QUEUE, connection=redis.Redis.from_url(body.url()))
    for chunk in batches(ids):
        queue.enqueue_many(
            [Queue.prepare_data(JOB, args=(workload, i), result_ttl=0, retry=RETRY) for i in chunk]
        )


if __name__ == "__main__":
    main("bench.peers.with_rq")
