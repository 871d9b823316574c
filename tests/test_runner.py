"""Running a handler on a job (qwsup/worker/runner.py): what a return, a raise, a time limit
and an unreadable job each end in, without a process or Redis."""

from __future__ import annotations

import sys

import pytest

import qwsup
from qwsup import contract
from qwsup.store.records import OVERSIZE, Job
from qwsup.worker import loop as worker
from qwsup.worker.runner import MAX_ERROR, Ending, InHand, JobTimeout, Outcome, Runner

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def job(**fields: str) -> Job:
    return Job(b"j1", "hash", {k.encode(): v.encode() for k, v in fields.items()})


def started(clock: Clock) -> InHand:
    in_hand = InHand()
    in_hand.start(clock.now)
    return in_hand


def test_a_handler_that_returns_is_done_after_the_time_it_took() -> None:
    clock = Clock()
    seen: list[tuple[str, dict[str, str], bool]] = []
    in_hand = started(clock)

    def handler(job_id: str, data: dict[str, str]) -> None:
        seen.append((job_id, data, in_hand.in_handler))
        clock.now += 0.25

    ran = Runner(handler, "job:", 0, clock).run(job(n="1"), in_hand)
    assert seen == [("j1", {"n": "1"}, True)]
    assert (ran.ending, ran.failed, ran.seconds) == (Ending.RETURNED, False, 0.25)
    assert not in_hand.in_handler


def test_a_handler_that_raises_fails_the_attempt_with_one_line_and_its_traceback() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        raise ValueError("bad\ninput " + "x" * 3000)

    ran = Runner(handler, "job:", 0, Clock()).run(job(), InHand())
    assert ran.ending is Ending.RAISED and ran.failed and not ran.permanent
    assert ran.error.startswith("ValueError: bad input x") and len(ran.error) == MAX_ERROR
    assert "Traceback" in ran.trace and 'raise ValueError("bad' in ran.trace


def test_sys_exit_in_a_handler_is_a_failed_attempt_not_an_exit() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        sys.exit(3)

    ran = Runner(handler, "job:", 0, Clock()).run(job(), InHand())
    assert (ran.ending, ran.error) == (Ending.RAISED, "SystemExit: 3")


def test_job_timeout_in_the_handler_is_a_timed_out_attempt() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        raise JobTimeout

    ran = Runner(handler, "job:", 2.5, Clock()).run(job(), InHand())
    assert (ran.ending, ran.error) == (Ending.TIMED_OUT, "timed out after 2.5 s")
    assert ran.failed and not ran.permanent


def test_a_handler_that_swallows_exceptions_cannot_swallow_job_timeout() -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        try:
            raise JobTimeout
        except Exception:  # what careless job code does
            pass

    ran = Runner(handler, "job:", 1, Clock()).run(job(), InHand())
    assert ran.ending is Ending.TIMED_OUT


def test_a_job_that_cannot_be_read_fails_for_good_without_running_the_handler() -> None:
    calls: list[str] = []
    runner = Runner(lambda job_id, data: calls.append(job_id), "app:job:", 0, Clock())
    missing = runner.run(Job(b"gone", "none", {}), InHand())
    assert (missing.ending, missing.permanent) == (Ending.UNREADABLE, True)
    assert missing.error == "job hash app:job:gone does not exist" and missing.trace == ""
    big = runner.run(Job(b"big", OVERSIZE, {}, 3 * 2**20), InHand())
    assert big.error == "job hash app:job:big holds 3,145,728 bytes, over workers.max_job_mb"
    assert calls == []


def test_a_time_limit_signal_counts_only_for_the_job_it_was_meant_for() -> None:
    clock = Clock()
    runner = Runner(lambda job_id, data: None, "job:", 10, clock)
    in_hand = started(clock)
    in_hand.in_handler = True
    clock.now += 9.8
    assert not runner.timed_out(in_hand)  # early
    clock.now += 0.15
    assert runner.timed_out(in_hand)  # within 1% of the limit
    in_hand.in_handler = False
    assert not runner.timed_out(in_hand)  # that job has ended
    in_hand.in_handler = True
    assert not Runner(lambda job_id, data: None, "job:", 0, clock).timed_out(in_hand)  # no limit


def test_the_names_handlers_and_the_master_import_still_work() -> None:
    assert worker.JobTimeout is JobTimeout is qwsup.JobTimeout
    assert (contract.READY, contract.DUMP_STACK, contract.JOB_TIMEOUT) == (b"R", 10, 12)
    assert Outcome.RETRY == "retry"  # the scoreboard's name for it
