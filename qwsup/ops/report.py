"""Rendering what `qwsup status` and `qwsup failed` show, for people (a table, in colour
on a terminal) and for scripts (JSON)."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from typing import Any

from qwsup.ops.views import CronView, Snapshot
from qwsup.proctitle import printable
from qwsup.store.events import Event
from qwsup.store.failed import FailedJob
from qwsup.store.jobs import State
from qwsup.store.keys import (
    ENQUEUED_AT,
    FAILED_AT,
    FINISHED_AT,
    PROGRESS_AT,
    STARTED_AT,
    TRACEBACK,
)
from qwsup.store.operator import RunningJob
from qwsup.store.pages import JobRecord
from qwsup.store.server import ServerInfo

GREEN, RED, YELLOW, DIM, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m"


class Paint:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text


def counted(n: int, noun: str) -> str:
    """ "1 job", "2 jobs", "0 jobs": a count and its noun (made plural with an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(seconds: float | None) -> str:
    """A duration as status and the dashboard show it."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_table(snap: Snapshot, colour: bool = False) -> str:
    paint = Paint(colour)
    lines = ["QUEUE" + " " * 27 + "JOBS"]
    for name, depth in snap.queues.items():
        held = name in snap.paused_lists
        lines.append(f"{name:<32}{depth:>4}" + (f"  {paint('paused', YELLOW)}" if held else ""))
    lines.append(f"{'delayed:jobs (retries, later)':<32}{snap.delayed:>4}")
    failed = f"{snap.failed:>4}"
    lines.append(f"{'failed:jobs':<32}{paint(failed, RED) if snap.failed else failed}")
    lines.append("")
    if not snap.supervisors:
        lines.append("no supervisor is running")
    for sup in snap.supervisors:
        state = paint("alive", GREEN) if sup.alive else paint("DEAD (lease over)", RED)
        where = f"pid {sup.pid} on {sup.host}" if sup.pid else "never heartbeated"
        beat = duration(sup.heartbeat_age_s)
        lines.append(f"SUPERVISOR {sup.name}  {state}  heartbeat {beat} ago  {where}")
        if sup.status:
            lines.append(f"  {sup.status}")
        grouped = len(sup.pools) > 1
        for pool in sup.pools if grouped else [None]:
            indent = "  "
            if pool is not None:
                queues = ", ".join(pool.queues)
                lines.append(f"  pool {pool.name}: {counted(pool.count, 'worker')} on {queues}")
                indent = "    "
            for w in sup.workers:
                if pool is not None and w.pool != pool.name:
                    continue
                if w.job is None:
                    lines.append(f"{indent}{w.id:<28}{paint('idle', DIM)}")
                else:
                    for i, running in enumerate(w.jobs or [RunningJob(w.job, w.running_s)]):
                        job, age = printable(running.id, 40), duration(running.running_s)
                        who = w.id if i == 0 else ""
                        line = f"{indent}{who:<28}{paint('busy', YELLOW)} {job}  for {age}"
                        if running.progress is not None:
                            said = printable(running.progress_message or "", 40)
                            line += f"  {running.progress * 100:.0f}% {said}".rstrip()
                        lines.append(line)
    if snap.cron:
        lines += ["", "NEXT CRON TICKS", *cron_lines(snap.cron[:STATUS_CRON])]
    for server in snap.servers:
        lines += ["", *server_lines(server, paint)]
    return "\n".join(lines)


STATUS_CRON = 5  # the schedules `status` shows, the next due first


def cron_lines(views: list[CronView]) -> list[str]:
    """A line per schedule: its next run and last run (local time), its last job."""
    lines = []
    for v in views:
        last = _when(v.last_run_ms / 1000) if v.last_run_ms else "never"
        job = f"{v.last_job} {v.last_state or 'gone'}" if v.last_job else "-"
        lines.append(
            f"  {v.name:<20} next {_when(v.next_run_ms / 1000)}  last {last}  job {job}"
            f"  ({v.when} on {v.queue}; {v.fired} fired, {v.skipped} skipped)"
        )
    return lines


def cron_table(views: list[CronView]) -> str:
    if not views:
        return "no [[cron]] schedule in the config"
    return "\n".join(["SCHEDULE", *cron_lines(views)])


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def server_lines(s: ServerInfo, paint: Paint) -> list[str]:
    """What `status` shows of a Redis server (or node): whether it may evict keys, its
    memory, how it keeps its data."""
    head = f"REDIS {s.address}" + (f" ({s.role})" if s.role else "")
    if not s.reachable:
        return [f"{head}  {paint('unreachable', RED)}"]
    if s.evicts is None:
        policy = paint("maxmemory-policy unknown", YELLOW)
    elif s.evicts:
        policy = paint(f"maxmemory-policy {s.maxmemory_policy}: evicts keys, jobs can vanish", RED)
    else:
        policy = f"maxmemory-policy {s.maxmemory_policy}"
    memory = f"memory {_size(s.used_memory)} used"
    if s.maxmemory == 0:
        memory += ", no maxmemory"
    elif s.maxmemory is not None and s.used_memory is not None:
        memory += f" of maxmemory {_size(s.maxmemory)} ({100 * s.used_memory / s.maxmemory:.0f}%)"
    else:
        memory += f", maxmemory {_size(s.maxmemory)}"
    aof = {None: "unknown", True: "on", False: "off"}[s.aof_enabled]
    if s.aof_enabled is not False:
        aof += f", appendfsync {s.appendfsync or 'unknown'}"
    rdb = {None: "RDB save rules unknown", "": "RDB off"}.get(s.save, f"RDB save {s.save}")
    lines = [f"{head}  {policy}", f"  {memory}; AOF {aof}; {rdb}"]
    if s.unknown:
        lines.append(f"  {paint(f'not known: {s.unknown}', DIM)}")
    return lines


def status_json(snap: Snapshot) -> str:
    return json.dumps(snap.as_dict(), indent=2)


def failed_table(jobs: list[FailedJob], total: int) -> str:
    if not jobs:
        return "no failed job"
    lines = [f"{'ID':<34}{'ATTEMPTS':>8}  {'FAILED AT':<23}  ERROR"]
    for job in jobs:
        when = _when(job.failed_at) if job.failed_at else "-"
        lines.append(
            f"{printable(job.id, 32):<34}{job.attempts:>8}  {when:<23}  {printable(job.error, 80)}"
        )
    if total > len(jobs):
        lines.append(f"... {total - len(jobs)} more (--limit 0 shows all)")
    return "\n".join(lines)


def failed_detail(job: FailedJob) -> str:
    lines = [f"id: {job.id}", f"attempts: {job.attempts} used up", f"error: {job.error}"]
    if job.failed_at:
        lines.append(f"failed at: {_when(job.failed_at)}")
    lines.append("fields:")
    for name, value in sorted(job.fields.items()):
        if name != TRACEBACK:
            lines.append(f"  {name} = {_field_time(name, value)}")
    trace = job.fields.get(TRACEBACK, "")
    if trace:
        lines += ["traceback:", trace.rstrip()]
    return "\n".join(lines)


def job_detail(job: JobRecord, now: float) -> str:
    """`qwsup job ID`: one job, a line per fact, at unix time `now`; a task's job with its
    task and arguments."""
    info = job.info
    state = info.state.value
    if info.state is State.RUNNING:
        state += f" on {info.worker or '?'}, attempt {info.attempts + 1}"
        if info.started_at is not None:
            state += f", for {max(0.0, now - info.started_at):.1f} s"
    lines = [f"id: {info.id}", f"state: {state}", f"queue: {info.queue}"]
    if info.state is not State.RUNNING and info.worker:
        lines.append(f"worker: {info.worker} (the last to run it)")
    lines.append(f"attempts: {attempts(info.attempts, info.state is State.RUNNING)}")
    for what, when in (
        ("enqueued", info.enqueued_at), ("started", info.started_at),
        ("finished", info.finished_at),
    ):  # fmt: skip
        if when is not None:
            lines.append(f"{what}: {_when(when)}")
    if info.started_at is not None and info.finished_at is not None and info.state.ended:
        lines.append(f"took: {max(0.0, info.finished_at - info.started_at):.3f} s")
    if info.progress is not None:
        said = f" {info.progress_message}" if info.progress_message else ""
        lines.append(f"progress: {info.progress * 100:.0f}%{said}")
    if info.error:
        lines.append(f"error: {info.error}")
    if info.result_type is not None:
        lines.append(f"result ({info.result_type}): {_result_text(info.result)}")
    if job.task is not None:
        lines.append(f"task: {job.task.name}")
        args = job.task.args
        if isinstance(args, dict):
            lines.append("arguments:" if args else "arguments: none")
            lines += [f"  {name} = {json.dumps(value)}" for name, value in sorted(args.items())]
        else:
            lines.append(f"arguments (not a JSON object): {printable(str(args), 200)}")
    lines.append("fields:" if info.fields else "fields: none")
    lines += [f"  {name} = {value}" for name, value in sorted(info.fields.items())]
    if info.traceback:
        lines += ["traceback:", info.traceback.rstrip()]
    return "\n".join(lines)


def attempts(used: int, running: bool) -> str:
    """A job's attempts: those used up (failed or cut short) and, while it runs, which
    attempt this run is, as `qwsup job` and the dashboard say it."""
    return f"{used} used up" + (f", attempt {used + 1} running" if running else "")


def job_json(job: JobRecord) -> str:
    """`qwsup job ID --json`: every key always there; a task's name and its arguments
    (decoded) in `task` and `args`, null for a job that is no task's."""
    found = job.info.as_dict()
    found["task"] = job.task.name if job.task else None
    found["args"] = job.task.args if job.task else None
    return json.dumps(found, indent=2)


def event_line(event: Event) -> str:
    """An event as `qwsup events` prints it: a task's job's with its task= and args=."""
    return event.line()


def event_json(event: Event) -> str:
    """An event as one JSON object; a task's arguments decoded."""
    found: dict[str, Any] = event.as_dict()
    if "args" in found:
        with contextlib.suppress(ValueError):
            found["args"] = json.loads(found["args"])
    return json.dumps(found)


# qwsup's time fields in a job's hash: unix ms, but qwsup:failed_at in unix seconds
_TIMES_MS = (ENQUEUED_AT, STARTED_AT, FINISHED_AT, PROGRESS_AT)


def _field_time(name: str, value: str) -> str:
    """A field's value as `failed show` lists it: qwsup's times as local times, to the ms
    as every time shown, whatever unit their field holds; the others as they are."""
    if name not in (*_TIMES_MS, FAILED_AT):
        return value
    try:
        return _when(float(value) / (1000 if name in _TIMES_MS else 1))
    except (ValueError, OverflowError, OSError):  # not a time
        return value


def _when(unix: float) -> str:
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix)) + f".{int(unix * 1000) % 1000:03d}"
    )


def _result_text(result: object) -> str:
    if isinstance(result, bytes):
        return repr(result) if len(result) <= 200 else f"{len(result):,} bytes"
    if isinstance(result, str):
        return result
    return json.dumps(result)


def result_line(result: object) -> str:
    """A result as `enqueue --wait` prints it: text as it is, bytes raw (decoded as
    UTF-8 where they are), anything else as JSON; nothing for None."""
    if result is None:
        return ""
    if isinstance(result, bytes):
        return result.decode("utf-8", "backslashreplace")
    if isinstance(result, str):
        return result
    return json.dumps(result)


def as_json(items: Any) -> str:
    if isinstance(items, list):
        return json.dumps([asdict(i) for i in items], indent=2)
    return json.dumps(asdict(items), indent=2)
