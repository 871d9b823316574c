"""The master: forks the workers, keeps them alive, reloads and stops on signals.

Signal handlers only record the signal; the loop acts. One turn of the loop
(`step`) is a fixed sequence of small steps:

    wait for a signal, a worker's pipe or the next deadline (at most 1 s)
    → dispatch the signals → reap the dead workers → requeue their jobs
    → move the retries that are due back to the queue
    → end the workers that overran a deadline (stop, boot, heartbeat, job, memory)
    → keep the worker count → sweep the lists of workers that died unseen
    → renew the hold on the supervisor's name → watch the other supervisors' leases
      and reclaim the dead → restart the embedded server if it died
    → keep the title current → tell systemd

Before its first worker, the master takes the supervisor's name (`claim_name`): a
name is held by one live master at a time (see leases.py and docs/protocol.md).

Workers belong to a generation: a reload (HUP) starts a new generation with the new
config and retires the old one only once every new worker has booted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import queue
import secrets
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import psutil

from . import config as config_module
from . import identity, logs, metrics, proctitle, worker
from .backoff import RestartBackoff
from .config import MAX_WORKERS, Config, WorkersConfig
from .connection import make_client, redact, url_of
from .embedded import EmbeddedRedis
from .errors import (
    ConfigError,
    EmbeddedRedisError,
    ExitCode,
    RedisTrouble,
)
from .keys import Keys, split_worker_id, worker_id
from .leases import Beat, Claim, Holder, LeaseWatch, judge
from .outage import Outage
from .privileges import RunAs
from .queue import Queue, Reclaimed
from .scoreboard import MasterBoard, Scoreboard, boottime
from .server import refuse_unsafe
from .systemd import Notifier
from .totals import Totals
from .worker import READY

log = logging.getLogger(__name__)

HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)
WAIT_MAX_S = 1.0
HOST = socket.gethostname()
SWEEP_INTERVAL_S = 10.0
CRASH_LOOP_UPTIME_S = 2.0  # a worker that dies sooner than this after booting backs off
MEMORY_CHECK_S = 1.0
MEMORY_KILL_FACTOR = 1.5  # "far over" max_memory_mb: killed at once, not after its job
DUMP_GRACE_S = 1.0  # time a hung worker gets to dump its stack before SIGKILL
GRACEFUL, QUICK = "graceful", "quick"


Slot = tuple[str, int]  # a pool's name, and a place in it: 0 .. its count - 1


def describe(config: Config) -> str:
    """What the pools run, for the log: "4 workers running app.jobs:run", and the pool
    names when there are several."""
    if len(config.pools) == 1:
        return f"{config.workers.count} workers running {config.workers.handler}"
    return ", ".join(
        f"pool {p.name}: {p.count} workers running {p.handler} on {'+'.join(p.queues)}"
        for p in config.pools
    )


@dataclass
class Proc:
    """The master's record of one worker process."""

    pid: int
    id: str
    generation: int
    slot: Slot  # (pool, 0..count-1) within its generation; restart backoff is per slot
    fd: int  # read end of the worker's status pipe; -1 once closed
    started: float
    ready: bool = False
    board: Scoreboard = dataclasses.field(default_factory=Scoreboard)
    timed_out: float = 0.0  # when the job that ran past job_timeout started
    stop: str = ""  # GRACEFUL or QUICK once the master asked it to stop
    kill_at: float = math.inf
    killed: bool = False
    charge: bool = False  # its job costs an attempt when it goes: hung, timed out, too big
    cause: str = ""  # why the master ended it, for the restart counts
    reason: str = ""  # why the master is ending it, for the log and the job's last error


@dataclass
class Reload:
    generation: int
    config: Config


class Master:
    def __init__(self, config: Config, run_as: RunAs | None = None) -> None:
        self.config = config
        self.run_as = run_as  # the user workers switch to (see privileges.py)
        self.counts = {pool.name: pool.count for pool in config.pools}  # TTIN/TTOU change them
        self.generation = 1
        self.last_generation = 1
        self.reload: Reload | None = None
        self.procs: dict[int, Proc] = {}
        # (worker id, attempts to charge, reason, max attempts of its pool)
        self.pending: list[tuple[str, int, str, int]] = []
        self.signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.backoffs: dict[Slot, RestartBackoff] = {}  # by slot
        self.stopping = ""
        self.exit_code = ExitCode.OK
        self.booted_once = False
        self.next_sweep = 0.0
        self.next_memory_check = 0.0
        self.next_heartbeat = 0.0
        self.next_watch = 0.0
        # the hold on the supervisor's name: its token (0: not held) and when it was last
        # renewed; the workers read both on the board
        self.token = 0
        self.renewed_at: float | None = None
        self.board = MasterBoard()
        self.place = identity.here()
        self.watch = LeaseWatch(config.supervisor.lease_timeout, me=config.supervisor.name)
        self.reported_status = ""
        self.last_heartbeat = -math.inf
        self.totals = Totals()
        self.pool_totals: dict[str, Totals] = {}  # the jobs of each pool's workers gone
        self.pid = os.getpid()
        self.embedded: EmbeddedRedis | None = None
        self.queue: Queue | None = None
        self.selector = selectors.DefaultSelector()
        self._wakeup_r = -1
        self._wakeup_w = -1
        self.outage = Outage(log)
        self._title = ""
        self.notifier = Notifier()
        self.metrics_server: Any = None
        self.announced = False  # READY=1 sent for the current generation

    @property
    def name(self) -> str:
        return self.config.supervisor.name

    # -- life ---------------------------------------------------------------------

    def run(self) -> int:
        try:
            try:
                self.start()
            except (EmbeddedRedisError, OSError) as exc:
                log.error("cannot start: %s", exc)
                self.exit_code = ExitCode.UNAVAILABLE
                return int(self.exit_code)
            except ConfigError:  # the config does not fit its server: the CLI says why
                self.exit_code = ExitCode.CONFIG
                raise
            while not self.finished():
                self.step()
        finally:
            self.cleanup()
        return int(self.exit_code)

    def start(self) -> None:
        """Raises EmbeddedRedisError when the embedded server cannot start."""
        self.set_title()
        if self.config.embedded:
            state_dir, server = self.config.state_dir(), self.config.redis.server
            fsync = self.config.redis.appendfsync
            self.embedded = EmbeddedRedis(state_dir, server, self.run_as, appendfsync=fsync)
            self.embedded.start()
        keys = Keys(self.config.redis.prefix())
        self.queue = Queue(make_client(self.config), keys)
        refuse_unsafe(self.config, self.queue.client)  # raises UnsafeServer: exit 78
        address = self.config.metrics.address()
        if address is not None:
            collector = metrics.QwsupCollector(self.metrics_state, make_client(self.config), keys)
            try:
                self.metrics_server = metrics.serve(address, collector)
            except OSError as exc:
                raise OSError(
                    f"cannot serve metrics on {self.config.metrics.listen}: {exc}"
                ) from None
            log.info("metrics on http://%s/metrics", self.config.metrics.listen)
        self.install_signals()
        log.info(
            "master %d started: %s on %s",
            self.pid, describe(self.config), redact(url_of(self.config)),
        )  # fmt: skip
        if not self.claim_name():
            return
        self.keep_lease(time.monotonic(), self.status_line())
        self.sweep(time.monotonic())
        self.requeue_pending()
        self.manage(time.monotonic())

    def install_signals(self) -> None:
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._wakeup_r, selectors.EVENT_READ)
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.put_nowait(signum)

    def step(self) -> None:
        self.wait(self.timeout(time.monotonic()))
        self.dispatch()
        self.reap()
        self.requeue_pending()
        self.promote_due()
        now = time.monotonic()
        self.police(now)
        self.manage(now)
        self.sweep(now)
        status = self.status_line()
        self.keep_lease(now, status)
        self.watch_leases(now)
        self.watch_embedded()
        self.set_title()
        self.tell_systemd(now, status)

    def finished(self) -> bool:
        """Stopping, every worker gone, and their jobs requeued (or Redis is down: the
        next master's sweep requeues them)."""
        if not self.stopping or self.procs:
            return False
        if self.pending and self.outage.since is not None:
            log.error(
                "Redis unreachable: the jobs of %s stay in their lists for the next master",
                ", ".join(wid for wid, *_ in self.pending),
            )
            return True
        return not self.pending

    def cleanup(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.queue is not None and self.token and not self.pending:
            # (with lists left to requeue, the record stays: the next master here takes
            # the name at once, and its sweep finds them)
            with contextlib.suppress(RedisTrouble):
                self.queue.release(self.name, str(self.token))
        if self.embedded is not None and not self.procs:
            self.embedded.stop()
        t = self.live_totals()
        log.info(
            "master %d exiting (status %d): %d jobs done, %d attempts failed, "
            "%d jobs failed for good, %d requeued; %d workers started, %d died",
            self.pid, self.exit_code, t.done, t.attempts_failed, t.failed_for_good + t.failed,
            t.requeued, t.started, t.died,
        )  # fmt: skip

    # -- waiting ------------------------------------------------------------------

    def timeout(self, now: float) -> float:
        deadlines = [p.kill_at for p in self.procs.values() if not p.killed]
        deadlines += [self.next_heartbeat, self.next_watch]
        if self.notifier.watchdog_s is not None:
            deadlines.append(now + self.notifier.watchdog_s)
        deadlines += [self.backoff(slot).not_before for slot in self.missing_slots()]
        return max(0.0, min([now + WAIT_MAX_S, *deadlines]) - now)

    def wait(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.fd == self._wakeup_r:
                try:
                    while os.read(self._wakeup_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                self.read_status(key.data)

    def read_status(self, proc: Proc) -> None:
        """Read what a worker wrote to its pipe; close the pipe at EOF."""
        if proc.fd < 0:
            return
        try:
            data = os.read(proc.fd, 4096)
        except BlockingIOError:
            return
        if READY in data:
            proc.ready = True
            self.booted_once = True
        if not data:
            self.selector.unregister(proc.fd)
            os.close(proc.fd)
            proc.fd = -1

    # -- signals --------------------------------------------------------------

    def dispatch(self) -> None:
        while True:
            try:
                signum = self.signals.get_nowait()
            except queue.Empty:
                return
            if signum == signal.SIGTERM:
                log.info("TERM: stopping gracefully (at most %g s)", self.graceful_timeout)
                self.stop(GRACEFUL)
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                log.info("%s: stopping now", signal.Signals(signum).name[3:])
                self.stop(QUICK)
            elif signum == signal.SIGHUP:
                self.handle_hup()
            elif signum in (signal.SIGTTIN, signal.SIGTTOU):
                self.scale(signum)

    @property
    def graceful_timeout(self) -> float:
        return self.config.supervisor.graceful_timeout

    def stop(self, mode: str) -> None:
        if self.stopping == QUICK:
            return
        if not self.stopping:
            self.notifier.stopping()
        self.stopping = mode
        for proc in self.procs.values():
            self.ask_to_stop(proc, mode, "shutdown")

    def halt(self, code: ExitCode, reason: str) -> None:
        log.error("%s: stopping (exit status %d)", reason, code)
        self.exit_code = code
        self.stop(QUICK)

    def ask_to_stop(self, proc: Proc, mode: str, cause: str) -> None:
        """TERM (finish the job, then exit) or QUIT (exit now); SIGKILL once overdue."""
        if proc.stop == QUICK or proc.stop == mode:
            return
        proc.stop = mode
        proc.cause = proc.cause or cause
        if mode == GRACEFUL:
            sig, within = signal.SIGTERM, self.graceful_timeout
        else:
            sig, within = signal.SIGQUIT, self.config.supervisor.quick_timeout
        proc.kill_at = min(proc.kill_at, time.monotonic() + within)
        self.kill(proc, sig)

    def kill(self, proc: Proc, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone: reap() will see it
            os.kill(proc.pid, sig)

    def handle_hup(self) -> None:
        if self.stopping:
            return
        self.notifier.reloading()
        self.announced = False  # READY=1 again once the reload is over, whichever way
        try:
            new = config_module.load(self.config.path)
        except ConfigError as exc:
            log.error("HUP: %s; keeping the running configuration", exc)
            return
        new = self.keep_restart_only_keys(new)
        if self.reload is not None:
            log.warning("HUP: generation %d had not booted yet: replaced", self.reload.generation)
            self.abort_reload()
        self.last_generation += 1
        self.reload = Reload(self.last_generation, new)
        logs.set_level(new.log.level_number())
        log.info(
            "HUP: reloading %s: starting generation %d (%s)",
            new.path, self.reload.generation, describe(new),
        )  # fmt: skip

    def keep_restart_only_keys(self, new: Config) -> Config:
        """The Redis connection, the supervisor's name and the workers' user change only
        with a restart."""
        old, o = self.config, self.config.supervisor
        supervisor = dataclasses.replace(
            new.supervisor, name=o.name, user=o.user, group=o.group, run_as_root=o.run_as_root,
            lease_timeout=o.lease_timeout,
        )  # fmt: skip
        if new.redis != old.redis or new.metrics != old.metrics or supervisor != new.supervisor:
            log.warning(
                "HUP: [redis], [metrics], supervisor.name, lease_timeout, user, group and "
                "run_as_root change on restart only"
            )
        return dataclasses.replace(new, redis=old.redis, supervisor=supervisor, metrics=old.metrics)

    def abort_reload(self) -> None:
        assert self.reload is not None
        for proc in self.procs.values():
            if proc.generation == self.reload.generation:
                self.ask_to_stop(proc, GRACEFUL, "reload_aborted")
        self.reload = None

    # -- dead workers -------------------------------------------------------------

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.procs.pop(pid, None)
            if proc is None:
                continue
            self.read_status(proc)  # a READY still in the pipe counts
            if proc.fd >= 0:
                self.selector.unregister(proc.fd)
                os.close(proc.fd)
            self.on_exit(proc, os.waitstatus_to_exitcode(status))

    def on_exit(self, proc: Proc, code: int) -> None:
        """Log the death by its meaning, queue its jobs for requeueing, decide what follows."""
        on_purpose = bool(proc.stop or proc.reason)
        how = describe_exit(code)
        if proc.reason:
            log.warning("worker %s %s (%s)", proc.id, how, proc.reason)
        elif code == 0 or on_purpose:
            log.info("worker %s %s", proc.id, how)
        elif code == -signal.SIGKILL:
            log.error("worker %s %s (perhaps out of memory)", proc.id, how)
        elif code == ExitCode.HANDLER:
            log.error("worker %s could not import its handler", proc.id)
        else:
            log.warning("worker %s %s", proc.id, how)
        died = code != 0 and not on_purpose
        score = proc.board.read()
        self.totals.add_jobs(score)
        self.pool_totals.setdefault(proc.slot[0], Totals()).add_jobs(score)
        proc.board.close()
        self.totals.died += died
        idle_exit = "recycled" if code == 0 else "crashed" if proc.ready else "boot_failure"
        self.totals.worker_ended(proc.cause or idle_exit)
        reason = f"worker {proc.id} {proc.reason or how} while running the job"
        cost, pool = int(died or proc.charge), self.pool_of(proc)
        self.pending.append((proc.id, cost, reason, pool.max_attempts))
        now = time.monotonic()
        backoff = self.backoff(proc.slot)
        if proc.ready:
            if not died:
                return
            uptime = now - proc.started
            if uptime >= CRASH_LOOP_UPTIME_S:
                backoff.booted()
            elif not self.stopping:
                delay = backoff.boot_failed(now)
                log.warning(
                    "worker %s died %.1f s after it started: next start in %.1f s",
                    proc.id, uptime, delay,
                )  # fmt: skip
            return
        if on_purpose:
            return
        if self.reload is not None and proc.generation == self.reload.generation:
            log.error(
                "reload aborted: a worker of generation %d %s while booting; "
                "keeping the running configuration", proc.generation, how,
            )  # fmt: skip
            self.abort_reload()
        elif code == ExitCode.HANDLER and not self.booted_once:
            handler = self.pool_of(proc).handler
            self.halt(ExitCode.HANDLER, f"handler {handler} cannot be imported")
        elif not self.stopping:
            delay = backoff.boot_failed(now)
            log.warning("worker %s died while booting: next start in %.1f s", proc.id, delay)

    def requeue_pending(self) -> None:
        assert self.queue is not None
        while self.pending:
            wid, cost, reason, max_attempts = self.pending[0]
            if not self.token:
                return  # not holding the name (reclaimed): once it is ours again
            try:
                moved = self.queue.requeue(
                    wid, cost=cost, max_attempts=max_attempts, reason=reason,
                    host=self.name, token=str(self.token),
                )  # fmt: skip
                if not moved.fenced:
                    self.queue.unregister_worker(self.name, wid)
            except RedisTrouble as exc:
                self.redis_down(exc, "requeue")
                return
            self.redis_up("requeue")
            self.pending.pop(0)
            if moved.fenced:
                log.warning("worker %s: the name is no longer ours: its list is left", wid)
                continue
            self.totals.requeued += moved.requeued
            self.totals.failed += moved.failed
            if moved.requeued or moved.failed:
                log.warning(
                    "worker %s: %d jobs back in the queue, %d out of attempts to failed:jobs",
                    wid, moved.requeued, moved.failed,
                )  # fmt: skip

    def promote_due(self) -> None:
        """Move the retries and jobs for later that are due from delayed:jobs to their
        queue: for a quarter of a second at most per turn of the loop, so that a huge
        backlog does not hold up heartbeats and reaping; the rest goes next turn."""
        assert self.queue is not None
        try:
            self.queue.promote(budget_s=0.25)
        except RedisTrouble as exc:
            self.redis_down(exc, "promote")
            return
        self.redis_up("promote")

    @property
    def lease_s(self) -> float:
        return self.config.supervisor.lease_timeout

    # -- the supervisor's name ------------------------------------------------------

    def claim_name(self) -> bool:
        """Take the supervisor's name before starting any worker. A name free, or held by
        a master that provably died here (same boot, same pid namespace, its process
        gone), is taken at once; one held from elsewhere is watched for a lease, and
        taken only if its holder stays silent. False when this master must not run: a
        live master holds the name (exit status 73), or a signal stopped it meanwhile."""
        assert self.queue is not None
        token = secrets.randbits(62) + 1  # kept across tries: a reply lost is no refusal
        while not self.stopping:
            try:
                holder = Holder.from_record(self.queue.holder(self.name))
                if holder is not None and holder.token == str(token):
                    self.took_name(token)  # our claim went through; its reply was lost
                    return True
                decision = judge(self.place, holder, identity.still_running)
                if decision is Claim.WATCH:
                    assert holder is not None
                    decision = self.watch_holder(holder)
                if decision is Claim.REFUSE:
                    assert holder is not None
                    self.halt(ExitCode.NAME_HELD, self.held_by(holder))
                    return False
                if decision is Claim.TAKE and self.take_name(token, holder.token if holder else ""):
                    return True
            except RedisTrouble as exc:
                self.redis_down(exc, "claim")
                self.pause(min(self.lease_s / 4, 1.0))
        return False

    def take_name(self, token: int, expected: str) -> bool:
        """claim.lua: the name for `token`, if its hold is still `expected`."""
        assert self.queue is not None
        holder = {
            "pid": str(self.pid), "host": HOST, "boot_id": self.place.boot_id,
            "pidns": self.place.pidns, "started": identity.started(self.pid),
            "status": "starting", "pools": self.pools_json(),
        }  # fmt: skip
        sent = boottime()
        taken = self.queue.claim(
            self.name, str(token), expected=expected, lease_s=self.lease_s, holder=holder
        )
        self.redis_up("claim")
        if taken is not None:
            return False  # someone else was quicker: judged again
        self.took_name(token, sent)
        return True

    def took_name(self, token: int, sent: float | None = None) -> None:
        """The name is ours under `token`, from a claim sent at `sent` (boottime())."""
        now = time.monotonic()
        self.token, self.renewed_at = token, now
        self.board.renewed(boottime() if sent is None else sent, token)
        self.next_heartbeat = now + self.lease_s / 6

    def watch_holder(self, holder: Holder) -> Claim:
        """The name is held from another machine or pid namespace: REFUSE as soon as its
        record changes (a live master heartbeats), TAKE once it was watched silent for a
        lease and its jobs reclaimed, WATCH when the record went or changed hands
        meanwhile (judged again)."""
        assert self.queue is not None
        log.warning(
            "supervisor name %s is held by pid %d on %s since %s, from another machine or "
            "pid namespace: watching for up to %g s whether it is alive",
            self.name, holder.pid, holder.host, _utc(holder.since_ms), self.lease_s,
        )  # fmt: skip
        watch, first = LeaseWatch(self.lease_s), None
        while not self.stopping:
            sent = time.monotonic()
            try:
                beats = self.queue.beats([self.name])
                record = Holder.from_record(self.queue.holder(self.name))
            except RedisTrouble as exc:
                self.redis_down(exc, "claim")
                watch.lost_link()
            else:
                self.redis_up("claim")
                if record is None or record.token != holder.token:
                    return Claim.WATCH
                beat = beats.get(self.name, Beat(""))
                first = beat.value if first is None else first
                if beat.value != first:
                    return Claim.REFUSE
                if watch.observe(sent, time.monotonic(), {self.name: beat}):
                    return self.reclaim_holder(holder, beat.value)
            self.pause(min(self.lease_s / 8, 0.5))
        return Claim.WATCH

    def reclaim_holder(self, holder: Holder, seen: str) -> Claim:
        """The name's holder was silent for a whole lease: its jobs go back, then the
        name is free for this master."""
        assert self.queue is not None
        reclaimed = self.queue.reclaim(
            self.name, by=self.name, max_attempts=self.max_attempts(), seen=seen
        )
        if reclaimed is None:
            return Claim.WATCH  # it beat at the last moment: judged again
        self.count_reclaimed(reclaimed)
        log.warning(
            "pid %d on %s did not heartbeat for %g s: reclaimed its jobs (%d back in the "
            "queue, %d to failed:jobs); taking the name",
            holder.pid, holder.host, self.lease_s, reclaimed.requeued, reclaimed.failed,
        )  # fmt: skip
        return Claim.TAKE

    def held_by(self, holder: Holder) -> str:
        """The one line that says who holds our name."""
        where = (
            "on this machine, in this pid namespace"
            if holder.place == self.place
            else "on another machine or in another pid namespace"
        )
        return (
            f"supervisor name {self.name!r} is held by a live master: pid {holder.pid} on "
            f"host {holder.host}, {where}, since {_utc(holder.since_ms)}; give this one "
            "another [supervisor] name"
        )

    def holding(self, now: float) -> bool:
        """Whether this master holds its name and renewed it lately (a third of a lease:
        when its workers still take jobs): only then does it judge lists and leases."""
        recent = self.renewed_at is not None and now - self.renewed_at <= self.lease_s / 3
        return bool(self.token) and recent

    def pause(self, seconds: float) -> None:
        """Wait (signals cut it short and are dispatched)."""
        self.wait(seconds)
        self.dispatch()

    def keep_lease(self, now: float, status: str) -> None:
        """Heartbeat: renew the hold on the supervisor's name, several times per lease
        (the workers stop taking jobs when it is not renewed for a third of one), and
        sooner (at most once a second) when the status line for `qwsup status` changed."""
        changed = status != self.reported_status and now - self.last_heartbeat >= 1.0
        if (now < self.next_heartbeat and not changed) or self.queue is None:
            return
        self.last_heartbeat = now
        self.next_heartbeat = now + self.lease_s / 6
        self.reported_status = status
        if not self.token:  # reclaimed while we stalled: the name is taken again
            self.claim_again()
            return
        sent = boottime()
        try:
            renewed = self.queue.heartbeat(
                self.name, self.lease_s, token=str(self.token), pid=self.pid, host=HOST,
                status=status, pools=self.pools_json(),
            )  # fmt: skip
        except RedisTrouble as exc:
            self.redis_down(exc, "heartbeat")
            return
        self.redis_up("heartbeat")
        if renewed == 1:
            if self.renewed_at is not None and now - self.renewed_at > self.lease_s:
                log.error(
                    "this master could not renew its lease for %.1f s (it stalled, or lost "
                    "Redis), past lease_timeout = %g s; no other master had declared it dead",
                    now - self.renewed_at, self.lease_s,
                )  # fmt: skip
            self.renewed_at = now
            self.board.renewed(sent, self.token)
        elif renewed == 0:
            self.reclaimed(now)
        else:
            self.halt(ExitCode.NAME_HELD, f"supervisor name {self.name!r} was taken over")

    def reclaimed(self, now: float) -> None:
        """Another master reclaimed our jobs while we stalled or were cut off: say so once
        and take the name again (nothing of ours is left to put back: the reclaim moved
        every list)."""
        silent = now - self.renewed_at if self.renewed_at is not None else 0.0
        log.error(
            "our lease had lapsed (no renewal for %.1f s: this master stalled, or lost Redis) "
            "and our record is gone: another master reclaimed the jobs of our workers (or a "
            "failover lost the record); a job running meanwhile may run twice; taking the "
            "name again",
            silent,
        )
        self.token = 0  # our workers are fenced off already: the record has no token
        self.claim_again()

    def claim_again(self) -> None:
        """After a reclaim: the name under a new token, unless another master took it."""
        try:
            if self.take_name(secrets.randbits(62) + 1, ""):
                return
        except RedisTrouble as exc:
            self.redis_down(exc, "claim")  # tried again at the next heartbeat
            return
        self.halt(ExitCode.NAME_HELD, f"supervisor name {self.name!r} was taken over")

    def watch_leases(self, now: float) -> None:
        """Read every supervisor's record several times per lease; reclaim the jobs of
        those watched silent for a whole lease (see leases.py)."""
        if now < self.next_watch or self.queue is None or not self.token:
            return
        self.next_watch = now + self.lease_s / 6
        if not self.holding(now):  # our writes fail (out of memory?): we judge nobody
            self.watch.lost_link()
            return
        sent = time.monotonic()
        try:
            beats = self.queue.beats()
        except RedisTrouble as exc:
            self.watch.lost_link()
            self.redis_down(exc, "watch")
            return
        self.redis_up("watch")
        for name in self.watch.observe(sent, time.monotonic(), beats):
            try:
                reclaimed = self.queue.reclaim(
                    name, by=self.name, max_attempts=self.max_attempts(), seen=beats[name].value
                )
            except RedisTrouble as exc:
                self.watch.lost_link()
                self.redis_down(exc, "watch")
                return
            self.watch.forget(name)
            if reclaimed is None:
                continue  # it heartbeated at the last moment
            self.count_reclaimed(reclaimed)
            log.warning(
                "supervisor %s stopped heartbeating for over %g s: reclaimed its jobs, "
                "%d back in the queue, %d out of attempts to failed:jobs",
                name, self.lease_s, reclaimed.requeued, reclaimed.failed,
            )  # fmt: skip

    def count_reclaimed(self, reclaimed: Reclaimed) -> None:
        self.totals.requeued += reclaimed.requeued
        self.totals.failed += reclaimed.failed

    def sweep(self, now: float) -> None:
        """Queue for requeueing the lists of our name's workers that died unseen (a
        master killed before it could requeue them), once at start and then periodically."""
        if now < self.next_sweep or self.queue is None or not self.holding(now):
            return
        self.next_sweep = now + SWEEP_INTERVAL_S
        try:
            members = self.queue.registered_workers(self.name)
        except RedisTrouble as exc:
            self.redis_down(exc, "sweep")
            return
        known = {p.id for p in self.procs.values()} | {wid for wid, *_ in self.pending}
        for wid in sorted(members - known):
            parts = split_worker_id(wid)
            if parts is None or parts[0] != self.name or is_live_worker(parts[1], wid):
                continue
            log.warning("worker %s is gone: requeueing its jobs", wid)
            reason = f"worker {wid} was found dead with the job"
            self.pending.append((wid, 1, reason, self.max_attempts()))

    def police(self, now: float) -> None:
        """End the workers that overran a deadline: a stop, their boot, their heartbeat,
        their job's time limit, their memory limit."""
        check_memory = now >= self.next_memory_check
        if check_memory:
            self.next_memory_check = now + MEMORY_CHECK_S
        for proc in self.procs.values():
            if proc.killed:
                continue
            w = self.pool_of(proc)
            score = proc.board.read()
            busy = score.busy_since
            if proc.timed_out and busy != proc.timed_out and not proc.stop:
                # the worker stopped the job that ran too long and recorded the failure
                proc.kill_at, proc.charge, proc.reason, proc.cause = math.inf, False, "", ""
                proc.timed_out = 0.0
            uptime = now - proc.started
            if proc.kill_at <= now:
                log.warning("worker %s did not stop in time: SIGKILL", proc.id)
                proc.killed = True
                self.kill(proc, signal.SIGKILL)
            elif not proc.ready:
                if not proc.stop and uptime > w.boot_timeout:
                    log.error(
                        "worker %s did not boot within %g s: SIGKILL", proc.id, w.boot_timeout
                    )
                    proc.killed = True
                    self.kill(proc, signal.SIGKILL)
            elif now - max(proc.started, score.beat) > w.heartbeat_timeout and not proc.reason:
                log.error(
                    "worker %s sent no heartbeat for %g s: dumping its stack, then SIGKILL",
                    proc.id, w.heartbeat_timeout,
                )  # fmt: skip
                self.end(
                    proc, f"hung (no heartbeat for {w.heartbeat_timeout:g} s)", DUMP_GRACE_S, "hung"
                )
                self.kill(proc, worker.DUMP_STACK)
            elif w.job_timeout and not proc.reason and busy and now - busy > w.job_timeout:
                limit = w.job_timeout
                proc.timed_out = busy
                log.warning("worker %s: job over its %g s limit: stopping it", proc.id, limit)
                self.end(
                    proc,
                    f"timed out after {limit:g} s",
                    self.config.supervisor.quick_timeout,
                    "job_timeout",
                )
                self.kill(proc, worker.JOB_TIMEOUT)
            elif check_memory and not proc.reason and w.max_memory_mb:
                self.check_memory(proc, w.max_memory_mb)
            if proc.ready and uptime >= CRASH_LOOP_UPTIME_S:
                self.backoff(proc.slot).booted()  # up long enough: its slot is healthy

    def end(self, proc: Proc, reason: str, within: float, cause: str) -> None:
        """Charge the worker's job an attempt when it goes; SIGKILL it after `within` s."""
        proc.reason, proc.charge, proc.cause = reason, True, cause
        proc.kill_at = min(proc.kill_at, time.monotonic() + within)

    def check_memory(self, proc: Proc, limit_mb: float) -> None:
        try:
            rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
        except psutil.Error:
            return
        if rss_mb > limit_mb * MEMORY_KILL_FACTOR:
            log.error(
                "worker %s uses %.0f MB, far over max_memory_mb = %g: SIGKILL",
                proc.id, rss_mb, limit_mb,
            )  # fmt: skip
            self.end(proc, f"used {rss_mb:.0f} MB, far over the {limit_mb:g} MB limit", 0, "memory")
            proc.killed = True
            self.kill(proc, signal.SIGKILL)
        elif rss_mb > limit_mb and not proc.stop:
            log.warning(
                "worker %s uses %.0f MB, over max_memory_mb = %g: replacing it after its job",
                proc.id, rss_mb, limit_mb,
            )  # fmt: skip
            self.ask_to_stop(proc, GRACEFUL, "memory")

    # -- keeping the count ----------------------------------------------------------

    def manage(self, now: float) -> None:
        if self.stopping:
            return
        if self.reload is not None:
            self.advance_reload()
        for slot in self.missing_slots():
            if self.backoff(slot).may_spawn(now):
                self.spawn(self.generation, self.config, slot)
        for proc in self.running(self.generation):
            pool, place = proc.slot
            if place >= self.counts.get(pool, 0):  # after TTOU
                log.info("retiring worker %s", proc.id)
                self.ask_to_stop(proc, GRACEFUL, "scaled_down")

    def running(self, generation: int) -> list[Proc]:
        return [p for p in self.procs.values() if p.generation == generation and not p.stop]

    def missing_slots(
        self, generation: int = 0, counts: dict[str, int] | None = None
    ) -> list[Slot]:
        """The slots of a generation (default: the current one) that have no worker."""
        taken = {p.slot for p in self.running(generation or self.generation)}
        wanted = [(pool, i) for pool, n in (counts or self.counts).items() for i in range(n)]
        return [slot for slot in wanted if slot not in taken]

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def pool_of(self, proc: Proc) -> WorkersConfig:
        """The settings of a worker's pool, in the config of its generation."""
        reload = self.reload
        config = reload.config if reload and proc.generation == reload.generation else self.config
        return config.pool(proc.slot[0]) or config.workers

    def max_attempts(self) -> int:
        """For jobs whose pool is not known (other hosts', dead workers found by a sweep):
        the most any pool allows, so that none is failed early."""
        return max(pool.max_attempts for pool in self.config.pools)

    def queues(self) -> tuple[str, ...]:
        """Every queue the workers take from, by name."""
        return tuple(dict.fromkeys(q for pool in self.config.pools for q in pool.queues))

    def pools_json(self) -> str:
        """Each pool's wanted count, queues and running workers, for `qwsup status`."""
        current = self.running(self.generation)
        return json.dumps([
            {
                "name": pool.name, "count": self.counts.get(pool.name, 0),
                "queues": list(pool.queues),
                "workers": [p.id for p in current if p.slot[0] == pool.name],
            }
            for pool in self.config.pools
        ])  # fmt: skip

    def scale(self, signum: int) -> None:
        """TTIN / TTOU: the changes `qwsup scale` left in Redis for this supervisor, or,
        when there is none (a plain kill -TTIN), one worker more / fewer in the first
        pool. A pool keeps at least one worker."""
        signame = signal.Signals(signum).name[3:]
        try:
            requests = self.queue.take_scale_requests(self.name) if self.queue else []
        except RedisTrouble as exc:
            log.error("%s: cannot read the scale requests (%s): first pool", signame, exc)
            requests = []
        asked = " (qwsup scale)" if requests else ""
        if not requests:
            requests = [(self.config.pools[0].name, "+1" if signum == signal.SIGTTIN else "-1")]
        for pool, change in requests:
            if pool not in self.counts:
                log.error("%s: no pool named %r: ignored", signame, pool)
                continue
            now = self.counts[pool]
            wanted = now + int(change) if change[:1] in "+-" else int(change)
            self.counts[pool] = min(max(1, wanted), MAX_WORKERS)
            log.info("%s: %d workers in pool %s%s", signame, self.counts[pool], pool, asked)

    def backoff(self, slot: Slot) -> RestartBackoff:
        return self.backoffs.setdefault(slot, RestartBackoff())

    def advance_reload(self) -> None:
        """Start the new generation's workers; once all have booted, retire the old ones."""
        assert self.reload is not None
        new, config = self.reload.generation, self.reload.config
        counts = {pool.name: pool.count for pool in config.pools}
        for slot in self.missing_slots(new, counts):
            self.spawn(new, config, slot)
        if not all(p.ready for p in self.running(new)):
            return
        self.config, self.generation, self.counts = config, new, counts
        self.reload = None
        old = [p for p in self.procs.values() if p.generation != new]
        for proc in old:
            self.ask_to_stop(proc, GRACEFUL, "reloaded")
        log.info("reload complete: generation %d running, %d old workers retiring", new, len(old))

    def spawn(self, generation: int, config: Config, slot: Slot) -> None:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        board = Scoreboard()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_fd)
            os.close(write_fd)
            board.close()
            log.error("cannot fork a worker: %s", exc)
            self.backoff(slot).boot_failed(time.monotonic())
            return
        if pid == 0:  # the child never returns from here
            code: int = ExitCode.ERROR
            try:
                os.close(read_fd)
                self.forget_in_child()
                pool = config.pool(slot[0]) or config.workers
                code = worker.boot(
                    config.for_pool(pool), write_fd, self.pid, board, self.run_as, slot[1],
                    self.board,
                )  # fmt: skip
            except BaseException:
                log.exception("worker crashed")
            finally:
                logs.flush()
                sys.stdout.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write_fd)
        now = time.monotonic()
        wid = worker_id(config.supervisor.name, pid)
        proc = Proc(pid, wid, generation, slot, read_fd, now, board=board)
        self.procs[pid] = proc
        self.selector.register(read_fd, selectors.EVENT_READ, proc)
        self.totals.started += 1
        log.debug("worker %s started (generation %d)", proc.id, generation)

    def forget_in_child(self) -> None:
        """In a new child: drop the master's signal handlers and its private descriptors."""
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        fds = [self._wakeup_r, self._wakeup_w, *(p.fd for p in self.procs.values())]
        if self.embedded is not None and self.embedded.lock_fd is not None:
            fds.append(self.embedded.lock_fd)
        if self.metrics_server is not None:
            fds.append(self.metrics_server.socket.fileno())
        self.selector.close()
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    # -- Redis and the embedded server --------------------------------------------

    def redis_down(self, exc: RedisTrouble, what: str) -> None:
        self.outage.down(exc, what, time.monotonic())

    def redis_up(self, what: str) -> None:
        self.outage.up(what, time.monotonic())

    def watch_embedded(self) -> None:
        if self.embedded is None or self.embedded.alive():
            return
        log.error("the embedded redis-server is gone: starting it again")
        try:
            self.embedded.start()
        except EmbeddedRedisError as exc:
            log.error("%s", exc)

    def metrics_state(self) -> metrics.MasterState:
        """Called from the metrics thread: copies made in C, so no lock is needed."""
        procs = list(self.procs.values())
        scores = [p.board.read() for p in procs]
        workers = [
            metrics.WorkerState(p.id, p.pid, bool(score.busy_since), p.slot[0])
            for p, score in zip(procs, scores, strict=True)
        ]
        totals = self.totals.with_jobs_of(scores)
        gone = dict(self.pool_totals)
        pools = {}
        for name in dict.fromkeys([*gone, *(p.slot[0] for p in procs)]):
            live = [s for p, s in zip(procs, scores, strict=True) if p.slot[0] == name]
            pools[name] = gone.get(name, Totals()).with_jobs_of(live)
        return metrics.MasterState(self.name, totals, workers, self.queues(), pools)

    def live_totals(self) -> Totals:
        """The counts of the workers gone and of those still running."""
        return self.totals.with_jobs_of([p.board.read() for p in self.procs.values()])

    def status_line(self) -> str:
        current = self.running(self.generation)
        ready = sum(p.ready for p in current)
        scores = [p.board.read() for p in self.procs.values()]
        busy = sum(bool(score.busy_since) for score in scores)
        t = self.totals.with_jobs_of(scores)
        workers = f"{ready}/{self.count} workers"
        if len(self.counts) > 1:  # "builds 2/2, mail 1/1 workers"
            workers = ", ".join(
                f"{pool} {sum(p.ready for p in current if p.slot[0] == pool)}/{count}"
                for pool, count in self.counts.items()
            ) + " workers"  # fmt: skip
        return f"{workers}, {busy} busy, {t.done} jobs done, {t.attempts_failed} failed"

    def tell_systemd(self, now: float, status: str) -> None:
        """READY=1 once every worker of the running generation has booted (at start and
        after a reload), the STATUS line, and the watchdog ping."""
        if not self.announced and not self.reload and not self.stopping:
            current = self.running(self.generation)
            if len(current) >= self.count and all(p.ready for p in current):
                self.notifier.ready(status)
                self.announced = True
        self.notifier.status(status)
        self.notifier.watchdog(now)

    def set_title(self) -> None:
        if self.stopping:
            state = "stopping"
        elif self.reload:
            state = "reloading"
        elif any(self.backoff(slot).failures for slot in self.missing_slots()):
            state = "backing off"
        else:
            state = ""
        title = proctitle.master_title(self.config.path, len(self.procs), state)
        if title != self._title:
            proctitle.set_title(title)
            self._title = title


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000)) if ms else "?"


def describe_exit(code: int) -> str:
    """A waitstatus_to_exitcode() result in words."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return "exited" if code == 0 else f"exited with status {code}"


def is_live_worker(pid: int, wid: str) -> bool:
    """Whether `pid` is still worker `wid` (and not a pid reused by another process)."""
    return proctitle.titled(pid, proctitle.worker_prefix(wid))
