"""A local Redis Cluster for the benchmark and the tests: nodes on loopback ports, made
into a cluster with redis-cli, stopped and removed afterwards."""

from __future__ import annotations

import functools
import os
import subprocess

import redis
from redis.cluster import ClusterNode

from testkit.ports import is_free
from testkit.servers import ServerGroup, pings, spawn
from testkit.wait import wait_until


def _ports(count: int) -> list[int]:
    """Ports free on loopback, with their cluster bus ports (+10000) free too."""
    found: list[int] = []
    port = 20000 + os.getpid() % 5000
    while len(found) < count:
        port += 1
        if is_free(port) and is_free(port + 10000):
            found.append(port)
    return found


class Cluster(ServerGroup):
    """`nodes` redis-servers with `replicas` replicas per primary (redis-cli's layout:
    the slots split evenly over the primaries)."""

    def __init__(self, binary: str, nodes: int = 6, replicas: int = 1) -> None:
        super().__init__("qwc")
        self.binary = binary
        self.replicas = replicas
        self.ports = _ports(nodes)

    def start(self) -> None:
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.procs[port] = spawn(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "1000", "--dir", str(node_dir), "--save", "",
                 "--appendonly", "yes", "--appendfsync", "always"],
            )  # fmt: skip
        for port in self.ports:
            wait_until(functools.partial(self._pings, port), 10, f"node {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(self.healthy, 30, "the cluster to be ok on every node")

    def _pings(self, port: int) -> bool:
        return pings(redis.Redis(port=port, socket_timeout=1), self.procs[port])

    def healthy(self) -> bool:
        for port, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            try:
                info = redis.Redis(port=port, socket_timeout=1).cluster("info")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok":
                return False
        return True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def client(self) -> redis.RedisCluster:
        nodes = [ClusterNode("127.0.0.1", port) for port in self.ports]  # type: ignore[no-untyped-call]
        return redis.RedisCluster(startup_nodes=nodes)

    def primary_of(self, key: str) -> int:
        with self.client() as client:
            return int(client.get_node_from_key(key).port)
