"""The systems the harness runs, as data: how each one's workers are started, with
which setting, and how many jobs one process runs at once for each workload. Pure: no
peer is imported here (each runs in its own venv, see venvs.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit import write_config

# The workloads qwsup runs with concurrency, as its README tells a user: CPU-bound
# (and short) jobs in processes, concurrency 1; I/O-bound jobs in threads or asyncio,
# concurrency N (the peers' --concurrency, 10).
CONCURRENT_WORKLOADS = frozenset({"io"})


@dataclass(frozen=True)
class Launch:
    """What a system's start needs: its venv's bin/ (the harness's own for qwsup and
    the plain loop), the counts, the Redis URL, a directory for files, and for qwsup
    whether its handler is the asyncio one."""

    bin: Path
    workers: int
    concurrency: int
    url: str
    workdir: Path
    asyncio: bool = False


@dataclass(frozen=True)
class Options:
    """What the command line says about jobs at once: `concurrency` for the systems that
    have it, qwsup's (None: by workload, CONCURRENT_WORKLOADS) and its handler."""

    concurrency: int = 10
    qwsup_concurrency: int | None = None
    qwsup_async: bool = False


@dataclass(frozen=True)
class System:
    name: str
    setting: str  # its reliable setting, as docs/benchmark.md says it
    per_process: str  # how many jobs one process runs at once, in words
    commands: Callable[[Launch], list[list[str]]]  # each started in a process group
    venv: bool = True  # False: the harness's interpreter (qwsup, the plain loop)
    concurrent: bool = False  # whether --concurrency applies
    by_workload: bool = False  # qwsup's: concurrency by workload (CONCURRENT_WORKLOADS)

    @property
    def module(self) -> str:
        return "bench.peers.with_qwsup" if not self.venv else f"bench.peers.with_{self.name}"


def concurrency(system: System, workload: str, options: Options) -> int:
    """Jobs at once per process of `system` on `workload`."""
    if system.by_workload:
        if options.qwsup_concurrency is not None:
            return options.qwsup_concurrency
        return options.concurrency if workload in CONCURRENT_WORKLOADS else 1
    return options.concurrency if system.concurrent else 1


def uses_asyncio(system: System, options: Options) -> bool:
    return system.by_workload and options.qwsup_async


def label(jobs_at_once: int, asyncio: bool = False) -> str:
    """A setting in words: `concurrency 10 (threads)`, `concurrency 1`."""
    if jobs_at_once == 1:
        return "concurrency 1"
    return f"concurrency {jobs_at_once} ({'asyncio' if asyncio else 'threads'})"


def _each(launch: Launch, command: list[str]) -> list[list[str]]:
    return [command for _ in range(launch.workers)]


def _qwsup(
    handler: str, *, lean: bool = False, otel: bool = False
) -> Callable[[Launch], list[list[str]]]:
    """A qwsup master of `workers` workers running `handler` (its `_async` twin with
    Launch.asyncio), with `[workers] concurrency` when it is above 1; `lean`: no
    finished job kept (keep_finished = 0) and no events (`[events] max_len = 0`);
    `otel`: `[otel] enabled = true`, its spans made and dropped (no exporter)."""

    def commands(launch: Launch) -> list[list[str]]:
        workers: dict[str, object] = {
            "count": launch.workers,
            "handler": handler + "_async" if launch.asyncio else handler,
        }
        if launch.concurrency > 1:
            workers["concurrency"] = launch.concurrency
        sections: dict[str, Any] = {}  # (Any: write_config's **sections)
        if lean:
            workers["keep_finished"] = 0
            sections["events"] = {"max_len": 0}
        prefix = []
        if otel:
            sections["otel"] = {"enabled": True}
            prefix = ["env", "OTEL_TRACES_EXPORTER=none"]
        config = write_config(
            launch.workdir / "qwsup.toml",
            launch.url,
            supervisor={"name": "peers"},
            workers=workers,
            log={"level": "warning"},
            **sections,
        )
        return [[*prefix, sys.executable, "-m", "qwsup", "-c", str(config)]]

    return commands


HANDLER = "bench.peers.with_qwsup:handle"


def _in_process(name: str) -> Callable[[Launch], list[list[str]]]:
    def commands(launch: Launch) -> list[list[str]]:
        module = f"bench.peers.with_{name}"
        python = str(launch.bin / "python")
        return _each(launch, [python, "-m", module, "worker", str(launch.concurrency)])

    return commands


SYSTEMS: list[System] = [
    System(
        "qwsup",
        "its own: each job stays in its worker's processing list until it is finished",
        "by workload, as its README advises: io at --concurrency (threads; asyncio with "
        "--qwsup-async), noop and cpu at 1 (prefork); --qwsup-concurrency sets all",
        _qwsup(HANDLER),
        venv=False,
        by_workload=True,
    ),
    System(
        "qwsup-lean",
        "as qwsup, with what follows a job turned off: no finished job kept "
        "(keep_finished = 0) and no events ([events] max_len = 0)",
        "by workload, as qwsup",
        _qwsup(HANDLER, lean=True),
        venv=False,
        by_workload=True,
    ),
    System(
        "qwsup-otel",
        "as qwsup, with traces on ([otel] enabled = true): a span for each attempt, made "
        "and dropped (OTEL_TRACES_EXPORTER=none: the cost of tracing, not of sending)",
        "by workload, as qwsup",
        _qwsup(HANDLER, otel=True),
        venv=False,
        by_workload=True,
    ),
    System(
        "qwsup-writes",
        "as qwsup; the body's record is sent with the job's acknowledgement "
        "(qwsup.pipeline(): applied once, with the job's end) instead of its own round trip",
        "by workload, as qwsup",
        _qwsup(HANDLER + "_writes"),
        venv=False,
        by_workload=True,
    ),
    System(
        "plain",
        "the article's loop (bench/plain.py): BLMOVE to a processing list, LREM when done",
        "1",
        lambda launch: _each(launch, [sys.executable, "-m", "bench.plain", launch.url, HANDLER]),
        venv=False,
    ),
    System(
        "batched",
        "a reference, not a peer (bench/batched.py): the plain loop taking 10 jobs a round "
        "trip, the batch's record writes sent with its acknowledgements after the batch",
        "1",
        lambda launch: _each(launch, [sys.executable, "-m", "bench.batched", launch.url]),
        venv=False,
    ),
    System(
        "rq",
        "`rq worker-pool` of SimpleWorker (no fork per job); jobs with Retry(max=3), so the "
        "started-job registry requeues a dead worker's job",
        "1 (none: one job per process)",
        lambda launch: [
            [
                str(launch.bin / "rq"),
                "worker-pool",
                "-n",
                str(launch.workers),
                "-w",
                "rq.worker.SimpleWorker",
                "-u",
                launch.url,
                "-q",
                "peers",
            ]
        ],
    ),
    System(
        "celery",
        "prefork pool; task_acks_late, worker_prefetch_multiplier 1, "
        "task_reject_on_worker_lost, -O fair; no result backend",
        "1 (none: prefork, one job per child process)",
        lambda launch: [
            [
                str(launch.bin / "celery"),
                "-A",
                "bench.peers.with_celery",
                "worker",
                "--pool",
                "prefork",
                "-c",
                str(launch.workers),
                "-O",
                "fair",
                "-Q",
                "peers",
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        ],
    ),
    System(
        "huey",
        "RedisHuey, blocking pops, results off; huey has no acknowledgement "
        "(a job taken by a process that dies is lost)",
        "1 (none: process workers, -k process)",
        lambda launch: [
            [
                str(launch.bin / "huey_consumer"),
                "bench.peers.with_huey.huey",
                "-k",
                "process",
                "-w",
                str(launch.workers),
                "-q",
            ]
        ],
    ),
    System(
        "dramatiq",
        "Redis broker (acknowledged after the job; a dead worker's messages requeued), "
        "max_retries 0",
        "--concurrency threads",
        lambda launch: [
            [
                str(launch.bin / "dramatiq"),
                "bench.peers.with_dramatiq",
                "-p",
                str(launch.workers),
                "-t",
                str(launch.concurrency),
                "-Q",
                "peers",
            ]
        ],
        concurrent=True,
    ),
    System(
        "arq",
        "defaults (a job in progress whose worker died runs again after its timeout), "
        "poll_delay 10 ms, results not kept",
        "--concurrency asyncio jobs (max_jobs)",
        _in_process("arq"),
        concurrent=True,
    ),
    System(
        "saq",
        "Redis queue; jobs with retries=3, so a job swept from a dead worker is retried",
        "--concurrency asyncio jobs",
        _in_process("saq"),
        concurrent=True,
    ),
    System(
        "taskiq",
        "taskiq-redis RedisStreamBroker: consumer group, acknowledged after the task "
        "(--ack-type when_saved, the default), unacknowledged messages reclaimed after "
        "idle_timeout",
        "--concurrency asyncio tasks (--max-async-tasks)",
        lambda launch: [
            [
                str(launch.bin / "taskiq"),
                "worker",
                "bench.peers.with_taskiq:broker",
                "--workers",
                str(launch.workers),
                "--max-async-tasks",
                str(launch.concurrency),
                "--log-level",
                "WARNING",
            ]
        ],
        concurrent=True,
    ),
    System(
        "bullmq",
        "defaults: a job is locked while it runs; a stalled job (its worker died) runs again",
        "--concurrency asyncio jobs",
        _in_process("bullmq"),
        concurrent=True,
    ),
]

BY_NAME = {s.name: s for s in SYSTEMS}
