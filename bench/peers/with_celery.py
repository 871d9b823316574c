"""celery, prefork pool, with its reliable setting: acks_late (a job is acknowledged
once it ran), prefetch multiplier 1, reject_on_worker_lost (a job whose process died
goes back to the queue). No result backend."""

from __future__ import annotations

from celery import Celery

from bench.peers import body
from bench.peers.entry import main

QUEUE = "peers"

app = Celery("peers", broker=body.url())
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="peers.job")
def job(workload: str, job_id: str) -> None:
    body.run(workload, job_id)


def enqueue(workload: str, ids: list[str]) -> None:
    with app.producer_or_acquire() as producer:
        for i in ids:
            job.apply_async((workload, i), producer=producer)


if __name__ == "__main__":
    main("bench.peers.with_celery")
