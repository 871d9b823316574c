"""What a connected master does in Redis each turn of its loop, one duty a method: put
the gone workers' lists back, promote the jobs that are due, prune the finished, claim
the cron ticks, hear and enforce the stop requests, look at the queues no idle worker
waits on, sweep the lists of workers that died unseen, keep the name and watch the
other supervisors.

Each duty reads and writes Redis through the store, under the master's `Outage` (a
failure is logged once and tried again next turn, never raised), and returns the
actions the loop carries out: the decisions themselves are the pure policies'
(cron.py, cancels.py, looks.py, lists.py, leases.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from qwsup.config import Config, CronConfig
from qwsup.errors import RedisTrouble
from qwsup.master import cancels, looks
from qwsup.master.actions import Action, Requeue
from qwsup.master.cancels import Order, Stopping
from qwsup.master.cron import Cron
from qwsup.master.holding import NameHold
from qwsup.master.lists import Lists
from qwsup.master.pool import Pool, Proc
from qwsup.master.timers import Every
from qwsup.master.totals import Totals
from qwsup.master.wakeups import Wakeups
from qwsup.outage import Outage
from qwsup.store.connection import make_client
from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from qwsup.store.requests import Requests
from qwsup.store.server import refuse_unsafe

log = logging.getLogger(__name__)

WAIT_MAX_S = 1.0  # the longest the loop waits: a cron claim that failed is tried so soon
CRON_LOOK_S = 60.0  # the schedules' records are read at least this often (another master's
# claims, a clock that stepped)
CRON_CLAIMS = 100  # the most rounds of claims per turn (the rest next turn)
PROMOTE_BUDGET_S = 0.25  # at most this long per turn moving due retries: the rest next turn

Clock = Callable[[], float]


def connect(config: Config) -> Queue:
    """The master's queue on the config's Redis; UnsafeServer (exit 78) when the server
    may lose jobs (server.py)."""
    client = make_client(config)
    refuse_unsafe(config, client)
    keys = Keys(config.redis.prefix())
    return Queue(client, keys, config.longest_kept_ms, config.events.max_len)


class Duties:
    """A connected master's duties, for supervisor name `pool.config.supervisor.name`."""

    def __init__(
        self,
        queue: Queue,
        pool: Pool,
        totals: Totals,
        outage: Outage,
        wakeups: Wakeups[Proc | Requests],
        clock: Clock,
        *,
        pools: Callable[[], str],
        pause: Callable[[float], None],
    ) -> None:
        self.queue, self.pool, self.outage, self.clock = queue, pool, outage, clock
        self.wakeups = wakeups
        s = pool.config.supervisor
        self.name = s.name
        self.hold = NameHold(
            queue, self.name, s.lease_timeout, outage, totals,
            max_attempts=lambda: self.config.most_attempts, pools=pools, pause=pause,
            stopping=lambda: bool(pool.stopping), clock=clock,
        )  # fmt: skip
        self.lists = Lists(queue, self.name, outage, totals, clock)
        self.requests: Requests | None = None  # stop requests for our workers' jobs
        self.requests_fd: int | None = None  # its socket, as the wakeups watch it
        self.stopping = Stopping(s.quick_timeout)
        self.cron = Cron()  # the schedules, as this master follows them (cron.py)
        self.cron_config: tuple[CronConfig, ...] = ()  # what `cron` follows
        self.cron_at = 0.0  # when the schedules need this master next (monotonic)
        self.looks = Every(looks.LOOK_EVERY_S)

    @property
    def config(self) -> Config:
        return self.pool.config

    @property
    def pending(self) -> list[Requeue]:
        """The gone workers whose lists are still to requeue."""
        return self.lists.pending

    def settled(self) -> bool:
        """Every gone worker's list requeued; or Redis is down, and they stay in their
        lists for the next master's sweep."""
        if self.pending and self.outage.since is not None:
            log.error(
                "Redis unreachable: the jobs of %s stay in their lists for the next master",
                ", ".join(r.worker for r in self.pending),
            )
            return True
        return not self.pending

    def next_deadline(self) -> float:
        """The earliest a duty needs the loop: a renewal or watch, a kill, a cron tick."""
        cron_at = self.cron_at if self.cron.schedules else math.inf
        return min(self.hold.next_deadline(), self.stopping.next_deadline(), cron_at)

    def fds(self) -> list[int]:
        """The descriptors a worker must not keep."""
        return [self.requests_fd] if self.requests_fd is not None else []

    # -- the workers gone -------------------------------------------------------------

    def requeue_later(self, requeue: Requeue) -> None:
        """A gone worker's list, to put back once the name is held and Redis answers."""
        self.lists.pending.append(requeue)

    def requeue_pending(self) -> list[Action]:
        self.lists.requeue(self.hold.token)
        return []

    def sweep(self, now: float, is_live: Callable[[int, str], bool]) -> list[Action]:
        """The lists of this name's workers that died unseen (not the master's own, and
        no live process of theirs: `is_live`); only while holding the name: a master
        that lost it judges no list."""
        if self.hold.holding(now):
            known = {p.id for p in self.pool.procs.values()}
            # (its pool is not known: the least concurrency, so that no job taken along
            # and not started is charged)
            running = min(pool.concurrency for pool in self.config.pools)
            self.lists.sweep(now, known, is_live, self.config.most_attempts, running)
        return []

    # -- the jobs' own time -----------------------------------------------------------

    def promote_due(self) -> list[Action]:
        """Move the retries and jobs for later that are due from delayed:jobs to their
        queue, within a budget per turn so that a huge backlog does not hold up
        heartbeats and reaping."""
        with self.outage.guard("promote", self.clock):
            self.queue.promote(budget_s=PROMOTE_BUDGET_S)
        return []

    def prune_finished(self) -> list[Action]:
        """Remove the finished jobs kept past keep_finished, and the oldest beyond
        keep_finished_max, within the same budget per turn as promote_due."""
        with self.outage.guard("prune", self.clock):
            self.queue.prune(self.config.most_finished_kept, budget_s=PROMOTE_BUDGET_S)
        return []

    def fire_cron(self) -> list[Action]:
        """When a schedule's tick is due (on the Redis clock): claim it with cron.lua,
        which enqueues it once whichever masters claim it (cron.py); then sleep until the
        next tick. A reloaded config's schedules are followed from its first turn."""
        if self.config.cron is not self.cron_config:
            self.cron.follow(self.config.cron)
            self.cron_config, self.cron_at = self.config.cron, 0.0
        if not self.cron.schedules or self.clock() < self.cron_at:
            return []
        queue = self.queue
        with self.outage.guard("cron", self.clock) as attempt:
            for _ in range(CRON_CLAIMS):  # claim after claim while ticks are due
                records, now_ms = queue.cron_records(self.cron.unknown())
                for name, last in records.items():
                    self.cron.read(name, last)
                claims = self.cron.due(now_ms)
                for claim in claims:
                    c = self.cron.schedules[claim.name].config
                    outcome, said = queue.claim_tick(claim, c.queue, c.fields, c.unique)
                    last = int(said) if outcome == "moved" and said else None
                    self.cron.claimed(claim, outcome, last)
                if not claims:
                    break
        if attempt.failed:
            self.cron_at = self.clock() + WAIT_MAX_S
            return []
        upcoming = self.cron.next_ms(now_ms)
        wait_s = 0.0 if upcoming is None else max(0.0, (upcoming - now_ms + 1) / 1000)
        self.cron_at = self.clock() + min(wait_s, CRON_LOOK_S)
        return []

    # -- cancelled jobs ---------------------------------------------------------------

    def listen_for_stops(self, now: float) -> list[Action]:
        """While the name is ours: a BLPOP on <name>:cancels under way, its socket among
        what the loop waits on, so that a stop request is acted on at once."""
        if not self.hold.token:
            return []
        if self.requests is None:
            self.requests = Requests(self.queue.client, self.queue.keys, self.name)
        if not self.requests.due_to_connect(now):
            return []
        self.forget_requests()
        with self.outage.guard("stop requests", self.clock) as attempt:
            self.requests.listen(now)
        if not attempt.failed:
            self.requests_fd = self.requests.fileno()
            if self.requests_fd is not None:
                self.wakeups.watch(self.requests_fd, self.requests)
        return []

    def stop_requested(self, requests: Requests) -> list[Action]:
        """The requests the line brought: orders to the workers that run those jobs."""
        now = self.clock()
        actions = cancels.orders(requests.read(now), self.pool, self.stopping, now)
        if requests.conn is None:  # the line broke: listen_for_stops makes a new one
            self.forget_requests()
        return actions

    def enforce_stops(self, now: float) -> list[Action]:
        """Kill a worker still holding a cancelled job quick_timeout after its order."""
        return cancels.overdue(self.pool, self.stopping, now, self.still_running)

    def still_running(self, order: Order) -> bool:
        holds = True  # (Redis unreachable: the worker cannot end the job either)
        with self.outage.guard("stop check", self.clock):
            holds = self.queue.still_running(order.worker, order.job)
        return holds

    def forget_requests(self) -> None:
        if self.requests_fd is not None:
            self.wakeups.forget(self.requests_fd)
            self.requests_fd = None

    # -- the queues no idle worker waits on -------------------------------------------

    def look(self, now: float) -> list[Action]:
        """About once a second, while some worker idles: the lengths of the queues its
        idle workers take from and none waits on (the host queue, and in a pool of
        several queues those no idle worker blocks on); one idle worker is asked to look
        at every queue for each that holds jobs (looks.py)."""
        if not self.looks.due(now):
            return []
        idle = looks.idle_workers(self.pool.procs.values(), self.config)
        queues = looks.unwatched(idle, self.name)
        if not queues:
            return []
        waiting: dict[str, int] = {}
        with self.outage.guard("look", self.clock):
            waiting = self.queue.lengths(queues)
        return looks.wake(idle, waiting, self.name)

    # -- the operators' requests ------------------------------------------------------

    def scale_requests(self, signame: str) -> list[tuple[str, str]]:
        """The changes `qwsup scale` left for this supervisor, (pool, change) each."""
        try:
            return self.queue.take_scale_requests(self.name)
        except RedisTrouble as exc:  # (no outage: nothing tries it again but a signal)
            log.error("%s: cannot read the scale requests (%s): first pool", signame, exc)
            return []

    # -- the name ---------------------------------------------------------------------

    def claim_name(self) -> list[Action]:
        """Take the supervisor's name at start (a Halt when a live master holds it)."""
        halt = self.hold.claim()
        return [halt] if halt is not None else []

    def keep_lease(self, now: float, status: str) -> list[Action]:
        """Renew the hold on the name (a Halt when another master holds it)."""
        halt = self.hold.keep(now, status)
        return [halt] if halt is not None else []

    def watch_others(self, now: float) -> list[Action]:
        """The other supervisors' leases; the dead's jobs reclaimed (holding.py)."""
        self.hold.watch_others(now)
        return []

    def close(self) -> None:
        """At exit: the stop requests' line; the name's record unless lists are left to
        requeue (then the next master here takes the name at once, and its sweep finds
        them)."""
        if self.requests is not None:
            self.requests.close()
        if self.hold.token and not self.pending:
            self.hold.release()
