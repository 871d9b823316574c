"""qwsup on a real Redis Cluster (six local nodes: three primaries, three replicas),
including a failover of the node that serves the namespace's slot mid-run."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode

from qwsup.producer import Producer
from support import Qwsup, done, wait_until

pytestmark = pytest.mark.process

NAMESPACE = "{qw}"
Start = Callable[..., Qwsup]


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
    def __init__(self, binary: str, nodes: int = 6) -> None:
        self.binary = binary
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
            wait_until(lambda port=port: self._pings(port), 10, f"node {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(self.healthy, 30, "the cluster to be ok on every node")

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
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        pytest.skip("needs redis-server and redis-cli on PATH (Debian's redis-server)")
    cluster = Cluster(binary)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def test_jobs_survive_a_failover_of_the_node_that_holds_the_queue(
    start_qwsup: Start, cluster: Cluster, r: redis.Redis
) -> None:
    """Every job runs (some twice: Redis replicates asynchronously, so a move or an
    acknowledgement the dead primary had not passed on is done again), none is lost,
    and no id is left in a list."""
    qw = start_qwsup(
        redis={"url": cluster.url, "cluster": True, "namespace": NAMESPACE, "password_env": ""},
        workers={"count": 2, "retry_delay": 0, "max_attempts": 10},
        supervisor={"lease_timeout": 5},
    )
    qw.wait_workers(2)
    client = cluster.client()
    producer = Producer(client, namespace=NAMESPACE)  # type: ignore[arg-type]
    ids = producer.enqueue_many({"sleep": "0.03"} for _ in range(300))  # 4.5 s of work
    primary = cluster.primary_of(f"{NAMESPACE}:all:jobs")
    node = client.get_node_from_key(f"{NAMESPACE}:all:jobs").redis_connection
    assert node.execute_command("WAIT", 1, 5000) == 1  # the jobs reached a replica
    wait_until(lambda: len(done(r)) >= 50, 30, "jobs flowing")
    cluster.kill(primary)
    killed_at = time.time()
    wait_until(lambda: cluster.primary_of(f"{NAMESPACE}:all:jobs") != primary, 30, "failover")
    wait_until(lambda: set(ids) <= set(done(r)), 90, "every job, after the failover")
    counts = collections.Counter(done(r))
    print(f"{len(ids)} jobs, {sum(n > 1 for n in counts.values())} ran twice")
    with cluster.client() as fresh:
        lists = list(fresh.scan_iter(match=f"{NAMESPACE}:*:jobs", target_nodes="all"))
        wait_until(lambda: sum(fresh.llen(k) for k in lists) == 0, 30, "every list to be empty")
        assert fresh.llen(f"{NAMESPACE}:failed:jobs") == 0
    assert qw.proc.poll() is None
    starts = [float(x) for x in r.lrange("test:started_at", 0, -1)]
    assert any(t > killed_at for t in starts)  # the failover came mid-run: workers went on
    assert "Redis reachable again" in qw.log()
    client.close()
