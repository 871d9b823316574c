"""qwsup on a real Redis Cluster (six local nodes: three primaries, three replicas),
including a failover of the node that serves the namespace's slot mid-run."""

from __future__ import annotations

import collections
import json
import shutil
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from qwsup.produce.producer import Producer
from support import Qwsup, done
from testkit import Cluster, wait_until

pytestmark = pytest.mark.process

NAMESPACE = "{qw}"
Start = Callable[..., Qwsup]


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
        sets = {f"{NAMESPACE}:{name}:jobs".encode() for name in ("delayed", "finished")}
        found = fresh.scan_iter(match=f"{NAMESPACE}:*:jobs", target_nodes="all")
        lists = [key for key in found if key not in sets]  # (sorted sets)
        wait_until(lambda: sum(fresh.llen(k) for k in lists) == 0, 30, "every list to be empty")
        assert fresh.llen(f"{NAMESPACE}:failed:jobs") == 0
    assert qw.proc.poll() is None
    status = qw.command("status", "--json")
    assert status.returncode == 0, status.stderr
    [supervisor] = json.loads(status.stdout)["supervisors"]
    assert supervisor["alive"] and len(supervisor["workers"]) == 2
    # every node the cluster names, replicas included, as a master checks them at start
    nodes = json.loads(status.stdout)["servers"]
    assert {s["role"] for s in nodes} == {"primary", "replica"}
    assert {s["maxmemory_policy"] for s in nodes} == {"noeviction"}
    starts = [float(x) for x in r.lrange("test:started_at", 0, -1)]
    assert any(t > killed_at for t in starts)  # the failover came mid-run: workers went on
    qw.wait_log("Redis reachable again", 10)
    client.close()
