"""qwsup and the article's plain loop (bench/plain.py), run with the harness's own
interpreter: both take qwsup's job format (a hash per job, its id on all:jobs)."""

from __future__ import annotations

import redis

import qwsup
from bench.peers import body
from bench.peers.entry import main
from qwsup.produce.producer import Producer


def handle(job_id: str, data: dict[str, str]) -> None:
    """The handler of both: the workload and the benchmark's id are in the job's data."""
    body.run(data["w"], data["id"])


async def handle_async(job_id: str, data: dict[str, str]) -> None:
    """The same as an asyncio handler (--qwsup-async), for qwsup's [workers] concurrency
    on one event loop (issue 13)."""
    await body.arun(data["w"], data["id"])


def handle_writes(job_id: str, data: dict[str, str]) -> None:
    """handle, with the record sent with the job's acknowledgement (qwsup.pipeline())
    instead of a round trip of its own: the `qwsup-writes` row."""
    body.work(data["w"])
    body.record(qwsup.pipeline(), data["id"])


async def handle_writes_async(job_id: str, data: dict[str, str]) -> None:
    await body.awork(data["w"])
    body.record(qwsup.pipeline(), data["id"])


def enqueue(workload: str, ids: list[str]) -> None:
    producer = Producer(redis.Redis.from_url(body.url()))
    producer.enqueue_many({"w": workload, "id": i} for i in ids)


if __name__ == "__main__":
    main("bench.peers.with_qwsup")
