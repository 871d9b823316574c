"""What the operators' commands print (ops/report.py), pure: the words and the times a
person reads in `status`, `job`, `failed list` and `failed show`."""

from __future__ import annotations

import time

import pytest

from qwsup.ops import report
from qwsup.ops.views import Snapshot
from qwsup.store.failed import FailedJob
from qwsup.store.jobs import read_job
from qwsup.store.operator import PoolView, SupervisorView
from qwsup.store.pages import JobRecord

pytestmark = pytest.mark.unit

AT = 1_750_000_000.25  # unix seconds
LOCAL = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(AT))


def test_a_count_is_never_1_jobs() -> None:
    assert [report.counted(n, "job") for n in (0, 1, 2)] == ["0 jobs", "1 job", "2 jobs"]
    sup = SupervisorView("a", True, 1.0, 7, "h", "", pools=[
        PoolView("mail", 1, ["mail"]), PoolView("builds", 2, ["builds"]),
    ])  # fmt: skip
    table = report.status_table(Snapshot({}, 0, 0, [sup]))
    assert "pool mail: 1 worker on mail" in table and "pool builds: 2 workers on" in table


def test_a_running_job_says_which_attempt_runs_where_it_says_the_attempts() -> None:
    raw = {b"qwsup:state": b"running", b"qwsup:worker": b"h.1", b"qwsup:attempts": b"1"}
    info = read_job("j", raw)
    assert info is not None
    text = report.job_detail(JobRecord(info, None), AT)
    assert "state: running on h.1, attempt 2\n" in text
    assert "\nattempts: 1 used up, attempt 2 running\n" in text
    done = read_job("j", {b"qwsup:state": b"done", b"qwsup:attempts": b"0"})
    assert done is not None
    assert "\nattempts: 0 used up\n" in report.job_detail(JobRecord(done, None), AT)


def test_a_failed_jobs_times_are_shown_to_the_ms_like_every_other_time() -> None:
    """qwsup:failed_at holds unix seconds, the other times unix ms: shown alike."""
    job = FailedJob("j", 3, "boom", AT, {
        "qwsup:failed_at": f"{AT:.3f}", "qwsup:finished_at": str(int(AT * 1000)),
        "qwsup:enqueued_at": str(int(AT * 1000)), "n": "1",
    })  # fmt: skip
    shown = report.failed_detail(job)
    assert f"failed at: {LOCAL}.250\n" in shown and "attempts: 3 used up\n" in shown
    assert f"  qwsup:failed_at = {LOCAL}.250\n" in shown
    assert f"  qwsup:finished_at = {LOCAL}.250" in shown and "  n = 1\n" in shown
    assert f"       3  {LOCAL}.250  boom" in report.failed_table([job], 1)
