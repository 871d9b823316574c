"""The dashboard under a big Redis, measured: a million jobs queued and ten thousand
failed (with tracebacks), a master of four workers registered (its queues paused, so
that nothing is taken), 10,000 events in the stream (all it keeps), and `qwsup web`
serving it. Each page is fetched `--runs` times (the whole page, as a browser's first
load; then its live fragment, as the page's updates fetch it), and the table gives the
median and the slowest, in ms.

    python -m bench.web [--queued 1000000] [--failed 10000] [--runs 5]

The jobs are written straight into Redis (HSET and LPUSH in pipelines, with the
fields enqueue.lua would write), which is quicker than a million enqueues.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.trivial import Bench
from qwsup.store.keys import Keys
from testkit.config import write_config
from testkit.ports import free_port
from testkit.wait import wait_until

BATCH = 10_000
TRACEBACK = "Traceback (most recent call last):\n" + '  File "app/jobs.py", line 42, in run\n' * 12


def fill(bench: Bench, queued: int, failed: int) -> tuple[str, str]:
    """The queued and failed jobs; returns one id of each (for their pages)."""
    r, now = bench.r, int(time.time() * 1000)
    ids: list[str] = []
    for start in range(0, queued, BATCH):
        ids = [uuid.uuid4().hex for _ in range(min(BATCH, queued - start))]
        with r.pipeline(transaction=False) as pipe:
            for job in ids:
                pipe.hset(f"job:{job}", mapping={"n": job, "qwsup:state": "queued",
                                                 "qwsup:enqueued_at": now})  # fmt: skip
            pipe.lpush("all:jobs", *ids)
            pipe.execute()
    queued_id = ids[0]
    bad: list[str] = []
    for start in range(0, failed, BATCH):
        bad = [uuid.uuid4().hex for _ in range(min(BATCH, failed - start))]
        with r.pipeline(transaction=False) as pipe:
            for i, job in enumerate(bad):
                pipe.hset(f"job:{job}", mapping={
                    "n": job, "qwsup:state": "failed", "qwsup:attempts": 3,
                    "qwsup:last_error": f"ValueError: bad input {i % 97}",
                    "qwsup:traceback": TRACEBACK + f"ValueError: bad input {i % 97}\n",
                    "qwsup:failed_at": now / 1000,
                })  # fmt: skip
            pipe.lpush("failed:jobs", *bad)
            pipe.execute()
    with r.pipeline(transaction=False) as pipe:
        for i in range(10_000):  # [events] max_len: what the stream keeps
            pipe.xadd("all:events", {"event": "done", "id": str(i), "queue": "all", "worker": ""})
        pipe.execute()
    return queued_id, bad[-1] if bad else queued_id


def fetch_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as reply:
        reply.read()
        assert reply.status == 200, url
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--failed", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qwbenchweb") as workdir:
        bench = Bench(Path(workdir))
        procs = []
        try:
            started = time.monotonic()
            queued_id, failed_id = fill(bench, args.queued, args.failed)
            filled_s = time.monotonic() - started
            bench.r.sadd("all:paused", "all")  # the master's workers take nothing
            port = free_port()
            config = write_config(
                bench.workdir / "web.toml", bench.url, supervisor={"name": "bench-web"},
                workers={"count": 4, "handler": "bench.jobs:noop"}, log={"level": "warning"},
                web={"listen": f"127.0.0.1:{port}"},
            )  # fmt: skip
            procs.append(bench.masters_of(config))
            web = bench.masters_of(config, "web")
            procs.append(web)
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: _up(base), 30, "the dashboard")
            wait_until(lambda: bench.r.scard(Keys().supervisors) == 1, 30, "the master")
            last_queue_page = -(-args.queued // 50)
            pages = {
                "overview": "/",
                "failed, first page": "/failed",
                "failed, last page": f"/failed?page={-(-args.failed // 50)}",
                "failed, search (all 10,000 read)": "/failed?q=input+42",
                "scheduled": "/scheduled",
                "queue all, first page": "/queues/all",
                "queue all, middle page": f"/queues/all?page={last_queue_page // 2}",
                "queue all, last page": f"/queues/all?page={last_queue_page}",
                "a queued job": f"/jobs/{queued_id}",
                "a failed job": f"/jobs/{failed_id}",
                "cron": "/cron",
            }
            print(
                f"{bench.r.dbsize():,} keys: {bench.r.llen('all:jobs'):,} jobs queued, "
                f"{bench.r.llen('failed:jobs'):,} failed, {bench.r.xlen('all:events'):,} events "
                f"(written in {filled_s:.0f} s); Redis {bench.redis_version}; {args.runs} runs"
            )
            print(f"{'page':<34} {'page ms':>14} {'fragment ms':>14}")
            print(f"{'':<34} {'median   max':>14} {'median   max':>14}")
            slowest = ("", 0.0)
            for name, path in pages.items():
                cells = []
                for suffix in ("", "&fragment=1" if "?" in path else "?fragment=1"):
                    times = [fetch_ms(base + path + suffix) for _ in range(args.runs)]
                    cells.append(f"{statistics.median(times):7.1f} {max(times):6.1f}")
                    if max(times) > slowest[1]:
                        slowest = (name, max(times))
                print(f"{name:<34} {cells[0]:>14} {cells[1]:>14}")
            print(f"slowest: {slowest[0]}, {slowest[1]:.0f} ms")
        finally:
            bench.stop(procs)
            bench.close()
    return 0


def _up(base: str) -> bool:
    try:
        return fetch_ms(base + "/static/app.css") >= 0
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
