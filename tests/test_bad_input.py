"""Whatever a producer writes, no worker crashes, nothing wedges and no other job is lost."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import redis

from qwsup.store.keys import LAST_ERROR
from qwsup.worker.prefetch import BLOCK_S
from support import Qwsup, done, enqueue, in_flight, runs
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def push(r: redis.Redis, job_id: bytes, fields: dict[bytes, bytes] | None) -> None:
    if fields:
        r.hset(b"job:" + job_id, mapping=fields)  # type: ignore[arg-type]
    r.lpush("all:jobs", job_id)


def test_odd_ids_run_and_bad_jobs_fail_with_a_reason_while_others_flow(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    odd = ["with space", "new\nline", "ünïcødé ✓", "x" * 10_000]
    for job_id in odd:
        push(r, job_id.encode(), {b"n": b"1"})
    push(r, b"no-hash", None)
    push(r, b"bad-value", {b"n": b"\xff\xfe"})
    push(r, b"bad-name", {b"\xff": b"1"})
    r.set("job:a-string", "a producer's own value")
    push(r, b"a-string", None)
    good = enqueue(r, 20)
    failing = {b"no-hash", b"bad-value", b"bad-name", b"a-string"}
    wait_until(lambda: set(r.lrange("failed:jobs", 0, -1)) == failing, 20, "four failures")
    wait_until(lambda: len(done(r)) == 24, 20, "the odd ids and the good jobs to run")
    assert sorted(done(r)) == sorted(odd + good)
    assert all(count == 1 for count in runs(r).values())
    assert r.hget("job:no-hash", LAST_ERROR) == b"job hash job:no-hash does not exist"
    assert r.hget("job:bad-value", LAST_ERROR) == b"field 'n' of job:bad-value is not UTF-8"
    assert (r.hget("job:bad-name", LAST_ERROR) or b"").startswith(
        b"a field name of job:bad-name is not UTF-8"
    )
    assert r.get("job:a-string") == b"a producer's own value"  # never overwritten
    assert "job:a-string is a Redis string, not a hash" in qw.log()
    assert qw.worker_pids() == pids  # nobody crashed
    assert "Traceback" not in qw.log()


def test_a_queue_key_of_the_wrong_type_is_logged_once_and_survived(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1})
    [pid] = qw.wait_workers(1)
    r.set("all:jobs", "not a list")  # (the idle worker finds out when its wait ends)
    qw.wait_log(f"testhost.{pid}: Redis refused a command (WRONGTYPE", BLOCK_S + 10)
    r.delete("all:jobs")
    ids = enqueue(r, 5)
    wait_until(lambda: sorted(done(r)) == sorted(ids), 20, "jobs to flow again")
    qw.wait_log(f"testhost.{pid}: Redis works again after ", 10)  # after a quiet second
    assert qw.log().count(f"testhost.{pid}: Redis refused a command") == 1
    assert qw.worker_pids() == {pid}


def test_scripts_flushed_from_the_server_mid_run_are_loaded_again(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    first = enqueue(r, 200)
    wait_until(lambda: len(done(r)) >= 50, 20, "jobs flowing")
    r.script_flush()
    second = enqueue(r, 200)
    wait_until(lambda: len(done(r)) == 400, 30, "every job")
    assert runs(r) == dict.fromkeys(first + second, 1)
    assert qw.worker_pids() == pids
    assert "refused" not in qw.log()


def test_a_job_of_50_mb_fails_unread_with_its_size_while_others_flow(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    push(r, b"huge", {b"photo": b"x" * (50 * 2**20)})
    good = enqueue(r, 20)
    wait_until(lambda: r.lrange("failed:jobs", 0, -1) == [b"huge"], 20, "the huge job to fail")
    wait_until(lambda: set(good) <= set(done(r)), 20, "the other jobs")
    error = (r.hget("job:huge", LAST_ERROR) or b"").decode()
    assert re.fullmatch(
        r"job hash job:huge holds 52,428,8\d\d bytes, over workers.max_job_mb", error
    )
    assert "huge" not in runs(r)  # the handler never saw it
    assert qw.worker_pids() == pids
    for proc in qw.workers():
        assert proc.memory_info().rss < 45 * 2**20  # its data never reached a worker


def test_an_empty_id_is_dropped_with_one_line_and_never_runs(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    push(r, b"", {b"n": b"1"})  # LPUSH all:jobs "": '' is "no job" in the scripts
    good = enqueue(r, 5)
    wait_until(lambda: set(good) <= set(done(r)), 15, "the jobs after it")
    wait_until(lambda: r.llen("all:jobs") == 0 and not in_flight(r), 5, "every list empty")
    assert "" not in runs(r) and r.llen("failed:jobs") == 0
    assert qw.log().count("dropped an empty job id taken from a queue") == 1
