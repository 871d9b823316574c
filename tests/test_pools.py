"""Several pools in one supervisor: each its own handler, count and queues; status and
scaling per pool. Process tests."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from qwsup.produce.producer import Producer
from support import Qwsup, done, scrape
from testkit import RedisServer, free_port, wait_until, write_config

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]

POOLS: list[dict[str, Any]] = [
    {"name": "builds", "queues": ["builds"], "count": 2, "handler": "testjobs:record"},
    {"name": "mail", "queues": ["mail", "all"], "count": 1, "handler": "testjobs:record_mail"},
]


POOLS_BY_NAME = [pool["name"] for pool in POOLS]


def pools(qw: Qwsup) -> dict[str, dict[str, Any]]:
    """What `qwsup status --json` says of this supervisor's pools, with their workers."""
    result = qw.command("status", "--json")
    assert result.returncode == 0, result.stderr
    [sup] = json.loads(result.stdout)["supervisors"]
    found = {p["name"]: dict(p, workers=[]) for p in sup["pools"]}
    for worker in sup["workers"]:
        if worker["pool"] in found:  # "" until a heartbeat has recorded a new worker's pool
            found[worker["pool"]]["workers"].append(worker["id"])
    return found


def status_line(qw: Qwsup) -> str:
    """The master's own summary, as its heartbeat recorded it."""
    result = qw.command("status", "--json")
    return str(json.loads(result.stdout)["supervisors"][0]["status"])


def test_each_pool_runs_its_own_queues_with_its_own_handler(
    start_qwsup: Start, r: redis.Redis
) -> None:
    port = free_port()
    qw = start_qwsup(pools=POOLS, metrics={"listen": f"127.0.0.1:{port}"})
    qw.wait_workers(3)
    producer = Producer(r)
    builds = producer.enqueue_many([{"n": str(i)} for i in range(10)], queue="builds")
    mail = producer.enqueue_many([{"n": str(i)} for i in range(5)], queue="mail")
    shared = producer.enqueue_many([{"n": str(i)} for i in range(5)])
    wait_until(lambda: set(builds + mail + shared) <= set(done(r)), 15, "every job")
    handlers = {k.decode(): v.decode() for k, v in r.hgetall("test:handler").items()}
    assert set(handlers) == set(mail + shared)  # all:jobs is the mail pool's too
    assert not set(builds) & set(handlers)  # builds ran with the builds pool's handler
    wait_until(lambda: len(pools(qw)["builds"]["workers"]) == 2, 10, "the pools in status")
    seen = pools(qw)
    assert (seen["builds"]["count"], seen["builds"]["queues"]) == (2, ["builds"])
    assert (seen["mail"]["count"], seen["mail"]["queues"]) == (1, ["mail", "all"])
    assert len(seen["builds"]["workers"]) == 2 and len(seen["mail"]["workers"]) == 1
    assert wait_until(lambda: "builds 2/2, mail 1/1 workers" in status_line(qw), 10)
    table = qw.command("status").stdout
    assert (
        "pool builds: 2 workers on builds" in table and "pool mail: 1 worker on mail, all" in table
    )
    assert "started: pool builds: 2 workers running testjobs:record on builds" in qw.log()
    counted = {pool: ("qwsup_pool_jobs_done_total", (("pool", pool),)) for pool in POOLS_BY_NAME}
    # a job is counted once Redis has answered its acknowledgement, just after it ran
    m = wait_until(
        lambda: (m := scrape(port))[counted["builds"]] == 10 and m[counted["mail"]] == 10 and m,
        10, "the jobs counted per pool",
    )  # fmt: skip
    assert m[("qwsup_workers", (("pool", "builds"), ("state", "alive")))] == 2
    assert m[("qwsup_workers", (("pool", "mail"), ("state", "alive")))] == 1


def test_scale_names_the_pool_and_a_plain_ttin_grows_the_first(start_qwsup: Start) -> None:
    qw = start_qwsup(pools=POOLS)
    qw.wait_workers(3)
    grown = qw.command("scale", "mail", "+2")
    assert grown.returncode == 0, grown.stderr
    qw.wait_workers(5)
    assert qw.command("scale", "builds", "1").returncode == 0  # an absolute count
    qw.wait_log("TTIN: 1 workers in pool builds (qwsup scale)")
    qw.wait_workers(4)
    qw.send(signal.SIGTTIN)  # no pool named: the first
    qw.wait_log("TTIN: 2 workers in pool builds")
    qw.wait_workers(5)
    wait_until(lambda: "builds 2/2, mail 3/3 workers" in status_line(qw), 10, "the counts")
    bad = qw.command("scale", "nosuch", "+1")
    assert bad.returncode == 2 and "has no pool 'nosuch' (builds, mail)" in bad.stderr
    assert qw.command("scale", "mail", "lots").returncode == 2


def test_a_reload_starts_a_new_generation_of_every_pool(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(pools=POOLS)
    old = qw.wait_workers(3)
    text = qw.config.read_text()
    qw.config.write_text(text.replace("count = 1", "count = 2"))  # the mail pool
    qw.send(signal.SIGHUP)
    qw.wait_log("reload complete")
    new = qw.wait_workers(4)
    assert not old & new
    wait_until(lambda: "builds 2/2, mail 2/2 workers" in status_line(qw), 10, "the counts")
    job = Producer(r).enqueue({"n": "1"}, queue="mail")
    wait_until(lambda: r.hget("test:handler", job) == b"record_mail", 10, "a mail job")


def test_scale_signals_only_a_qwsup_master(
    r: redis.Redis, env: dict[str, str], tmp_path: Path, server: RedisServer
) -> None:
    """The master's pid comes from Redis, which anyone who can write there can forge."""
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        config = write_config(tmp_path / "ghost.toml", server.url, supervisor={"name": "ghost"})
        r.hset("ghost:info", mapping={"pid": bystander.pid, "host": socket.gethostname()})
        result = subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(config), "scale", "default", "+1"],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert result.returncode == 1
        assert f"process {bystander.pid} is not a qwsup master: not signalled" in result.stderr
        assert psutil.Process(bystander.pid).status() != psutil.STATUS_STOPPED
        assert r.llen("ghost:scale") == 0
    finally:
        bystander.kill()
        bystander.wait()
