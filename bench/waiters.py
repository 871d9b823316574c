"""What waiting for jobs costs Redis: a thousand waiters (`Producer.wait`), each on its
own job and its own connection, blocked while nothing happens, then woken as a qwsup
master's workers run the jobs.

    python -m bench.waiters [--waiters 1000] [--seconds 40] [--workers 2]

It reads from the private redis-server (INFO commandstats, INFO cpu) how many commands
it ran, and how much CPU it used, over `--seconds` with every waiter blocked (the
window should hold one whole block of a waiter, WAIT_BLOCK_S, 30 s), against as long a
window with no waiter before them. Then a master with `--workers` workers runs the
jobs (bench.jobs:noop: a Redis round trip each), and it says how long after its job's
end (qwsup:finished_at, the Redis clock, on this host) each waiter returned.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.hosts import sample
from bench.trivial import Bench
from qwsup.produce.producer import WAIT_BLOCK_S, Producer
from qwsup.store.keys import FINISHED_AT
from testkit.wait import wait_until


def window(bench: Bench, seconds: float) -> dict[str, float]:
    calls0, cpu0 = sample(bench)
    time.sleep(seconds)  # the measurement window itself, not a wait for anything
    calls1, cpu1 = sample(bench)
    per_command = {k: (calls1.get(k, 0) - calls0.get(k, 0)) / seconds for k in calls1}
    per_command = {k: v for k, v in per_command.items() if v > 0 and k != "info"}
    return {
        "commands_per_s": sum(per_command.values()),
        "redis_cpu_percent": (cpu1 - cpu0) / seconds * 100,
        **{f"{k}_per_s": v for k, v in sorted(per_command.items())},
    }


def measure(waiters: int, seconds: float, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qwwait") as tmp:
        bench = Bench(Path(tmp))
        try:
            return _measure(bench, waiters, seconds, workers)
        finally:
            bench.close()


def _measure(bench: Bench, waiters: int, seconds: float, workers: int) -> dict[str, Any]:
    ids = Producer(bench.r).enqueue_many({"n": "1"} for _ in range(waiters))
    before = window(bench, seconds)
    returned: dict[str, float] = {}
    errors: list[BaseException] = []

    def wait(job_id: str) -> None:
        client = redis.Redis.from_url(bench.url, socket_timeout=None)
        try:
            Producer(client).wait(job_id, timeout=600)
            returned[job_id] = time.time()
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in ids]
    for thread in threads:
        thread.start()
    wait_until(
        lambda: bench.r.info("clients")["blocked_clients"] >= waiters, 60, "the waiters blocked"
    )
    during = window(bench, seconds)
    t0 = time.perf_counter()
    procs = [bench.master("waiters", workers, bench.url)]  # (Bench.start would flush the jobs)
    try:
        for thread in threads:
            thread.join(120)
        took = time.perf_counter() - t0
    finally:
        bench.stop(procs)
    with bench.r.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(f"job:{job_id}", FINISHED_AT)
        finished = pipe.execute()
    lags = [
        returned[i] * 1000 - float(f)
        for i, f in zip(ids, finished, strict=True)
        if f is not None and i in returned
    ]
    return {
        "waiters": waiters, "seconds": seconds, "block_s": WAIT_BLOCK_S,
        "idle": before, "waiting": during, "returned": len(returned), "errors": len(errors),
        "run_s": took, "lag_ms_median": statistics.median(lags) if lags else None,
        "lag_ms_p99": sorted(lags)[int(len(lags) * 0.99) - 1] if lags else None,
    }  # fmt: skip


def report(res: dict[str, Any]) -> str:
    idle, waiting = res["idle"], res["waiting"]
    extra = waiting["commands_per_s"] - idle["commands_per_s"]
    by = ", ".join(
        f"{k.removesuffix('_per_s')} {v:.1f}"
        for k, v in waiting.items()
        if k.endswith("_per_s") and k != "commands_per_s"
    )
    lines = [
        f"{res['waiters']:,} waiters, each blocked on its own job (Producer.wait, blocks of "
        f"at most {res['block_s']:g} s), over {res['seconds']:g} s:",
        f"  no waiter:  {idle['commands_per_s']:8.1f} commands/s, "
        f"Redis CPU {idle['redis_cpu_percent']:.2f}%",
        f"  waiting:    {waiting['commands_per_s']:8.1f} commands/s, "
        f"Redis CPU {waiting['redis_cpu_percent']:.2f}%   ({by})",
        f"  (commandstats counts the commands a script runs too: of those the waiters sent, "
        f"{waiting.get('evalsha_per_s', 0) + waiting.get('blmove_per_s', 0):.1f}/s are "
        f"wait.lua and BLMOVE)",
        f"  so each waiter costs about {extra / res['waiters']:.3f} commands/s",
        f"then a master's workers ran the jobs: {res['returned']:,} waiters returned "
        f"({res['errors']} errors) in {res['run_s']:.1f} s from the master's start; after "
        f"its job's end, a waiter's thread had the result within {res['lag_ms_median']:.0f} "
        f"ms (median), {res['lag_ms_p99']:.0f} ms (p99: a thousand Python threads share one "
        "interpreter)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(report(measure(args.waiters, args.seconds, args.workers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
