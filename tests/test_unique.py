"""Unique names never leak nor double: a name is held only by a job that can still run
(queued, waiting, running, waiting for its retry); a holder that cannot run any more
(its hash gone, failed for good, purged) gives it up; a retried unique job takes its
name again or stays failed, and `qwsup failed retry` says so."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from takes import ack, take

from qwsup.errors import DuplicateJob
from qwsup.produce.producer import Producer
from qwsup.store.failed import FailedJobs, Refused, Retried
from qwsup.store.keys import ATTEMPTS, FAILED_AT, UNIQUE, Keys
from qwsup.store.queue import Queue
from qwsup.store.records import Retry
from support import qwsup_env
from testkit import ACL_PASSWORDS, RedisServer, write_config

W = "host.1"  # a worker id


def enqueue(
    q: Queue, job_id: str, name: str = "report", delay_ms: int | None = None
) -> tuple[bool, str]:
    [reply] = Producer(q.client).enqueue_each(
        [(job_id, {"n": job_id})], "all", unique=name, delay_ms=delay_ms
    )
    return reply


def fail_for_good(q: Queue, job_id: str) -> None:
    """Take the job (it must be next) and fail its only attempt."""
    [job] = take(q, W, "host")
    assert job.id == job_id.encode()
    assert q.fail(W, job.id, retry=Retry(1), error="boom") == 0


@pytest.mark.redis
def test_a_delayed_unique_job_whose_hash_was_deleted_gives_its_name_up(
    client: redis.Redis, q: Queue
) -> None:
    assert enqueue(q, "a", delay_ms=3_600_000) == (True, "a")
    assert enqueue(q, "b") == (False, "a")  # a waits in delayed:jobs: it holds the name
    client.delete("job:a")  # cancelled by hand: a job that no longer exists
    assert enqueue(q, "b") == (True, "b")  # takes the name over
    assert client.get("unique:report") == b"b"
    assert enqueue(q, "c") == (False, "b")
    client.zadd("delayed:jobs", {"a": 1})  # a's stale id comes due...
    assert q.promote() == 1
    [b, a] = take(q, W, "host", want=2)
    assert (b.id, a.id, a.kind) == (b"b", b"a", "none")
    assert q.fail(W, a.id, retry=Retry(3), error="no hash", permanent=True) == 0
    assert client.get("unique:report") == b"b"  # ...fails, and never frees b's name
    assert ack(q, W, b.id)
    assert client.exists("unique:report") == 0


@pytest.mark.redis
@pytest.mark.parametrize(
    "state",
    ["hash deleted", "key of another type", "hash of another job", "another name", "failed"],
)
def test_a_holder_that_cannot_run_any_more_holds_nothing(
    client: redis.Redis, q: Queue, state: str
) -> None:
    assert enqueue(q, "a") == (True, "a")
    if state == "hash deleted":
        client.delete("job:a")
    elif state == "key of another type":
        client.delete("job:a")
        client.set("job:a", "a producer's string")
    elif state == "hash of another job":  # deleted, and its id used again without the name
        client.delete("job:a")
        client.hset("job:a", "n", "other")
    elif state == "another name":
        client.hset("job:a", UNIQUE, "nightly")
    else:  # failed for good, its name not freed (as an older qwsup could leave it)
        client.hset("job:a", FAILED_AT, "1.5")
    assert enqueue(q, "b") == (True, "b")
    assert client.get("unique:report") == b"b"
    assert client.hget("job:b", UNIQUE) == b"report"


@pytest.mark.redis
def test_a_holder_that_can_still_run_keeps_its_name(client: redis.Redis, q: Queue) -> None:
    assert enqueue(q, "a") == (True, "a")
    assert enqueue(q, "x") == (False, "a")  # queued
    [job] = take(q, W, "host")
    assert enqueue(q, "x") == (False, "a")  # running
    assert q.fail(W, job.id, retry=Retry(3, 3600, 1, 3600), error="boom") == 1
    assert client.zscore("delayed:jobs", "a") is not None
    assert enqueue(q, "x") == (False, "a")  # waiting for its retry
    assert enqueue(q, "a") == (False, "a")  # its own id again: a twin all the same
    assert client.exists("job:x") == 0 and client.hget("job:a", ATTEMPTS) == b"1"


@pytest.mark.redis
def test_a_retried_unique_job_takes_its_name_again(client: redis.Redis, q: Queue) -> None:
    enqueue(q, "a")
    fail_for_good(q, "a")
    assert client.exists("unique:report") == 0  # failed for good: free
    assert FailedJobs(q.client, q.keys).retry(["a"]) == Retried(1, [], [])
    assert client.get("unique:report") == b"a"  # held again while it is queued
    assert enqueue(q, "b") == (False, "a")
    [job] = take(q, W, "host")
    assert ack(q, W, job.id)
    assert client.exists("unique:report") == 0
    assert enqueue(q, "b") == (True, "b")


@pytest.mark.redis
def test_a_retried_unique_job_whose_name_is_held_stays_failed(
    client: redis.Redis, q: Queue
) -> None:
    enqueue(q, "a")
    fail_for_good(q, "a")
    assert enqueue(q, "b") == (True, "b")  # a live twin holds the name now
    refused = Retried(0, [Refused("a", "report", "b")], [])
    assert FailedJobs(q.client, q.keys).retry(["a"]) == refused
    assert FailedJobs(q.client, q.keys).retry(None) == refused
    assert client.lrange("failed:jobs", 0, -1) == [b"a"]  # left failed, as it was
    assert client.hget("job:a", ATTEMPTS) == b"1" and client.hget("job:a", FAILED_AT)
    assert client.get("unique:report") == b"b" and client.lrange("all:jobs", 0, -1) == [b"b"]
    [job] = take(q, W, "host")
    assert ack(q, W, job.id)  # b is done: the name is free for a
    assert FailedJobs(q.client, q.keys).retry(None) == Retried(1, [], [])
    assert client.get("unique:report") == b"a"


@pytest.mark.redis
def test_retry_all_moves_the_others_past_a_refused_job(client: redis.Redis, q: Queue) -> None:
    for job_id, name in (("a", "one"), ("b", "report"), ("c", "two")):
        enqueue(q, job_id, name)
        fail_for_good(q, job_id)
    enqueue(q, "holder")
    got = FailedJobs(q.client, q.keys).retry(None)
    assert got == Retried(2, [Refused("b", "report", "holder")], [])
    assert client.lrange("failed:jobs", 0, -1) == [b"b"]
    assert client.lrange("all:jobs", 0, -1) == [b"c", b"a", b"holder"]  # a first, then c
    assert client.mget("unique:one", "unique:two") == [b"a", b"c"]


@pytest.mark.redis
def test_purge_frees_the_names_purged_jobs_hold_and_no_other(client: redis.Redis, q: Queue) -> None:
    client.hset("job:a", mapping={"n": "1", UNIQUE: "report", FAILED_AT: "1.5"})
    client.set("unique:report", "a")  # a failed job whose name was never freed
    client.hset("job:c", mapping={"n": "2", UNIQUE: "nightly", FAILED_AT: "1.5"})
    client.set("unique:nightly", "d")  # held by d, a live job
    client.hset("job:d", mapping={"n": "3", UNIQUE: "nightly"})
    client.lpush("failed:jobs", "a", "c")
    assert FailedJobs(q.client, q.keys).purge(None) == 2
    assert client.exists("unique:report", "job:a", "job:c") == 0
    assert client.get("unique:nightly") == b"d"


# -- the producer's ACL user and the command line ---------------------------------------


def login(server: RedisServer, user: str) -> redis.Redis:
    return redis.Redis(
        unix_socket_path=str(server.socket), username=user, password=ACL_PASSWORDS[user]
    )


@pytest.mark.redis
def test_the_producers_user_enqueues_unique_jobs_cleanly(
    server: RedisServer, r: redis.Redis
) -> None:
    """conf/redis-acl.conf's producer may run only some commands; the check of a holder
    never fails for it: it takes over a dead holder's name when its user may see that the
    holder's hash is gone (TYPE), else it is refused as before."""
    client = login(server, "qwsup-producer")
    producer = Producer(client)
    first = producer.enqueue({"n": "1"}, unique="report")
    with pytest.raises(DuplicateJob):
        producer.enqueue({"n": "2"}, unique="report")
    r.delete(f"job:{first}")
    try:
        client.type(f"job:{first}")
        may_type = True
    except redis.ResponseError:  # NOPERM
        may_type = False
    if may_type:
        second = producer.enqueue({"n": "2"}, unique="report")
        assert r.get("unique:report") == second.encode()
    else:
        with pytest.raises(DuplicateJob):
            producer.enqueue({"n": "2"}, unique="report")
        assert r.dbsize() == 2  # the name and the stale id in all:jobs: nothing written
    client.close()


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def qwsup_command(tmp_path: Path, server: RedisServer) -> Run:
    """Runs a qwsup command (no master) as conf/redis-acl.conf's `qwsup` user."""
    config = write_config(
        tmp_path / "workers.toml", server.user_url("qwsup"), redis={"password_env": "PW"}
    )
    env = dict(qwsup_env(server.url), PW=ACL_PASSWORDS["qwsup"])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(config), *args],
            env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    return run


@pytest.mark.process
def test_failed_retry_says_which_unique_jobs_stay_failed(
    qwsup_command: Run, server: RedisServer, r: redis.Redis
) -> None:
    q = Queue(r, Keys())
    enqueue(q, "a")
    fail_for_good(q, "a")
    enqueue(q, "b", "other")
    fail_for_good(q, "b")
    enqueue(q, "twin")
    refused = (
        "qwsup: failed retry: job a left in failed:jobs: its unique name 'report' is held "
        "by job twin, queued or running\n"
    )
    named = qwsup_command("failed", "retry", "a", "nope")
    assert (named.returncode, named.stdout) == (1, "0 failed jobs put back in their queues\n")
    assert named.stderr == refused + "qwsup: failed retry: 'nope' is not a failed job\n"
    every = qwsup_command("failed", "retry", "--all")
    assert (every.returncode, every.stdout, every.stderr) == (
        1, "1 failed job put back in its queue\n", refused,
    )  # fmt: skip
    assert r.lrange("failed:jobs", 0, -1) == [b"a"] and r.get("unique:other") == b"b"
    missing = qwsup_command("failed", "retry", "nope")
    assert missing.returncode == 2 and "'nope' is not a failed job" in missing.stderr
    assert server.acl_denials("qwsup") == []
