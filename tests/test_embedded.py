"""With no [redis] url, qwsup runs its own redis-server: the README's quick start."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis

from qwsup.produce.producer import Producer
from qwsup.store.embedded import EmbeddedRedis
from support import Qwsup
from testkit import wait_until, write_config

pytestmark = pytest.mark.process


def cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(config), *args],
        env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_embedded_redis_runs_jobs_and_keeps_queued_ones_across_restarts(
    tmp_path: Path, state_dir: Path, env: dict[str, str]
) -> None:
    config = write_config(
        tmp_path / "embedded.toml",
        None,
        redis={"state_dir": str(state_dir)},
        workers={"count": 1, "handler": "qwsup.examples:log_job"},
        supervisor={"graceful_timeout": 0.5},
    )
    qw = Qwsup(config, env)
    try:
        qw.wait_log("embedded redis-server (pid")
        added = cli(config, env, "enqueue", "greeting=hello")
        assert added.returncode == 0, added.stderr
        job_id = added.stdout.strip()
        qw.wait_log(f"job {job_id}: {{'greeting': 'hello'}}")
        server_pid = int((state_dir / "redis.pid").read_text())
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
        wait_until(lambda: not psutil.pid_exists(server_pid), 10, "the embedded server to stop")
        assert "embedded redis-server" in qw.log() and "stopped" in qw.log()
    finally:
        qw.close()

    refused = cli(config, env, "enqueue", "greeting=again")
    assert refused.returncode == 69
    assert refused.stderr.startswith(f"qwsup: no Redis at unix://{state_dir}/redis.sock: ")
    assert "the embedded server, which runs only while the supervisor runs" in refused.stderr
    assert refused.stderr.count("\n") == 1

    env["QWSUP_TEST_REDIS"] = f"unix://{state_dir}/redis.sock"
    config.write_text(config.read_text().replace("qwsup.examples:log_job", "testjobs:record"))
    qw = Qwsup(config, env)
    try:
        qw.wait_log("master ")
        ids = subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(config), "enqueue"],
            env=env, capture_output=True, text=True, timeout=30,
            input='{"sleep": "60"}\n{"sleep": "60", "n": 2}\n{"sleep": "60", "n": 3}\n',
        ).stdout.split()  # fmt: skip
        assert len(ids) == 3
        client = redis.Redis(unix_socket_path=str(state_dir / "redis.sock"))
        wait_until(lambda: client.hlen("test:runs") == 1, 10, "one job to start")
        client.close()
        qw.send(signal.SIGTERM)  # the running job is requeued after graceful_timeout
        assert qw.wait() == 0
    finally:
        qw.close()

    qw = Qwsup(config, env)
    try:
        qw.wait_log("master ")
        client = redis.Redis(unix_socket_path=str(state_dir / "redis.sock"))
        kept = set(client.lrange("all:jobs", 0, -1))
        for key in client.scan_iter(match="testhost.*:jobs"):
            kept |= set(client.lrange(key, 0, -1))
        assert kept == {i.encode() for i in ids}
        client.close()
    finally:
        qw.close()


def test_the_embedded_servers_files_are_private(
    tmp_path: Path, state_dir: Path, env: dict[str, str]
) -> None:
    state = state_dir / "fresh"  # made by qwsup
    config = write_config(
        tmp_path / "private.toml", None, redis={"state_dir": str(state)}, workers={"count": 1}
    )
    qw = Qwsup(config, env)
    try:
        qw.wait_log(" started: ")  # its signal handlers are in place
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "redis.sock").stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE((state / "qwsup.lock").stat().st_mode) == 0o600
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
    finally:
        qw.close()


def persistence(socket: Path) -> tuple[str, str]:
    """The server's appendonly and appendfsync, asked as its default user."""
    client = redis.Redis(unix_socket_path=str(socket), decode_responses=True)
    try:
        config = client.config_get("append*")
        return config["appendonly"], config["appendfsync"]
    finally:
        client.close()


@pytest.mark.parametrize(("configured", "running"), [(None, "always"), ("everysec", "everysec")])
def test_the_embedded_server_runs_the_configured_appendfsync(
    tmp_path: Path, state_dir: Path, env: dict[str, str], configured: str | None, running: str
) -> None:
    config = write_config(
        tmp_path / "fsync.toml",
        None,
        redis={"state_dir": str(state_dir), "appendfsync": configured},
        workers={"count": 1},
    )
    qw = Qwsup(config, env)
    try:
        qw.wait_log(" started: ")  # its signal handlers are in place
        assert persistence(state_dir / "redis.sock") == ("yes", running)
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
    finally:
        qw.close()


def test_a_master_gives_an_adopted_server_the_configured_appendfsync(
    tmp_path: Path, state_dir: Path, env: dict[str, str]
) -> None:
    config = write_config(
        tmp_path / "adopt.toml",
        None,
        redis={"state_dir": str(state_dir), "appendfsync": "everysec"},
        workers={"count": 1},
    )
    qw = Qwsup(config, env)
    try:
        qw.wait_log(" started: ")  # its signal handlers are in place
        assert persistence(state_dir / "redis.sock") == ("yes", "everysec")
        qw.send(signal.SIGKILL)  # the server outlives it
        qw.wait()
    finally:
        qw.close()
    server_pid = int((state_dir / "redis.pid").read_text())
    config.write_text(config.read_text().replace('appendfsync = "everysec"\n', ""))
    qw = Qwsup(config, env)
    try:
        qw.wait_log(" started: ")
        assert f"embedded redis-server (pid {server_pid}) still running" in qw.log()
        assert f"(pid {server_pid}): appendfsync always, was everysec" in qw.log()
        assert persistence(state_dir / "redis.sock") == ("yes", "always")
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
    finally:
        qw.close()


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_acknowledged_enqueues_survive_a_crash_of_the_embedded_server(
    state_dir: Path, policy: str
) -> None:
    """SIGKILL right after the last reply: with each policy (the README's Durability
    table; "no" is Redis's, not a choice qwsup offers) Redis has written every
    acknowledged command to its AOF, the kernel's cache, before replying. A host crash,
    which only `always` survives, is beyond a test. With `everysec`, only on a disk
    that keeps up: while the last second's fsync still runs, Redis holds the next
    writes back for up to 2 s and answers meanwhile (the table says so); then the
    test waits for the write Redis reports held back (INFO's aof_buffer_length)."""
    server = EmbeddedRedis(state_dir, appendfsync=policy)
    server.start()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket))
        producer = Producer(client)
        ids = [producer.enqueue({"n": i}) for i in range(300)]
        ids += producer.enqueue_many({"n": "many"} for _ in range(3000))
        if policy == "everysec":  # (always and no never hold a write back)
            held = lambda: int(client.info("persistence")["aof_buffer_length"]) > 0  # noqa: E731
            wait_until(lambda: not held(), 10, "the write everysec held back, behind an fsync")
        assert server.pid is not None
        crashed = psutil.Process(server.pid)
        crashed.kill()  # SIGKILL
        client.close()
        wait_until(lambda: gone(crashed), 10, "the server to die")
        server.start()  # a new server on the same directory loads the AOF
        assert server.pid != crashed.pid
        client = redis.Redis(unix_socket_path=str(server.socket))
        assert set(client.lrange("all:jobs", 0, -1)) == {i.encode() for i in ids}
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(f"job:{job_id}")
            assert sum(pipe.execute()) == len(ids)
        client.close()
    finally:
        server.stop()
