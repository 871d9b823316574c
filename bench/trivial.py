"""The trivial jobs' measures of `python -m bench` (the workloads are the peers
harness's, bench/peers/harness.py): on a private redis-server or a given one, jobs
whose handler notes its id in a local file (bench.jobs:noop, or :roundtrip with one
INCR too), each checked to run exactly once. Throughput with the master's CPU and the
workers' RSS (--trivial), enqueue-to-start latency, enqueue rates, how the cost grows
(--costs); bench/fsync.py, hosts.py and bulk.py build on Bench."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.crc import key_slot

from bench.jobs import HANDLED
from qwsup.produce.producer import Producer
from testkit import ROOT, Cluster, RedisServer, default_binary, pings, wait_until, write_config

POLL_S = 0.002  # how often a wait looks again: the benchmark times its runs by their waits


HANDLERS = {"noop": "bench.jobs:noop", "roundtrip": "bench.jobs:roundtrip"}
HANDLER_WORDS = {
    "noop": "the handler makes no Redis call",
    "roundtrip": "the handler makes one Redis round trip",
}


class Bench:
    """The measures, on a private redis-server on loopback (no persistence), or on the
    server at `url`; the workers run `handler`."""

    def __init__(self, workdir: Path, url: str = "", handler: str = "bench.jobs:noop") -> None:
        self.workdir = workdir
        self.handler = handler
        self.server: RedisServer | None = None
        self.url = url
        if not url:  # TCP on loopback, no persistence
            self.server = RedisServer(default_binary(), tcp=True)
            self.server.start()
            self.url = self.server.url
        self.r = redis.Redis.from_url(self.url)
        wait_until(lambda: pings(self.r), 10, "redis-server", interval=POLL_S)
        self.redis_version = str(self.r.info("server")["redis_version"])
        self.env = dict(
            os.environ, PYTHONPATH=str(ROOT), QWSUP_BENCH_DIR=str(workdir),
            QWSUP_BENCH_URL=self.url,
        )  # fmt: skip
        self.baseline = 0

    def close(self) -> None:
        self.r.close()
        if self.server is not None:
            self.server.cleanup()

    # -- pools ------------------------------------------------------------------

    def start(self, kind: str, workers: int, masters: int = 1) -> list[subprocess.Popen[bytes]]:
        for old in self.workdir.glob("ran.*"):
            old.unlink()
        self.r.flushall()
        self.r.set(HANDLED, 0)  # bench.jobs:roundtrip counts here; part of the baseline
        if kind == "plain":
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "bench.plain", self.url, self.handler], env=self.env
                )
                for _ in range(workers)
            ]
        else:  # `masters` supervisors, as that many hosts would run, sharing the workers
            procs = []
            for m in range(masters):
                procs.append(self.master(f"bench-{m}", workers // masters, self.url))
        wait_until(
            lambda: self._blocked() >= workers,
            30,
            f"{workers} idle {kind} workers",
            interval=POLL_S,
        )
        self.baseline = self.r.dbsize()  # the registry's keys
        return procs

    def master(
        self, name: str, workers: int, url: str, *, cluster: bool = False, namespace: str = ""
    ) -> subprocess.Popen[bytes]:
        """A qwsup master of `workers` benchmark workers; as root, the bench says
        run_as_root in so many words."""
        config = write_config(
            self.workdir / f"{name}.toml", url,
            redis={"cluster": cluster, "namespace": namespace}, supervisor={"name": name},
            workers={"count": workers, "handler": self.handler}, log={"level": "warning"},
        )  # fmt: skip
        return self.masters_of(config)

    def masters_of(self, config: Path, *args: str) -> subprocess.Popen[bytes]:
        """A qwsup master on the config file `config` (or the qwsup command `args`)."""
        command = [sys.executable, "-m", "qwsup", "-c", str(config), *args]
        return subprocess.Popen(command, env=self.env)

    def check_exactly_once(self, ids: list[str], what: str) -> None:
        """Every job ran, and once: a fast run that loses or repeats jobs is a failure."""
        counts = collections.Counter(line.split()[0] for line in self.ran())
        if set(counts) != set(ids) or any(n != 1 for n in counts.values()):
            lost = len(set(ids) - set(counts))
            twice = sum(1 for n in counts.values() if n > 1)
            raise RuntimeError(f"{what}: {lost} jobs lost, {twice} ran twice")

    def _blocked(self) -> int:
        return sum(1 for c in self.r.client_list() if c.get("cmd") in ("blmove", "brpoplpush"))

    def stop(self, procs: list[subprocess.Popen[bytes]]) -> None:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)

    def ran(self) -> list[str]:
        lines: list[str] = []
        for path in self.workdir.glob("ran.*"):
            lines += path.read_text().splitlines()
        return lines

    def drained(self) -> bool:
        """No job left: the queue is empty and every job hash is gone, or kept as done
        (keep_finished: its hash and its entry in finished:jobs; and all:events)."""
        kept = self.r.zcard("finished:jobs")
        extra = kept + bool(kept) + self.r.exists("all:events")
        return self.r.llen("all:jobs") == 0 and self.r.dbsize() - extra <= self.baseline

    # -- measures ---------------------------------------------------------------

    def throughput(
        self, kind: str, workers: int, jobs: int, payload: int = 0, masters: int = 1
    ) -> dict[str, float]:
        """Jobs/s through `workers` processes; jobs carry `payload` bytes of data."""
        procs = self.start(kind, workers, masters)
        master = psutil.Process(procs[0].pid) if kind == "qwsup" else None
        cpu0 = sum(master.cpu_times()[:2]) if master else 0.0
        producer = Producer(self.r)
        t0 = time.perf_counter()
        fields = {"n": "1", "data": "x" * payload} if payload else {"n": "1"}
        ids = producer.enqueue_many(fields for _ in range(jobs))
        wait_until(self.drained, 600, f"{jobs} jobs to run", interval=POLL_S)
        seconds = time.perf_counter() - t0
        result = {"jobs_per_s": jobs / seconds}
        if master:
            result["master_cpu_busy_pct"] = 100 * (sum(master.cpu_times()[:2]) - cpu0) / seconds
            cpu1, t1 = sum(master.cpu_times()[:2]), time.perf_counter()
            time.sleep(2.0)  # the span the idle CPU is measured over
            idle = sum(master.cpu_times()[:2]) - cpu1
            result["master_cpu_idle_pct"] = 100 * idle / (time.perf_counter() - t1)
            rss = [c.memory_info().rss for c in master.children()]
            result["worker_rss_mb"] = statistics.mean(rss) / 2**20
        self.stop(procs)
        self.check_exactly_once(ids, f"{kind} x{workers}")
        return result

    def latency(self, kind: str, workers: int, jobs: int) -> dict[str, float]:
        procs = self.start(kind, workers)
        producer = Producer(self.r)
        for _ in range(jobs):
            producer.enqueue({"sent": f"{time.time():.6f}"})
            time.sleep(0.005)  # low load: one job at a time, paced
        wait_until(self.drained, 60, "the paced jobs", interval=POLL_S)
        self.stop(procs)
        late = sorted(float(line.split()[1]) * 1000 for line in self.ran())
        return {
            "median_ms": statistics.median(late),
            "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))],
        }

    def namespaces(self, url: str, cluster: bool, tags: list[str], jobs: int) -> float:
        """Jobs/s through one master of two workers per namespace, the jobs spread
        evenly over the namespaces; every job checked to run exactly once."""
        for old in self.workdir.glob("ran.*"):
            old.unlink()
        client: Any = redis.RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)
        if not cluster:
            client.flushall()
        procs = [
            self.master(f"ns-{i}", 2, url, cluster=cluster, namespace=tag)
            for i, tag in enumerate(tags)
        ]
        registered = [f"{tag}:ns-{i}:workers" for i, tag in enumerate(tags)]
        wait_until(
            lambda: sum(client.scard(k) for k in registered) == 2 * len(tags),
            30,
            "workers",
            interval=POLL_S,
        )
        t0 = time.perf_counter()
        ids: list[str] = []
        for tag in tags:
            producer = Producer(client, namespace=tag)
            ids += producer.enqueue_many({"n": "1"} for _ in range(jobs // len(tags)))
        wait_until(
            lambda: len(self.ran()) >= len(ids), 600, f"{len(ids)} jobs to run", interval=POLL_S
        )
        seconds = time.perf_counter() - t0
        self.stop(procs)
        client.close()
        self.check_exactly_once(ids, f"namespaces on {url}")
        return len(ids) / seconds

    def memory_per_job(self, jobs: int) -> float:
        """Bytes of Redis memory a queued trivial job takes (its hash and its id)."""
        self.r.flushall()
        before = int(self.r.info("memory")["used_memory"])
        Producer(self.r).enqueue_many({"n": "1"} for _ in range(jobs))
        used = int(self.r.info("memory")["used_memory"]) - before
        self.r.flushall()
        return used / jobs

    def enqueue_rates(self, jobs: int) -> dict[str, float]:
        self.r.flushall()
        producer = Producer(self.r)
        t0 = time.perf_counter()
        for _ in range(jobs):
            producer.enqueue({"n": "1"})
        one = jobs / (time.perf_counter() - t0)
        self.r.flushall()
        t0 = time.perf_counter()
        producer.enqueue_many({"n": "1"} for _ in range(jobs))
        bulk = jobs / (time.perf_counter() - t0)
        self.r.flushall()
        return {"one_at_a_time_per_s": one, "bulk_per_s": bulk}


def costs(bench: Bench, jobs: int) -> dict[str, Any]:
    """How the figures grow: a big backlog, big jobs, several masters on one Redis."""
    big = 1_000_000
    return {
        "jobs": jobs,
        "redis_bytes_per_queued_job": bench.memory_per_job(big),
        "backlog_1m_jobs_per_s": {
            kind: bench.throughput(kind, 4, big)["jobs_per_s"] for kind in ("plain", "qwsup")
        },
        "payload_10kb_jobs_per_s": {
            kind: bench.throughput(kind, 2, jobs, payload=10_240)["jobs_per_s"]
            for kind in ("plain", "qwsup")
        },
        "four_masters_jobs_per_s": {
            "plain": bench.throughput("plain", 4, jobs)["jobs_per_s"],
            "qwsup": bench.throughput("qwsup", 4, jobs, masters=4)["jobs_per_s"],
        },
        "three_namespaces_jobs_per_s": spread(bench, jobs),
    }


def spread(bench: Bench, jobs: int) -> dict[str, float] | None:
    """Three namespaces (queues of three services), each with one master of two workers:
    on the benchmark's one Redis, and on a local cluster of three primaries that has
    each namespace's slot on a primary of its own."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        return None
    thirds = [(0, 5460), (5461, 10922), (10923, 16383)]  # redis-cli's split of the slots
    tags = []
    for low, high in thirds:
        n = next(n for n in range(1000) if low <= key_slot(f"q{n}".encode()) <= high)
        tags.append(f"{{q{n}}}")
    figures = {"one_node": bench.namespaces(bench.url, False, tags, jobs)}
    cluster = Cluster(binary, nodes=3, replicas=0)
    try:
        cluster.start()
        figures["cluster"] = bench.namespaces(cluster.url, True, tags, jobs)
    finally:
        cluster.cleanup()
    return figures


def bare_python_rss_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)  # let it start
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        proc.kill()
        proc.wait()


def median_runs(bench: Bench, kind: str, workers: int, jobs: int, runs: int) -> dict[str, float]:
    """The median of `runs` throughput runs, each figure on its own."""
    done = [bench.throughput(kind, workers, jobs) for _ in range(runs)]
    return {k: statistics.median(r[k] for r in done) for k in done[0]}


def trivial(bench: Bench, counts: list[int], jobs: int, runs: int) -> dict[str, Any]:
    """The trivial jobs' table: plain loop and qwsup at each worker count."""
    throughput: dict[str, dict[str, dict[str, float]]] = {"plain": {}, "qwsup": {}}
    for n in counts:
        for kind in ("plain", "qwsup"):
            throughput[kind][str(n)] = median_runs(bench, kind, n, jobs, runs)
    return {"jobs": jobs, "runs": runs, "throughput": throughput}


def latency_and_enqueue(bench: Bench, jobs: int) -> dict[str, Any]:
    """Enqueue-to-start latency at low load (2 workers, paced jobs) for both, and a
    producer's enqueue rates, one at a time and in bulk."""
    return {
        "latency": {kind: bench.latency(kind, 2, jobs) for kind in ("plain", "qwsup")},
        "enqueue": bench.enqueue_rates(10_000),
    }


def lines(res: dict[str, Any], handler: str) -> list[str]:
    """What the trivial measures print, those of them `res` has."""
    out: list[str] = []
    if "trivial" in res:
        t = res["trivial"]
        plain, qw = t["throughput"]["plain"], t["throughput"]["qwsup"]
        out += [
            f"{t['jobs']} trivial jobs ({HANDLER_WORDS[handler]}), median of {t['runs']} runs:",
            "",
            f"{'workers':>7}  {'plain loop jobs/s':>17}  {'qwsup jobs/s':>12}  {'ratio':>5}  "
            f"{'master CPU busy/idle':>20}  {'worker RSS':>10}",
        ]
        for n in plain:
            q = qw[n]
            out.append(
                f"{n:>7}  {plain[n]['jobs_per_s']:>17,.0f}  {q['jobs_per_s']:>12,.0f}  "
                f"{q['jobs_per_s'] / plain[n]['jobs_per_s']:>4.2f}x  "
                f"{q['master_cpu_busy_pct']:>8.1f}% / {q['master_cpu_idle_pct']:>4.1f}%   "
                f"{q['worker_rss_mb']:>7.1f} MB"
            )
        out.append("")
    if "latency" in res:
        lat, enq = res["latency"], res["enqueue"]
        out += [
            f"enqueue-to-start latency, low load, 2 workers: plain loop median "
            f"{lat['plain']['median_ms']:.2f} ms, p99 {lat['plain']['p99_ms']:.2f} ms; "
            f"qwsup median {lat['qwsup']['median_ms']:.2f} ms, p99 {lat['qwsup']['p99_ms']:.2f} ms",
            f"enqueue: one at a time {enq['one_at_a_time_per_s']:,.0f} jobs/s, "
            f"bulk {enq['bulk_per_s']:,.0f} jobs/s "
            f"({enq['bulk_per_s'] / enq['one_at_a_time_per_s']:.1f}x)",
        ]
    if "bare_python_rss_mb" in res:
        out.append(f"a bare Python process: {res['bare_python_rss_mb']:.1f} MB RSS")
    if "costs" in res:
        c = res["costs"]
        out += [
            "",
            f"how the cost grows ({HANDLER_WORDS[handler]}):",
            f"Redis memory per queued job: {c['redis_bytes_per_queued_job']:.0f} bytes",
            *(
                f"{label}: plain loop {c[key]['plain']:,.0f} jobs/s, qwsup {c[key]['qwsup']:,.0f}"
                for key, label in (
                    ("backlog_1m_jobs_per_s", "1,000,000 jobs queued, 4 workers"),
                    ("payload_10kb_jobs_per_s", f"{c['jobs']} jobs of 10 KB, 2 workers"),
                    ("four_masters_jobs_per_s", "4 masters of 1 worker (qwsup) / 4 loops"),
                )
            ),
        ]
        if c.get("three_namespaces_jobs_per_s"):
            ns = c["three_namespaces_jobs_per_s"]
            out.append(
                f"3 namespaces, a master of 2 workers each: one Redis {ns['one_node']:,.0f} "
                f"jobs/s, a cluster of 3 primaries {ns['cluster']:,.0f}"
            )
    return out
