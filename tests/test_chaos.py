"""The short chaos run (`make chaos` runs the long one and prints its table)."""

from __future__ import annotations

from pathlib import Path

import pytest

import chaos

pytestmark = pytest.mark.process


@pytest.mark.timeout(300)
def test_no_job_is_lost_whatever_dies(tmp_path: Path) -> None:
    # at least 20 s: a run that ends with its last job (about 11 s) saw ten cron ticks
    # at most and perhaps no worker killed
    result = chaos.run(jobs=800, seconds=240, workdir=tmp_path, seed=7, least_s=20)
    print(chaos.table(result))
    assert result.finished, chaos.table(result)
    assert result.lost == 0
    assert result.stray == 0
    assert result.done + sum(result.failed.values()) + result.cancelled == result.jobs
    assert result.cancelled_waiting > 0 and result.cancelled_running > 0
    assert result.cancels_not_cancelled == 0 and result.cancels_ran_after == 0
    # no handler started after its cancel returned, held jobs' among them (how many of
    # the cancels find a job held is timing: the table says; test_cancel's held-job test
    # makes that case happen every time)
    assert result.started_after_cancel == 0
    assert result.plain > 0 and result.plain_cancelled > 0
    assert all(reason != "(none)" for reason in result.failed)  # every failure says why
    assert result.worker_kills > 0
    assert result.master_kills == 2 and result.host_kills == 1 and result.redis_restarts == 1
    assert result.master_stalls == 1 and result.clock_steps == 2
    assert result.name_refusals == 1  # the second chaos-a refused to start
    # a job completes twice only when its worker died between finishing and acknowledging
    # (a worker runs up to chaos.MOST_AT_ONCE jobs), or was running when its host was
    # reclaimed (chaos.RUNNING_PER_HOST at most)
    kills = result.worker_kills + result.master_kills + result.host_kills + result.redis_restarts
    bound = kills * chaos.MOST_AT_ONCE + chaos.RUNNING_PER_HOST * result.master_stalls
    assert result.duplicates <= bound
    # what a handler sends with its acknowledgement is applied once per job, duplicates too
    assert result.effects_twice == 0 and result.effects_missing == 0
    assert result.interrupted > 0  # the hanging and bloating jobs were cut short
    # the cron schedule: each tick once, but where the clock stepped (chaos._count_ticks)
    assert result.ticks > 10 and result.ticks_twice == 0 and result.ticks_missing == 0
    assert result.ticks_skipped > 3000  # the hour the clock stepped ahead
    # the rate-limited queue: never more than its limit in a second, on the Redis clock
    assert result.paced > chaos.PACED_RATE and result.paced_most <= chaos.PACED_RATE
