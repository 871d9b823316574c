"""What operators look at, as `qwsup status`, `cron`, `failed`, `job` and `events` and the
dashboard show it: one look at every queue, supervisor and worker (`snapshot`), the cron
schedules with their next ticks, the failed jobs, a job, the events. Read through the
store's Operator (console.store); nothing here talks to Redis itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from qwsup.master.cron import Ticks
from qwsup.ops.console import Console
from qwsup.store.events import Event
from qwsup.store.failed import FailedJob
from qwsup.store.keys import ALL
from qwsup.store.operator import SupervisorView
from qwsup.store.pages import JobRecord
from qwsup.store.server import ServerInfo


@dataclass
class CronView:
    """One schedule as `qwsup cron` and `status` show it (times: unix ms, Redis clock)."""

    name: str
    when: str  # its schedule ("0 3 * * * Europe/Berlin") or interval ("every 30s")
    queue: str
    last_run_ms: int | None  # the tick of the last job it enqueued
    next_run_ms: int
    last_job: str | None
    last_state: str | None  # that job's state (None: gone)
    fired: int
    skipped: int


@dataclass
class Snapshot:
    queues: dict[str, int]  # list name: length, all:jobs and every supervisor's own queue
    delayed: int
    failed: int
    supervisors: list[SupervisorView]
    # the Redis server, or every node of a cluster: eviction, persistence, memory
    servers: list[ServerInfo] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # the names of the paused queues
    paused_lists: list[str] = field(default_factory=list)  # and their lists (as in queues)
    cron: list[CronView] = field(default_factory=list)  # the config's schedules, next first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot(console: Console, also: Iterable[str] = ()) -> Snapshot:
    """One look at everything `qwsup status` shows: the queues (all:jobs, those the
    supervisors serve or are paused, and `also`, then each supervisor's own), the
    supervisors and their workers, the server and the config's schedules."""
    store, keys = console.store, console.store.keys
    now_ms = store.now_ms()
    supervisors = store.supervisors(now_ms)
    counts = store.counts()
    own = [s.name for s in supervisors]
    served = {queue for s in supervisors for queue in s.served}
    named = sorted((served | set(counts.paused) | set(also)) - {ALL, *own})
    depths = store.depths([ALL, *named, *own])
    return Snapshot(
        {keys.queue_jobs(name): depth for name, depth in depths.items()},
        counts.delayed, counts.failed, supervisors, store.servers(), counts.paused,
        [keys.queue_jobs(name) for name in counts.paused],
        sorted(cron_views(console, now_ms), key=lambda view: view.next_run_ms),
    )  # fmt: skip


def cron_views(console: Console, now_ms: int | None = None) -> list[CronView]:
    """Each schedule of the config with its record (cron.lua's): last and next run, and
    its last job's state, in the order of the file."""
    schedules = console.config.cron
    if not schedules:
        return []
    store = console.store
    now_ms = store.now_ms() if now_ms is None else now_ms
    views = []
    for cron, record in zip(
        schedules, store.cron_records([c.name for c in schedules]), strict=True
    ):
        zone = "" if cron.timezone == "UTC" else f" {cron.timezone}"
        views.append(
            CronView(
                cron.name, f"every {cron.every}" if cron.every else f"{cron.schedule}{zone}",
                cron.queue, record.fired_ms,
                Ticks.of(cron).next_after(max(now_ms, record.last_ms or 0)),
                record.job, record.job_state, record.fired, record.skipped,
            )
        )  # fmt: skip
    return views


def failed_jobs(console: Console, limit: int) -> tuple[list[FailedJob], int]:
    """The newest `limit` failed jobs (0: all), and how many there are."""
    return console.store.failed.jobs(limit), console.store.failed.count()


def failed_job(console: Console, job_id: str) -> FailedJob | None:
    return console.store.failed.job(job_id)


def job(console: Console, job_id: str) -> JobRecord | None:
    """A job (None: no such job), and the task it calls when it is a task's."""
    return console.store.pages.job(job_id)


def events(console: Console, count: int) -> list[Event]:
    """The latest `count` events, oldest first (a task's job's with its task)."""
    return console.store.pages.events(count) if count else []


def follow(console: Console, after: str) -> Iterator[Event]:
    """The events after entry `after` ("$": from now), as they come, for ever."""
    return console.store.pages.follow(after)
