"""The Prometheus endpoint, scraped from a running qwsup."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

import psutil
import pytest
import redis

from support import Qwsup, enqueue, scrape
from testkit import free_port, wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def test_metrics_count_jobs_workers_and_restarts_across_worker_deaths(
    start_qwsup: Start, r: redis.Redis
) -> None:
    port = free_port()
    qw = start_qwsup(
        workers={"count": 2, "max_attempts": 1}, metrics={"listen": f"127.0.0.1:{port}"}
    )
    pids = qw.wait_workers(2)
    enqueue(r, 5)
    enqueue(r, action="raise")
    wait_until(lambda: r.llen("test:done") == 5 and r.llen("failed:jobs") == 1, 20, "jobs")
    victim = next(iter(pids))
    psutil.Process(victim).kill()
    wait_until(lambda: victim not in qw.wait_workers(2), 10, "a replacement")
    alive = ("qwsup_workers", (("pool", "default"), ("state", "alive")))
    crashed = ("qwsup_worker_restarts_total", (("cause", "crashed"),))
    # (two alive before the master noticed the death too: wait for its count as well)
    m = wait_until(
        lambda: (m := scrape(port)).get(alive) == 2 and m.get(crashed) == 1 and m, 10,
        "the death counted, and two live workers",
    )  # fmt: skip
    assert m[("qwsup_jobs_done_total", ())] == 5  # counted before that worker died
    assert m[("qwsup_jobs_failed_total", ())] == 1
    assert m[("qwsup_jobs_retried_total", ())] == 0
    restarts = {
        labels: v for (name, labels), v in m.items() if name == "qwsup_worker_restarts_total"
    }
    assert restarts == {(("cause", "crashed"),): 1}, qw.log()  # and no other cause
    assert m[("qwsup_workers", (("pool", "default"), ("state", "busy")))] == 0
    assert m[("qwsup_job_duration_seconds_count", ())] == 6
    assert m[("qwsup_job_duration_seconds_bucket", (("le", "+Inf"),))] == 6
    assert m[("qwsup_queue_jobs", (("queue", "all:jobs"),))] == 0
    assert m[("qwsup_queue_jobs", (("queue", "failed:jobs"),))] == 1
    assert m[("qwsup_redis_up", ())] == 1
    memory = {labels: v for (name, labels), v in m.items() if name == "qwsup_worker_memory_bytes"}
    assert {dict(labels)["worker"] for labels in memory} == {
        f"testhost.{p.pid}" for p in qw.workers()
    }
    assert all(v > 10 * 2**20 for v in memory.values())
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


def test_a_metrics_port_in_use_stops_qwsup_with_status_69(start_qwsup: Start) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        qw = start_qwsup(metrics={"listen": f"127.0.0.1:{port}"})
        assert qw.wait(20) == 69
    assert f"cannot serve metrics on 127.0.0.1:{port}" in qw.log()


def test_a_worker_of_several_slots_shows_how_many_jobs_it_runs(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """k of N on its scoreboard: one worker of 4 slots runs 3 jobs, so 1 worker is busy
    and 3 jobs run; as soon as the jobs start, not a second later."""
    port = free_port()
    qw = start_qwsup(
        workers={"count": 1, "concurrency": 4}, metrics={"listen": f"127.0.0.1:{port}"}
    )
    qw.wait_workers(1)
    enqueue(r, 3, action="hold")
    wait_until(lambda: r.hlen("test:runs") == 3, 10, "three jobs running")
    running, busy = ("qwsup_jobs_running", (("pool", "default"),)), (
        "qwsup_workers", (("pool", "default"), ("state", "busy")),
    )  # fmt: skip
    m = wait_until(lambda: (m := scrape(port)).get(running) == 3 and m, 0.9, "3 running")
    assert m[busy] == 1
    r.set("test:release", 1)
    wait_until(lambda: r.llen("test:done") == 3, 10, "the jobs done")
    wait_until(lambda: scrape(port).get(running) == 0, 10, "none running")
