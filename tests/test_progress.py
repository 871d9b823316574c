"""A handler's progress: each report kept in memory and sent coalesced (qwsup/worker/progress.py,
pure, with a fake sender), recorded by progress.lua only for the worker running the job,
and shown by `qwsup job` for a real worker's job."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
from takes import take

import qwsup
from qwsup.errors import ConnectionLost
from qwsup.produce.producer import Producer
from qwsup.store.keys import PROGRESS, PROGRESS_MSG
from qwsup.store.queue import Queue
from qwsup.worker.progress import MAX_MESSAGE, Progress, Report, checked
from support import Qwsup
from testkit.wait import wait_until

W = "host.1"


@pytest.mark.unit
@pytest.mark.parametrize("fraction", [0, 0.0, 0.42, 1, 1.0])
def test_a_fraction_from_0_to_1_is_a_report(fraction: float) -> None:
    assert checked(fraction, "linking") == (float(fraction), "linking")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("fraction", "message", "error"),
    [
        (1.5, "", ValueError), (-0.1, "", ValueError), (float("nan"), "", ValueError),
        ("0.5", "", TypeError), (True, "", TypeError), (None, "", TypeError),
        (0.5, 42, TypeError),
    ],
)  # fmt: skip
def test_what_is_no_report_is_a_clear_error(
    fraction: object, message: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="progress"):
        checked(fraction, message)


@pytest.mark.unit
def test_a_long_message_is_cut() -> None:
    assert checked(0.5, "x" * 1000) == (0.5, "x" * MAX_MESSAGE)


@pytest.mark.unit
def test_outside_a_job_progress_says_it_is_for_a_handler() -> None:
    with pytest.raises(qwsup.NotInJob, match=r"qwsup\.progress\(\) is for a handler"):
        qwsup.progress(0.5)


class Sender:
    """A fake send: records each batch; blocks while `gate` is clear."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Report]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def __call__(self, batch: dict[str, Report]) -> None:
        self.gate.wait(10)
        if self.fail:
            raise ConnectionLost("down")
        self.batches.append(dict(batch))


@pytest.mark.unit
def test_many_reports_are_coalesced_and_the_latest_of_each_job_is_sent() -> None:
    sender = Sender()
    sleeps: list[float] = []
    progress = Progress(sender, flush_s=0.5, sleep=sleeps.append)
    for i in range(1, 1001):
        progress.report("a", i / 1000, f"step {i}")
    progress.report("b", 0.25, "")
    progress.flush()
    sent: dict[str, Report] = {}
    for batch in sender.batches:
        sent.update(batch)
    assert sent == {"a": (1.0, "step 1000"), "b": (0.25, "")}
    assert len(sender.batches) <= 2  # the thread's first flush, and this one
    assert progress.pending == {}


@pytest.mark.unit
def test_the_thread_waits_between_sends_and_a_failed_send_is_not_retried() -> None:
    sender = Sender()
    sender.gate.clear()  # the first send blocks until we let it go
    progress = Progress(sender, flush_s=0.01)
    progress.report("a", 0.1, "")
    wait_until(lambda: not progress.pending, 5, "the first batch taken")
    for i in range(100):
        progress.report("a", i / 100, "")  # while the first send is under way
    sender.gate.set()
    wait_until(lambda: len(sender.batches) == 2, 5, "two batches")
    assert sender.batches == [{"a": (0.1, "")}, {"a": (0.99, "")}]
    sender.fail = True
    progress.report("a", 1.0, "")
    wait_until(lambda: progress.failing, 5, "the failed send")
    assert progress.pending == {}  # dropped: the next report goes


@pytest.mark.redis
def test_progress_is_recorded_only_for_the_worker_running_the_job(
    client: redis.Redis, q: Queue
) -> None:
    job_id = Producer(client).enqueue({"n": "1"})
    q.report_progress(W, {job_id: (0.5, "queued still")})
    assert client.hget(f"job:{job_id}", PROGRESS) is None
    take(q, W, "host")
    q.report_progress("other.2", {job_id: (0.5, "not ours")})
    assert client.hget(f"job:{job_id}", PROGRESS) is None
    q.report_progress(W, {job_id: (0.42, "linking"), "gone": (0.1, "")})
    assert client.hmget(f"job:{job_id}", PROGRESS, PROGRESS_MSG) == [b"0.42", b"linking"]
    assert client.exists("job:gone") == 0
    info = Producer(client).job(job_id)
    assert info is not None and (info.progress, info.progress_message) == (0.42, "linking")


@pytest.mark.process
def test_a_handler_reports_often_and_redis_sees_the_latest_few_times(
    start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"handler": "testjobs:progressing", "count": 1})
    qw.wait_workers(1)
    calls_before = int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    job_id = Producer(r).enqueue({"steps": "20000", "hold": "20"})
    wait_until(lambda: r.hget("test:calls", job_id), 20, "the handler's reports")
    wait_until(lambda: r.hget(f"job:{job_id}", PROGRESS) == b"1.0", 10, "the last report")
    shown = qw.command("job", job_id).stdout
    assert "progress: 100% step 20000" in shown and "state: running" in shown
    assert f"{job_id}  for " in (status := qw.command("status").stdout)
    assert "100% step 20000" in status
    evalsha = int(r.info("commandstats")["cmdstat_evalsha"]["calls"]) - calls_before
    assert evalsha < 100  # 20,000 reports: a few writes (and the take), not one each
    r.set("test:release", 1)
    wait_until(lambda: r.hget(f"job:{job_id}", "qwsup:state") == b"done", 20, "done")
