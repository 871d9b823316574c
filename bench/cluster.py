"""A local Redis Cluster for the benchmark and the tests: nodes on loopback ports, made
into a cluster with redis-cli, stopped and removed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)  # the benchmark times runs with it: poll often
    return result


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports free on loopback, with their cluster bus ports (+10000) free too."""
    found: list[int] = []
    port = 20000 + os.getpid() % 5000
    while len(found) < count:
        port += 1
        if _free(port) and _free(port + 10000):
            found.append(port)
    return found


class Cluster:
    """`nodes` redis-servers with `replicas` replicas per primary (redis-cli's layout:
    the slots split evenly over the primaries)."""

    def __init__(self, binary: str, nodes: int = 6, replicas: int = 1) -> None:
        self.binary = binary
        self.replicas = replicas
        self.dir = Path(tempfile.mkdtemp(prefix="qwc"))
        self.ports = _ports(nodes)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.procs[port] = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "1000", "--dir", str(node_dir), "--save", "",
                 "--appendonly", "yes", "--appendfsync", "always"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        for port in self.ports:
            wait_for(lambda port=port: self._pings(port), 10, f"node {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_for(self.healthy, 30, "the cluster to be ok on every node")

    def _pings(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

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
        nodes = [ClusterNode("127.0.0.1", port) for port in self.ports]
        return redis.RedisCluster(startup_nodes=nodes)

    def primary_of(self, key: str) -> int:
        with self.client() as client:
            return int(client.get_node_from_key(key).port)

    def kill(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(10)

    def cleanup(self) -> None:
        stop(self.procs.values(), self.dir)


def stop(procs: Iterable[subprocess.Popen[bytes]], directory: Path) -> None:
    """End the servers we started (TERM, then KILL after 10 s) and remove their files."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    shutil.rmtree(directory, ignore_errors=True)
