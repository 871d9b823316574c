"""A local Redis Sentinel setup for the tests (and the benchmark, if wanted): a primary,
its replicas and three sentinels on loopback ports, each server in a directory of its
own, stopped and removed afterwards."""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, cast

import redis

from testkit.ports import free_ports
from testkit.servers import ServerGroup, pings, spawn
from testkit.wait import wait_until

SERVICE = "mymaster"


class Sentinels(ServerGroup):
    """A primary with `replicas` replicas (AOF, fsync always) and `sentinels` sentinels
    that fail over after 1 s without an answer (a quorum of two), on loopback.

    `password` is the sentinels' own (requirepass, which they also use among
    themselves); `server_args` go to every data node (an ACL file to include)."""

    def __init__(
        self,
        binary: str,
        replicas: int = 1,
        sentinels: int = 3,
        password: str = "",
        server_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__("qwsn")
        self.binary = binary
        self.password = password
        self.server_args = server_args
        ports = free_ports(1 + replicas + sentinels)
        self.data_ports = ports[: 1 + replicas]
        self.sentinel_ports = ports[1 + replicas :]

    # -- starting ---------------------------------------------------------------

    def _spawn(self, port: int, command: list[str]) -> None:
        self.procs[port] = spawn(command)

    def start(self) -> None:
        primary = self.data_ports[0]
        for port in self.data_ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            follow = [] if port == primary else ["--replicaof", "127.0.0.1", str(primary)]
            self._spawn(port, [
                self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--repl-diskless-sync-delay", "0", "--logfile", "redis.log",
                *follow, *self.server_args,
            ])  # fmt: skip
        for port in self.data_ports:
            wait_until(functools.partial(self._answers, port), 10, f"redis-server on {port}")
        wait_until(self._replicated, 20, "the replicas to be in sync")
        for port in self.sentinel_ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            conf = node_dir / "sentinel.conf"  # sentinels rewrite their file: one each
            lines = [
                f"port {port}",
                "bind 127.0.0.1",
                f"dir {node_dir}",
                "logfile sentinel.log",
                "sentinel resolve-hostnames no",
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2",
                f"sentinel down-after-milliseconds {SERVICE} 1000",
                f"sentinel failover-timeout {SERVICE} 3000",
                *([f"requirepass {self.password}"] if self.password else []),
            ]
            conf.write_text("\n".join(lines) + "\n")
            self._spawn(port, [self.binary, str(conf), "--sentinel"])
        wait_until(self.ready, 30, "every sentinel to see the others and the replicas")

    def _answers(self, port: int) -> bool:
        return pings(redis.Redis(port=port, socket_timeout=1), self.procs[port])

    def _replicated(self) -> bool:
        info = redis.Redis(port=self.data_ports[0], socket_timeout=1).info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        up = [s for s in online if s.get("state") == "online"]
        return len(up) == len(self.data_ports) - 1

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password or None, socket_timeout=1)

    def ready(self) -> bool:
        """Every sentinel knows the primary, the other sentinels and every replica."""
        for port in self.sentinel_ports:
            try:
                state = cast(dict[str, Any], self.sentinel(port).sentinel_master(SERVICE))
            except redis.RedisError:
                return False
            if not state.get("is_master") or state.get("is_sdown"):
                return False
            if state["num-other-sentinels"] != len(self.sentinel_ports) - 1:
                return False
            if state["num-slaves"] != len(self.data_ports) - 1:
                return False
        return True

    # -- what a test looks at ----------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        """The sentinels as `[redis] sentinels` names them."""
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def primary(self) -> int:
        """The primary's port, as the first live sentinel that answers says."""
        for port in self.sentinel_ports:
            if self.procs[port].poll() is not None:
                continue
            with contextlib.suppress(redis.RedisError):
                if primary := self._primary_named_by(port):
                    return primary
        raise RuntimeError("no sentinel names a primary")

    def _primary_named_by(self, port: int) -> int:
        """The primary's port as the sentinel on `port` names it; 0 when it names none."""
        address = self.sentinel(port).sentinel_get_master_addr_by_name(SERVICE)
        return int(cast(tuple[str, int], address)[1]) if address else 0

    def client(self, **options: Any) -> redis.Redis:
        """A client of the current primary (it follows a failover)."""
        addresses = [("127.0.0.1", port) for port in self.sentinel_ports]
        asking = {"password": self.password or None, "socket_timeout": 1}
        sentinel = redis.Sentinel(addresses, sentinel_kwargs=asking)
        primary: redis.Redis = sentinel.master_for(SERVICE, **options)
        return primary

    def failed_over(self, old: int, timeout: float = 30.0) -> float:
        """Wait until every live sentinel names another primary than `old`, and it has
        taken the role; the seconds it took."""
        since = time.monotonic()

        def moved() -> bool:
            ports = set()
            for port in self.sentinel_ports:
                if self.procs[port].poll() is None:
                    with contextlib.suppress(redis.RedisError):
                        ports.add(self._primary_named_by(port))
            if len(ports) != 1 or old in ports or 0 in ports:
                return False
            try:
                role = redis.Redis(port=ports.pop(), socket_timeout=1).execute_command("ROLE")  # type: ignore[no-untyped-call]
            except redis.RedisError:
                return False
            return bool(role[0] == b"master")

        wait_until(moved, timeout, "the sentinels to name a new primary")
        return time.monotonic() - since
