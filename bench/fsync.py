"""What `appendfsync always` costs the embedded server against `everysec`, in one run:

    python -m bench --fsync                               # 20,000 jobs; 1 and 4 workers; 3 runs
    python -m bench --fsync --jobs 5000 --workers 4 --runs 1      # a quick look

Two embedded redis-servers, started by qwsup's own embedded.py (the command line a
master uses: AOF on, unix socket, no RDB), one with `appendfsync always` and one with
`everysec`, each in a state directory next to the one qwsup would use, so on the disk
qwsup's would be on. On each: qwsup's throughput with the handler bench.jobs:roundtrip
(one INCR per job, so that a job costs Redis writes for its take, the handler and its
acknowledgement), and a producer's enqueue rate, one job per call and pipelined
(enqueue_many, 1,000 jobs per MULTI/EXEC). The two servers take turns, run after run.
Every run checks that each job ran exactly once. Prints a table and writes
bench-results/fsync.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.jobs import HANDLED
from bench.trivial import POLL_S, Bench
from qwsup.config import APPENDFSYNC, parse
from qwsup.store.embedded import EmbeddedRedis
from testkit import wait_until


def state_base() -> Path:
    """The directory qwsup's default state directories are made in (`/var/lib/qwsup`
    for root, `~/.local/state/qwsup` for others)."""
    return parse("bench.toml", "").state_dir().parent


def filesystem(path: Path) -> str:
    """The file system `path` is on, as "ext4 /dev/vda"."""
    where = str(path.resolve())
    best = max(
        (p for p in psutil.disk_partitions(all=True) if where.startswith(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
    )
    return f"{best.fstype} {best.device}"


def fdatasync_ms(directory: Path, n: int = 300) -> float:
    """The median time of a 100-byte append and fdatasync, what Redis's `always` does
    after each batch of writes."""
    path = directory / "probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 100)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def compact(bench: Bench) -> None:
    """Empty the server and rewrite its AOF, so that every run starts from a small file
    (no automatic rewrite in the middle of a run)."""
    bench.r.flushall()
    bench.r.bgrewriteaof()

    def done() -> bool:
        info = bench.r.info("persistence")
        return not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"])

    wait_until(done, 60, "the AOF rewrite", interval=POLL_S)


def measure(bench: Bench, workers: list[int], jobs: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for n in workers:
        compact(bench)
        figures[f"jobs_per_s_{n}"] = bench.throughput("qwsup", n, jobs)["jobs_per_s"]
        handled = int(bench.r.get(HANDLED) or 0)
        if handled != jobs:
            raise RuntimeError(f"{handled} handler round trips for {jobs} jobs")
    compact(bench)
    figures.update(bench.enqueue_rates(min(jobs, 10_000)))
    return figures


def run(jobs: int, workers: list[int], runs: int, out: Path) -> int:
    base = state_base()
    made = not base.exists()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix="fsync-", dir=base))  # short: sockets live here
    servers = {p: EmbeddedRedis(top / p, appendfsync=p) for p in APPENDFSYNC}
    benches: dict[str, Bench] = {}
    rounds: dict[str, list[dict[str, float]]] = {p: [] for p in APPENDFSYNC}
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "directory": str(base), "filesystem": filesystem(base),
        "fdatasync_ms": fdatasync_ms(top), "jobs": jobs, "runs": runs, "workers": workers,
    }  # fmt: skip
    try:
        for policy, server in servers.items():
            server.start()
            workdir = top / f"{policy}-bench"
            workdir.mkdir()
            url = f"unix://{server.socket}"
            benches[policy] = Bench(workdir, url=url, handler="bench.jobs:roundtrip")
            running = benches[policy].r.config_get("appendfsync")["appendfsync"]
            if running != policy:
                raise RuntimeError(f"the {policy} server runs appendfsync {running}")
        results["machine"]["redis"] = benches["always"].redis_version
        for r in range(runs):  # take turns, the first one changing each round
            for policy in APPENDFSYNC if r % 2 == 0 else APPENDFSYNC[::-1]:
                rounds[policy].append(measure(benches[policy], workers, jobs))
    finally:
        for bench in benches.values():
            bench.close()
        for server in servers.values():
            server.stop()
        shutil.rmtree(top, ignore_errors=True)
        if made:
            base.rmdir()
    results["median"] = {
        p: {k: statistics.median(f[k] for f in rounds[p]) for k in rounds[p][0]}
        for p in APPENDFSYNC
    }
    results["rounds"] = rounds
    print(table(results))
    out.mkdir(exist_ok=True)
    (out / "fsync.json").write_text(json.dumps(results, indent=2))
    return 0


def table(res: dict[str, Any]) -> str:
    m, every, always = res["machine"], res["median"]["everysec"], res["median"]["always"]
    lines = [
        f"the embedded redis-server (AOF, unix socket) in {res['directory']}, on "
        f"{res['filesystem']}: fdatasync of 100 bytes {res['fdatasync_ms']:.2f} ms",
        f"{res['jobs']} jobs, each one INCR in the handler; median of {res['runs']} runs; "
        f"{m['cpus']} CPUs, Python {m['python']}, Redis {m['redis']}",
        "",
        f"{'':<36}{'everysec':>10}{'always':>10}{'always/everysec':>17}",
    ]
    rows = [
        (f"jobs_per_s_{n}", f"qwsup, {n} worker{'s' * (n > 1)}, jobs/s") for n in res["workers"]
    ]
    rows += [
        ("one_at_a_time_per_s", "enqueue one at a time, jobs/s"),
        ("bulk_per_s", "enqueue_many (pipelined), jobs/s"),
    ]
    for key, label in rows:
        lines.append(
            f"{label:<36}{every[key]:>10,.0f}{always[key]:>10,.0f}"
            f"{always[key] / every[key]:>16.2f}x"
        )
    return "\n".join(lines)
