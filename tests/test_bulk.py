"""The operator's bulk steps against real redis-servers: `failed retry` (named ids and
--all), `failed purge` and the promotion of due jobs move or delete each job once, in
order, in bounded calls; at 200,000 jobs no script blocks Redis for 10 ms."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from qwsup.store.failed import PAGE, FailedJobs, Retried
from qwsup.store.keys import ATTEMPTS, FAILED_AT, LAST_ERROR, QUEUE, Keys
from qwsup.store.queue import Queue
from qwsup.store.scripts import BULK_BATCH
from testkit import ROOT, RedisServer

pytestmark = pytest.mark.redis

FILL = 10_000  # commands per pipeline


def fail_for_good(client: redis.Redis, ids: list[str], every_third_to: str = "") -> None:
    """What fail.lua leaves: each hash with its attempts and error, the ids in failed:jobs
    in that order (the first the oldest, at the right end)."""
    pipe = client.pipeline(transaction=False)
    for i, job_id in enumerate(ids):
        fields = {"n": str(i), ATTEMPTS: "3", LAST_ERROR: "boom", FAILED_AT: "1.5"}
        if every_third_to and i % 3 == 0:
            fields[QUEUE] = every_third_to
        pipe.hset(f"job:{job_id}", mapping=fields)
        if len(pipe) >= FILL:
            pipe.execute()
    for i in range(0, len(ids), FILL):
        pipe.lpush("failed:jobs", *ids[i : i + FILL])
    pipe.execute()


def ids_of(client: redis.Redis, key: str) -> list[str]:
    """A list's ids, oldest (the right end, taken first) first."""
    return [x.decode() for x in reversed(client.lrange(key, 0, -1))]


def test_retry_all_moves_each_failed_job_once_oldest_first_to_its_own_queue(
    client: redis.Redis, q: Queue
) -> None:
    ids = [f"j{i}" for i in range(2 * BULK_BATCH + 500)]  # several calls
    fail_for_good(client, ids, every_third_to="builds")
    client.set("job:odd", "a producer's string")  # a key of another type, left be
    client.lpush("failed:jobs", "odd", "gone")  # "gone": its hash was deleted
    client.lpush("all:jobs", "waiting")
    assert FailedJobs(q.client, q.keys).retry(None) == Retried(len(ids) + 2, [], [])
    builds = [j for i, j in enumerate(ids) if i % 3 == 0]
    assert ids_of(client, "builds:jobs") == builds
    assert ids_of(client, "all:jobs") == [
        "waiting",
        *(j for j in ids if j not in builds),
        "odd",
        "gone",
    ]
    assert client.llen("failed:jobs") == 0
    for job_id in (ids[0], ids[1], ids[-1]):
        fields = client.hgetall(f"job:{job_id}")
        assert ATTEMPTS.encode() not in fields and FAILED_AT.encode() not in fields
        assert fields[LAST_ERROR.encode()] == b"boom"  # the last error is kept to look at
    assert client.get("job:odd") == b"a producer's string" and client.exists("job:gone") == 0


def test_two_operators_retrying_at_once_move_each_job_once(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    ids = [f"j{i}" for i in range(20_000)]
    fail_for_good(client, ids)
    operators = [FailedJobs(redis_server.client(), Keys()) for _ in range(2)]
    results: list[Retried] = []
    threads = [
        threading.Thread(target=lambda op=op: results.append(op.retry(None))) for op in operators
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.moved for r in results) == len(ids)
    assert sorted(ids_of(client, "all:jobs")) == sorted(ids)  # each once
    for each in operators:
        each.client.close()


def test_failed_list_of_every_job_reads_a_page_at_a_time(client: redis.Redis, q: Queue) -> None:
    ids = [f"j{i}" for i in range(2 * PAGE + 10)]
    fail_for_good(client, ids)
    listed = FailedJobs(q.client, q.keys).jobs(0)
    assert [job.id for job in listed] == ids[::-1]  # the newest first, each once
    assert [job.id for job in FailedJobs(q.client, q.keys).jobs(PAGE + 1)] == ids[: -PAGE - 2 : -1]


def test_retry_of_named_ids_in_bounded_calls(client: redis.Redis, q: Queue) -> None:
    ids = [f"j{i}" for i in range(50)]
    fail_for_good(client, ids, every_third_to="builds")
    client.hset("job:running", "n", "1")  # a job that has not failed
    op = FailedJobs(q.client, q.keys, batch=4, budget_us=0)  # calls of a few ids, each
    named = ["j0", "j49", "nope", "j7", "running", "j21", "j7"]  # stopping after one
    assert op.retry(named) == Retried(4, [], ["nope", "running", "j7"])
    assert ids_of(client, "builds:jobs") == ["j0", "j21"]
    assert ids_of(client, "all:jobs") == ["j49", "j7"]
    assert ids_of(client, "failed:jobs") == [j for j in ids if j not in named]  # order kept
    assert client.hget("job:j49", ATTEMPTS) is None and client.hget("job:j1", ATTEMPTS) == b"3"


def test_purge_removes_each_failed_job_and_its_hash_in_bounded_calls(
    client: redis.Redis, q: Queue
) -> None:
    ids = [f"j{i}" for i in range(3000)]
    fail_for_good(client, ids)
    client.set("job:odd", "a producer's string")
    client.lpush("failed:jobs", "odd")
    client.hset("job:live", "n", "1")
    op = FailedJobs(q.client, q.keys, budget_us=0)  # calls of 8 ids
    assert op.purge(None) == len(ids) + 1
    assert client.llen("failed:jobs") == 0
    assert client.exists(*(f"job:{j}" for j in ids[:: len(ids) // 10])) == 0
    assert client.get("job:odd") == b"a producer's string"  # not ours to delete
    assert client.hget("job:live", "n") == b"1"


def test_promotion_with_a_budget_leaves_the_rest_for_the_next_turn(
    client: redis.Redis, q: Queue
) -> None:
    ids = [f"d{i}" for i in range(3 * BULK_BATCH)]
    client.zadd("delayed:jobs", {job_id: i for i, job_id in enumerate(ids)})  # long due
    client.hset("job:d1", QUEUE, "builds")
    client.zadd("delayed:jobs", {"later": 2**50})
    first = q.promote(budget_s=0)  # one call, then the turn is over
    assert 0 < first <= BULK_BATCH
    assert client.zcard("delayed:jobs") == len(ids) - first + 1
    assert q.promote() == len(ids) - first
    assert client.zrange("delayed:jobs", 0, -1) == [b"later"]
    assert ids_of(client, "builds:jobs") == ["d1"]
    assert ids_of(client, "all:jobs") == [j for j in ids if j != "d1"]  # due first, first


def scripts_run(client: redis.Redis) -> tuple[int, list[int]]:
    """The scripts run since the last call: how many, and the microseconds of those over
    10 ms, from the slow log (Redis 7 logs the commands a script calls too: only the
    scripts count here). Then starts counting again."""
    calls = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    slow = [
        int(e["duration"])
        for e in client.slowlog_get(10_000)
        if e["command"].startswith((b"EVALSHA ", b"EVAL "))
    ]
    client.config_resetstat()
    client.slowlog_reset()
    return calls, slow


@pytest.mark.timeout(240)
def test_bulk_steps_on_200000_jobs_never_block_redis_for_10_ms(
    client: redis.Redis, q: Queue
) -> None:
    """What a user sees of a bulk step on a big backlog: Redis is never blocked long.
    Each step runs in many calls (at most BULK_BATCH jobs each), and the slow log,
    which records every command over 10 ms, holds none of them: the quadratic retry
    this replaces had every one of its scripts there, for hundreds of ms each. (A
    machine busy with other work can stall redis-server itself in the middle of a
    script: one in a hundred may be there, never for long.)"""
    ids = [f"{i:06d}-0123456789abcdef0123456789" for i in range(200_000)]  # UUID-long
    fail_for_good(client, ids)
    client.config_set("slowlog-log-slower-than", 10_000)
    client.config_set("slowlog-max-len", 10_000)
    scripts_run(client)
    t0 = time.monotonic()
    assert FailedJobs(q.client, q.keys).retry(None).moved == len(ids)
    assert client.llen("all:jobs") == len(ids) and client.lindex("all:jobs", -1) == ids[0].encode()
    steps = {"retry --all": scripts_run(client)}
    pipe = client.pipeline(transaction=False)  # all due again, for the promotion
    for i in range(0, len(ids), FILL):
        pipe.zadd("delayed:jobs", {job_id: 1 for job_id in ids[i : i + FILL]})
    pipe.delete("all:jobs")
    pipe.execute()
    scripts_run(client)
    assert q.promote() == len(ids)
    steps["promotion"] = scripts_run(client)
    client.rename("all:jobs", "failed:jobs")  # and failed, for the purge
    assert FailedJobs(q.client, q.keys).purge(None) == len(ids)
    steps["purge"] = scripts_run(client)
    assert client.dbsize() == 0
    print(f"retry, promote and purge of {len(ids)} jobs: {time.monotonic() - t0:.1f} s; {steps}")
    for step, (calls, slow) in steps.items():
        assert calls >= len(ids) // BULK_BATCH, step
        assert len(slow) <= calls // 100 and all(us < 30_000 for us in slow), (step, slow)


@pytest.mark.process
@pytest.mark.timeout(120)
def test_the_bulk_benchmark_runs_and_checks_its_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bulk", "--jobs", "3000", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "bulk.json").read_text())
    for step in ("retry_all", "retry_oldest_id", "purge", "promote"):
        assert results[step]["scripts"] >= 1 and results[step]["seconds"] > 0
    assert "failed retry --all" in done.stdout and "master turns" in done.stdout
