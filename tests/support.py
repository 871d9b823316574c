"""The tests' own helpers: real qwsup processes, and what the test handlers
(testjobs.py) leave in Redis. What the benchmark shares with the tests (wait_until,
free_port, write_config, RedisServer, the local cluster and sentinels) is in
testkit/."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import redis
from prometheus_client.parser import text_string_to_metric_families

from qwsup.produce.producer import Producer
from qwsup.store.keys import STATE
from testkit import ROOT, wait_until

TESTS = Path(__file__).resolve().parent


def title(pid: int) -> str:
    """A process's title as `ps` shows it (setproctitle pads it with empty arguments)."""
    return " ".join(part for part in psutil.Process(pid).cmdline() if part)


def not_zombies(procs: list[psutil.Process]) -> list[psutil.Process]:
    live = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.status() != psutil.STATUS_ZOMBIE:
                live.append(proc)
    return live


class Qwsup:
    """The real `qwsup` in its own session, its output in a log file."""

    def __init__(
        self, config: Path, env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()
    ) -> None:
        """`prefix` runs qwsup under another command (`unshare` for a container)."""
        self.config = config
        self.env = env
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        self._log = self.log_path.open("wb")
        command = [*prefix, sys.executable, "-m", "qwsup", "-c", str(config), *args]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=config.parent,
        )
        self.pid = self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        wait_until(lambda: text in self.log(), timeout, f"{text!r} in the log")

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)

    def workers(self) -> list[psutil.Process]:
        """The live (non-zombie) worker processes of this master."""
        try:
            return not_zombies(psutil.Process(self.pid).children())
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.workers()}

    def wait_workers(self, count: int, timeout: float = 15.0) -> set[int]:
        """Wait until exactly `count` workers run and have booted (their titles say so)."""

        def booted() -> bool:
            workers = self.workers()
            try:
                titles = [title(p.pid) for p in workers]
            except psutil.NoSuchProcess:
                return False
            return len(workers) == count and all(" booting" not in t for t in titles)

        wait_until(booted, timeout, f"{count} booted workers")
        return self.worker_pids()

    def group(self) -> list[psutil.Process]:
        """Every process still in this qwsup's session, orphaned workers included."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getsid(proc.pid) == self.pid:
                    found.append(proc)
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                pass
        return found

    def live_group(self) -> list[psutil.Process]:
        """group() without the zombies that wait for their parent to reap them."""
        return not_zombies(self.group())

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another qwsup command (status, enqueue, scale, ...) on the same config file and
        in the same environment."""
        return subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(self.config), *args],
            env=self.env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def close(self) -> None:
        """TERM the whole session, then KILL what is left; reap the master."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if not self.group():
                break
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while self.group() and time.monotonic() < deadline:
                if self.proc.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(0.05)
                else:
                    time.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.wait(5)
        self._log.close()


# -- what the process tests look at in Redis ------------------------------------


def enqueue(r: redis.Redis, n: int = 1, **fields: str) -> list[str]:
    producer = Producer(r)
    return (
        [producer.enqueue(dict(fields)) for _ in range(n)]
        if n == 1
        else producer.enqueue_many([dict(fields, i=str(i)) for i in range(n)])
    )


def runs(r: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall("test:runs").items()}


def done(r: redis.Redis) -> list[str]:
    return [x.decode() for x in r.lrange("test:done", 0, -1)]


def in_flight(r: redis.Redis) -> dict[str, list[bytes]]:
    """Every worker list of testhost that holds a job."""
    found = {}
    for key in r.scan_iter(match="testhost.*:jobs"):
        items = r.lrange(key, 0, -1)
        if items:
            found[key.decode()] = items
    return found


ENDED = (b"done", b"cancelled")  # kept after their end


def state(r: redis.Redis, job_id: str) -> bytes | None:
    """A job's qwsup:state (None: no such job)."""
    value: bytes | None = r.hget(f"job:{job_id}", STATE)
    return value


def assert_drained(r: redis.Redis, timeout: float = 10.0) -> None:
    """No job anywhere, once the last acknowledgements have landed (a worker sends them
    without waiting for the reply): every queue and worker list empty, no job hash left
    but those of jobs that ended and are kept (keep_finished)."""

    def left() -> dict[str, object]:
        lists = {name: r.llen(name) for name in ("all:jobs", "testhost:jobs") if r.llen(name)}
        hashes = [k for k in r.scan_iter(match="job:*") if r.hget(k, STATE) not in ENDED]
        return {**lists, **in_flight(r), **({"hashes": hashes} if hashes else {})}

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not left(), timeout, "every list and job hash to be gone")
    assert left() == {}


def started_pid(r: redis.Redis, job_id: str) -> int:
    pid = wait_until(lambda: r.hget("test:pids", job_id), 15, f"job {job_id} to start")
    return int(pid)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def qwsup_env(redis_url: str, *paths: Path) -> dict[str, str]:
    """The environment qwsup runs in for a test: the test handlers importable (from
    `paths` too), their Redis named, no systemd around."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (*paths, TESTS, ROOT))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["QWSUP_TEST_REDIS"] = redis_url
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFY_SOCKET", None)
    return env
