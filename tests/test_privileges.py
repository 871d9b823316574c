"""Who workers run as: [supervisor] user and group, and a root master's refusal to run
jobs as root. The process tests need root (as CI runs them); resolve() is checked
everywhere with the effective uid stubbed."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from qwsup.config import parse
from qwsup.errors import ConfigError
from qwsup.privileges import RunAs, resolve
from support import Qwsup, qwsup_env
from testkit import ROOT, RedisServer, redis_binaries, wait_until, write_config

NOBODY = pwd.getpwnam("nobody")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch users")

# A handler that imports nothing new: the interpreter's own files may be out of the
# reach of the user it runs as (say, under /root), only what was loaded before fork
# is sure to work. It writes who it runs as where the test can read it.
WHOAMI = """
import os

def run(job_id, data):
    groups = ",".join(str(g) for g in os.getgroups())
    line = f"{os.getuid()} {os.getgid()} {groups} {os.environ['HOME']} {os.environ['USER']}"
    with open(os.path.join(os.path.dirname(__file__), "who"), "w") as out:
        out.write(line)
"""


def config(text: str) -> str:
    return f'[redis]\nurl = "redis://127.0.0.1:1"\n[supervisor]\n{text}\n'


@pytest.mark.unit
@pytest.mark.parametrize(
    ("euid", "supervisor", "expected"),
    [
        (0, 'user = "nobody"', RunAs("nobody", NOBODY.pw_uid, NOBODY.pw_gid, NOBODY.pw_dir)),
        (0, "run_as_root = true", None),
        (0, "", "refusing to run jobs as root"),
        (0, 'user = "root"', "refusing to run jobs as root"),
        (0, 'user = "no-such-user-here"', "no such user: 'no-such-user-here'"),
        (0, 'user = "nobody"\ngroup = "no-such-group-here"', "no such group"),
        (1234, "", None),
        (1234, 'user = "nobody"', "only a master started as root can run workers as"),
    ],
)
def test_who_the_workers_run_as(
    monkeypatch: pytest.MonkeyPatch, euid: int, supervisor: str, expected: object
) -> None:
    if euid != 0:
        monkeypatch.setattr(os, "getegid", lambda: 1234)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    loaded = parse("w.toml", config(supervisor))
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=expected):
            resolve(loaded)
    else:
        assert resolve(loaded) == expected


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory every user can read and write: the handler's module and its output."""
    path = Path(tempfile.mkdtemp(prefix="qwpriv"))
    path.chmod(0o777)
    (path / "whoami_handler.py").write_text(WHOAMI)
    (path / "whoami_handler.py").chmod(0o644)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.mark.process
@root_only
def test_a_root_master_with_no_user_refuses_to_run_jobs(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(config('name = "testhost"'))
    result = subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(path)],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 78
    assert "refusing to run jobs as root" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.process
@root_only
def test_workers_run_as_the_configured_user_and_the_master_stays_root(
    public_dir: Path,
) -> None:
    binary = redis_binaries().get("system") or next(iter(redis_binaries().values()))
    server = RedisServer(binary, public=True)
    server.start()
    qw = None
    try:
        path = write_config(
            public_dir / "w.toml", server.url,
            supervisor={"user": "nobody"}, workers={"count": 2, "handler": "whoami_handler:run"},
        )  # fmt: skip
        qw = Qwsup(path, qwsup_env(server.url, public_dir))
        pids = qw.wait_workers(2)
        client = server.client()
        client.hset("job:1", "n", "1")
        client.lpush("all:jobs", "1")
        wait_until(lambda: (public_dir / "who").exists(), 15, "the job to run")
        uid, gid, groups, home, user = (public_dir / "who").read_text().split()
        assert (int(uid), int(gid), user, home) == (
            NOBODY.pw_uid,
            NOBODY.pw_gid,
            "nobody",
            NOBODY.pw_dir,
        )
        assert "0" not in groups.split(",")  # root's groups are gone too
        done = lambda: client.hget("job:1", "qwsup:state") == b"done"  # noqa: E731
        wait_until(done, 10, "the job acknowledged")
        assert psutil.Process(qw.pid).uids().effective == 0
        for pid in pids:
            assert set(psutil.Process(pid).uids()) == {NOBODY.pw_uid}
        client.close()
    finally:
        if qw is not None:
            qw.close()
        server.cleanup()


@pytest.mark.process
@root_only
def test_the_embedded_server_runs_as_the_user_in_a_directory_of_its_own(
    public_dir: Path,
) -> None:
    binary = redis_binaries().get("system")
    if binary is None:
        pytest.skip("needs a redis-server outside any private directory")
    state = public_dir / "state"
    path = write_config(
        public_dir / "w.toml", None,
        redis={"state_dir": str(state), "server": binary},
        supervisor={"user": "nobody"}, workers={"count": 1, "handler": "whoami_handler:run"},
    )  # fmt: skip
    env = qwsup_env(f"unix://{state}/redis.sock", public_dir)
    qw = Qwsup(path, env)
    pid = 0
    try:
        qw.wait_workers(1)
        assert state.stat().st_uid == NOBODY.pw_uid and state.stat().st_mode & 0o777 == 0o700
        # (the workers are up before the server is: redis-py before 8 does not retry a
        # connect to a socket not made yet)
        wait_until(lambda: (state / "redis.sock").exists(), 15, "the embedded server's socket")
        client = redis.Redis(unix_socket_path=str(state / "redis.sock"))
        pid = int(wait_until(lambda: client.info("server")["process_id"], 15, "its pid"))
        assert psutil.Process(pid).uids().effective == NOBODY.pw_uid
        enqueue = subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(path), "enqueue", "n=1"],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip
        assert enqueue.returncode == 0, enqueue.stderr
        wait_until(lambda: (public_dir / "who").exists(), 15, "the job to run")
        assert (public_dir / "who").read_text().split()[4] == "nobody"
        job = f"job:{enqueue.stdout.strip()}"
        wait_until(lambda: client.hget(job, "qwsup:state") == b"done", 10, "the job done")
        # left: all:managers, all:leases, all:beats, all:beat_seq, <name>:info, :workers,
        # the job done, kept (its hash and finished:jobs), and all:events
        wait_until(lambda: client.llen("all:jobs") == 0 and client.dbsize() <= 9, 10)
        client.close()
    finally:
        qw.close()
        # a master that had to be killed leaves its embedded server (a session of its own)
        if pid and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)
