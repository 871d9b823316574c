"""A Redis that may evict keys (issue 11, item 4): what qwsup reads of the server
(server.py), the decision it takes from that, and the real master, `check` and `status`
against real redis-servers configured to evict, with CONFIG or INFO renamed, or down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from qwsup.config import parse
from qwsup.errors import ConfigError, ConnectionLost
from qwsup.ops.report import Paint, server_lines
from qwsup.store.server import (
    ABSENT,
    ALLOWED,
    CANNOT_TELL,
    REFUSED,
    ServerInfo,
    UnsafeServer,
    Verdict,
    info_from,
    judge,
    read_all,
    refuse_unsafe,
)
from support import Qwsup, qwsup_env
from testkit import RedisServer, redis_binaries, wait_until, write_config

Start = Callable[..., Qwsup]
WHERE = "Redis at redis://10.0.0.5:6379/0"
FIX = "set maxmemory-policy noeviction on the server, or accept_eviction = true in [redis]"


def safe(address: str = "10.0.0.5:6379", **fields: Any) -> ServerInfo:
    return ServerInfo(address, maxmemory_policy="noeviction", **fields)


# -- the decision, without Redis -----------------------------------------------------


@pytest.mark.unit
def test_a_server_that_keeps_every_key_passes_quietly() -> None:
    for accept in (False, True):
        verdict = judge([safe()], accept_eviction=accept, where=WHERE)
        assert verdict == Verdict(False, False, f"{WHERE}: maxmemory-policy noeviction")


@pytest.mark.unit
@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru"])
def test_any_other_policy_is_refused_with_the_reason_and_the_fix(policy: str) -> None:
    verdict = judge(
        [ServerInfo("h:1", maxmemory_policy=policy)], accept_eviction=False, where=WHERE
    )
    assert verdict.refuse and not verdict.warn
    assert verdict.line == (
        f"{WHERE} evicts keys (maxmemory-policy {policy}): jobs would vanish; {FIX}"
    )


@pytest.mark.unit
def test_accept_eviction_runs_on_an_evicting_server_with_a_warning() -> None:
    evicting = ServerInfo("h:1", maxmemory_policy="allkeys-lru")
    verdict = judge([evicting], accept_eviction=True, where=WHERE)
    assert verdict == Verdict(
        False,
        True,
        f"{WHERE} evicts keys (maxmemory-policy allkeys-lru): jobs can vanish; "
        "accepted by accept_eviction = true in [redis]",
    )


@pytest.mark.unit
def test_a_policy_that_cannot_be_read_is_refused_unless_accepted() -> None:
    unread = ServerInfo("h:1", unknown="INFO refused by the ACL, CONFIG GET refused by the ACL")
    verdict = judge([unread], accept_eviction=False, where=WHERE)
    assert verdict.refuse
    assert verdict.line == (
        f"{WHERE}: cannot read maxmemory-policy (INFO refused by the ACL, CONFIG GET refused "
        "by the ACL): qwsup cannot tell whether it evicts keys; allow this user INFO (+info), "
        "or set accept_eviction = true in [redis] if the server runs noeviction"
    )
    accepted = judge([unread], accept_eviction=True, where=WHERE)
    assert accepted.warn and not accepted.refuse
    assert accepted.line.endswith("; accepted by accept_eviction = true in [redis]")


@pytest.mark.unit
def test_in_a_cluster_every_node_counts_replicas_included() -> None:
    nodes = [safe(f"10.0.0.{i}:7000", role="primary") for i in range(3)]
    nodes += [safe(f"10.0.0.{i}:7001", role="replica") for i in range(2)]
    nodes.append(ServerInfo("10.0.0.2:7001", "replica", maxmemory_policy="allkeys-lru"))
    verdict = judge(nodes, accept_eviction=False, where=WHERE)
    assert verdict.refuse
    assert verdict.line == (
        f"{WHERE}: node 10.0.0.2:7001 evicts keys (maxmemory-policy allkeys-lru): jobs would "
        "vanish; set maxmemory-policy noeviction on every node, or accept_eviction = true "
        "in [redis]"
    )
    fine = judge(nodes[:5], accept_eviction=False, where=WHERE)
    assert fine == Verdict(False, False, f"{WHERE}: maxmemory-policy noeviction on all 5 nodes")


@pytest.mark.unit
def test_a_cluster_node_that_is_down_is_not_checked_and_said_so() -> None:
    down = ServerInfo("10.0.0.9:7001", "replica", reachable=False, unknown="unreachable: x")
    verdict = judge([safe(role="primary"), down], accept_eviction=False, where=WHERE)
    assert not verdict.refuse and verdict.warn
    assert verdict.line == (
        f"{WHERE}: maxmemory-policy noeviction on all 1 nodes "
        "(node 10.0.0.9:7001 unreachable: not checked)"
    )


@pytest.mark.unit
def test_facts_come_from_info_and_from_config_get_where_allowed() -> None:
    memory = {"maxmemory_policy": "allkeys-lru", "maxmemory": 100 << 20, "used_memory": 5000}
    persistence = {"aof_enabled": 1, "rdb_last_save_time": 1700000000}
    replies = [memory, persistence, {"maxmemory-policy": "allkeys-lru"},
               {"appendfsync": "always"}, {"save": "3600 1"}]  # fmt: skip
    assert info_from("s", [ALLOWED, ALLOWED], replies) == ServerInfo(
        "s",
        maxmemory_policy="allkeys-lru",
        maxmemory=100 << 20,
        used_memory=5000,
        aof_enabled=True,
        appendfsync="always",
        save="3600 1",
        rdb_last_save_time=1700000000,
    )
    # CONFIG GET refused by the ACL (rights.lua said so: it was not sent)
    info = info_from("s", [ALLOWED, REFUSED], [memory, persistence, None, None, None])
    assert (info.maxmemory_policy, info.appendfsync, info.save) == ("allkeys-lru", None, None)
    assert info.unknown == "CONFIG GET refused by the ACL"
    # INFO renamed: the policy from CONFIG GET
    config = [None, None, {"maxmemory-policy": "noeviction"}, {"appendfsync": "no"}, {"save": ""}]
    info = info_from("s", [ABSENT, ALLOWED], config)
    assert (info.maxmemory_policy, info.aof_enabled, info.save) == ("noeviction", None, "")
    assert info.unknown == "INFO renamed or disabled"
    # before Redis 7 nothing tells in advance: the errors say it
    unknown = redis.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET'")
    denied = redis.exceptions.NoPermissionError("NOPERM this user has no permissions")
    info = info_from("s", [CANNOT_TELL] * 2, [denied, denied, unknown, unknown, unknown])
    assert info.maxmemory_policy is None and info.evicts is None
    assert info.unknown == "INFO refused by the ACL, CONFIG GET renamed or disabled"


@pytest.mark.unit
def test_status_shows_the_policy_memory_and_persistence() -> None:
    paint = Paint(False)
    s = ServerInfo(
        "/run/redis.sock",
        maxmemory_policy="noeviction",
        maxmemory=0,
        used_memory=3 << 20,
        aof_enabled=True,
        appendfsync="everysec",
        save="",
    )
    assert server_lines(s, paint) == [
        "REDIS /run/redis.sock  maxmemory-policy noeviction",
        "  memory 3.0 MB used, no maxmemory; AOF on, appendfsync everysec; RDB off",
    ]
    evicting = ServerInfo(
        "h:1",
        "primary",
        maxmemory_policy="allkeys-lru",
        maxmemory=100 << 20,
        used_memory=25 << 20,
        aof_enabled=False,
        unknown="CONFIG GET refused by the ACL",
    )
    assert server_lines(evicting, paint) == [
        "REDIS h:1 (primary)  maxmemory-policy allkeys-lru: evicts keys, jobs can vanish",
        "  memory 25.0 MB used of maxmemory 100.0 MB (25%); AOF off; RDB save rules unknown",
        "  not known: CONFIG GET refused by the ACL",
    ]
    down = ServerInfo("h:2", "replica", reachable=False)
    assert server_lines(down, paint) == ["REDIS h:2 (replica)  unreachable"]


@pytest.mark.unit
def test_accept_eviction_is_a_boolean_in_redis() -> None:
    assert not parse("c.toml", "").redis.accept_eviction
    assert parse("c.toml", "[redis]\naccept_eviction = true").redis.accept_eviction
    with pytest.raises(ConfigError, match=r"redis.accept_eviction: must be true or false"):
        parse("c.toml", '[redis]\naccept_eviction = "yes"')


@pytest.mark.unit
def test_a_master_waits_for_an_unreachable_server_then_refuses_an_evicting_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse("c.toml", '[redis]\nurl = "redis://10.0.0.5:6379/0"')
    answers: list[Any] = [ConnectionLost("refused"), ConnectionLost("refused"),
                          [ServerInfo("h:1", maxmemory_policy="allkeys-lru")]]  # fmt: skip
    slept: list[float] = []

    def read(client: redis.Redis) -> list[ServerInfo]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    with pytest.raises(UnsafeServer) as refused:
        refuse_unsafe(config, redis.Redis(), read=read, sleep=slept.append)
    assert slept == [0.1, 0.2]
    assert str(refused.value) == (
        f"c.toml: {WHERE} evicts keys (maxmemory-policy allkeys-lru): jobs would vanish; {FIX}"
    )
    waits = [r.message for r in caplog.records if "waiting for it" in r.message]
    assert waits == [
        f"{WHERE} unreachable (refused): waiting for it, to check that it keeps every key "
        "before starting the workers"
    ]  # once, not once a retry


# -- what a real server says -----------------------------------------------------------


@pytest.mark.redis
def test_reads_a_real_server_and_sees_a_policy_change(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        [info] = read_all(client)
        assert info.address == str(redis_server.socket)
        assert info.maxmemory_policy == "noeviction" and info.maxmemory == 0
        assert info.used_memory is not None and info.used_memory > 0
        # as support.RedisServer starts it
        assert (info.aof_enabled, info.appendfsync, info.save) == (False, "always", "")
        assert isinstance(info.rdb_last_save_time, int) and info.unknown == ""
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.config_set("maxmemory", str(64 << 20))
        [info] = read_all(client)
    assert (info.maxmemory_policy, info.maxmemory, info.evicts) == ("allkeys-lru", 64 << 20, True)
    assert judge([info], accept_eviction=False, where="Redis").refuse


def redis_version(s: RedisServer) -> int:
    with s.client() as client:
        return int(str(client.info("server")["redis_version"]).split(".")[0])


def login(found: RedisServer, user: str, password: str) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(found.socket), username=user, password=password)


def refusals(found: RedisServer, user: str) -> list[str]:
    """What the ACL refused `user` of INFO and CONFIG (this client's own CLIENT SETINFO,
    which qwsup does not send, aside)."""
    return [d for d in found.acl_denials(user) if d.split()[-1].split("|")[0] in ("info", "config")]


@pytest.mark.redis
def test_an_acl_user_is_never_sent_a_command_the_acl_refuses(redis_server: RedisServer) -> None:
    """Redis 7 says in advance what the ACL allows (rights.lua); before it, an ACL user
    sends no CONFIG GET. Either way nothing lands in the ACL LOG."""
    with redis_server.client() as admin:
        rights = ["-@all", "+info", "+evalsha", "+script|load"]
        admin.acl_setuser("reader", enabled=True, nopass=True, commands=rights)
        seven = int(str(admin.info("server")["redis_version"]).split(".")[0]) >= 7
        with login(redis_server, "reader", "x") as user:
            [info] = read_all(user)
    assert refusals(redis_server, "reader") == []
    assert info.maxmemory_policy == "noeviction" and info.appendfsync is None
    assert info.unknown == (
        "CONFIG GET refused by the ACL"
        if seven
        else "CONFIG GET not tried: before Redis 7 an ACL user cannot tell whether it may"
    )


@pytest.mark.redis
def test_the_supervisor_acl_user_reads_info_and_is_never_refused(server: RedisServer) -> None:
    """conf/redis-acl.conf gives `qwsup` INFO, not CONFIG GET (which would show it
    requirepass): appendfsync and the save rules are unknown, and nothing is refused."""
    with login(server, "qwsup", "supervisor-secret") as user:
        [info] = read_all(user)
    assert info.maxmemory_policy == "noeviction" and info.aof_enabled is True
    assert (info.appendfsync, info.save) == (None, None)
    assert info.unknown.startswith("CONFIG GET ")  # refused, or not tried before Redis 7
    assert refusals(server, "qwsup") == []


RENAMED = {"CONFIG": ("CONFIG",), "CONFIG+INFO": ("CONFIG", "INFO")}


def renamed_server(binary: str, commands: tuple[str, ...]) -> RedisServer:
    """A redis-server with these commands renamed away, as managed services do."""
    args = tuple(arg for command in commands for arg in ("--rename-command", command, ""))
    found = RedisServer(binary, args=args)
    found.start()
    return found


@pytest.mark.redis
@pytest.mark.parametrize("binary", sorted(redis_binaries()))
@pytest.mark.parametrize("renamed", sorted(RENAMED))
def test_a_server_with_config_renamed_is_read_through_info(binary: str, renamed: str) -> None:
    found = renamed_server(redis_binaries()[binary], RENAMED[renamed])
    try:
        with found.client() as client:
            [info] = read_all(client)
    finally:
        found.cleanup()
    assert (info.appendfsync, info.save) == (None, None)
    if renamed == "CONFIG":
        assert info.maxmemory_policy == "noeviction" and info.aof_enabled is False
        assert info.unknown == "CONFIG GET renamed or disabled"
    else:
        assert info.maxmemory_policy is None and info.aof_enabled is None
        assert info.unknown == "INFO renamed or disabled, CONFIG GET renamed or disabled"


# -- the real qwsup ------------------------------------------------------------------


def refusal(config: Path, url: str, policy: str) -> str:
    return (
        f"qwsup: {config}: Redis at {url} evicts keys (maxmemory-policy {policy}): "
        f"jobs would vanish; {FIX}"
    )


def status_json(config: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(config), "status", "--json"],
        env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.process
def test_the_master_refuses_an_evicting_server_and_check_and_status_say_so(
    start_qwsup: Start, server: RedisServer, r: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory", str(256 << 20))
    qw = start_qwsup()
    assert qw.wait() == 78
    line = refusal(qw.config, server.user_url("qwsup"), "allkeys-lru")
    log = qw.log()
    assert log.count(line) == 1 and log.count("evicts keys") == 1, log
    assert " started: " not in log and not r.smembers("all:managers")  # no worker, no lease

    checked = qw.command("check")
    assert (checked.returncode, checked.stderr, checked.stdout) == (78, line + "\n", "")

    shown = qw.command("status", "--json")
    assert shown.returncode == 0, shown.stderr
    [seen] = json.loads(shown.stdout)["servers"]
    assert seen["address"] == str(server.socket)
    assert (seen["maxmemory_policy"], seen["maxmemory"]) == ("allkeys-lru", 256 << 20)
    assert 0 < seen["used_memory"] < seen["maxmemory"]
    assert seen["aof_enabled"] is True  # the fixture's server runs with AOF
    assert (seen["appendfsync"], seen["save"]) == (None, None)  # no CONFIG GET for `qwsup`
    assert seen["unknown"] == "CONFIG GET refused by the ACL"
    table = qw.command("status").stdout
    assert f"REDIS {server.socket}  maxmemory-policy allkeys-lru: evicts keys" in table
    assert "; AOF on, appendfsync unknown; RDB save rules unknown" in table

    # a user that may run CONFIG GET (the default one) sees the rest
    admin = write_config(tmp_path / "admin.toml", server.url)
    [full] = status_json(admin, env)["servers"]
    assert (full["appendfsync"], full["save"], full["unknown"]) == ("always", "", "")


@pytest.mark.process
def test_accept_eviction_starts_on_an_evicting_server_with_a_warning(
    start_qwsup: Start, server: RedisServer, r: redis.Redis
) -> None:
    r.config_set("maxmemory-policy", "volatile-lru")
    qw = start_qwsup(redis={"accept_eviction": True}, workers={"count": 1})
    qw.wait_workers(1)
    line = (
        f"Redis at {server.user_url('qwsup')} evicts keys (maxmemory-policy volatile-lru): "
        "jobs can vanish; accepted by accept_eviction = true in [redis]"
    )
    assert f"WARNING master: {line}\n" in qw.log()
    checked = qw.command("check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.endswith(f" imported; {line}\n")
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


@pytest.mark.process
def test_a_master_waits_for_redis_before_it_checks_it_and_starts_workers(
    start_qwsup: Start, server: RedisServer
) -> None:
    server.stop()
    qw = start_qwsup(workers={"count": 1}, log={"level": "debug"})
    url = server.user_url("qwsup")
    qw.wait_log(f"ERROR master: Redis at {url} unreachable (")
    assert qw.workers() == [] and qw.proc.poll() is None
    server.start()
    qw.wait_workers(1, timeout=20)
    log = qw.log()
    assert f"INFO master: Redis at {url} reachable after " in log
    assert f"DEBUG master: Redis at {url}: maxmemory-policy noeviction\n" in log
    assert log.count("waiting for it, to check that it keeps every key") == 1
    qw.send(signal.SIGTERM)
    assert qw.wait() == 0


@pytest.mark.process
def test_an_int_stops_a_master_waiting_for_redis(start_qwsup: Start, server: RedisServer) -> None:
    server.stop()
    qw = start_qwsup(workers={"count": 1})
    qw.wait_log(f"ERROR master: Redis at {server.user_url('qwsup')} unreachable (")
    qw.send(signal.SIGINT)
    assert qw.wait() == 0
    assert "INFO master: INT: stopping before the workers started\n" in qw.log()
    assert "Traceback" not in qw.log()


@pytest.mark.process
@pytest.mark.parametrize("renamed", sorted(RENAMED))
def test_a_master_on_a_server_with_config_renamed(tmp_path: Path, renamed: str) -> None:
    """CONFIG renamed (as on managed Redis): INFO says enough, the master runs. INFO
    renamed too: qwsup cannot tell, and refuses."""
    binary = redis_binaries().get("system") or next(iter(redis_binaries().values()))
    found = renamed_server(binary, RENAMED[renamed])
    config = write_config(
        tmp_path / "c.toml", found.url, workers={"count": 1}, log={"level": "debug"}
    )
    env = qwsup_env(found.url)
    qw = Qwsup(config, env)
    try:
        if renamed == "CONFIG":
            qw.wait_workers(1)
            assert f"DEBUG master: Redis at {found.url}: maxmemory-policy noeviction\n" in qw.log()
            [seen] = status_json(config, env)["servers"]
            assert seen["maxmemory_policy"] == "noeviction" and seen["appendfsync"] is None
            assert seen["unknown"] == "CONFIG GET renamed or disabled"
            qw.send(signal.SIGTERM)
            assert qw.wait() == 0
        else:
            assert qw.wait() == 78
            line = (
                f"qwsup: {config}: Redis at {found.url}: cannot read maxmemory-policy (INFO "
                "renamed or disabled, CONFIG GET renamed or disabled): qwsup cannot tell "
                "whether it evicts keys; allow this user INFO (+info), or set "
                "accept_eviction = true in [redis] if the server runs noeviction"
            )
            assert qw.log().count(line) == 1
            assert qw.command("check").returncode == 78
    finally:
        qw.close()
        found.cleanup()
    assert not qw.group()


@pytest.mark.process
def test_the_embedded_server_keeps_every_key(tmp_path: Path, state_dir: Path) -> None:
    config = write_config(
        tmp_path / "embedded.toml",
        None,
        redis={"state_dir": str(state_dir)},
        workers={"count": 1, "handler": "qwsup.examples:log_job"},
        supervisor={"graceful_timeout": 0.5},
        log={"level": "debug"},
    )
    socket = f"unix://{state_dir}/redis.sock"
    qw = Qwsup(config, qwsup_env(socket))
    try:
        # (not wait_workers first: redis-server is the master's child until it daemonizes)
        qw.wait_log(f"DEBUG master: Redis at {socket}: maxmemory-policy noeviction\n")
        qw.wait_workers(1)
        checked = qw.command("check")
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.endswith(
            "; embedded redis-server, run with maxmemory-policy noeviction\n"
        )
        qw.send(signal.SIGTERM)
        assert qw.wait() == 0
        wait_until(lambda: not (state_dir / "redis.pid").exists(), 10, "the server to stop")
    finally:
        qw.close()
    assert not qw.group()
