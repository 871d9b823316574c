"""The operator's bulk commands at scale, on a private redis-server: `failed retry --all`
and `failed purge` of 1,000,000 failed jobs, and the promotion of 1,000,000 due jobs.

    python -m bench.bulk                   # 1,000,000 jobs of each kind
    python -m bench.bulk --jobs 100000     # a quicker look

Each command runs as the real `qwsup` command (promotion: Queue.promote, as a master
runs it, in turns of at most 0.25 s) while Redis counts its scripts (INFO
commandstats) and its slow log records every one over 1 ms, so the slowest script is
the longest a user would have seen Redis blocked. Prints a table and writes
bench-results/bulk.json. Every run checks the result: each job moved exactly once,
oldest first, or deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from bench.trivial import Bench
from qwsup.store.keys import ATTEMPTS, FAILED_AT, LAST_ERROR, QUEUE, Keys
from qwsup.store.queue import Queue
from testkit import ROOT, write_config

CHUNK = 10_000  # commands per pipeline while filling Redis
NAMED = "builds"  # every tenth job came from this queue; the others from all:jobs


class Bulk:
    def __init__(self, bench: Bench, jobs: int) -> None:
        self.bench = bench
        self.r: redis.Redis = bench.r
        self.jobs = jobs
        self.config = write_config(
            bench.workdir / "ops.toml", bench.url, supervisor={"name": "bench-ops"}
        )
        self.r.config_set("slowlog-max-len", 100_000)

    def ids(self) -> list[str]:
        return [uuid.uuid4().hex for _ in range(self.jobs)]

    def fill_failed(self, ids: list[str]) -> None:
        """`ids` failed for good, the first the oldest, each with its hash."""
        self.r.flushall()
        pipe = self.r.pipeline(transaction=False)
        for i, job_id in enumerate(ids):
            fields = {"n": str(i), ATTEMPTS: "3", LAST_ERROR: "RuntimeError: boom"}
            fields[FAILED_AT] = f"{time.time():.3f}"
            if i % 10 == 0:
                fields[QUEUE] = NAMED
            pipe.hset(f"job:{job_id}", mapping=fields)
            if len(pipe) >= CHUNK:
                pipe.execute()
        for i in range(0, len(ids), CHUNK):
            pipe.lpush("failed:jobs", *ids[i : i + CHUNK])
        pipe.execute()

    def fill_due(self, ids: list[str]) -> None:
        """`ids` in delayed:jobs, all long due, the first due first."""
        self.r.flushall()
        pipe = self.r.pipeline(transaction=False)
        for i, job_id in enumerate(ids):
            fields = {"n": str(i), QUEUE: NAMED} if i % 10 == 0 else {"n": str(i)}
            pipe.hset(f"job:{job_id}", mapping=fields)
            if len(pipe) >= CHUNK:
                pipe.execute()
        for i in range(0, len(ids), CHUNK):
            pipe.zadd(
                "delayed:jobs", {job_id: 1 + i + k for k, job_id in enumerate(ids[i : i + CHUNK])}
            )
        pipe.execute()

    def command(self, *args: str) -> tuple[float, str]:
        """Seconds a qwsup command took (Python's start included), and its output."""
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "qwsup", "-c", str(self.config), *args],
            env=self.bench.env, capture_output=True, text=True, timeout=3600, check=True,
        )  # fmt: skip
        return time.perf_counter() - t0, done.stdout.strip()

    def watch(self) -> None:
        """From now on count the scripts and log every command over 1 ms (Redis 7 logs
        the commands a script calls too; they take microseconds)."""
        self.r.config_resetstat()
        self.r.slowlog_reset()
        self.r.config_set("slowlog-log-slower-than", 1000)

    def unwatch(self) -> dict[str, Any]:
        """The scripts run since watch(): how many, their mean and the slowest, and how
        many took over 10 ms."""
        self.r.config_set("slowlog-log-slower-than", 10_000)
        stats = self.r.info("commandstats").get("cmdstat_evalsha", {})
        entries = self.r.slowlog_get(1_000_000)
        slow = [int(e["duration"]) for e in entries if e["command"].startswith(b"EVALSHA ")]
        return {
            "scripts": int(stats.get("calls", 0)),
            "mean_ms": float(stats.get("usec_per_call", 0.0)) / 1000,
            "slowest_ms": max(slow, default=0) / 1000,  # 0: none over 1 ms
            "over_10ms": sum(1 for d in slow if d > 10_000),
        }

    # -- the runs -------------------------------------------------------------------

    def retry_all(self) -> dict[str, Any]:
        ids = self.ids()
        self.fill_failed(ids)
        self.watch()
        seconds, out = self.command("failed", "retry", "--all")
        figures = self.unwatch()
        if out != f"{self.jobs} failed jobs put back in their queues":
            raise RuntimeError(f"failed retry --all: {out!r}")
        named = [j for i, j in enumerate(ids) if i % 10 == 0]
        others = [j for i, j in enumerate(ids) if i % 10]
        for key, expected in (("all:jobs", others), (f"{NAMED}:jobs", named)):
            got = [x.decode() for x in self.r.lrange(key, 0, -1)]
            if got != expected[::-1]:  # the oldest at the right: taken first
                raise RuntimeError(f"failed retry --all: {key} is not the failed jobs in order")
        if self.r.llen("failed:jobs") or self.r.hget(f"job:{ids[-1]}", ATTEMPTS):
            raise RuntimeError("failed retry --all: jobs left failed, or attempts not reset")
        return {"seconds": seconds, "jobs_per_s": self.jobs / seconds, **figures}

    def retry_one(self) -> dict[str, Any]:
        """One id named, the oldest of the failed jobs: the longest scan of failed:jobs."""
        ids = self.ids()
        self.fill_failed(ids)
        self.watch()
        seconds, out = self.command("failed", "retry", ids[0])
        figures = self.unwatch()
        if out != "1 failed job put back in its queue":
            raise RuntimeError(f"failed retry ID: {out!r}")
        return {"seconds": seconds, **figures}

    def purge(self) -> dict[str, Any]:
        ids = self.ids()
        self.fill_failed(ids)
        self.watch()
        seconds, out = self.command("failed", "purge")
        figures = self.unwatch()
        if out != f"{self.jobs} failed jobs deleted" or self.r.dbsize() != 0:
            raise RuntimeError(f"failed purge: {out!r}, {self.r.dbsize()} keys left")
        return {"seconds": seconds, "jobs_per_s": self.jobs / seconds, **figures}

    def promote(self) -> dict[str, Any]:
        """As a master promotes: turns of at most 0.25 s, until none is due."""
        ids = self.ids()
        self.fill_due(ids)
        queue = Queue(redis.Redis.from_url(self.bench.url), Keys())
        self.watch()
        turns, per_turn = 0, []
        t0 = time.perf_counter()
        while self.r.zcard("delayed:jobs"):
            per_turn.append(queue.promote(budget_s=0.25))
            turns += 1
        seconds = time.perf_counter() - t0
        figures = self.unwatch()
        named = [j for i, j in enumerate(ids) if i % 10 == 0]
        others = [j for i, j in enumerate(ids) if i % 10]
        for key, expected in (("all:jobs", others), (f"{NAMED}:jobs", named)):
            if [x.decode() for x in self.r.lrange(key, 0, -1)] != expected[::-1]:
                raise RuntimeError(f"promotion: {key} is not the due jobs in order")
        return {
            "seconds": seconds, "jobs_per_s": self.jobs / seconds, "turns": turns,
            "jobs_per_turn": max(per_turn), **figures,
        }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qwbulk"))
    bench = Bench(workdir)
    results: dict[str, Any] = {
        "jobs": args.jobs, "cpus": os.cpu_count(), "redis": bench.redis_version,
    }  # fmt: skip
    try:
        bulk = Bulk(bench, args.jobs)
        results["retry_all"] = bulk.retry_all()
        results["retry_oldest_id"] = bulk.retry_one()
        results["purge"] = bulk.purge()
        results["promote"] = bulk.promote()
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    args.out.mkdir(exist_ok=True)
    (args.out / "bulk.json").write_text(json.dumps(results, indent=2))
    return 0


def table(res: dict[str, Any]) -> str:
    lines = [
        f"{res['jobs']:,} jobs; {res['cpus']} CPUs, Redis {res['redis']} on TCP loopback",
        "",
        f"{'step':<34}  {'seconds':>7}  {'jobs/s':>9}  {'scripts':>7}  {'mean':>7}  "
        f"{'slowest':>8}  {'>10 ms':>6}",
    ]
    for key, label in (
        ("retry_all", "failed retry --all"),
        ("retry_oldest_id", "failed retry ID (the oldest)"),
        ("purge", "failed purge"),
        ("promote", "promotion of due jobs (master)"),
    ):
        f = res[key]
        rate = f"{f['jobs_per_s']:>9,.0f}" if "jobs_per_s" in f else f"{'':>9}"
        lines.append(
            f"{label:<34}  {f['seconds']:>7.2f}  {rate}  {f['scripts']:>7}  "
            f"{f['mean_ms']:>4.2f} ms  {f['slowest_ms']:>5.2f} ms  {f['over_10ms']:>6}"
        )
    p = res["promote"]
    lines.append(
        f"promotion: {p['turns']} master turns of at most 0.25 s, up to "
        f"{p['jobs_per_turn']:,} jobs a turn"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
