"""The master's workers: slots, generations and what follows a worker's death.

Pure: `Pool` is fed the time, the config and what happened to the workers (booted,
exited, scaled, reloaded) and returns the actions the master carries out (see
actions.py). It forks, kills and reads nothing itself, so the tests drive it with a
fake clock.

A worker has a slot: its pool's name and a place in it (0 .. count - 1); restart
backoff is kept per slot. Workers belong to a generation: a reload (HUP) starts a new
generation with the new config and retires the old one once every new worker has
booted, or aborts when one of them dies while booting.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from qwsup.config import MAX_WORKERS, Config, WorkersConfig
from qwsup.errors import ExitCode
from qwsup.master.actions import Action, Cause, Halt, Requeue, Send, Spawn, StopMode
from qwsup.master.backoff import RestartBackoff
from qwsup.scoreboard import Scoreboard

log = logging.getLogger(__name__)

CRASH_LOOP_UPTIME_S = 2.0  # a worker that dies sooner than this after booting backs off

Slot = tuple[str, int]  # a pool's name, and a place in it: 0 .. its count - 1


@dataclass
class Dismissal:
    """How the master is ending one worker: asked to stop (and how), to be killed when,
    and why; empty while the worker is left to run."""

    mode: StopMode | None = None  # asked to stop (TERM or QUIT)
    kill_at: float = math.inf  # SIGKILL once this passes
    asked_at: float = 0.0  # when it was last sent TERM (deadlines.py sends it again)
    killed: bool = False  # SIGKILL sent
    charge: bool = False  # its job costs an attempt when it goes: hung, timed out, too big
    cause: Cause | None = None  # why the master ended it, for the restart counts
    reason: str = ""  # why the master is ending it, for the log and the job's last error
    timed_out: float = 0.0  # the start of the job that ran past job_timeout


@dataclass
class Proc:
    """The master's record of one worker process."""

    pid: int
    id: str
    generation: int
    slot: Slot
    started: float
    fd: int = -1  # read end of the worker's status pipe; -1 once closed
    ready: bool = False
    board: Scoreboard = dataclasses.field(default_factory=Scoreboard)
    dismissal: Dismissal = dataclasses.field(default_factory=Dismissal)

    @property
    def pool(self) -> str:
        return self.slot[0]


@dataclass
class Reload:
    generation: int
    config: Config


class Pool:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.counts = {pool.name: pool.count for pool in config.pools}  # TTIN/TTOU change them
        self.generation = 1
        self.last_generation = 1
        self.reload: Reload | None = None
        self.procs: dict[int, Proc] = {}
        self.backoffs: dict[Slot, RestartBackoff] = {}
        self.stopping: StopMode | None = None
        self.booted_once = False  # a worker booted since the master started

    # -- what the pool is -----------------------------------------------------------

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def running(self, generation: int = 0) -> list[Proc]:
        """The workers of a generation (default: the current one) not asked to stop."""
        generation = generation or self.generation
        return [
            p for p in self.procs.values() if p.generation == generation and not p.dismissal.mode
        ]

    def missing_slots(
        self, generation: int = 0, counts: dict[str, int] | None = None
    ) -> list[Slot]:
        """The slots of a generation (default: the current one) that have no worker."""
        taken = {p.slot for p in self.running(generation)}
        wanted = [(pool, i) for pool, n in (counts or self.counts).items() for i in range(n)]
        return [slot for slot in wanted if slot not in taken]

    def backoff(self, slot: Slot) -> RestartBackoff:
        return self.backoffs.setdefault(slot, RestartBackoff())

    def backing_off(self) -> bool:
        return any(self.backoff(slot).failures for slot in self.missing_slots())

    def state(self) -> str:
        """For the master's title: stopping, reloading, backing off, or ""."""
        if self.stopping:
            return "stopping"
        if self.reload:
            return "reloading"
        return "backing off" if self.backing_off() else ""

    def next_spawn(self) -> float:
        """When the next worker that backs off may start (inf: none waits)."""
        if self.stopping:
            return math.inf
        return min(
            (self.backoff(slot).not_before for slot in self.missing_slots()), default=math.inf
        )

    def config_of(self, proc: Proc) -> Config:
        """The config of a worker's generation."""
        reload = self.reload
        return reload.config if reload and proc.generation == reload.generation else self.config

    def pool_of(self, proc: Proc) -> WorkersConfig:
        """The settings of a worker's pool, in the config of its generation."""
        config = self.config_of(proc)
        return config.pool(proc.pool) or config.workers

    def queues(self) -> tuple[str, ...]:
        """Every queue the workers take from, by name."""
        return tuple(dict.fromkeys(q for pool in self.config.pools for q in pool.queues))

    # -- the master's events ------------------------------------------------------------

    def started(self, proc: Proc) -> None:
        self.procs[proc.pid] = proc

    def booted(self, proc: Proc) -> None:
        proc.ready = True
        self.booted_once = True

    def stop(self, mode: StopMode, now: float) -> list[Action]:
        """Every worker asked to stop (a QUICK stop is not made GRACEFUL again)."""
        if self.stopping is StopMode.QUICK:
            return []
        self.stopping = mode
        return [
            a for p in self.procs.values() for a in self.ask_to_stop(p, mode, Cause.SHUTDOWN, now)
        ]

    def ask_to_stop(self, proc: Proc, mode: StopMode, cause: Cause, now: float) -> list[Action]:
        """TERM (finish the job, then exit) or QUIT (exit now); SIGKILL once overdue."""
        dismissal = proc.dismissal
        if dismissal.mode is StopMode.QUICK or dismissal.mode is mode:
            return []
        dismissal.mode = mode
        dismissal.cause = dismissal.cause or cause
        s = self.config.supervisor
        if mode is StopMode.GRACEFUL:
            sig, within = signal.SIGTERM, s.graceful_timeout
        else:
            sig, within = signal.SIGQUIT, s.quick_timeout
        dismissal.kill_at = min(dismissal.kill_at, now + within)
        dismissal.asked_at = now
        return [Send(proc.pid, sig)]

    def kill(self, proc: Proc, cause: Cause, reason: str) -> list[Action]:
        """SIGKILL now, for `reason` (its job's last error when charged; the log)."""
        dismissal = proc.dismissal
        dismissal.reason, dismissal.cause, dismissal.killed = reason, cause, True
        return [Send(proc.pid, signal.SIGKILL)]

    def manage(self, now: float) -> list[Action]:
        """Keep the count: spawn into the empty slots (unless backing off), push a reload
        on, retire the workers over the count after TTOU."""
        if self.stopping:
            return []
        actions = self.advance_reload(now) if self.reload is not None else []
        actions += [
            Spawn(self.generation, self.config, slot)
            for slot in self.missing_slots()
            if self.backoff(slot).may_spawn(now)
        ]
        for proc in self.running():
            pool, place = proc.slot
            if place >= self.counts.get(pool, 0):
                log.info("retiring worker %s", proc.id)
                actions += self.ask_to_stop(proc, StopMode.GRACEFUL, Cause.SCALED_DOWN, now)
        return actions

    def advance_reload(self, now: float) -> list[Action]:
        """Start the new generation's workers; once all have booted, retire the old ones."""
        assert self.reload is not None
        new, config = self.reload.generation, self.reload.config
        counts = {pool.name: pool.count for pool in config.pools}
        missing = self.missing_slots(new, counts)
        if missing:  # (a fork that failed is tried again next turn: a generation is whole)
            return [Spawn(new, config, s) for s in missing]
        if not all(p.ready for p in self.running(new)):
            return []
        actions: list[Action] = []
        self.config, self.generation, self.counts = config, new, counts
        self.reload = None
        old = [p for p in self.procs.values() if p.generation != new]
        for proc in old:
            actions += self.ask_to_stop(proc, StopMode.GRACEFUL, Cause.RELOADED, now)
        log.info("reload complete: generation %d running, %d old workers retiring", new, len(old))
        return actions

    def reload_to(self, new: Config, now: float) -> list[Action]:
        """HUP with a config that loaded: a new generation starts (replacing one that had
        not booted yet)."""
        actions = []
        if self.reload is not None:
            log.warning("HUP: generation %d had not booted yet: replaced", self.reload.generation)
            actions = self.abort_reload(now)
        self.last_generation += 1
        self.reload = Reload(self.last_generation, new)
        return actions

    def abort_reload(self, now: float) -> list[Action]:
        assert self.reload is not None
        generation, self.reload = self.reload.generation, None
        return [
            a
            for p in self.procs.values()
            if p.generation == generation
            for a in self.ask_to_stop(p, StopMode.GRACEFUL, Cause.RELOAD_ABORTED, now)
        ]

    def scale(self, signame: str, requests: Iterable[tuple[str, str]], asked: str) -> None:
        """TTIN / TTOU: set each pool's count ("+1", "-2", "5"); a pool keeps at least one
        worker and at most MAX_WORKERS."""
        for pool, change in requests:
            if pool not in self.counts:
                log.error("%s: no pool named %r: ignored", signame, pool)
                continue
            now = self.counts[pool]
            wanted = now + int(change) if change[:1] in "+-" else int(change)
            self.counts[pool] = min(max(1, wanted), MAX_WORKERS)
            log.info("%s: %d workers in pool %s%s", signame, self.counts[pool], pool, asked)

    def healthy(self, now: float) -> None:
        """A slot whose worker has been up long enough is healthy again: no backoff."""
        for proc in self.procs.values():
            if proc.ready and now - proc.started >= CRASH_LOOP_UPTIME_S:
                self.backoff(proc.slot).booted()

    def exited(self, proc: Proc, code: int, now: float) -> list[Action]:
        """A worker is gone (reaped with `code`, as waitstatus_to_exitcode gives it): its
        list goes back to the queues; then what its death means for its slot (backoff),
        for a reload (aborted) or for the master (halt)."""
        self.procs.pop(proc.pid, None)
        dismissal, how = proc.dismissal, describe_exit(code)
        on_purpose = bool(dismissal.mode or dismissal.reason)
        if dismissal.reason:
            log.warning("worker %s %s (%s)", proc.id, how, dismissal.reason)
        elif code == 0 or on_purpose:
            log.info("worker %s %s", proc.id, how)
        elif code == -signal.SIGKILL:
            log.error("worker %s %s (perhaps out of memory)", proc.id, how)
        elif code == ExitCode.HANDLER:
            log.error("worker %s could not import its handler", proc.id)
        else:
            log.warning("worker %s %s", proc.id, how)
        died = died_on_its_own(proc, code)
        reason = f"worker {proc.id} {dismissal.reason or how} while running the job"
        pool = self.pool_of(proc)
        cost = int(died or dismissal.charge)
        actions: list[Action] = [
            Requeue(proc.id, cost, reason, pool.max_attempts, pool.concurrency)
        ]
        backoff = self.backoff(proc.slot)
        if proc.ready:
            uptime = now - proc.started
            if died and uptime >= CRASH_LOOP_UPTIME_S:
                backoff.booted()
            elif died and not self.stopping:
                delay = backoff.boot_failed(now)
                log.warning(
                    "worker %s died %.1f s after it started: next start in %.1f s",
                    proc.id, uptime, delay,
                )  # fmt: skip
            return actions
        if on_purpose:
            return actions
        if self.reload is not None and proc.generation == self.reload.generation:
            log.error(
                "reload aborted: a worker of generation %d %s while booting; "
                "keeping the running configuration", proc.generation, how,
            )  # fmt: skip
            actions += self.abort_reload(now)
        elif code == ExitCode.HANDLER and not self.booted_once:
            actions.append(Halt(ExitCode.HANDLER, f"handler {pool.handler} cannot be imported"))
        elif not self.stopping:
            delay = backoff.boot_failed(now)
            log.warning("worker %s died while booting: next start in %.1f s", proc.id, delay)
        return actions


def died_on_its_own(proc: Proc, code: int) -> bool:
    """A worker that exited with an error, or was killed, without being asked to."""
    return code != 0 and not (proc.dismissal.mode or proc.dismissal.reason)


def end_cause(proc: Proc, code: int) -> Cause:
    """Why a worker ended, for the restart counts."""
    if proc.dismissal.cause:
        return proc.dismissal.cause
    if code == 0:
        return Cause.RECYCLED
    return Cause.CRASHED if proc.ready else Cause.BOOT_FAILURE


def describe_exit(code: int) -> str:
    """A waitstatus_to_exitcode() result in words."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return "exited" if code == 0 else f"exited with status {code}"
