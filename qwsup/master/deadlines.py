"""Who is overdue: the deadlines the master holds its workers to.

Pure: `police` is given the time, the workers, their scores (from the scoreboard) and
their memory use, and returns the signals to send. One worker overruns at most one
deadline at a time, checked in this order:

    asked to stop and not gone in time     → SIGKILL
    asked to stop gracefully, still idle   → TERM again every TERM_AGAIN_S
    not booted within boot_timeout         → SIGKILL
    no heartbeat for heartbeat_timeout     → dump its stack, SIGKILL after DUMP_GRACE_S
    a job running past job_timeout         → JobTimeout in the handler, SIGKILL after quick_timeout
    over max_memory_mb                     → replaced after its job; SIGKILL at 1.5 times

A worker ended for a hang, a time limit or its memory costs its job an attempt.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from qwsup.contract import DUMP_STACK, JOB_TIMEOUT
from qwsup.master.actions import Action, Cause, Send, StopMode
from qwsup.master.pool import Dismissal, Pool, Proc
from qwsup.scoreboard import Score

log = logging.getLogger(__name__)

DUMP_GRACE_S = 1.0  # time a hung worker gets to dump its stack before SIGKILL
MEMORY_CHECK_S = 1.0  # how often the workers' memory is read
MEMORY_KILL_FACTOR = 1.5  # "far over" max_memory_mb: killed at once, not after its job
# An idle worker leaves its wait on TERM by an exception its handler raises, which
# Python drops when the signal lands in a finalizer (__del__, run by the collector):
# such a worker would sit in a wait of up to 30 s. TERM again, then.
TERM_AGAIN_S = 5.0

RssOf = Callable[[int], float | None]  # a pid's resident memory, MB; None: unknown


def police(
    pool: Pool, now: float, scores: dict[int, Score], rss_mb: RssOf | None = None
) -> list[Action]:
    """The signals for the workers that overran a deadline; `rss_mb` is given only when
    it is time to check memory (every MEMORY_CHECK_S)."""
    actions: list[Action] = []
    for proc in pool.procs.values():
        if proc.dismissal.killed or proc.pid not in scores:
            continue
        actions += _one(pool, proc, now, scores[proc.pid], rss_mb)
    return actions


def _one(pool: Pool, proc: Proc, now: float, score: Score, rss_mb: RssOf | None) -> list[Action]:
    w, dismissal = pool.pool_of(proc), proc.dismissal
    busy = score.busy_since
    if dismissal.timed_out and busy != dismissal.timed_out and not dismissal.mode:
        # the worker stopped the job that ran too long and recorded the failure
        proc.dismissal = dismissal = Dismissal()
    if dismissal.kill_at <= now:
        log.warning("worker %s did not stop in time: SIGKILL", proc.id)
        return _kill(proc)
    if (
        dismissal.mode is StopMode.GRACEFUL
        and not busy
        and now - dismissal.asked_at >= TERM_AGAIN_S
    ):
        log.info("worker %s still waits for jobs after TERM: TERM again", proc.id)
        dismissal.asked_at = now
        return [Send(proc.pid, signal.SIGTERM)]
    if not proc.ready:
        if not dismissal.mode and now - proc.started > w.boot_timeout:
            log.error("worker %s did not boot within %g s: SIGKILL", proc.id, w.boot_timeout)
            return _kill(proc)
        return []
    if dismissal.reason:  # already being ended for an overrun: its kill_at says when
        return []
    if now - max(proc.started, score.beat) > w.heartbeat_timeout:
        limit = w.heartbeat_timeout
        log.error(
            "worker %s sent no heartbeat for %g s: dumping its stack, then SIGKILL", proc.id, limit
        )
        _end(proc, f"hung (no heartbeat for {limit:g} s)", now + DUMP_GRACE_S, Cause.HUNG)
        return [Send(proc.pid, DUMP_STACK)]
    if w.job_timeout and busy and now - busy > w.job_timeout:
        limit = w.job_timeout
        dismissal.timed_out = busy
        log.warning("worker %s: job over its %g s limit: stopping it", proc.id, limit)
        quick = pool.config.supervisor.quick_timeout
        _end(proc, f"timed out after {limit:g} s", now + quick, Cause.JOB_TIMEOUT)
        return [Send(proc.pid, JOB_TIMEOUT)]
    if rss_mb is not None and w.max_memory_mb:
        return _memory(pool, proc, now, rss_mb(proc.pid), w.max_memory_mb)
    return []


def _memory(pool: Pool, proc: Proc, now: float, rss: float | None, limit: float) -> list[Action]:
    if rss is None:
        return []
    if rss > limit * MEMORY_KILL_FACTOR:
        log.error(
            "worker %s uses %.0f MB, far over max_memory_mb = %g: SIGKILL", proc.id, rss, limit
        )
        _end(proc, f"used {rss:.0f} MB, far over the {limit:g} MB limit", now, Cause.MEMORY)
        return _kill(proc)
    if rss > limit and not proc.dismissal.mode:
        log.warning(
            "worker %s uses %.0f MB, over max_memory_mb = %g: replacing it after its job",
            proc.id, rss, limit,
        )  # fmt: skip
        return pool.ask_to_stop(proc, StopMode.GRACEFUL, Cause.MEMORY, now)
    return []


def _end(proc: Proc, reason: str, kill_at: float, cause: Cause) -> None:
    """Charge the worker's job an attempt when it goes; SIGKILL it at `kill_at`."""
    e = proc.dismissal
    e.reason, e.charge, e.cause = reason, True, cause
    e.kill_at = min(e.kill_at, kill_at)


def _kill(proc: Proc) -> list[Action]:
    proc.dismissal.killed = True
    return [Send(proc.pid, signal.SIGKILL)]
