"""qwsup against the article's plain loop, on a private redis-server, side by side.

    python -m bench                       # 20,000 jobs; 1, 2, 4, 8 workers; 3 runs each
    python -m bench --jobs 500 --workers 1,2 --runs 1     # a quick look
    python -m bench --fsync               # appendfsync always against everysec (bench/fsync.py)

Prints a table and writes bench-results/latest.json (and latest.png when matplotlib
is installed). Every run checks that each job ran exactly once; a run that loses or
repeats a job fails the benchmark.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.crc import key_slot

from bench.jobs import HANDLED
from qwsup.producer import Producer
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
        command = [sys.executable, "-m", "qwsup", "-c", str(config)]
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
        """No job left: the queue is empty and every job hash is gone."""
        return self.r.llen("all:jobs") == 0 and self.r.dbsize() <= self.baseline

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", help="worker counts (default 1,2,4,8; --fsync: 1,4)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument(
        "--handler",
        choices=sorted(HANDLERS),
        default="noop",
        help="noop: notes the id in a local file, no Redis call (default); roundtrip: "
        "also one INCR on the benchmark's Redis, as a handler that records a result",
    )
    parser.add_argument(
        "--costs", action="store_true",
        help="also how cost grows: 1,000,000 jobs queued, 10 KB payloads, 4 masters",
    )  # fmt: skip
    parser.add_argument(
        "--fsync", action="store_true",
        help="instead: the embedded server with appendfsync always against everysec",
    )  # fmt: skip
    args = parser.parse_args()
    default = "1,4" if args.fsync else "1,2,4,8"
    counts = [int(n) for n in (args.workers or default).split(",")]
    if args.fsync:
        from bench.fsync import run

        return run(args.jobs, counts, args.runs, args.out)
    workdir = Path(tempfile.mkdtemp(prefix="qwbench"))
    bench = Bench(workdir, handler=HANDLERS[args.handler])
    results: dict[str, Any] = {
        "handler": args.handler,
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "redis": bench.redis_version, "platform": platform.platform(),
        },
        "jobs": args.jobs, "runs": args.runs, "throughput": {}, "latency": {},
    }  # fmt: skip
    try:
        for n in counts:
            for kind in ("plain", "qwsup"):
                runs = [bench.throughput(kind, n, args.jobs) for _ in range(args.runs)]
                median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                results["throughput"].setdefault(kind, {})[str(n)] = median
        for kind in ("plain", "qwsup"):
            results["latency"][kind] = bench.latency(kind, 2, 300 if args.jobs >= 5000 else 50)
        results["enqueue"] = bench.enqueue_rates(min(args.jobs, 10_000))
        if args.costs:
            results["costs"] = costs(bench, args.jobs)
        results["bare_python_rss_mb"] = bare_python_rss_mb()
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    args.out.mkdir(exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    chart(results, args.out / "latest.png")
    return 0


def table(res: dict[str, Any]) -> str:
    plain, qw = res["throughput"]["plain"], res["throughput"]["qwsup"]
    m = res["machine"]
    lines = [
        f"{res['jobs']} trivial jobs ({HANDLER_WORDS[res.get('handler', 'noop')]}), "
        f"median of {res['runs']} runs; {m['cpus']} CPUs, "
        f"Python {m['python']}, Redis {m['redis']} on TCP loopback",
        "",
        f"{'workers':>7}  {'plain loop jobs/s':>17}  {'qwsup jobs/s':>12}  {'ratio':>5}  "
        f"{'master CPU busy/idle':>20}  {'worker RSS':>10}",
    ]
    for n in plain:
        q = qw[n]
        lines.append(
            f"{n:>7}  {plain[n]['jobs_per_s']:>17,.0f}  {q['jobs_per_s']:>12,.0f}  "
            f"{q['jobs_per_s'] / plain[n]['jobs_per_s']:>4.2f}x  "
            f"{q['master_cpu_busy_pct']:>8.1f}% / {q['master_cpu_idle_pct']:>4.1f}%   "
            f"{q['worker_rss_mb']:>7.1f} MB"
        )
    lat = res["latency"]
    lines += [
        "",
        f"enqueue-to-start latency, low load, 2 workers: plain loop median "
        f"{lat['plain']['median_ms']:.2f} ms, p99 {lat['plain']['p99_ms']:.2f} ms; "
        f"qwsup median {lat['qwsup']['median_ms']:.2f} ms, p99 {lat['qwsup']['p99_ms']:.2f} ms",
        f"a bare Python process: {res['bare_python_rss_mb']:.1f} MB RSS",
        f"enqueue: one at a time {res['enqueue']['one_at_a_time_per_s']:,.0f} jobs/s, "
        f"bulk {res['enqueue']['bulk_per_s']:,.0f} jobs/s "
        f"({res['enqueue']['bulk_per_s'] / res['enqueue']['one_at_a_time_per_s']:.1f}x)",
    ]
    if "costs" in res:
        c = res["costs"]
        lines += [
            "",
            f"Redis memory per queued job: {c['redis_bytes_per_queued_job']:.0f} bytes",
            *(
                f"{label}: plain loop {c[key]['plain']:,.0f} jobs/s, qwsup {c[key]['qwsup']:,.0f}"
                for key, label in (
                    ("backlog_1m_jobs_per_s", "1,000,000 jobs queued, 4 workers"),
                    ("payload_10kb_jobs_per_s", f"{res['jobs']} jobs of 10 KB, 2 workers"),
                    ("four_masters_jobs_per_s", "4 masters of 1 worker (qwsup) / 4 loops"),
                )
            ),
        ]
        if c.get("three_namespaces_jobs_per_s"):
            s = c["three_namespaces_jobs_per_s"]
            lines.append(
                f"3 namespaces, a master of 2 workers each: one Redis {s['one_node']:,.0f} "
                f"jobs/s, a cluster of 3 primaries {s['cluster']:,.0f}"
            )
    return "\n".join(lines)


def chart(res: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no chart)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, label in (("plain", "the article's plain loop"), ("qwsup", "qwsup")):
        series = res["throughput"][kind]
        ax.plot([int(n) for n in series], [v["jobs_per_s"] for v in series.values()],
                marker="o", label=label)  # fmt: skip
    ax.set_xlabel("worker processes")
    ax.set_ylabel("jobs/s")
    ax.set_title(f"{res['jobs']} trivial jobs, {res['machine']['cpus']} CPUs")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"chart: {path}")


if __name__ == "__main__":
    raise SystemExit(main())
