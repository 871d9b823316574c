from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qwsup.config import load, parse
from qwsup.errors import ConfigError, ExitCode
from testkit import ROOT

pytestmark = pytest.mark.unit


def test_the_shipped_config_loads_with_its_documented_values() -> None:
    config = load(str(ROOT / "conf" / "workers.toml"))
    assert config.embedded
    assert config.workers.count == 4
    assert config.workers.handler == "qwsup.examples:log_job"
    assert config.workers.max_attempts == 3
    assert config.supervisor.graceful_timeout == 30.0
    assert config.log.level == "info"
    assert config.redis.appendfsync == "always"


def test_an_empty_file_gets_every_default() -> None:
    config = parse("x.toml", "")
    assert config.redis.url is None
    assert config.redis.prefix() == ""
    assert config.supervisor.name  # the host name
    assert config.workers.count == 4


def test_the_embedded_server_fsyncs_always_unless_told_everysec() -> None:
    assert parse("x.toml", "").redis.appendfsync == "always"
    config = parse("x.toml", '[redis]\nappendfsync = "everysec"')
    assert config.redis.appendfsync == "everysec"


def test_a_namespace_prefixes_keys_with_a_colon() -> None:
    assert parse("x.toml", '[redis]\nnamespace = "{app}"').redis.prefix() == "{app}:"


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    config = parse("x.toml", "[supervisor]\ngraceful_timeout = 5")
    assert config.supervisor.graceful_timeout == 5.0
    assert isinstance(config.supervisor.graceful_timeout, float)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[workers]\ncount = 0", "workers.count", "must be from 1 to 10000"),
        ("[workers]\ncount = 99999999999999999999", "workers.count", "must be from 1 to 10000"),
        ('[redis]\nurl = "redis://["', "redis.url", "is not a URL (Invalid IPv6 URL)"),
        ('[workers]\ncount = "four"', "workers.count", "must be an integer"),
        ("[workers]\ncount = true", "workers.count", "must be an integer"),
        ("[workers]\ncount = 2.5", "workers.count", "must be an integer"),
        ("[workers]\nconut = 2", "workers.conut", "unknown key"),
        ('[workers]\nhandler = "nocolon"', "workers.handler", "package.module:function"),
        ("[workers]\nmax_attempts = 0", "workers.max_attempts", "must be >= 1"),
        ("[supervisor]\ngraceful_timeout = -1", "supervisor.graceful_timeout", "must be >= 0"),
        ('[supervisor]\nname = "a b"', "supervisor.name", "letters, digits"),
        ('[redis]\nurl = "http://x"', "redis.url", "redis://"),
        ("[redis]\nurl = 6379", "redis.url", "must be a string"),
        ('[redis]\npassword_file = "/nonexistent/pw"', "redis.password_file", "no such file"),
        ('[log]\nlevel = "loud"', "log.level", "must be one of"),
        ("[pools]\nx = 1", "pools", "must be one or more [[pools]] tables"),
        ("[pool]\nx = 1", "pool", "unknown section"),
        ('[redis]\nurl = "redis://h:1"\ncluster = true', "redis.cluster", "a hash tag"),
        ("[redis]\ncluster = true", "redis.cluster", "needs a url"),
        ('[workers]\nqueues = ["a b"]', "workers.queues", "queue names are"),
        ("workers = 3", "workers", "must be a table"),
        ("[workers\ncount = 1", "", "not valid TOML"),
        ('[redis]\nappendfsync = "no"', "redis.appendfsync", 'must be "always" or "everysec"'),
        ("[redis]\nappendfsync = 1", "redis.appendfsync", "must be a string"),
        (
            '[redis]\nurl = "redis://h"\nappendfsync = "always"',
            "redis.appendfsync",
            "is for the embedded server only",
        ),
    ],
)
def test_bad_values_name_the_file_the_key_and_the_problem(
    text: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse("conf/x.toml", text)
    assert caught.value.key == key
    assert problem in caught.value.problem
    message = str(caught.value)
    assert message.startswith(f"conf/x.toml: {key}" if key else "conf/x.toml: ")
    assert "\n" not in message


@pytest.mark.process
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[workers]\ncount = -3", "bad.toml: workers.count: must be from 1 to 10000, got -3"),
        ("[workers]\nspeed = 3", "bad.toml: workers.speed: unknown key"),
        ("[workers\n", "bad.toml: not valid TOML"),
        (None, "bad.toml: cannot read the config file"),
    ],
)
def test_qwsup_exits_78_with_one_line_and_no_traceback(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    if text is not None:
        (tmp_path / "bad.toml").write_text(text)
    for command in ([], ["check"], ["enqueue", "a=b"]):
        done = subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", "bad.toml", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == ExitCode.CONFIG == 78
        assert done.stderr.startswith(f"qwsup: {expected}")
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""


def test_tls_files_need_a_rediss_url_and_come_in_pairs(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    with pytest.raises(ConfigError, match=re.escape("redis.ca_file: is for a rediss:// ")):
        parse("c.toml", f'[redis]\nurl = "redis://h"\nca_file = "{pem}"')
    with pytest.raises(ConfigError, match=re.escape("redis.cert_file: needs redis.key_file")):
        parse("c.toml", f'[redis]\nurl = "rediss://h"\ncert_file = "{pem}"')
    with pytest.raises(ConfigError, match=re.escape("redis.key_file: no such file")):
        parse("c.toml", '[redis]\nurl = "rediss://h"\nkey_file = "/nonexistent"')
    config = parse(
        "c.toml", f'[redis]\nurl = "rediss://h"\ncert_file = "{pem}"\nkey_file = "{pem}"'
    )
    assert config.redis.cert_file == str(pem)


@pytest.mark.process
def test_a_password_env_that_is_not_set_exits_78(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[redis]\nurl = "redis://127.0.0.1:1"\npassword_env = "QW_NOPE"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", "c.toml", "enqueue", "a=b"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env={k: v for k, v in os.environ.items() if k != "QW_NOPE"},
    )  # fmt: skip
    assert done.returncode == 78
    assert done.stderr == (
        "qwsup: c.toml: redis.password_env: environment variable QW_NOPE is not set\n"
    )
