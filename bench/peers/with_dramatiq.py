"""dramatiq with its Redis broker (messages acknowledged after they ran; a dead
worker's unacknowledged messages are requeued by the others), no retries."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.peers import body
from bench.peers.entry import main

QUEUE = "peers"

broker = RedisBroker(url=body.url())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def job(workload: str, job_id: str) -> None:
    body.run(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    for i in ids:
        job.send(workload, i)


if __name__ == "__main__":
    main("bench.peers.with_dramatiq")
