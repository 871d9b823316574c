"""What the master's policies decide and its loop carries out.

The policies (pool.py, deadlines.py, cancels.py, looks.py) and the duties (duties.py)
return these; `Master.carry_out` forks, signals, requeues, orders and halts. A test
reads them instead of watching processes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwsup.errors import ExitCode

if TYPE_CHECKING:
    from qwsup.config import Config


class StopMode(enum.Enum):
    GRACEFUL = "graceful"  # TERM: finish the job, then exit
    QUICK = "quick"  # QUIT: give the job back and exit now


class Cause(enum.StrEnum):
    """Why a worker ended, as counted in qwsup_worker_restarts_total{cause}."""

    SHUTDOWN = "shutdown"  # the master stops
    RELOADED = "reloaded"  # retired after a reload
    RELOAD_ABORTED = "reload_aborted"  # of a generation whose reload was aborted
    SCALED_DOWN = "scaled_down"  # after TTOU
    HUNG = "hung"  # no heartbeat
    JOB_TIMEOUT = "job_timeout"  # its job ran past job_timeout and would not stop
    MEMORY = "memory"  # over max_memory_mb
    RECYCLED = "recycled"  # exited by itself: max_jobs, or its master gone
    CRASHED = "crashed"  # died by itself after booting
    BOOT_FAILURE = "boot_failure"  # died by itself while booting
    CANCELLED = "cancelled"  # its job was cancelled and would not stop


@dataclass(frozen=True)
class Spawn:
    """Fork a worker of `generation` into `slot` (pool name, place), running `config`."""

    generation: int
    config: Config
    slot: tuple[str, int]


@dataclass(frozen=True)
class Send:
    """Send a worker a signal (TERM, QUIT, KILL, or the worker's own DUMP_STACK and
    JOB_TIMEOUT)."""

    pid: int
    signal: int


@dataclass(frozen=True)
class Requeue:
    """Put a gone worker's list back in the queues, charging `cost` attempts."""

    worker: str
    cost: int
    reason: str  # the job's last error when it is charged
    max_attempts: int
    running: int = 1  # how many jobs it ran at once: the oldest so many are charged


@dataclass(frozen=True)
class Halt:
    """Stop the master and every worker now, exiting with `code`."""

    code: ExitCode
    reason: str


@dataclass(frozen=True)
class StopJob:
    """Order worker `pid` to stop job `job`, which was cancelled: the master's board says
    which job, the worker's JOB_CANCEL signal says look."""

    pid: int
    job: bytes


@dataclass(frozen=True)
class AskToLook:
    """Ask idle workers `pids` to end their wait and take from every queue (the master's
    board)."""

    pids: tuple[int, ...]


Action = Spawn | Send | Requeue | Halt | StopJob | AskToLook
