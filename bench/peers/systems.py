"""The systems the harness runs, as data: how each one's workers are started, with
which setting, and whether it runs several jobs per process. Pure: no peer is
imported here (each runs in its own venv, see venvs.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testkit import write_config


@dataclass(frozen=True)
class Launch:
    """What a system's start needs: its venv's bin/ (the harness's own for qwsup and
    the plain loop), the counts, the Redis URL, a directory for files."""

    bin: Path
    workers: int
    concurrency: int
    url: str
    workdir: Path


@dataclass(frozen=True)
class System:
    name: str
    setting: str  # its reliable setting, as docs/benchmark.md says it
    per_process: str  # how many jobs one process runs at once, in words
    commands: Callable[[Launch], list[list[str]]]  # each started in a process group
    venv: bool = True  # False: the harness's interpreter (qwsup, the plain loop)
    concurrent: bool = False  # whether --concurrency applies

    @property
    def module(self) -> str:
        return "bench.peers.with_qwsup" if not self.venv else f"bench.peers.with_{self.name}"


def _each(launch: Launch, command: list[str]) -> list[list[str]]:
    return [command for _ in range(launch.workers)]


def _qwsup(launch: Launch, concurrency: int) -> list[list[str]]:
    handler = HANDLER + "_async" if QWSUP_ASYNC[0] else HANDLER
    workers: dict[str, object] = {"count": launch.workers, "handler": handler}
    if concurrency > 1:  # [workers] concurrency, issue 13's key
        workers["concurrency"] = concurrency
    config = write_config(
        launch.workdir / "qwsup.toml",
        launch.url,
        supervisor={"name": "peers"},
        workers=workers,
        log={"level": "warning"},
    )
    return [[sys.executable, "-m", "qwsup", "-c", str(config)]]


HANDLER = "bench.peers.with_qwsup:handle"
QWSUP_CONCURRENCY = [1]  # set by --qwsup-concurrency: qwsup's concurrency per worker
QWSUP_ASYNC = [False]  # set by --qwsup-async: qwsup runs the asyncio handler


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
        "1 (prefork: one job per process; --qwsup-concurrency for [workers] concurrency)",
        lambda launch: _qwsup(launch, QWSUP_CONCURRENCY[0]),
        venv=False,
    ),
    System(
        "plain",
        "the article's loop (bench/plain.py): BLMOVE to a processing list, LREM when done",
        "1",
        lambda launch: _each(launch, [sys.executable, "-m", "bench.plain", launch.url, HANDLER]),
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
