"""What operators do, once for the CLI and the dashboard: retry and purge failed jobs,
cancel jobs, pause and resume queues, requeue a dead supervisor's jobs, scale a pool.
Each action returns its `Outcome`: the CLI prints it (its problems on stderr) and exits
with its code, the dashboard shows its message."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from qwsup import proctitle
from qwsup.config import QUEUE_NAME
from qwsup.errors import ExitCode, UnknownJob
from qwsup.master.leases import LeaseWatch
from qwsup.ops.console import Console
from qwsup.ops.report import counted
from qwsup.store.records import Beat, Reclaimed

SHOWN_PROBLEMS = 5  # the problems a message names (the CLI prints every one)


@dataclass(frozen=True)
class Outcome:
    """What an action did: `done` (jobs moved, queues paused, ...), the lines that say it
    (`said`), what it could not do (`problems`), and the exit code of the CLI."""

    done: int = 0
    said: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    code: ExitCode = ExitCode.OK

    @property
    def message(self) -> str:
        """The outcome in one line, as the dashboard shows it."""
        more = len(self.problems) - SHOWN_PROBLEMS
        parts = [*self.said, *self.problems[:SHOWN_PROBLEMS]]
        return "; ".join(parts + ([f"{more} more"] if more > 0 else []))


def refused(problem: str, code: ExitCode = ExitCode.USAGE) -> Outcome:
    return Outcome(problems=(problem,), code=code)


def retry(console: Console, ids: list[str] | None) -> Outcome:
    """Put the failed jobs `ids` (None: every one) back in their queues, attempts reset.
    Exit 1 when a unique job stays failed (its name is held), 2 for an id not failed."""
    if ids is not None and not ids:
        return refused("no job chosen")
    failed = console.store.failed
    done = failed.retry(ids)
    where = "its queue" if done.moved == 1 else "their queues"
    problems = [
        f"job {r.id} left in {failed.keys.failed_jobs}: its unique name {r.name!r} is held by "
        f"job {r.holder}, queued or running"
        for r in done.refused
    ] + [f"{job_id!r} is not a failed job" for job_id in done.missing]
    code = ExitCode.ERROR if done.refused else ExitCode.USAGE if done.missing else ExitCode.OK
    said = f"{counted(done.moved, 'failed job')} put back in {where}"
    return Outcome(done.moved, (said,), tuple(problems), code)


def purge(console: Console, ids: list[str] | None) -> Outcome:
    """Delete the failed jobs `ids` (None: every one) and their data, for good."""
    if ids is not None and not ids:
        return refused("no job chosen")
    removed = console.store.failed.purge(ids)
    return Outcome(removed, (f"{counted(removed, 'failed job')} deleted",))


def cancel(console: Console, ids: list[str]) -> Outcome:
    """Cancel jobs: a waiting one never runs, a running one is stopped by its master.
    Exit 1 when an id names no job (the others are cancelled still)."""
    if not ids:
        return refused("no job chosen")
    said, problems = [], []
    for job_id in ids:
        try:
            done = console.producer.cancel(job_id)
        except UnknownJob as exc:
            problems.append(str(exc))
            continue
        if done.outcome == "cancelled":
            said.append(f"{job_id}: cancelled (it was {done.state})")
        elif done.outcome == "stopping":
            said.append(f"{job_id}: cancelled, running on {done.worker}: its master stops it")
        else:
            said.append(f"{job_id}: had ended ({done.state}): nothing to cancel")
    code = ExitCode.ERROR if problems else ExitCode.OK
    return Outcome(len(ids) - len(problems), tuple(said), tuple(problems), code)


def cancel_queue(console: Console, queue: str) -> Outcome:
    """Cancel every job waiting on queue `queue` ("all": all:jobs)."""
    producer = console.producer
    try:
        cancelled = producer.cancel_queue(queue)
    except ValueError as exc:
        return refused(str(exc))
    said = f"{counted(cancelled, 'job')} waiting on {producer.keys.queue_jobs(queue)} cancelled"
    return Outcome(cancelled, (said,))


def pause(console: Console, queues: list[str]) -> Outcome:
    """Every worker on every host stops taking jobs from `queues` (kept in Redis)."""
    return _pausing(console, queues, pausing=True)


def resume(console: Console, queues: list[str]) -> Outcome:
    return _pausing(console, queues, pausing=False)


def _pausing(console: Console, queues: list[str], *, pausing: bool) -> Outcome:
    if not queues:
        return refused("no queue chosen")
    for name in queues:
        if not QUEUE_NAME.match(name):
            return refused(f"{name!r} is no queue name")
    store = console.store
    (store.pause if pausing else store.resume)(queues)
    paused = store.paused()
    return Outcome(
        len(queues), (f"paused: {', '.join(paused)}" if paused else "no queue is paused",)
    )


def requeue(
    console: Console,
    names: list[str],
    *,
    dead_only: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Put the jobs of the named supervisors back in the queues: with `dead_only`, only of
    one whose lease is over (exit 1 for one alive); else at once (an operator knows it is
    gone). With no names, of every supervisor not heartbeating for a whole lease, by the
    masters' rule (see leases.py), watched for up to a lease."""
    config, store = console.config, console.store
    most = config.most_attempts
    if dead_only and not names:
        return refused("no supervisor chosen")
    if dead_only:
        known = {s.name: s for s in store.supervisors(store.now_ms())}
        for name in names:
            if name not in known:
                return refused(f"no supervisor {name}")
            if known[name].alive:
                problem = f"{name} is alive (its lease runs): its jobs are its own"
                return refused(problem, ExitCode.ERROR)
    if names:
        found = [store.reclaim(name, max_attempts=most) for name in names]
        reclaimed = [r for r in found if r is not None]
    else:
        reclaimed = _reclaim_silent(console, config.supervisor.lease_timeout, clock, sleep)
    said = [
        f"{r.name}: {counted(r.requeued, 'job')} back in the queue, {r.failed} out of attempts"
        for r in reclaimed
    ]
    return Outcome(sum(r.requeued for r in reclaimed), tuple(said or ["no supervisor to reclaim"]))


def _reclaim_silent(
    console: Console, lease_s: float, clock: Callable[[], float], sleep: Callable[[float], None]
) -> list[Reclaimed]:
    """Every supervisor watched here not heartbeating for a whole lease: a supervisor whose
    record changes is alive and no longer watched, so this takes a lease only when one is
    silent."""
    store, most = console.store, console.config.most_attempts
    watch = LeaseWatch(lease_s)
    alive: set[str] = set()
    reclaimed: list[Reclaimed] = []
    first: dict[str, Beat] | None = None
    while True:
        sent = clock()
        beats = store.beats()
        first = first or beats
        alive |= {name for name, beat in beats.items() if first.get(name, beat) != beat}
        watched = {
            name: beat for name, beat in beats.items() if name in first and name not in alive
        }
        for name in watch.observe(sent, clock(), watched):
            got = store.reclaim(name, max_attempts=most, seen=watched[name].value)
            watch.forget(name)
            alive.add(name)  # done with it, either way
            if got is not None:
                reclaimed.append(got)
        if not watched:
            return reclaimed
        sleep(min(lease_s / 8, 0.5))


def scale(
    console: Console,
    pool: str,
    change: str,
    *,
    host: Callable[[], str] = socket.gethostname,
    kill: Callable[[int, int], None] = os.kill,
) -> Outcome:
    """Change pool `pool`'s worker count in this host's running supervisor by `change`
    (+N, -N, or N in all): left in Redis for it, then TTIN (more) or TTOU sent."""
    config, store = console.config, console.store
    if not re.fullmatch(r"[+-]?\d{1,5}", change):
        return refused(f"{change!r} is not +N, -N or N")
    if config.pool(pool) is None:
        pools = ", ".join(p.name for p in config.pools)
        return refused(f"{config.path} has no pool {pool!r} ({pools})")
    name = config.supervisor.name
    pid, where = store.process(name)
    if not pid:
        return refused(f"supervisor {name} is not running", ExitCode.UNAVAILABLE)
    if where != host():
        return refused(f"supervisor {name} runs on {where}: scale it there", ExitCode.ERROR)
    if not proctitle.titled(pid, f"{proctitle.MASTER} "):  # a pid from Redis: maybe forged
        return refused(f"process {pid} is not a qwsup master: not signalled", ExitCode.ERROR)
    store.ask_to_scale(name, pool, change)
    try:
        kill(pid, signal.SIGTTOU if change.startswith("-") else signal.SIGTTIN)
    except OSError as exc:
        return refused(f"cannot signal master {pid}: {exc.strerror}", ExitCode.ERROR)
    return Outcome(1, (f"supervisor {name} (pid {pid}): pool {pool} {change}",))
