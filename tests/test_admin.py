"""The operator's commands against a running qwsup: status, failed, requeue-orphans,
enqueue for later."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from qwsup.store.keys import ATTEMPTS
from support import Qwsup, enqueue, started_pid, state
from testkit import RedisServer, wait_until, write_config

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def test_status_shows_queues_supervisors_and_busy_workers(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2, "max_attempts": 1})
    pids = qw.wait_workers(2)
    [bad] = enqueue(r, action="raise")
    wait_until(lambda: r.llen("failed:jobs") == 1, 10, "a failed job")
    slow = [enqueue(r, sleep="30")[0] for _ in range(2)]
    for job_id in slow:
        started_pid(r, job_id)
    waiting = enqueue(r, 3)
    snap = json.loads(qw.command("status", "--json").stdout)
    assert snap["queues"] == {"all:jobs": 3, "testhost:jobs": 0}
    assert (snap["delayed"], snap["failed"]) == (0, 1)
    [sup] = snap["supervisors"]
    assert sup["name"] == "testhost" and sup["alive"] and sup["pid"] == qw.pid
    assert 0 <= sup["heartbeat_age_s"] < 30
    assert {w["id"] for w in sup["workers"]} == {f"testhost.{p}" for p in pids}
    assert sorted(w["job"] for w in sup["workers"]) == sorted(slow)
    assert all(0 <= w["running_s"] < 30 for w in sup["workers"])
    table = qw.command("status").stdout
    assert "SUPERVISOR testhost  alive  heartbeat " in table
    assert f"busy {slow[0]}  for " in table and "failed:jobs" in table
    assert "\033[" not in table  # no colour when not a terminal
    assert len(waiting) == 3 and bad


def test_failed_list_show_retry_and_purge(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1, "max_attempts": 2, "retry_delay": 0})
    ids = [enqueue(r, action="raise", k=str(i))[0] for i in range(3)]
    wait_until(lambda: r.llen("failed:jobs") == 3, 20, "three failed jobs")
    listed = json.loads(qw.command("failed", "list", "--json").stdout)
    assert {j["id"] for j in listed} == set(ids)
    assert all(j["attempts"] == 2 and j["error"].startswith("RuntimeError: boom") for j in listed)
    table = qw.command("failed", "list", "--limit", "2").stdout
    assert "... 1 more" in table and "RuntimeError: boom" in table
    shown = qw.command("failed", "show", ids[0]).stdout
    assert f"error: RuntimeError: boom {ids[0]}" in shown
    assert "traceback:\nTraceback (most recent call last):" in shown and "k = 0" in shown
    missing = qw.command("failed", "show", "nope")
    assert missing.returncode == 2 and "'nope' is not a failed job" in missing.stderr

    assert qw.command("failed", "retry", ids[0]).stdout == "1 failed job put back in its queue\n"
    wait_until(lambda: r.hget(f"job:{ids[0]}", ATTEMPTS) == b"2", 20, "two new attempts")
    wait_until(lambda: r.llen("failed:jobs") == 3, 20, "the job to fail again")
    assert r.hget(f"job:{ids[0]}", ATTEMPTS) == b"2"  # the count started again from 0
    assert qw.command("failed", "retry").returncode == 2
    r.hset(f"job:{ids[1]}", "action", "none")  # mended
    assert qw.command("failed", "retry", "--all").stdout == (
        "3 failed jobs put back in their queues\n"
    )
    wait_until(lambda: r.llen("failed:jobs") == 2, 20, "the mended job to run")
    assert state(r, ids[1]) == b"done"

    assert qw.command("failed", "purge").stdout == "2 failed jobs deleted\n"
    assert r.llen("failed:jobs") == 0
    assert r.exists(f"job:{ids[0]}", f"job:{ids[2]}") == 0


def test_requeue_orphans_reclaims_a_named_supervisor_at_once(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1}, supervisor={"lease_timeout": 600})
    qw.wait_workers(1)
    r.hset("job:stranded", "action", "none")
    r.lpush("ghost.7:jobs", "stranded")
    r.sadd("ghost:workers", "ghost.7")
    r.sadd("all:managers", "ghost")
    r.zadd("all:leases", {"ghost": 2**50})  # its lease runs: only an operator can say
    done = qw.command("requeue-orphans", "ghost")
    assert done.stdout == "ghost: 1 job back in the queue, 0 out of attempts\n"
    wait_until(lambda: b"stranded" in r.lrange("test:done", 0, -1), 10, "the job to run")
    assert r.sismember("all:managers", "ghost") == 0 and r.exists("ghost:workers") == 0


def test_requeue_orphans_reclaims_the_silent_and_leaves_the_live(
    tmp_path: Path, server: RedisServer, r: redis.Redis, env: dict[str, str]
) -> None:
    """No master runs (one would reclaim the silent one itself): the command watches a
    supervisor whose record never changes and one whose record changes meanwhile."""
    config = write_config(
        tmp_path / "w.toml", server.user_url("qwsup"), supervisor={"lease_timeout": 2},
        redis={"password_env": "QWSUP_TEST_PASSWORD"},
    )  # fmt: skip
    r.hset("job:stranded", "action", "none")
    r.lpush("ghost.7:jobs", "stranded")
    r.sadd("ghost:workers", "ghost.7")
    r.sadd("all:managers", "ghost", "live")
    r.hset("live:info", mapping={"token": "1", "beats": "0"})
    command = [sys.executable, "-m", "qwsup", "-c", str(config), "requeue-orphans"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as cli:
        while cli.poll() is None:  # "live" heartbeats while the command watches
            r.hincrby("live:info", "beats", 1)
            time.sleep(0.1)  # the pace of the fake heartbeat, not a wait
        out = cli.stdout.read() if cli.stdout else ""
    assert cli.returncode == 0
    assert out.splitlines() == [
        "watching every supervisor for up to 2 s (lease_timeout): those that heartbeat "
        "meanwhile are alive",
        "ghost: 1 job back in the queue, 0 out of attempts",
    ]
    assert r.lrange("all:jobs", 0, -1) == [b"stranded"]
    assert r.smembers("all:managers") == {b"live"} and r.exists("live:info") == 1


def test_status_watch_redraws_until_interrupted(start_qwsup: Start, env: dict[str, str]) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    command = [sys.executable, "-m", "qwsup", "-c", str(qw.config), "status", "--watch", "0.2"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as watch:
        assert watch.stdout is not None
        frames = 0
        for line in watch.stdout:
            frames += "every 0.2 s" in line
            if frames == 3:
                break
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=30)  # read what it still writes: a full pipe would block it
        assert watch.returncode == 0


def test_a_job_enqueued_for_later_starts_no_earlier(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    sent = time.time()
    later = qw.command("enqueue", "--delay", "1.5", "n=1")
    assert later.returncode == 0, later.stderr
    due = qw.command("enqueue", "--at", "2001-01-01T00:00:00+00:00", "n=2")  # long past
    assert due.returncode == 0, due.stderr
    later_id, due_id = later.stdout.strip(), due.stdout.strip()
    assert r.zscore("delayed:jobs", later_id) is not None
    wait_until(lambda: r.hget("test:runs", due_id), 5, "the job that was due at once")
    wait_until(lambda: r.llen("test:started_at") == 2, 10, "the job for later")
    order = [x.decode() for x in r.lrange("test:started", 0, -1)]
    started = float(r.lrange("test:started_at", 0, -1)[order.index(later_id)])
    assert 1.5 <= started - sent < 5  # promoted about once a second once due
    bad = qw.command("enqueue", "--at", "next tuesday", "n=3")
    assert bad.returncode == 2 and "neither ISO 8601" in bad.stderr
    assert qw.command("enqueue", "--delay", "-1", "n=3").returncode == 2


def test_a_unique_job_is_refused_while_its_twin_is_queued_or_running(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    # the first runs until released: a slow CLI under load cannot outlast it
    first = qw.command("enqueue", "--unique", "nightly", "action=hold")
    assert first.returncode == 0, first.stderr
    job_id = first.stdout.strip()
    wait_until(lambda: r.hget("test:runs", job_id), 10, "the first to start")
    twin = qw.command("enqueue", "--unique", "nightly", "sleep=0")
    assert twin.returncode == 1 and twin.stdout == ""
    assert f"refused: unique name 'nightly' is held by job {job_id}, queued or running" in (
        twin.stderr
    )
    r.set("test:release", 1)
    wait_until(lambda: state(r, job_id) == b"done", 10, "the first to finish")
    again = qw.command("enqueue", "--unique", "nightly", "n=1")
    assert again.returncode == 0, again.stderr
    wait_until(lambda: r.hget("test:runs", again.stdout.strip()), 10, "the next one to run")
