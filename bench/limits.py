"""Limits that hold across hosts, measured: two masters on one Redis take from one queue
with `rate_limit = "50/1s"` for 30 s, then from one with `concurrency_limit = 3` (four
workers each, jobs of 0.2 s). The handler (bench.jobs:sleepy) makes one Redis round
trip.

    python -m bench.limits [--seconds 30] [--rate 50] [--cap 3] [--job-s 0.2]

Rate: from the jobs' qwsup:started_at (Redis clock), the most started in any window of
one second, and the average per second over the run. Concurrency: the most running at
once, from the jobs' started_at and finished_at and from <queue>:running sampled every
10 ms, and the throughput against cap / job duration.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.trivial import Bench
from qwsup.produce.producer import Producer
from testkit.config import write_config
from testkit.wait import wait_until


def masters(bench: Bench, queue: dict[str, Any], workers: int) -> list[Any]:
    procs = []
    for name in ("limits-a", "limits-b"):
        config = write_config(
            bench.workdir / f"{name}.toml", bench.url, supervisor={"name": name},
            workers={"count": workers, "handler": "bench.jobs:sleepy", "queues": ["mail"]},
            log={"level": "warning"}, **{"queues.mail": queue},
        )  # fmt: skip
        procs.append(bench.masters_of(config))
    return procs


def times(bench: Bench, ids: list[str], field: str) -> list[int]:
    with bench.r.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(f"job:{job_id}", field)
        return [int(v) for v in pipe.execute() if v is not None]


def rate(bench: Bench, per_s: int, seconds: float) -> dict[str, Any]:
    bench.r.flushall()
    ids = Producer(bench.r).enqueue_many(
        ({"n": str(i)} for i in range(int(per_s * seconds * 1.5))), queue="mail"
    )
    procs = masters(bench, {"rate_limit": f"{per_s}/1s"}, 4)
    try:
        wait_until(lambda: bench.r.llen("mail:jobs") < len(ids), 30, "the first take")
        time.sleep(seconds + 2)  # the measured window itself
    finally:
        bench.stop(procs)
    started = sorted(times(bench, ids, "qwsup:started_at"))
    t0 = started[0]
    window = [t for t in started if t < t0 + seconds * 1000]
    densest = max(sum(1 for t in window if s <= t < s + 1000) for s in window)
    return {"limit": per_s, "seconds": seconds, "started": len(window),
            "average_per_s": len(window) / seconds, "densest_1s": densest}  # fmt: skip


def cap(bench: Bench, limit: int, job_s: float, jobs: int) -> dict[str, Any]:
    bench.r.flushall()
    ids = Producer(bench.r).enqueue_many(({"sleep": str(job_s)} for _ in range(jobs)), queue="mail")
    sampled: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            sampled.append(int(bench.r.scard("mail:running")))

    procs = masters(bench, {"concurrency_limit": limit}, 4)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        wait_until(
            lambda: len(times(bench, ids, "qwsup:finished_at")) == jobs, 120, "the capped jobs"
        )
    finally:
        stop.set()
        sampler.join()
        bench.stop(procs)
    starts, ends = times(bench, ids, "qwsup:started_at"), times(bench, ids, "qwsup:finished_at")
    spans = list(zip(starts, ends, strict=True))
    most = max(sum(1 for s, f in spans if s <= t < f) for t, _ in spans)
    took_s = (max(ends) - min(starts)) / 1000
    return {"limit": limit, "job_s": job_s, "jobs": jobs, "most_at_once": most,
            "most_sampled": max(sampled), "jobs_per_s": jobs / took_s,
            "ideal_per_s": limit / job_s}  # fmt: skip


def report(r: dict[str, Any], c: dict[str, Any]) -> str:
    return "\n".join([
        f"rate_limit = \"{r['limit']}/1s\", two masters of four workers, {r['seconds']:g} s: "
        f"{r['started']} started, {r['average_per_s']:.1f}/s on average, at most "
        f"{r['densest_1s']} in any window of one second",
        f"concurrency_limit = {c['limit']}, two masters of four workers, {c['jobs']} jobs of "
        f"{c['job_s']:g} s: at most {c['most_at_once']} running at once (started/finished "
        f"times), {c['most_sampled']} in <queue>:running sampled every 10 ms; "
        f"{c['jobs_per_s']:.2f} jobs/s, {c['jobs_per_s'] / c['ideal_per_s']:.0%} of "
        f"{c['ideal_per_s']:g} (limit / job duration)",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--cap", type=int, default=3)
    parser.add_argument("--job-s", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qwlimits") as tmp:
        bench = Bench(Path(tmp), handler="bench.jobs:sleepy")
        try:
            r = rate(bench, args.rate, args.seconds)
            c = cap(bench, args.cap, args.job_s, int(args.cap / args.job_s * 10))
        finally:
            bench.close()
    print(report(r, c))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
