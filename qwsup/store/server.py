"""What the Redis server is configured with, as far as qwsup's promise depends on it:
whether it may evict keys (maxmemory-policy), how it keeps them (AOF, RDB), and its
memory against maxmemory.

A server that evicts keys destroys queued jobs without a trace, so a master refuses
to start on one (exit status 78) unless `[redis] accept_eviction` accepts the risk.

The facts come from INFO, which managed services allow where CONFIG is renamed, and
from CONFIG GET (appendfsync, the RDB save rules, and maxmemory-policy when INFO lacks
it) where this user may run it. rights.lua first asks the server's ACL which of the two
the user may run, so that qwsup never sends a command it knows will be refused (each
refusal is logged in the server's ACL LOG). Before Redis 7 the ACL cannot be asked:
INFO is sent anyway (without it nothing can be checked), CONFIG GET only by the
default user. `judge()` decides from the facts alone; `refuse_unsafe()` is what a
master runs before it starts any worker.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.sentinel

from qwsup.config import Config
from qwsup.errors import ConfigError, ConnectionLost, ExitCode, RedisRefused
from qwsup.store.connection import redact, url_of
from qwsup.store.scripts import Scripts, translated

log = logging.getLogger(__name__)

SAFE_POLICY = "noeviction"
RETRY_FIRST_S = 0.1  # a master waiting for an unreachable server retries after this,
RETRY_MAX_S = 5.0  # doubling up to this
ALLOWED, REFUSED, ABSENT, CANNOT_TELL = 1, 0, -1, -2  # rights.lua's answers
UNTRIED = -3  # CANNOT_TELL for an ACL user: not sent, the ACL might refuse it (and log it)
_WHY = {
    REFUSED: "refused by the ACL",
    ABSENT: "renamed or disabled",
    UNTRIED: "not tried: before Redis 7 an ACL user cannot tell whether it may",
}


class UnsafeServer(ConfigError):
    """The config cannot be used with its server: the server may evict keys (or qwsup
    cannot tell) and `[redis] accept_eviction` does not accept the risk. Exit status 78,
    as for an invalid file (systemd's RestartPreventExitStatus=78): a restart would not
    mend it either."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, "", problem)


@dataclass(frozen=True)
class ServerInfo:
    """One Redis server (one node of a cluster). None: not known, `unknown` says why."""

    address: str  # host:port or a unix socket's path
    role: str = ""  # in a cluster: "primary" or "replica"
    reachable: bool = True
    maxmemory_policy: str | None = None
    maxmemory: int | None = None  # bytes; 0: no limit
    used_memory: int | None = None  # bytes
    aof_enabled: bool | None = None
    appendfsync: str | None = None  # always, everysec or no
    save: str | None = None  # the RDB save rules, "3600 1 300 100"; "": no snapshots
    rdb_last_save_time: int | None = None  # unix seconds
    unknown: str = ""  # why some of the above are None, one line

    @property
    def evicts(self) -> bool | None:
        """Whether the server may evict keys; None when its policy cannot be read."""
        if self.maxmemory_policy is None:
            return None
        return self.maxmemory_policy != SAFE_POLICY


@dataclass(frozen=True)
class Verdict:
    refuse: bool  # the master does not start; `check` fails
    warn: bool  # it starts, but says that the server may lose jobs
    line: str  # what the log or `check` says: the reason and its fix, one line


def judge(servers: Sequence[ServerInfo], *, accept_eviction: bool, where: str) -> Verdict:
    """Whether a master may run on these servers (one, or every node of a cluster):
    only on servers that never evict keys, unless accept_eviction says so. A server
    whose policy cannot be read counts as one that may evict. `where` names the server
    for the operator ("Redis at redis://host:6379/0")."""
    read = [s for s in servers if s.reachable]
    if not read:
        return Verdict(True, False, f"{where}: no server answered: cannot check maxmemory-policy")
    cluster = len(servers) > 1 or any(s.role for s in servers)
    evicting = [s for s in read if s.evicts]
    unreadable = [s for s in read if s.evicts is None]
    gone = [s for s in servers if not s.reachable]
    skipped = f" ({_nodes(gone)} unreachable: not checked)" if gone else ""
    accepted = "accepted by accept_eviction = true in [redis]"
    if evicting:
        first = evicting[0]
        what = f"evicts keys (maxmemory-policy {first.maxmemory_policy})"
        if cluster:
            what = f"node {first.address} {what}" + _others(evicting)
        subject = f"{where}: {what}" if cluster else f"{where} {what}"
        if accept_eviction:
            return Verdict(False, True, f"{subject}: jobs can vanish; {accepted}{skipped}")
        fix = "on every node" if cluster else "on the server"
        return Verdict(
            True,
            False,
            f"{subject}: jobs would vanish; set maxmemory-policy noeviction {fix}, "
            "or accept_eviction = true in [redis]",
        )
    if unreadable:
        first = unreadable[0]
        node = f"node {first.address}: " if cluster else ""
        what = f"{where}: {node}cannot read maxmemory-policy ({first.unknown})"
        if accept_eviction:
            return Verdict(False, True, f"{what}; {accepted}{skipped}")
        return Verdict(
            True,
            False,
            f"{what}: qwsup cannot tell whether it evicts keys; allow this user INFO (+info), "
            "or set accept_eviction = true in [redis] if the server runs noeviction",
        )
    nodes = f" on all {len(read)} nodes" if cluster else ""
    return Verdict(False, bool(gone), f"{where}: maxmemory-policy {SAFE_POLICY}{nodes}{skipped}")


def _nodes(servers: Sequence[ServerInfo]) -> str:
    names = ", ".join(s.address for s in servers[:3])
    more = f" and {len(servers) - 3} more" if len(servers) > 3 else ""
    return f"node{'s' if len(servers) > 1 else ''} {names}{more}"


def _others(servers: Sequence[ServerInfo]) -> str:
    n = len(servers) - 1
    return f" (and {n} other node{'s' if n > 1 else ''})" if n else ""


# -- reading ------------------------------------------------------------------------


def info_from(
    address: str,
    rights: Sequence[int],
    replies: Sequence[Any],
    *,
    role: str = "",
) -> ServerInfo:
    """A ServerInfo from what `read_one()` got: rights.lua's answer {INFO, CONFIG GET}, and
    the replies (or the errors) of INFO memory, INFO persistence and CONFIG GET
    maxmemory-policy, appendfsync and save, None for a command not sent. Pure."""
    may_info, may_config = rights
    memory, persistence, policy, appendfsync, save = replies
    problems: list[str] = []
    info_problem = _problem("INFO", may_info, memory)
    config_problem = _problem("CONFIG GET", may_config, appendfsync)
    memory = memory if isinstance(memory, dict) else {}
    persistence = persistence if isinstance(persistence, dict) else {}
    found_policy = memory.get("maxmemory_policy") or _config_value(policy, "maxmemory-policy")
    if info_problem:
        problems.append(info_problem)
    elif "maxmemory_policy" not in memory:
        problems.append("INFO memory has no maxmemory_policy")
    if config_problem:
        problems.append(config_problem)
    return ServerInfo(
        address=address,
        role=role,
        maxmemory_policy=str(found_policy) if found_policy else None,
        maxmemory=_int(memory.get("maxmemory")),
        used_memory=_int(memory.get("used_memory")),
        aof_enabled=bool(persistence["aof_enabled"]) if "aof_enabled" in persistence else None,
        appendfsync=_config_value(appendfsync, "appendfsync"),
        save=_config_value(save, "save"),
        rdb_last_save_time=_int(persistence.get("rdb_last_save_time")),
        unknown=", ".join(problems),
    )


def _problem(command: str, right: int, reply: Any) -> str:
    """Why `command` gave nothing ("" when it did)."""
    if right in _WHY:
        return f"{command} {_WHY[right]}"
    if isinstance(reply, redis.exceptions.NoPermissionError):
        return f"{command} {_WHY[REFUSED]}"
    if isinstance(reply, redis.ResponseError):
        text = str(reply)
        return f"{command} {_WHY[ABSENT]}" if "unknown command" in text.lower() else text
    return ""


def _config_value(reply: Any, name: str) -> str | None:
    if not isinstance(reply, dict) or name not in reply:
        return None
    value = reply[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_one(client: redis.Redis, address: str, role: str = "") -> ServerInfo:
    """One server's facts, in two round trips. Raises ConnectionLost when unreachable."""
    with translated():
        try:
            rights = [int(x) for x in Scripts(client, "").run("rights")]
        except RedisRefused:  # scripts refused or disabled: try, and see
            rights = [CANNOT_TELL, CANNOT_TELL]
        if rights[1] == CANNOT_TELL and _acl_user(client):
            rights[1] = UNTRIED  # INFO is still sent: without it nothing can be checked
        pipe = client.pipeline(transaction=False)
        sent = []
        if rights[0] in (ALLOWED, CANNOT_TELL):
            pipe.info("memory")
            pipe.info("persistence")
            sent += [0, 1]
        if rights[1] in (ALLOWED, CANNOT_TELL):
            for name in ("maxmemory-policy", "appendfsync", "save"):
                pipe.config_get(name)
            sent += [2, 3, 4]
        answers = pipe.execute(raise_on_error=False) if sent else []
    replies: list[Any] = [None] * 5
    for i, answer in zip(sent, answers, strict=True):
        replies[i] = answer
    return info_from(address, rights, replies, role=role)


def read_all(client: redis.Redis | redis.RedisCluster) -> list[ServerInfo]:
    """The server, or every node of a cluster (primaries and replicas: a failover makes
    a replica the primary). Raises ConnectionLost when no node can be reached; in a
    cluster, a node that cannot be is listed as unreachable."""
    if not isinstance(client, redis.RedisCluster):
        return [read_one(client, _address(client))]
    found = []
    nodes: list[Any] = client.get_nodes()  # type: ignore[no-untyped-call]
    for node in nodes:
        role = "primary" if node.server_type == "primary" else "replica"
        try:
            if node.redis_connection is None:
                raise ConnectionLost("not connected")
            found.append(read_one(node.redis_connection, node.name, role))
        except ConnectionLost as exc:
            problem = f"unreachable: {exc}"
            found.append(ServerInfo(node.name, role, reachable=False, unknown=problem))
    if not any(s.reachable for s in found):
        raise ConnectionLost(f"no node of the cluster answered ({found[0].unknown})")
    return sorted(found, key=lambda s: (s.role != "primary", s.address))


def _acl_user(client: redis.Redis) -> bool:
    """The client logs in as a user of the server's ACL, not as the default one."""
    return client.connection_pool.connection_kwargs.get("username") not in (None, "", "default")


def _address(client: redis.Redis) -> str:
    pool = client.connection_pool
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):  # the primary it found
        with contextlib.suppress(redis.RedisError):
            finder: Any = pool.get_master_address  # untyped in redis-py
            host, port = finder()
            return f"{host}:{port}"
        return f"the primary of {pool.service_name}"
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def where(config: Config) -> str:
    """The server, as a line about it names it."""
    return f"Redis at {redact(url_of(config))}"


Reader = Callable[[redis.Redis], list[ServerInfo]]


def check(config: Config, client: redis.Redis, read: Reader = read_all) -> Verdict:
    """The verdict on the config's server (what `qwsup check` prints). Raises
    ConnectionLost when the server cannot be reached."""
    servers = read(client)
    return judge(servers, accept_eviction=config.redis.accept_eviction, where=where(config))


def refuse_unsafe(
    config: Config,
    client: redis.Redis,
    *,
    read: Reader = read_all,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """A master's start, before any worker: read the server, waiting while it cannot be
    reached (said once), then go on (quietly: the line is logged at debug level), or warn
    (accept_eviction), or raise UnsafeServer with the refusal. An INT while waiting
    stops the master (exit 0)."""
    since, delay = time.monotonic(), RETRY_FIRST_S
    waited = False
    try:
        while True:
            try:
                verdict = check(config, client, read)
                break
            except ConnectionLost as exc:
                if not waited:
                    log.error(
                        "%s unreachable (%s): waiting for it, to check that it keeps every "
                        "key before starting the workers",
                        where(config), exc,
                    )  # fmt: skip
                    waited = True
                sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
    except KeyboardInterrupt:  # the master's own INT handler is not installed yet
        log.info("INT: stopping before the workers started")
        raise SystemExit(int(ExitCode.OK)) from None
    if waited:
        log.info("%s reachable after %.1f s", where(config), time.monotonic() - since)
    if verdict.refuse:
        raise UnsafeServer(config.path, verdict.line)
    log.log(logging.WARNING if verdict.warn else logging.DEBUG, "%s", verdict.line)
