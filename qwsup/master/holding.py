"""The master's hold on its supervisor's name, and its watch over the other supervisors.

A name is held by one live master at a time (docs/protocol.md "Holding a name"). The
master takes it before it forks any worker (`claim`), renews it several times per lease
(`keep`), and watches the heartbeats of every supervisor, in one read, to reclaim the
jobs of those silent for a whole lease (`watch_others`). The decisions are leases.py's
(pure); this module carries them out over Redis. The workers read the token and the
time of the last renewal on the master's board: they take jobs only while it is recent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from qwsup.errors import ExitCode, RedisTrouble
from qwsup.master import identity
from qwsup.master.actions import Halt
from qwsup.master.leases import BeatWatch, Claim, Holder, LeaseWatch, judge
from qwsup.master.timers import Every
from qwsup.master.totals import Totals
from qwsup.outage import Outage
from qwsup.scoreboard import MasterBoard, boottime
from qwsup.store.queue import Queue
from qwsup.store.records import Beat, Reclaimed, Watched

log = logging.getLogger(__name__)

HOST = socket.gethostname()
RENEWALS_PER_LEASE = 6  # the workers stop taking jobs after a third of a lease unrenewed


class NameHold:
    def __init__(
        self,
        queue: Queue,
        name: str,
        lease_s: float,
        outage: Outage,
        totals: Totals,
        *,
        max_attempts: Callable[[], int],
        pools: Callable[[], str],
        pause: Callable[[float], None],
        stopping: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.name = name
        self.lease_s = lease_s
        self.outage = outage
        self.totals = totals  # counts the jobs reclaimed
        self.max_attempts = max_attempts  # for reclaimed jobs: the most any pool allows
        self.pools = pools  # the pools for `qwsup status`, written with each renewal
        self.pause = pause  # waits, dispatching the signals that arrive meanwhile
        self.stopping = stopping
        self.clock = clock
        self.pid = os.getpid()
        self.place = identity.here()
        self.board = MasterBoard()  # what the workers read: the token, when renewed
        self.token = 0  # 0: not held
        self.renewed_at: float | None = None
        self.renewals = Every(lease_s / RENEWALS_PER_LEASE)
        self.last_renewal = -float("inf")
        self.reported_status = ""
        self.watch = BeatWatch(lease_s, me=name)  # the heartbeats' order, one read
        self.older = LeaseWatch(lease_s, me=name)  # every record, while older masters run
        self.watches = Every(lease_s / RENEWALS_PER_LEASE)

    def holding(self, now: float) -> bool:
        """Whether the name is ours and was renewed lately (a third of a lease: while the
        workers still take jobs): only then does the master judge lists and leases."""
        recent = self.renewed_at is not None and now - self.renewed_at <= self.lease_s / 3
        return bool(self.token) and recent

    def next_deadline(self) -> float:
        return min(self.renewals.at, self.watches.at)

    # -- taking the name ------------------------------------------------------------

    def claim(self) -> Halt | None:
        """Take the name before starting any worker. A name free, or held by a master
        that provably died here (same boot, same pid namespace, its process gone), is
        taken at once; one held from elsewhere is watched for a lease, and taken only if
        its holder stays silent. A Halt when a live master holds it (exit status 73);
        None once the name is ours, or when a signal stopped the master meanwhile."""
        token = secrets.randbits(62) + 1  # kept across tries: a reply lost is no refusal
        while not self.stopping():
            with self.outage.guard("claim", self.clock) as attempt:
                holder = Holder.from_record(self.queue.holder(self.name))
                if holder is not None and holder.token == str(token):
                    self.took(token)  # our claim went through; its reply was lost
                    return None
                decision = judge(self.place, holder, identity.still_running)
                if decision is Claim.WATCH:
                    assert holder is not None
                    decision = self.watch_holder(holder)
                if decision is Claim.REFUSE:
                    assert holder is not None
                    return Halt(ExitCode.NAME_HELD, self.held_by(holder))
                if decision is Claim.TAKE and self.take(token, holder.token if holder else ""):
                    return None
            if attempt.failed:
                self.pause(min(self.lease_s / 4, 1.0))
        return None

    def take(self, token: int, expected: str) -> bool:
        """claim.lua: the name for `token`, if its hold is still `expected`."""
        holder = {
            "pid": str(self.pid), "host": HOST, "boot_id": self.place.boot_id,
            "pidns": self.place.pidns, "started": identity.started(self.pid),
            "status": "starting", "pools": self.pools(),
        }  # fmt: skip
        sent = boottime()
        taken = self.queue.claim(
            self.name, str(token), expected=expected, lease_s=self.lease_s, holder=holder
        )
        if taken is not None:
            return False  # someone else was quicker: judged again
        self.took(token, sent)
        return True

    def took(self, token: int, sent: float | None = None) -> None:
        """The name is ours under `token`, from a claim sent at `sent` (boottime())."""
        now = self.clock()
        self.token, self.renewed_at = token, now
        self.board.renewed(boottime() if sent is None else sent, token)
        self.renewals.restart(now)

    def watch_holder(self, holder: Holder) -> Claim:
        """The name is held from another machine or pid namespace: REFUSE as soon as its
        record changes (a live master heartbeats), TAKE once it was watched silent for a
        lease and its jobs reclaimed, WATCH when the record went or changed hands
        meanwhile (judged again)."""
        log.warning(
            "supervisor name %s is held by pid %d on %s since %s, from another machine or "
            "pid namespace: watching for up to %g s whether it is alive",
            self.name, holder.pid, holder.host, utc(holder.since_ms), self.lease_s,
        )  # fmt: skip
        watch, first = LeaseWatch(self.lease_s), None
        while not self.stopping():
            sent = self.clock()
            with self.outage.guard("claim", self.clock) as attempt:
                beats = self.queue.beats([self.name])
                record = Holder.from_record(self.queue.holder(self.name))
            if attempt.failed:
                watch.lost_link()
            else:
                if record is None or record.token != holder.token:
                    return Claim.WATCH
                beat = beats.get(self.name, Beat(""))
                first = beat.value if first is None else first
                if beat.value != first:
                    return Claim.REFUSE
                if watch.observe(sent, self.clock(), {self.name: beat}):
                    return self.reclaim_holder(holder, beat.value)
            self.pause(min(self.lease_s / 8, 0.5))
        return Claim.WATCH

    def reclaim_holder(self, holder: Holder, seen: str) -> Claim:
        """The name's holder was silent for a whole lease: its jobs go back, then the
        name is free for this master."""
        reclaimed = self.queue.reclaim(
            self.name, by=self.name, max_attempts=self.max_attempts(), seen=seen
        )
        if reclaimed is None:
            return Claim.WATCH  # it beat at the last moment: judged again
        self.count(reclaimed)
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
            f"host {holder.host}, {where}, since {utc(holder.since_ms)}; give this one "
            "another [supervisor] name"
        )

    # -- keeping it -------------------------------------------------------------------

    def keep(self, now: float, status: str) -> Halt | None:
        """Heartbeat: renew the hold several times per lease (the workers stop taking
        jobs when it is not renewed for a third of one), and sooner (at most once a
        second) when the status line for `qwsup status` changed."""
        changed = status != self.reported_status and now - self.last_renewal >= 1.0
        if not self.renewals.due(now) and not changed:
            return None
        self.renewals.restart(now)
        self.last_renewal = now
        self.reported_status = status
        if not self.token:  # reclaimed while we stalled: the name is taken again
            return self.claim_again()
        sent = boottime()
        renewed = -2
        with self.outage.guard("heartbeat", self.clock):
            renewed = self.queue.heartbeat(
                self.name, self.lease_s, token=str(self.token), pid=self.pid, host=HOST,
                status=status, pools=self.pools(),
            )  # fmt: skip
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
            return self.reclaimed(now)
        elif renewed == -1:
            return Halt(ExitCode.NAME_HELD, f"supervisor name {self.name!r} was taken over")
        return None

    def reclaimed(self, now: float) -> Halt | None:
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
        return self.claim_again()

    def claim_again(self) -> Halt | None:
        """After a reclaim: the name under a new token, unless another master took it."""
        taken = True
        with self.outage.guard("claim", self.clock) as attempt:
            taken = self.take(secrets.randbits(62) + 1, "")
        if attempt.failed or taken:
            return None  # (a failure is tried again at the next heartbeat)
        return Halt(ExitCode.NAME_HELD, f"supervisor name {self.name!r} was taken over")

    def release(self) -> None:
        """Give the name up (at a clean exit)."""
        with contextlib.suppress(RedisTrouble):  # at exit: nothing would try it again
            self.queue.release(self.name, str(self.token))

    # -- watching the others --------------------------------------------------------------

    def watch_others(self, now: float) -> None:
        """Read the heartbeats' order several times per lease (one call, whatever the
        number of supervisors); reclaim the jobs of those watched silent for a whole
        lease (see leases.py). While a master of an older version shares the Redis (it
        does not number its heartbeats), read every record as well, as it does."""
        if not self.token or not self.watches.due(now):
            return
        if not self.holding(now):  # our writes fail (out of memory?): we judge nobody
            self.watch.lost_link()
            self.older.lost_link()
            return
        sent = self.clock()
        read: Watched | None = None
        with self.outage.guard("watch", self.clock) as attempt:
            read = self.queue.watch(self.name, str(self.token), self.watch.upto(sent))
        if attempt.failed or read is None:  # (None: our record has another token now)
            self.watch.lost_link()
            self.older.lost_link()
            return
        seen = {name: suspect.value for name, suspect in read.suspects.items()}
        dead = self.watch.observe(sent, self.clock(), read)
        if read.complete:
            self.older.lost_link()  # (begun afresh should an older master come)
        else:
            sent = self.clock()
            with self.outage.guard("watch", self.clock) as attempt:
                beats = self.queue.beats()
            if attempt.failed:
                self.older.lost_link()
            else:
                for name in self.older.observe(sent, self.clock(), beats):
                    if name not in seen:
                        seen[name] = beats[name].value
                        dead.append(name)
        for name in dead:
            if not self.reclaim(name, seen[name]):
                return

    def reclaim(self, name: str, seen: str) -> bool:
        """Reclaim supervisor `name`, watched silent for a lease with its record showing
        `seen`; False when Redis failed meanwhile."""
        reclaimed = None
        with self.outage.guard("watch", self.clock) as attempt:
            reclaimed = self.queue.reclaim(
                name, by=self.name, max_attempts=self.max_attempts(), seen=seen
            )
        if attempt.failed:
            self.watch.lost_link()
            self.older.lost_link()
            return False
        self.older.forget(name)
        if reclaimed is None:
            return True  # it heartbeated at the last moment
        self.count(reclaimed)
        log.warning(
            "supervisor %s stopped heartbeating for over %g s: reclaimed its jobs, "
            "%d back in the queue, %d out of attempts to failed:jobs",
            name, self.lease_s, reclaimed.requeued, reclaimed.failed,
        )  # fmt: skip
        return True

    def count(self, reclaimed: Reclaimed) -> None:
        self.totals.requeued += reclaimed.requeued
        self.totals.failed += reclaimed.failed


def utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000)) if ms else "?"
