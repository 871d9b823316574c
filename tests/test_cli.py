from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from qwsup import __version__
from testkit import RedisServer, write_config

pytestmark = pytest.mark.process


def qwsup(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwsup", *args],
        cwd=cwd, capture_output=True, text=True, timeout=30, input=stdin,
    )  # fmt: skip


def test_version_and_help(tmp_path: Path) -> None:
    version = qwsup(tmp_path, "--version")
    assert (version.returncode, version.stdout) == (0, f"qwsup {__version__}\n")
    helped = qwsup(tmp_path, "--help")
    assert helped.returncode == 0
    for command in ("run", "check", "enqueue"):
        assert command in helped.stdout


def test_check_imports_the_handler_and_checks_the_server(
    tmp_path: Path, server: RedisServer
) -> None:
    write_config(tmp_path / "ok.toml", server.url, workers={"count": 1})
    done = qwsup(tmp_path, "-c", "ok.toml", "check")
    assert (done.returncode, done.stdout) == (
        0,
        "ok.toml: OK; handler qwsup.examples:log_job imported; "
        f"Redis at {server.url}: maxmemory-policy noeviction\n",
    )
    write_config(tmp_path / "down.toml", "redis://127.0.0.1:1", workers={"count": 1})
    done = qwsup(tmp_path, "-c", "down.toml", "check")
    assert done.returncode == 69  # a server it cannot reach is not checked
    assert done.stderr.startswith("qwsup: Redis at redis://127.0.0.1:1: ")
    write_config(tmp_path / "bad.toml", None, workers={"handler": "no_such_module:run"})
    done = qwsup(tmp_path, "-c", "bad.toml", "check")
    assert done.returncode == 3
    assert done.stderr.startswith(
        "qwsup: handler no_such_module:run: cannot import no_such_module: "
        "ModuleNotFoundError: No module named 'no_such_module'; no directory on the import "
        "path of "
    )
    assert done.stderr.count("\n") == 1


def test_check_imports_a_handler_from_the_directories_of_pythonpath(tmp_path: Path) -> None:
    """A handler in a directory of its own: without pythonpath, check fails and says what
    to do; with it (relative: from the config file's directory), check imports it."""
    app = tmp_path / "app" / "qwapp_mail"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "jobs.py").write_text("def send_mail(job_id, data):\n    return None\n")
    (tmp_path / "conf").mkdir()
    handler = "qwapp_mail.jobs:send_mail"
    write_config(tmp_path / "conf" / "without.toml", None, workers={"handler": handler})
    done = qwsup(tmp_path, "-c", "conf/without.toml", "check")
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.startswith(
        f"qwsup: handler {handler}: cannot import qwapp_mail.jobs: ModuleNotFoundError: "
        "No module named 'qwapp_mail'; no directory on the import path of "
    )
    for advice in ("on PYTHONPATH", "-m pip install -e", 'set pythonpath = ["/path/to/app"]'):
        assert advice in done.stderr
    workers = {"handler": handler, "pythonpath": ["../app"]}
    write_config(tmp_path / "conf" / "with.toml", None, workers=workers)
    done = qwsup(tmp_path, "-c", "conf/with.toml", "check")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"conf/with.toml: OK; handler {handler} imported; "
        "embedded redis-server, run with maxmemory-policy noeviction\n"
    )


def test_enqueue_refuses_bad_fields_with_a_usage_error(tmp_path: Path) -> None:
    write_config(tmp_path / "c.toml", "redis://127.0.0.1:1")
    for args, stdin, message in (
        (["novalue"], "", "'novalue' is not KEY=VALUE"),
        (["qwsup:attempts=1"], "", "field 'qwsup:attempts': names starting with 'qwsup:'"),
        ([], "[1, 2]\n", "stdin line 1: a job is a JSON object of fields"),
        ([], "{nope\n", "stdin line 1: not JSON"),
    ):
        done = qwsup(tmp_path, "-c", "c.toml", "enqueue", *args, stdin=stdin)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"qwsup: enqueue: {message}")


def test_enqueue_says_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    write_config(tmp_path / "c.toml", "redis://:secret@127.0.0.1:1/0").chmod(0o600)
    done = qwsup(tmp_path, "-c", "c.toml", "enqueue", "a=b")
    assert done.returncode == 69
    assert done.stderr.startswith("qwsup: Redis at redis://:***@127.0.0.1:1/0: ")
    assert "secret" not in done.stderr


def test_enqueue_from_stdin_stops_at_a_bad_line_having_enqueued_those_before(
    tmp_path: Path, server: RedisServer
) -> None:
    write_config(tmp_path / "c.toml", server.url)
    good = "".join(f'{{"n": {i}}}\n' for i in range(1500))  # more than one MULTI/EXEC
    done = qwsup(tmp_path, "-c", "c.toml", "enqueue", stdin=good + '{"n": [1]}\n{"n": 0}\n')
    assert done.returncode == 2
    assert done.stderr.startswith("qwsup: enqueue: stdin line 1501: field 'n': values must be")
    ids = done.stdout.split()
    assert len(ids) == 1500
    client = server.client()
    assert client.lrange("all:jobs", 0, -1)[::-1] == [i.encode() for i in ids]
    assert client.hget(f"job:{ids[7]}", "n") == b"7"


def test_a_password_readable_by_every_user_gets_a_warning(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", "redis://:s3cret@127.0.0.1:1/0")
    config.chmod(0o644)
    done = qwsup(tmp_path, "-c", "c.toml", "check")
    assert done.returncode == 69  # no Redis there; the warning comes first
    assert "c.toml holds a Redis password and every user can read it: chmod o-r c.toml" in (
        done.stderr
    )
    assert "s3cret" not in done.stderr + done.stdout
    config.chmod(0o640)
    assert "password" not in qwsup(tmp_path, "-c", "c.toml", "check").stderr


LOADED = """
import sys
from qwsup.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(code, " ".join(sorted(sys.modules)))
"""
HEAVY = ("qwsup.web", "uvicorn", "starlette", "jinja2", "qwsup.master.loop", "qwsup.worker.loop")


def test_help_and_status_load_neither_the_dashboard_nor_the_master_nor_the_worker(
    tmp_path: Path,
) -> None:
    """Each command imports what it uses only: `--help` and `status` (here against no
    Redis: exit 69) load none of what the dashboard, the master or the worker's loop
    need. (redis.asyncio is not among them: redis-py 8 imports it with redis itself.)"""
    write_config(tmp_path / "c.toml", "redis://127.0.0.1:1")
    for args, code in ((["--help"], "0"), (["-c", "c.toml", "status"], "69")):
        done = subprocess.run(
            [sys.executable, "-c", LOADED, *args], cwd=tmp_path, capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
        status, _, loaded = done.stdout.splitlines()[-1].partition(" ")
        assert status == code, done.stderr
        assert [m for m in loaded.split() if m.startswith(HEAVY)] == [], args
        if args == ["--help"]:  # nothing of Redis at all (qwsup's public names are lazy)
            assert [m for m in loaded.split() if m.startswith(("redis", "qwsup.worker"))] == []


@pytest.mark.unit
def test_every_public_name_is_imported_from_its_home_when_first_used() -> None:
    import qwsup

    assert set(qwsup.__all__) - {"__version__"} == set(qwsup._HOME_OF)
    for name in qwsup._HOME_OF:
        assert getattr(qwsup, name) is getattr(importlib.import_module(qwsup._HOME_OF[name]), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        qwsup.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_with_the_embedded_server_and_no_supervisor_a_command_says_what_to_do(
    tmp_path: Path,
) -> None:
    """No [redis] url: the embedded server runs only inside a supervisor. A command run
    while none runs says so, and what to do, instead of a socket's errno."""
    (tmp_path / "state").mkdir()
    write_config(tmp_path / "c.toml", None, redis={"state_dir": str(tmp_path / "state")})
    for args in (["status"], ["enqueue", "a=b"], ["failed", "list"]):
        done = qwsup(tmp_path, "-c", "c.toml", *args)
        assert done.returncode == 69, done.stderr
        assert done.stderr == (
            f"qwsup: no Redis at unix://{tmp_path}/state/redis.sock: c.toml names no "
            "[redis] url, so its Redis is the embedded server, which runs only while the "
            "supervisor runs: start the supervisor (qwsup -c c.toml), or set [redis] url "
            "to a Redis server of your own\n"
        )


def test_failed_without_an_action_lists_the_actions(tmp_path: Path) -> None:
    write_config(tmp_path / "c.toml", "redis://127.0.0.1:1")
    done = qwsup(tmp_path, "-c", "c.toml", "failed")
    assert done.returncode == 2
    assert done.stderr.startswith("qwsup: failed: give an action:\n  list   the newest failed")
    for action in ("show", "retry", "purge"):
        assert f"\n  {action} " in done.stderr
