"""Following a job through the real qwsup: `qwsup job`, `enqueue --wait`, results of
real handlers (one at a time, threads, asyncio), and finished jobs kept then pruned."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis

from qwsup.errors import JobFailed
from qwsup.produce.producer import Producer
from support import Qwsup, runs
from testkit.wait import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def job_json(qw: Qwsup, job_id: str) -> dict[str, object]:
    shown = qw.command("job", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    got: dict[str, object] = json.loads(shown.stdout)
    return got


def test_qwsup_job_shows_a_job_running_then_done_with_its_result(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"handler": "testjobs:returning", "count": 1})
    qw.wait_workers(1)
    job_id = Producer(r).enqueue({"sleep": "4", "result": "json", "value": '{"passed": 12}'})
    running = wait_until(
        lambda: (j := job_json(qw, job_id))["state"] == "running" and j, 10, "the job to run"
    )
    [worker] = qw.worker_pids()
    assert running["worker"] == f"testhost.{worker}" and running["attempts"] == 0
    text = qw.command("job", job_id).stdout
    assert f"state: running on testhost.{worker}, attempt 1, for " in text
    assert "\nattempts: 0 used up, attempt 1 running\n" in text  # the same attempt
    done = wait_until(lambda: (j := job_json(qw, job_id))["state"] == "done" and j, 20, "done")
    assert {k: done[k] for k in ("id", "state", "worker", "attempts", "result", "error")} == {
        "id": job_id, "state": "done", "worker": f"testhost.{worker}", "attempts": 0,
        "result": {"passed": 12}, "error": None,
    }  # fmt: skip
    assert isinstance(done["finished_at"], float) and isinstance(done["started_at"], float)
    assert 3.9 < done["finished_at"] - done["started_at"] < 15
    text = qw.command("job", job_id).stdout
    assert "state: done" in text and 'result (json): {"passed": 12}' in text


def test_qwsup_job_on_an_unknown_id_exits_1_and_says_so(start_qwsup: Start) -> None:
    qw = start_qwsup(workers={"count": 1})
    shown = qw.command("job", "no-such-job")
    assert shown.returncode == 1 and shown.stdout == ""
    assert "no job no-such-job: never enqueued, or removed since it ended" in shown.stderr


def test_enqueue_wait_prints_the_result_or_the_error_or_times_out(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"handler": "testjobs:returning", "count": 2, "max_attempts": 1})
    qw.wait_workers(2)
    done = qw.command("enqueue", "--wait", "result=text", "value=all green")
    assert done.returncode == 0, done.stderr
    job_id, result = done.stdout.splitlines()
    assert result == "all green" and job_json(qw, job_id)["result"] == "all green"
    failed = qw.command("enqueue", "--wait", "action=raise")
    job_id = failed.stdout.strip()
    assert failed.returncode == 1
    assert f"enqueue: job {job_id} failed for good: RuntimeError: boom {job_id}" in failed.stderr
    started = time.monotonic()
    slow = qw.command("enqueue", "--wait", "--timeout", "0.5", "sleep=3")
    assert slow.returncode == 124 and "still running after 0.5 s" in slow.stderr
    assert time.monotonic() - started < 10
    assert qw.command("enqueue", "--timeout", "1", "a=b").returncode == 2


@pytest.mark.parametrize(
    ("handler", "concurrency"),
    [("testjobs:returning", 1), ("testjobs:returning", 4), ("testjobs:returning_async", 4)],
    ids=["one-at-a-time", "threads", "asyncio"],
)
def test_every_kind_of_worker_keeps_each_jobs_own_result(
    start_qwsup: Start, r: redis.Redis, handler: str, concurrency: int
) -> None:
    qw = start_qwsup(workers={"handler": handler, "count": 1, "concurrency": concurrency})
    qw.wait_workers(1)
    producer = Producer(r)
    ids = [
        producer.enqueue({"sleep": "0.2", "result": "json", "value": json.dumps({"n": i})})
        for i in range(8)
    ]
    results = [producer.wait(job_id, timeout=30) for job_id in ids]
    assert results == [{"n": i} for i in range(8)]
    assert runs(r) == dict.fromkeys(ids, 1)


def test_a_result_that_cannot_be_kept_fails_the_attempt_clearly(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(
        workers={"handler": "testjobs:returning", "count": 1, "max_attempts": 1, "max_result_kb": 1}
    )
    qw.wait_workers(1)
    producer = Producer(r)
    big = producer.enqueue({"result": "big", "value": "2000"})
    odd = producer.enqueue({"result": "object"})
    with pytest.raises(JobFailed, match=r"2,000 bytes, over workers\.max_result_kb"):
        producer.wait(big, timeout=20)
    with pytest.raises(JobFailed, match="not JSON-encodable"):
        producer.wait(odd, timeout=20)
    assert r.lrange("failed:jobs", 0, -1) == [odd.encode(), big.encode()]
    qw.wait_log("failed for good, moved to failed:jobs: the handler's result is 2,000 bytes")


def test_finished_jobs_are_pruned_after_keep_finished_and_beyond_the_most(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2, "keep_finished": 1.0, "keep_finished_max": 3})
    qw.wait_workers(2)
    producer = Producer(r)
    ids = producer.enqueue_many([{"n": str(i)} for i in range(10)])
    wait_until(lambda: len(runs(r)) == 10, 15, "the jobs to run")
    # at most 3 kept (the master prunes about once a second), then none after 1 s
    wait_until(lambda: r.zcard("finished:jobs") <= 3, 10, "at most keep_finished_max kept")
    wait_until(lambda: r.exists(*(f"job:{i}" for i in ids)) == 0, 10, "all pruned")
    assert r.exists("finished:jobs") == 0 and producer.job(ids[0]) is None


def test_qwsup_job_and_events_show_a_task_jobs_task_and_arguments(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """A task's job (qwsup.Tasks: qwsup:task, qwsup:args) has no fields of its own: what
    it holds is its task and arguments, shown decoded."""
    qw = start_qwsup(workers={"count": 1})
    producer = Producer(r)
    job_id = producer.enqueue_task("send_mail", queue="parked", to="a@example.com", n=3)
    text = qw.command("job", job_id).stdout
    assert 'task: send_mail\narguments:\n  n = 3\n  to = "a@example.com"\nfields: none\n' in text
    shown = job_json(qw, job_id)
    assert (shown["task"], shown["args"], shown["fields"]) == (
        "send_mail", {"to": "a@example.com", "n": 3}, {},
    )  # fmt: skip
    plain = job_json(qw, producer.enqueue({"n": "1"}, queue="parked"))
    assert (plain["task"], plain["args"]) == (None, None)
    [event, _] = [json.loads(line) for line in qw.command("events", "--json").stdout.splitlines()]
    assert (event["id"], event["task"], event["args"]) == (job_id, "send_mail", shown["args"])
    line = qw.command("events", "-n", "2").stdout.splitlines()[0]
    assert line.endswith(' task=send_mail args={"to":"a@example.com","n":3}'), line
