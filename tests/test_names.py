"""A supervisor's name is held by one live master at a time: two containers from one
image (the same host name, the same small pids, one kernel), a config copied to another
host, a master restarted after SIGKILL."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
import redis

from qwsup.errors import ExitCode
from support import Qwsup, done, enqueue, runs, started_pid
from testkit import wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]

# A container of its own: a pid namespace (its master is pid 1, its workers 2, 3, ...),
# its own /proc, and the host name "web"; the same kernel, so the same boot id.
CONTAINER = (
    "unshare", "--pid", "--fork", "--mount-proc", "--uts",
    "sh", "-c", 'hostname web && exec "$@"', "sh",
)  # fmt: skip


def in_container(start: Start, config: str, **supervisor: object) -> Qwsup:
    """A master with no [supervisor] name: it is named after its host, "web"."""
    return start(
        config_name=config,
        prefix=CONTAINER,
        supervisor={"name": None, "lease_timeout": 2, **supervisor},
        workers={"count": 2, "retry_delay": 0},
    )


def holding(r: redis.Redis, name: str) -> bytes:
    """The token of the master that holds the name, once it has heartbeated."""
    wait_until(lambda: int(r.hget(f"{name}:info", "beats") or 0) >= 1, 15, f"{name} held")
    return r.hget(f"{name}:info", "token") or b""


def test_a_second_container_with_the_same_host_name_refuses_to_start(
    start_qwsup: Start, r: redis.Redis
) -> None:
    first = in_container(start_qwsup, "a.toml")
    token = holding(r, "web")
    assert r.hget("web:info", "pid") == b"1" and r.hget("web:info", "host") == b"web"
    ids = enqueue(r, 60, sleep="0.05")
    second = in_container(start_qwsup, "b.toml")
    assert second.wait(20) == ExitCode.NAME_HELD
    [line] = [x for x in second.log().splitlines() if "is held by a live master" in x]
    assert (
        "supervisor name 'web' is held by a live master: pid 1 on host web, on another "
        "machine or in another pid namespace, since " in line
    )
    assert "give this one another [supervisor] name" in line
    wait_until(lambda: len(done(r)) == 60, 30, "every job to run")
    assert runs(r) == dict.fromkeys(ids, 1)  # each ran once: nobody ran them twice
    assert r.llen("failed:jobs") == 0
    assert r.hget("web:info", "token") == token  # the first one still holds it
    assert "reclaimed" not in first.log() and "gone: requeueing" not in first.log()


def test_a_second_master_on_this_machine_with_the_same_name_refuses_to_start(
    start_qwsup: Start, r: redis.Redis
) -> None:
    first = start_qwsup(config_name="a.toml", supervisor={"lease_timeout": 2})
    first.wait_workers(2)
    holding(r, "testhost")
    second = start_qwsup(config_name="b.toml", supervisor={"lease_timeout": 2})
    assert second.wait(20) == ExitCode.NAME_HELD
    assert (
        f"supervisor name 'testhost' is held by a live master: pid {first.pid} on host "
        f"{os.uname().nodename}, on this machine, in this pid namespace, since "
    ) in second.log()
    assert len(first.workers()) == 2


def test_a_master_restarted_after_sigkill_takes_its_name_over_at_once(
    start_qwsup: Start, r: redis.Redis
) -> None:
    first = start_qwsup(config_name="a.toml", supervisor={"lease_timeout": 600})
    first.wait_workers(2)
    token = holding(r, "testhost")
    first.send(signal.SIGKILL)
    first.wait()
    wait_until(lambda: not first.live_group(), 15, "the orphaned workers to leave")
    again = start_qwsup(config_name="b.toml", supervisor={"lease_timeout": 600})
    again.wait_workers(2, timeout=20)  # at once: not after the 600 s lease
    [job_id] = enqueue(r)
    wait_until(lambda: job_id in done(r), 15, "a job to run")
    assert r.hget("testhost:info", "token") not in (None, token)
    assert "watching" not in again.log()


def test_a_dead_container_s_name_is_taken_after_a_lease_and_its_jobs_reclaimed(
    start_qwsup: Start, r: redis.Redis
) -> None:
    first = in_container(start_qwsup, "a.toml")
    holding(r, "web")
    [job_id] = enqueue(r, sleep="60")
    started_pid(r, job_id)
    os.killpg(first.pid, signal.SIGKILL)  # the whole container is gone
    first.wait()
    wait_until(lambda: not first.live_group(), 10, "the container to be gone")
    r.hset(f"job:{job_id}", "sleep", "0")
    second = in_container(start_qwsup, "b.toml")
    second.wait_log("from another machine or pid namespace: watching for up to 2 s", 15)
    second.wait_log("did not heartbeat for 2 s: reclaimed its jobs (1 back in the queue", 15)
    wait_until(lambda: job_id in done(r), 15, "the job to run again")
    assert runs(r) == {job_id: 2}  # it was running when its container died
