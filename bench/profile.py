"""Where a worker's time goes per job: one Worker run in this process (no master, no
fork) under cProfile, on a private redis-server, with a handler that makes one Redis
round trip (an INCR, as a handler that records a result does).

    python -m bench.profile [--jobs 20000] [--concurrency 1] [--top 25]

Prints the worker's CPU time per job, the profile's top functions by their own time,
and writes the whole profile to bench-results/worker.prof (snakeviz, or pstats).
The figures are a profile's: cProfile slows every Python call, so they show the
shares, not the speed (python -m bench measures that).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import time
from pathlib import Path

import redis

import qwsup
from qwsup.config import parse
from qwsup.contract import blocks_on
from qwsup.produce.producer import Producer
from qwsup.scoreboard import MasterBoard, Scoreboard, boottime
from qwsup.store.connection import make_client
from qwsup.store.feed import Feed
from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from qwsup.worker import current
from qwsup.worker.loop import Stop, Worker
from testkit import ROOT, RedisServer, default_binary

RESULTS = ROOT / "bench-results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--writes", action="store_true",
        help="the handler sends its INCR with the job's acknowledgement (qwsup.pipeline())",
    )  # fmt: skip
    args = parser.parse_args()
    server = RedisServer(default_binary())
    server.start()
    try:
        return profile(server.url, args.jobs, args.concurrency, args.top, args.writes)
    finally:
        server.stop()
        server.cleanup()


def profile(url: str, jobs: int, concurrency: int, top: int, writes: bool = False) -> int:
    config = parse(
        "profile.toml",
        f'[redis]\nurl = "{url}"\n[supervisor]\nname = "prof"\n'
        f"[workers]\nconcurrency = {concurrency}\nprefetch = 10\n",
    )
    client, keys = make_client(config), Keys()
    Producer(client).enqueue_many([{"n": str(i)} for i in range(jobs)])
    counter = redis.Redis.from_url(url)
    done = 0
    worker: Worker | None = None

    def handler(job_id: str, data: dict[str, str]) -> None:
        nonlocal done
        if writes:
            qwsup.pipeline().incr("profile:handled")  # sent with the acknowledgement
        else:
            counter.incr("profile:handled")  # the handler's one round trip
        done += 1
        if done == jobs and worker is not None:
            worker.path.stop = Stop.AFTER_JOB

    current.install(lambda: make_client(config), cluster=False)
    w = config.workers
    wid = f"prof.{os.getpid()}"
    feed = Feed(client, keys, wid, "prof", w.queues, 0, blocks_on(w.queues, 0))
    board, master_board = Scoreboard(), MasterBoard()
    master_board.renewed(boottime(), 0)  # a master alive for the whole run (no name held)
    worker = Worker(
        config, Queue(client, keys), handler, 0, -1, board, 0, master_board,
        feed=feed, parent=lambda: 0, set_title=lambda _: None,
    )  # fmt: skip
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    profiler = cProfile.Profile()
    profiler.enable()
    worker.loop()
    profiler.disable()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"{done} jobs, concurrency {concurrency}: {wall:.2f} s under cProfile")
    print(f"worker CPU per job: {cpu / done * 1e6:.0f} µs (profiled)")
    RESULTS.mkdir(exist_ok=True)
    profiler.dump_stats(RESULTS / "worker.prof")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(_trim(out.getvalue()))
    board.close()
    master_board.close()
    return 0


def _trim(text: str) -> str:
    """The stats table without pstats' preamble, paths shortened to the package's."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    site = str(Path(redis.__file__).parent.parent)
    return "\n".join(
        line.replace(str(ROOT) + "/", "").replace(site + "/", "") for line in lines[start:]
    )


if __name__ == "__main__":
    raise SystemExit(main())
