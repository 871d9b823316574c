from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from support import Qwsup, qwsup_env
from testkit import (
    ACL_PASSWORDS,
    ROOT,
    RedisServer,
    default_binary,
    free_port,
    redis_binaries,
    wait_until,
    write_config,
)

# A shell starts a background job with INT and QUIT ignored, and an ignored signal stays
# ignored across exec: the qwsup processes the tests start, and send INT to, would not
# hear it. Handled here, they start with the default.
for _sig in (signal.SIGINT, signal.SIGQUIT):
    if signal.getsignal(_sig) is signal.SIG_IGN:
        signal.signal(_sig, signal.default_int_handler)

BINARIES = redis_binaries()
DEFAULT_BINARY = default_binary()  # the system's when there is one; fails when none is


TIERS = ("unit", "redis", "process")  # pyproject.toml says what each means


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is in a tier (`pytestmark = pytest.mark.unit` in its module, or a
    marker of its own): `make unit` must not miss a pure test nor run a slow one."""
    untiered = [i.nodeid for i in items if not any(i.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError(f"tests without a tier marker {TIERS}: {', '.join(untiered)}")


@pytest.fixture(params=sorted(BINARIES))
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private redis-server, once for each redis-server the machine has."""
    server = RedisServer(BINARIES[request.param])
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of `redis_server` (each redis-server the machine has)."""
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def q(client: redis.Redis) -> Queue:
    return Queue(client, Keys())


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """One private redis-server (the system's when there is one), with AOF and the users
    of conf/redis-acl.conf, for process tests."""
    server = RedisServer(DEFAULT_BINARY, appendonly=True, acl=True)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def r(server: RedisServer) -> Iterator[redis.Redis]:
    client = server.client()
    yield client
    client.close()


@pytest.fixture
def env(server: RedisServer) -> dict[str, str]:
    """The environment qwsup runs in: the test handlers importable, their Redis named."""
    env = qwsup_env(server.url)
    env["QWSUP_TEST_PASSWORD"] = ACL_PASSWORDS["qwsup"]
    return env


@pytest.fixture
def start_qwsup(
    tmp_path: Path, server: RedisServer, env: dict[str, str]
) -> Iterator[Callable[..., Qwsup]]:
    """start_qwsup(workers={...}, supervisor={...}) writes a config and starts qwsup on it,
    connecting as the `qwsup` user of conf/redis-acl.conf."""
    started: list[Qwsup] = []

    def start(
        config_name: str = "workers.toml",
        pools: list[dict[str, Any]] | None = None,
        prefix: tuple[str, ...] = (),
        cron: list[dict[str, Any]] | None = None,
        **sections: dict[str, Any],
    ) -> Qwsup:
        if pools is None:
            sections.setdefault("workers", {})
            sections["workers"].setdefault("handler", "testjobs:record")
            sections["workers"].setdefault("count", 2)
        sections.setdefault("supervisor", {}).setdefault("graceful_timeout", 10)
        sections.setdefault("redis", {}).setdefault("password_env", "QWSUP_TEST_PASSWORD")
        url = server.user_url("qwsup")
        config = write_config(tmp_path / config_name, url, pools, cron, **sections)
        proc = Qwsup(config, env, prefix=prefix)
        started.append(proc)
        return proc

    yield start
    _end_all(started, server)


@dataclass
class Web:
    """A `qwsup web` the test started: its process, its address, the operators' token."""

    proc: Qwsup
    url: str
    token: str | None


@pytest.fixture
def start_web(
    tmp_path: Path, server: RedisServer, env: dict[str, str]
) -> Iterator[Callable[..., Web]]:
    """start_web(token=True, web={...}, **sections) writes web.toml (a token file when
    `token`) and starts `qwsup web` on it on a free port of 127.0.0.1; returns once the
    dashboard answers."""
    started: list[Qwsup] = []

    def start(token: bool = True, cron: list[dict[str, Any]] | None = None, **sections: Any) -> Web:
        secret = secrets.token_urlsafe(24) if token else None
        web = sections.setdefault("web", {})
        if secret is not None:
            (tmp_path / "web-token").write_text(secret + "\n")
            web.setdefault("token_file", str(tmp_path / "web-token"))
        port = free_port()
        web.setdefault("listen", f"127.0.0.1:{port}")
        sections.setdefault("redis", {}).setdefault("password_env", "QWSUP_TEST_PASSWORD")
        config = write_config(
            tmp_path / "web.toml", server.user_url("qwsup"), None, cron, **sections
        )
        proc = Qwsup(config, env, "web")
        started.append(proc)
        url = f"http://{web['listen']}"
        wait_until(lambda: _answers(url) or proc.proc.poll() is not None, 20, "the dashboard")
        assert proc.proc.poll() is None, proc.log()
        return Web(proc, url, secret)

    yield start
    _end_all(started, server)


def _end_all(started: list[Qwsup], server: RedisServer) -> None:
    """End what a fixture started: nothing of theirs left, no right of the ACL missed."""
    for proc in started:
        proc.close()
        assert not proc.group(), f"processes left behind: {proc.group()}"
    if started:
        assert server.acl_denials("qwsup") == [], "conf/redis-acl.conf lacks a right qwsup used"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/static/app.css", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_server_files_in_the_checkout() -> Iterator[None]:
    """No dump.rdb, appendonly file or server log in the working tree, before or after
    the tests: every redis-server (a test's, the embedded one, the benchmark's) works
    in a directory of its own."""
    yield
    strays = sorted(
        p.name
        for p in ROOT.iterdir()
        if p.name.endswith((".rdb", ".aof")) or p.name in ("appendonlydir", "redis.log")
    )
    assert not strays, f"files of a redis-server in the checkout: {strays}"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory for the embedded server, whose socket lives there."""
    path = Path(tempfile.mkdtemp(prefix="qws"))  # short: the socket lives here
    yield path
    pidfile = path / "redis.pid"
    if pidfile.exists():  # the embedded server daemonizes: stop it if a test left it
        pid = int(pidfile.read_text())
        if psutil.pid_exists(pid) and "redis" in psutil.Process(pid).name():
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)
