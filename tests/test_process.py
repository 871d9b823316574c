"""The real qwsup, started as a process, driven by real signals, checked in Redis."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import redis

from qwsup.produce.producer import Producer
from qwsup.store.keys import ATTEMPTS, LAST_ERROR, TRACEBACK
from support import Qwsup, assert_drained, done, enqueue, in_flight, runs, started_pid, title
from testkit import RedisServer, wait_until

pytestmark = pytest.mark.process

Start = Callable[..., Qwsup]


def test_a_thousand_jobs_through_four_workers_each_run_exactly_once(
    start_qwsup: Start, r: redis.Redis
) -> None:
    ids = enqueue(r, 1000, kind="trivial")
    qw = start_qwsup(workers={"count": 4})
    wait_until(lambda: r.llen("test:done") == 1000, 60, "1000 jobs done")
    assert runs(r) == dict.fromkeys(ids, 1)
    assert sorted(done(r)) == sorted(ids)
    assert r.llen("failed:jobs") == 0
    assert_drained(r)
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
    assert r.smembers("testhost:workers") == set()
    assert (
        "1000 jobs done, 0 attempts failed, 0 jobs failed for good, 0 requeued; "
        "4 workers started, 0 died"
    ) in qw.log()


def test_a_sigkilled_busy_worker_loses_nothing_and_is_replaced(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    [job_id] = enqueue(r, sleep="1")
    victim = started_pid(r, job_id)
    assert in_flight(r) == {f"testhost.{victim}:jobs": [job_id.encode()]}
    psutil.Process(victim).kill()
    wait_until(lambda: done(r) == [job_id], 20, "the job to run again and finish")
    assert runs(r) == {job_id: 2}
    assert int(r.hget("test:pids", job_id) or 0) != victim
    new_pids = qw.wait_workers(2)
    assert victim not in new_pids and len(new_pids - pids) == 1
    log = qw.log()
    assert f"worker testhost.{victim} was killed by SIGKILL (perhaps out of memory)" in log
    assert f"worker testhost.{victim}: 1 job back in the queue" in log
    assert_drained(r)
    assert f"testhost.{victim}".encode() not in r.smembers("testhost:workers")


def test_a_requeued_job_carries_one_more_attempt(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    [job_id] = enqueue(r, sleep="30")
    victim = started_pid(r, job_id)
    qw.send(signal.SIGSTOP)  # hold the master so the requeued job stays in sight
    try:
        psutil.Process(victim).kill()
        wait_until(lambda: not psutil.pid_exists(victim) or psutil.Process(victim).status()
                   == psutil.STATUS_ZOMBIE, 10, "the worker to die")  # fmt: skip
    finally:
        qw.send(signal.SIGCONT)
    wait_until(lambda: r.hget(f"job:{job_id}", ATTEMPTS) == b"1", 10, "attempts to be 1")
    assert b"SIGKILL" in (r.hget(f"job:{job_id}", LAST_ERROR) or b"")


def test_poison_jobs_end_in_failed_jobs_while_others_flow(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2, "max_attempts": 3, "retry_delay": 0.2})
    producer = Producer(r)
    raising = producer.enqueue({"action": "raise"})
    exiting = producer.enqueue({"action": "exit"})
    killing = producer.enqueue({"action": "kill"})
    good = producer.enqueue_many({"i": str(i)} for i in range(50))
    wait_until(lambda: r.llen("failed:jobs") == 3 and r.llen("test:done") == 50, 60, "the end")
    assert sorted(x.decode() for x in r.lrange("failed:jobs", 0, -1)) == sorted(
        [raising, exiting, killing]
    )
    counts = runs(r)
    assert all(counts[g] == 1 for g in good)
    for job_id in (raising, exiting, killing):
        assert counts[job_id] == 3
        assert r.hget(f"job:{job_id}", ATTEMPTS) == b"3"
    assert r.hget(f"job:{raising}", LAST_ERROR) == f"RuntimeError: boom {raising}".encode()
    assert b"Traceback" in (r.hget(f"job:{raising}", TRACEBACK) or b"")
    assert b"exited with status 13" in (r.hget(f"job:{exiting}", LAST_ERROR) or b"")
    assert b"killed by SIGKILL" in (r.hget(f"job:{killing}", LAST_ERROR) or b"")
    assert r.llen("all:jobs") == 0 and in_flight(r) == {}
    qw.wait_workers(2)


def test_term_lets_the_running_job_finish(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 2})
    qw.wait_workers(2)
    [job_id] = enqueue(r, sleep="1.5")
    started_pid(r, job_id)
    qw.send(signal.SIGTERM)
    assert qw.wait(20) == 0
    assert done(r) == [job_id]
    assert_drained(r)
    assert r.smembers("testhost:workers") == set()
    assert r.smembers("all:managers") == set()


def test_term_requeues_a_job_longer_than_graceful_timeout(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1}, supervisor={"graceful_timeout": 1})
    qw.wait_workers(1)
    [job_id] = enqueue(r, sleep="60")
    started_pid(r, job_id)
    qw.send(signal.SIGTERM)
    assert qw.wait(20) == 0
    assert r.lrange("all:jobs", 0, -1) == [job_id.encode()]
    assert in_flight(r) == {}
    assert r.hget(f"job:{job_id}", ATTEMPTS) is None  # stopped on purpose: no attempt charged
    assert "did not stop in time: SIGKILL" in qw.log()


def test_quit_stops_now_and_puts_the_job_back(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    [job_id] = enqueue(r, sleep="60")
    started_pid(r, job_id)
    qw.send(signal.SIGINT)
    assert qw.wait(10) == 0
    assert r.lrange("all:jobs", 0, -1) == [job_id.encode()]
    assert in_flight(r) == {}
    assert r.hget(f"job:{job_id}", ATTEMPTS) is None
    assert done(r) == []


def _write_handler(path: Path, version: int) -> None:
    path.write_text(
        "import os, redis\n"
        "r = redis.Redis.from_url(os.environ['QWSUP_TEST_REDIS'])\n"
        "def handle(job_id, data):\n"
        "    r.hincrby('test:runs', job_id, 1)\n"
        f"    r.hset('test:version', job_id, {version})\n"
        "    r.rpush('test:done', job_id)  # last: the tests wait on it\n"
    )


def test_hup_reloads_count_and_handler_code_with_jobs_flowing(
    start_qwsup: Start, r: redis.Redis, tmp_path: Path, env: dict[str, str]
) -> None:
    env["PYTHONPATH"] += f":{tmp_path}"
    _write_handler(tmp_path / "hupjobs.py", 1)
    qw = start_qwsup(workers={"count": 2, "handler": "hupjobs:handle"})
    old = qw.wait_workers(2)
    first = enqueue(r, 200)
    wait_until(lambda: r.llen("test:done") >= 50, 30, "jobs flowing")
    _write_handler(tmp_path / "hupjobs.py", 2)
    config = qw.config.read_text().replace("count = 2", "count = 3")
    qw.config.write_text(config)
    qw.send(signal.SIGHUP)
    qw.wait_log("reload complete: generation 2 running")
    new = qw.wait_workers(3)
    assert not new & old
    second = enqueue(r, 200)
    wait_until(lambda: r.llen("test:done") == 400, 30, "all 400 jobs done")
    assert runs(r) == dict.fromkeys(first + second, 1)
    versions = {k.decode(): int(v) for k, v in r.hgetall("test:version").items()}
    assert all(versions[j] == 2 for j in second)
    assert_drained(r)


def test_hup_with_a_broken_file_keeps_the_running_config(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    good = qw.config.read_text()
    qw.config.write_text(good.replace("count = 2", "count = 0"))
    qw.send(signal.SIGHUP)
    qw.wait_log("HUP: ")
    refused = "workers.count: must be from 1 to 10000, got 0; keeping the running configuration"
    assert refused in qw.log()
    ids = enqueue(r, 20)
    wait_until(lambda: r.llen("test:done") == 20, 20, "jobs done by the old workers")
    assert qw.worker_pids() == pids
    assert runs(r) == dict.fromkeys(ids, 1)


def test_hup_to_a_handler_that_cannot_import_keeps_the_old_generation(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    qw.config.write_text(qw.config.read_text().replace("testjobs:record", "nosuchmodule:run"))
    qw.send(signal.SIGHUP)
    qw.wait_log("reload aborted")
    ids = enqueue(r, 20)
    wait_until(lambda: r.llen("test:done") == 20, 20, "jobs done by the old workers")
    assert qw.worker_pids() == pids
    assert runs(r) == dict.fromkeys(ids, 1)


def test_ttin_and_ttou_add_and_remove_a_worker(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 2})
    two = qw.wait_workers(2)
    qw.send(signal.SIGTTIN)
    three = qw.wait_workers(3)
    assert two < three
    qw.send(signal.SIGTTOU)
    qw.wait_workers(2)
    qw.send(signal.SIGTTOU)  # one at a time: the kernel merges a signal still pending
    qw.wait_workers(1)
    qw.send(signal.SIGTTOU)  # never below one
    qw.wait_log("TTOU: 1 workers")
    ids = enqueue(r, 10)
    wait_until(lambda: r.llen("test:done") == 10, 20, "jobs done")
    assert len(qw.workers()) == 1
    assert runs(r) == dict.fromkeys(ids, 1)


def test_after_a_master_sigkill_workers_finish_and_a_new_master_recovers_jobs(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 2})
    qw.wait_workers(2)
    finishing, stranded = enqueue(r, sleep="1.5"), enqueue(r, sleep="60")
    [finishing_id], [stranded_id] = finishing, stranded
    finishing_pid = started_pid(r, finishing_id)
    stranded_pid = started_pid(r, stranded_id)
    qw.send(signal.SIGKILL)
    qw.wait()
    psutil.Process(stranded_pid).kill()  # a worker that died along with its master
    wait_until(lambda: not qw.live_group(), 15, "the orphaned workers to exit")
    assert finishing_id in done(r)  # it finished its job before exiting
    assert r.lrange(f"testhost.{stranded_pid}:jobs", 0, -1) == [stranded_id.encode()]
    assert r.smembers("testhost:workers") == {f"testhost.{stranded_pid}".encode()}
    assert finishing_pid != stranded_pid
    r.hset(f"job:{stranded_id}", "sleep", "0")
    again = start_qwsup(config_name="again.toml", workers={"count": 2})
    wait_until(lambda: stranded_id in done(r), 20, "the stranded job to be recovered")
    assert runs(r) == {finishing_id: 1, stranded_id: 2}
    assert f"worker testhost.{stranded_pid} is gone: requeueing its jobs" in again.log()
    assert_drained(r)


def test_a_handler_that_cannot_be_imported_stops_qwsup_with_status_3(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 3, "handler": "nosuchmodule:run"})
    assert qw.wait(20) == 3
    log = qw.log()
    assert "cannot import nosuchmodule: ModuleNotFoundError" in log
    assert "handler nosuchmodule:run cannot be imported: stopping (exit status 3)" in log
    assert "Traceback" not in log


def test_ps_shows_what_each_process_does(start_qwsup: Start, r: redis.Redis) -> None:
    qw = start_qwsup(workers={"count": 2})
    pids = qw.wait_workers(2)
    master = f"qwsup: master {qw.config} [2 workers]"
    wait_until(lambda: title(qw.pid) == master, 10, "the master's title")
    for pid in pids:
        idle = f"qwsup: worker testhost.{pid} idle"
        wait_until(lambda pid=pid, idle=idle: title(pid) == idle, 10, "an idle worker's title")
    [job_id] = enqueue(r, sleep="30")
    busy = started_pid(r, job_id)
    busy_title = title(busy)
    assert busy_title.startswith(f"qwsup: worker testhost.{busy} busy {job_id} since ")
    assert len(busy_title.rsplit(" ", 1)[1]) == len("12:34:56")


def test_every_process_is_gone_after_term(start_qwsup: Start, server: RedisServer) -> None:
    qw = start_qwsup(workers={"count": 3})
    qw.wait_workers(3)
    qw.send(signal.SIGTERM)
    assert qw.wait(20) == 0
    wait_until(lambda: not qw.group(), 10, "no process left")


def test_a_worker_that_keeps_dying_at_boot_is_restarted_with_backoff(
    start_qwsup: Start, r: redis.Redis, tmp_path: Path, env: dict[str, str]
) -> None:
    env["PYTHONPATH"] += f":{tmp_path}"
    _write_handler(tmp_path / "flaky.py", 1)
    qw = start_qwsup(workers={"count": 2, "handler": "flaky:handle"})
    pids = qw.wait_workers(2)
    (tmp_path / "flaky.py").write_text("raise ImportError('broken deploy')\n")
    victim = pids.pop()
    psutil.Process(victim).kill()  # soon after it started: the start of a crash loop
    qw.wait_log(" s after it started: next start in 0.1 s")
    for delay in ("0.2", "0.4", "0.8"):
        qw.wait_log(f"died while booting: next start in {delay} s")
    backing_off = f"qwsup: master {qw.config} [1 workers] backing off"
    wait_until(lambda: title(qw.pid) == backing_off, 10, "the title to say so")
    assert qw.proc.poll() is None  # the master keeps running with the worker it has
    assert pids <= qw.worker_pids()
    _write_handler(tmp_path / "flaky.py", 2)
    new = qw.wait_workers(2)
    ids = enqueue(r, 20)
    wait_until(lambda: r.llen("test:done") == 20, 20, "jobs done")
    assert len(new) == 2 and runs(r) == dict.fromkeys(ids, 1)


def test_json_logs_one_object_per_line_naming_each_process(
    start_qwsup: Start, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1}, log={"format": "json"})
    [pid] = qw.wait_workers(1)
    enqueue(r, action="raise")
    qw.wait_log("failed (attempt 1 of 3)")
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
    entries = [json.loads(line) for line in qw.log().splitlines()]
    assert {e["who"] for e in entries} == {"master", f"testhost.{pid}"}
    assert all(set(e) >= {"time", "level", "who", "logger", "message"} for e in entries)
    assert any(e["level"] == "warning" and "boom" in e["message"] for e in entries)
    assert entries[-1]["message"].startswith(f"master {qw.pid} exiting (status 0)")


def test_under_journald_log_lines_carry_no_timestamp(
    start_qwsup: Start, env: dict[str, str]
) -> None:
    env["JOURNAL_STREAM"] = "8:12345"
    qw = start_qwsup(workers={"count": 1})
    [pid] = qw.wait_workers(1)
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0
    lines = qw.log().splitlines()
    assert lines[0].startswith(f"INFO master: master {qw.pid} started: 1 workers")
    assert f"INFO testhost.{pid}: exiting: 0 jobs done, 0 failed" in lines


def test_the_supervisor_and_its_workers_connect_as_the_acl_user(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """Every process test runs qwsup as the `qwsup` user of conf/redis-acl.conf (and
    checks at the end that the ACL refused it nothing); this one checks who connects."""
    qw = start_qwsup(workers={"count": 2})
    qw.wait_workers(2)
    ids = enqueue(r, 20)
    wait_until(lambda: set(ids) <= set(done(r)), 10, "the jobs")
    users = [c["user"] for c in r.client_list() if c["cmd"] in ("blmove", "evalsha")]
    assert users and set(users) == {"qwsup"}
