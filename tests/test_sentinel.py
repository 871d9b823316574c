"""qwsup on Redis Sentinel: the config and the client it gives, and a real primary, one
replica and three sentinels on loopback, the primary SIGKILLed mid-run."""

from __future__ import annotations

import collections
import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import MasterNotFoundError, SentinelConnectionPool

from qwsup.config import parse
from qwsup.errors import ConfigError
from qwsup.produce.producer import Producer
from qwsup.store import connection
from qwsup.store.connection import make_client, redact, url_of
from support import Qwsup, done
from testkit import SERVICE, Sentinels, acl_file, wait_until

SENTINEL_PASSWORD = "sentinel-secret"
Start = Callable[..., Qwsup]


SENTINELS = '["10.0.0.1:26379", "[fd00::2]:26379"]'


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("sentinels = []", "redis.sentinels", "must name at least one sentinel"),
        ('sentinels = ["h"]', "redis.sentinels", 'must be "host:port" addresses'),
        ('sentinels = [":26379"]', "redis.sentinels", 'must be "host:port" addresses'),
        ('sentinels = ["h:0"]', "redis.sentinels", "(port 1 to 65535), got 'h:0'"),
        ('sentinels = ["h:65536"]', "redis.sentinels", "(port 1 to 65535)"),
        ('sentinels = ["h:1", "h:1"]', "redis.sentinels", "names a sentinel twice"),
        ('sentinels = "h:1"', "redis.sentinels", "must be a list of strings"),
        ('sentinels = ["h:1"]', "redis.service_name", "is needed with redis.sentinels"),
        ('service_name = "m"', "redis.service_name", "is for redis.sentinels only"),
        ('sentinel_password_env = "X"', "redis.sentinel_password_env", "for redis.sentinels"),
        (
            f'sentinels = {SENTINELS}\nservice_name = "m"\nurl = "redis://h:6379/0"',
            "redis.url",
            "names no host (the sentinels name the primary), only the scheme, user and db",
        ),
        (f'sentinels = {SENTINELS}\nservice_name = "m"\nurl = "unix:///s"', "redis.url", "no host"),
        (
            f'sentinels = {SENTINELS}\nservice_name = "m"\nurl = "redis:///x"',
            "redis.url",
            "no host",
        ),
        (
            f'sentinels = {SENTINELS}\nservice_name = "m"\ncluster = true\nnamespace = "{{a}}"',
            "redis.sentinels",
            "cluster = true for Redis Cluster: not both",
        ),
        (
            f'sentinels = {SENTINELS}\nservice_name = "m"\nsentinel_password_file = "/nope"',
            "redis.sentinel_password_file",
            "no such file",
        ),
    ],
)
def test_bad_sentinel_settings_name_the_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse("x.toml", f"[redis]\n{text}")
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


@pytest.mark.unit
def test_sentinels_need_no_url_and_no_embedded_server() -> None:
    config = parse("x.toml", f'[redis]\nsentinels = {SENTINELS}\nservice_name = "main"')
    assert not config.embedded
    assert config.redis.sentinels == ("10.0.0.1:26379", "[fd00::2]:26379")
    assert url_of(config) == "redis+sentinel://10.0.0.1:26379,[fd00::2]:26379/main"


@pytest.mark.unit
def test_the_client_asks_the_sentinels_with_tls_and_a_password_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rediss: TLS to the sentinels and the primary, with the same CA; the ACL user and
    db from the url, the primary's password from password_env, the sentinels' own from
    sentinel_password_file."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-")
    (tmp_path / "sentinel.password").write_text("for-sentinels\n")
    monkeypatch.setenv("QW_PRIMARY_PASSWORD", "for-primary")
    config = parse(
        "x.toml",
        f'[redis]\nurl = "rediss://qwsup@/2"\nsentinels = {SENTINELS}\nservice_name = "main"\n'
        f'ca_file = "{ca}"\npassword_env = "QW_PRIMARY_PASSWORD"\n'
        f'sentinel_password_file = "{tmp_path / "sentinel.password"}"',
    )
    assert redact(url_of(config)) == (
        "rediss+sentinel://qwsup@10.0.0.1:26379,[fd00::2]:26379/main/2"
    )
    client = make_client(config, socket_timeout=25.0)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "main"
    assert issubclass(pool.connection_class, redis.connection.SSLConnection)
    assert issubclass(pool.connection_class, connection._Primary)
    primary = pool.connection_kwargs
    assert (primary["username"], primary["password"], primary["db"]) == ("qwsup", "for-primary", 2)
    assert (primary["ssl_ca_certs"], primary["ssl_check_hostname"]) == (str(ca), True)
    assert primary["socket_timeout"] == 25.0
    asked = [s.connection_pool for s in pool.sentinel_manager.sentinels]
    assert [(p.connection_kwargs["host"], p.connection_kwargs["port"]) for p in asked] == [
        ("10.0.0.1", 26379),
        ("fd00::2", 26379),
    ]
    for sentinel in asked:
        assert issubclass(sentinel.connection_class, redis.connection.SSLConnection)
        assert sentinel.connection_kwargs["password"] == "for-sentinels"
        assert sentinel.connection_kwargs.get("username") is None  # no ACL user on sentinels
        assert sentinel.connection_kwargs["ssl_ca_certs"] == str(ca)
        assert sentinel.connection_kwargs["socket_timeout"] == connection.SENTINEL_TIMEOUT_S
    client.close()


@pytest.mark.unit
def test_a_password_in_the_url_is_redacted_and_wins() -> None:
    config = parse(
        "x.toml",
        f'[redis]\nurl = "redis://qwsup:s%40cret@"\nsentinels = {SENTINELS}\nservice_name = "m"',
    )
    assert redact(url_of(config)) == "redis+sentinel://qwsup:***@10.0.0.1:26379,[fd00::2]:26379/m"
    client = make_client(config)
    assert client.connection_pool.connection_kwargs["password"] == "s@cret"
    assert "password" not in client.connection_pool.sentinel_manager.sentinel_kwargs
    client.close()


class FakeSentinel:
    def __init__(self, port: int, answer: dict[str, object] | Exception) -> None:
        self.answer = answer
        self.connection_pool = type("Pool", (), {"connection_kwargs": {"host": "h", "port": port}})

    def sentinel_masters(self) -> dict[str, object]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.unit
def test_no_primary_found_is_one_short_line_with_each_sentinels_reason() -> None:
    up = {"ip": "10.0.0.7", "port": 6379, "is_master": True, "is_sdown": False,
          "is_odown": False, "num-other-sentinels": 2}  # fmt: skip
    down = {**up, "is_sdown": True}
    sentinels = connection._Sentinels([("h", 1)])
    sentinels.sentinels = [
        FakeSentinel(1, redis.AuthenticationError("invalid password")),
        FakeSentinel(2, {"main": down}),
        FakeSentinel(3, {"other": up}),
    ]
    with pytest.raises(MasterNotFoundError) as caught:
        sentinels.discover_master("main")
    assert str(caught.value) == (
        "no sentinel names a primary for 'main' (sentinel h:1: invalid password; "
        "sentinel h:2: says 10.0.0.7:6379 is down; sentinel h:3: does not monitor 'main')"
    )
    sentinels.sentinels.append(FakeSentinel(4, {"main": up}))
    assert sentinels.discover_master("main") == ("10.0.0.7", 6379)
    assert sentinels.sentinels[0].connection_pool.connection_kwargs["port"] == 4  # asked first


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[Sentinels]:
    """Set up before start_qwsup (name it first): torn down after qwsup has stopped."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on PATH (Debian's redis-server)")
    group = Sentinels(
        binary, password=SENTINEL_PASSWORD, server_args=("--include", str(acl_file(tmp_path)))
    )
    try:
        group.start()
        yield group
    finally:
        group.cleanup()


def left_in_lists(client: redis.Redis) -> dict[str, int]:
    """Every list of jobs (queues, worker lists, failed) and the delayed set that is not
    empty."""
    sets = (b"delayed:jobs", b"finished:jobs")  # sorted sets
    lists = [key for key in client.scan_iter(match="*:jobs") if key not in sets]
    found = {key.decode(): n for key in lists if (n := client.llen(key))}
    if client.zcard("delayed:jobs"):
        found["delayed:jobs"] = client.zcard("delayed:jobs")
    return found


@pytest.mark.process
def test_jobs_survive_a_failover_of_the_primary(
    sentinels: Sentinels, start_qwsup: Start, r: redis.Redis, env: dict[str, str]
) -> None:
    """Every job runs (some twice: a take or an acknowledgement the dead primary had not
    passed on to the replica is undone), none is lost, no id is left in a list, and the
    master and its workers follow the new primary as the sentinels name it."""
    env["QWSUP_TEST_SENTINEL_PASSWORD"] = SENTINEL_PASSWORD
    qw = start_qwsup(
        redis={
            "url": "redis://qwsup@/0",  # the ACL user of conf/redis-acl.conf; no host
            "sentinels": sentinels.addresses,
            "service_name": SERVICE,
            "sentinel_password_env": "QWSUP_TEST_SENTINEL_PASSWORD",
        },
        workers={"count": 2, "retry_delay": 0, "max_attempts": 10},
        supervisor={"lease_timeout": 5},
    )
    pids = qw.wait_workers(2)
    with contextlib.closing(sentinels.client(socket_timeout=5)) as client:
        ids = Producer(client).enqueue_many({"sleep": "0.03"} for _ in range(300))  # 4.5 s
        # the jobs reached the replica: without this a failover can lose an enqueue
        assert client.execute_command("WAIT", 1, 5000) == 1
    wait_until(lambda: len(done(r)) >= 50, 30, "jobs flowing")
    old = sentinels.primary()
    sentinels.kill(old)
    killed_at = time.time()
    failover_s = sentinels.failed_over(old)
    new = sentinels.primary()
    wait_until(lambda: set(ids) <= set(done(r)), 40, "every job, after the failover")
    counts = collections.Counter(done(r))
    print(
        f"failover {old} -> {new} in {failover_s:.1f} s; {len(ids)} jobs, "
        f"{sum(n > 1 for n in counts.values())} ran twice"
    )
    with contextlib.closing(sentinels.client(socket_timeout=5)) as fresh:
        wait_until(lambda: not left_in_lists(fresh), 20, "every list to be empty")
        assert fresh.connection_pool.get_master_address()[1] == new
        denials = [e for e in fresh.acl_log(count=100) if e["username"] == "qwsup"]
        assert denials == [], "conf/redis-acl.conf lacks a right qwsup used"
    assert qw.proc.poll() is None
    status = qw.command("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    [supervisor] = report["supervisors"]
    assert supervisor["alive"] and len(supervisor["workers"]) == 2
    assert {s["maxmemory_policy"] for s in report["servers"]} == {"noeviction"}
    check = qw.command("check")
    assert check.returncode == 0, check.stderr
    assert "redis+sentinel://qwsup@127.0.0.1:" in check.stdout + check.stderr
    starts = [float(x) for x in r.lrange("test:started_at", 0, -1)]
    assert any(t > killed_at for t in starts)  # the failover came mid-run: workers went on
    for who in ["master", *(f"testhost.{pid}" for pid in pids)]:
        qw.wait_log(f"{who}: Redis reachable again after ", 10)
    log = qw.log()
    for who in ["master", *(f"testhost.{pid}" for pid in pids)]:
        assert log.count(f"{who}: Redis unreachable") == 1, who  # once, not once per retry
    assert qw.worker_pids() == pids  # nobody took the outage for dead workers
    assert "on redis+sentinel://qwsup@127.0.0.1:" in log and SENTINEL_PASSWORD not in log
