"""The master: forks the workers, keeps them alive, reloads and stops on signals.

Signal handlers only record the signal; the loop acts. One turn of the loop (`step`)
is a fixed sequence of small steps (tests/test_layout.py holds this list to `step`):

    1. `wait` for a signal, a worker's pipe, a stop request or the next deadline (<= 1 s)
    2. `dispatch` the signals: stop, reload, scale
    3. `reap` the dead workers, deciding what each death means (pool.py)
    4. `requeue_pending`: their lists back to the queues, while the name is held
    5. `promote_due`: the retries and jobs for later that are due, to their queue
    6. `prune_finished`: the finished jobs kept past keep_finished
    7. `fire_cron`: claim the cron ticks that are due (cron.py)
    8. `listen_for_stops`: keep a line open for stop requests (cancels.py)
    9. `look`: ask an idle worker to take from a queue none waits on (looks.py)
    10. `police`: end the workers that overran a deadline (deadlines.py)
    11. `enforce_stops`: kill a worker that did not stop a cancelled job
    12. `pool.manage`: keep the worker count, start the next generation (pool.py)
    13. `sweep` the lists of workers that died unseen (lists.py)
    14. `keep_lease`: renew the hold on the supervisor's name (holding.py)
    15. `watch_others`: the other supervisors' leases, and reclaim the dead's jobs
    16. `watch_embedded`: restart the embedded server if it died
    17. `set_title`: keep the process title current
    18. `tell_systemd`: READY, STATUS and the watchdog

The decisions are made by pure objects that return actions (actions.py): `Pool` (slots,
generations, what a death means), `police` (who is overdue), `NameHold` (the name);
the master carries the actions out. Its effects on processes go through `Processes`,
so a test can hand it fakes.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from qwsup import config as config_module
from qwsup import contract, logs, proctitle
from qwsup.config import Config, CronConfig, restart_only
from qwsup.contract import Boot
from qwsup.errors import ConfigError, EmbeddedRedisError, ExitCode, RedisTrouble
from qwsup.master.actions import Action, Cause, Halt, Requeue, Send, Spawn, StopMode
from qwsup.master.cancels import Requests, Stopping
from qwsup.master.children import HANDLED, Processes
from qwsup.master.cron import Cron
from qwsup.master.deadlines import MEMORY_CHECK_S, police
from qwsup.master.holding import NameHold
from qwsup.master.lists import Lists
from qwsup.master.looks import LOOK_EVERY_S, Idle, to_wake, unwatched
from qwsup.master.pool import Pool, Proc
from qwsup.master.tally import Tally
from qwsup.master.timers import Every
from qwsup.master.wakeups import Wakeups
from qwsup.ops import metrics
from qwsup.outage import Outage
from qwsup.privileges import RunAs
from qwsup.scoreboard import Scoreboard
from qwsup.store.connection import make_client, redact, url_of
from qwsup.store.embedded import EmbeddedRedis
from qwsup.store.keys import Keys, worker_id
from qwsup.store.queue import Queue
from qwsup.store.server import refuse_unsafe
from qwsup.systemd import Notifier

log = logging.getLogger(__name__)

WAIT_MAX_S = 1.0
CRON_LOOK_S = 60.0  # the schedules' records are read at least this often (another master's
# claims, a clock that stepped)
CRON_CLAIMS = 100  # the most rounds of claims per turn (the rest next turn)
PROMOTE_BUDGET_S = 0.25  # at most this long per turn moving due retries: the rest next turn


class Master:
    def __init__(
        self,
        config: Config,
        run_as: RunAs | None = None,
        *,
        boot: Boot | None = None,
        processes: Processes | None = None,
        queue: Queue | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_as = run_as  # the user workers switch to (see privileges.py)
        self.boot = boot  # what a new child runs: the worker's boot (none in unit tests)
        self.processes = processes or Processes()
        self.queue = queue  # made in start() when not given
        self.clock = clock
        self.pool = Pool(config)
        self.tally = Tally(self.pool)
        self.exit_code = ExitCode.OK
        self.memory_check = Every(MEMORY_CHECK_S)
        self.looks = Every(LOOK_EVERY_S)
        self.pid = os.getpid()
        self.outage = Outage(log)
        self.hold: NameHold | None = None  # the name: once connected
        self.lists: Lists | None = None  # the gone workers' lists: once connected
        self.embedded: EmbeddedRedis | None = None
        self.wakeups: Wakeups[Proc | Requests] = Wakeups()
        self.requests: Requests | None = None  # stop requests for our workers' jobs
        self.requests_fd: int | None = None  # its socket, as the wakeups watch it
        self.stop_orders = Stopping(config.supervisor.quick_timeout)
        self.cron = Cron()  # the schedules, as this master follows them (cron.py)
        self.cron_config: tuple[CronConfig, ...] = ()  # what `cron` follows
        self.cron_at = 0.0  # when the schedules need this master next (monotonic)
        self._title = ""
        self.notifier = Notifier()
        self.metrics_server: Any = None
        self.announced = False  # READY=1 sent for the current generation

    @property
    def config(self) -> Config:
        """The running generation's config (a reload replaces it once it has booted)."""
        return self.pool.config

    @property
    def name(self) -> str:
        return self.config.supervisor.name

    @property
    def stopping(self) -> StopMode | None:
        return self.pool.stopping

    # -- life ---------------------------------------------------------------------

    def run(self) -> int:
        try:
            try:
                self.start()
            except (EmbeddedRedisError, OSError) as exc:
                log.error("cannot start: %s", exc)
                self.exit_code = ExitCode.UNAVAILABLE
                return int(self.exit_code)
            while not self.finished():
                self.step()
        except ConfigError:  # the config does not fit its server: the CLI says why
            self.exit_code = ExitCode.CONFIG
            raise
        except Exception:  # a fault of ours: the workers must not outlive it
            log.exception("the master failed: stopping every worker")
            self.exit_code = ExitCode.ERROR
            self.abandon()
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
        if self.queue is None:
            client = make_client(self.config)
            refuse_unsafe(self.config, client)  # raises UnsafeServer: exit 78
            self.queue = Queue(
                client, keys, self.config.longest_kept_ms, self.config.events.max_len
            )
        self.metrics_server = metrics.serve(
            self.config, lambda: self.tally.metrics_state(self.name, self.cron.counts())
        )
        self.wakeups.install(HANDLED)
        log.info(
            "master %d started: %s on %s",
            self.pid, self.config.describe(), redact(url_of(self.config)),
        )  # fmt: skip
        self.connected(self.queue)
        assert self.hold is not None
        halt = self.hold.claim()
        if halt is not None:
            self.carry_out([halt])
        if not self.hold.token:
            return
        now = self.clock()
        self.keep_lease(now, self.tally.status_line())
        self.sweep(now)
        self.requeue_pending()
        self.carry_out(self.pool.manage(now))

    def connected(self, queue: Queue) -> None:
        self.queue = queue
        self.hold = NameHold(
            queue, self.name, self.config.supervisor.lease_timeout, self.outage,
            self.tally.totals, max_attempts=lambda: self.config.most_attempts,
            pools=self.tally.pools_json, pause=self.pause, stopping=lambda: bool(self.stopping),
            clock=self.clock,
        )  # fmt: skip
        self.lists = Lists(queue, self.name, self.outage, self.tally.totals, self.clock)

    def requeue_later(self, requeue: Requeue) -> None:
        """A gone worker's list, to put back once the name is held and Redis answers (a
        worker exists only once connected, so the lists are there)."""
        assert self.lists is not None
        self.lists.pending.append(requeue)

    @property
    def pending(self) -> list[Requeue]:
        """The gone workers whose lists are still to requeue."""
        return self.lists.pending if self.lists is not None else []

    def step(self) -> None:
        self.wait(self.timeout(self.clock()))
        self.dispatch()
        self.reap()
        self.requeue_pending()
        self.promote_due()
        self.prune_finished()
        self.fire_cron()
        now = self.clock()
        self.listen_for_stops(now)
        self.look(now)
        self.police(now)
        self.enforce_stops(now)
        self.carry_out(self.pool.manage(now))
        self.sweep(now)
        status = self.tally.status_line()  # read from every scoreboard: once a turn
        self.keep_lease(now, status)
        self.watch_others(now)
        self.watch_embedded()
        self.set_title()
        self.tell_systemd(now, status)

    def finished(self) -> bool:
        """Stopping, every worker gone, and their jobs requeued (or Redis is down: the
        next master's sweep requeues them)."""
        if not self.stopping or self.pool.procs:
            return False
        if self.pending and self.outage.since is not None:
            log.error(
                "Redis unreachable: the jobs of %s stay in their lists for the next master",
                ", ".join(r.worker for r in self.pending),
            )
            return True
        return not self.pending

    def abandon(self) -> None:
        """After a fault of the master's: QUIT every worker, reap those gone within
        quick_timeout, SIGKILL the rest. Their lists stay in Redis, and so does the
        name's record: the next master here takes the name at once and its sweep finds
        them (no Redis call here: the fault may be Redis's)."""
        self.carry_out(self.pool.stop(StopMode.QUICK, self.clock()))
        deadline = time.monotonic() + self.config.supervisor.quick_timeout
        while self.pool.procs and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for proc in self.pool.procs.values():
            self.processes.kill(proc.pid, signal.SIGKILL)
            reason = f"worker {proc.id} was killed when its master failed"
            self.requeue_later(Requeue(proc.id, 1, reason, self.config.most_attempts))

    def cleanup(self) -> None:
        if self.requests is not None:
            self.requests.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.hold is not None and self.hold.token and not self.pending:
            # (with lists left to requeue, the record stays: the next master here takes
            # the name at once, and its sweep finds them)
            self.hold.release()
        if self.embedded is not None and not self.pool.procs:
            self.embedded.stop()
        self.notifier.close()
        log.info(
            "master %d exiting (status %d): %s", self.pid, self.exit_code, self.tally.summary()
        )

    # -- waiting ------------------------------------------------------------------

    def timeout(self, now: float) -> float:
        """Until the next deadline: a kill, a renewal or watch, the watchdog, a spawn."""
        deadlines = [
            p.dismissal.kill_at for p in self.pool.procs.values() if not p.dismissal.killed
        ]
        if self.hold is not None:
            deadlines.append(self.hold.next_deadline())
        if self.notifier.watchdog_s is not None:
            deadlines.append(now + self.notifier.watchdog_s)
        deadlines.append(self.pool.next_spawn())
        deadlines.append(self.stop_orders.next_deadline())
        if self.cron.schedules:
            deadlines.append(self.cron_at)
        return max(0.0, min([now + WAIT_MAX_S, *deadlines]) - now)

    def wait(self, timeout: float) -> None:
        for ready in self.wakeups.wait(timeout):
            if isinstance(ready, Requests):
                self.stop_requested(ready)
            else:
                self.read_status(ready)

    def pause(self, seconds: float) -> None:
        """Wait (signals cut it short and are dispatched)."""
        self.wait(seconds)
        self.dispatch()

    def read_status(self, proc: Proc) -> None:
        """Read what a worker wrote to its pipe; close the pipe at EOF."""
        if proc.fd < 0:
            return
        try:
            data = os.read(proc.fd, 4096)
        except BlockingIOError:
            return
        if contract.READY in data:
            self.pool.booted(proc)
        if not data:
            self.close_pipe(proc)

    def close_pipe(self, proc: Proc) -> None:
        if proc.fd >= 0:
            self.wakeups.unwatch(proc.fd)
            proc.fd = -1

    # -- signals --------------------------------------------------------------

    def dispatch(self) -> None:
        while (signum := self.wakeups.next_signal()) is not None:
            if signum == signal.SIGTERM:
                log.info(
                    "TERM: stopping gracefully (at most %g s)",
                    self.config.supervisor.graceful_timeout,
                )
                self.stop(StopMode.GRACEFUL)
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                log.info("%s: stopping now", signal.Signals(signum).name[3:])
                self.stop(StopMode.QUICK)
            elif signum == signal.SIGHUP:
                self.handle_hup()
            elif signum in (signal.SIGTTIN, signal.SIGTTOU):
                self.scale(signum)

    def stop(self, mode: StopMode) -> None:
        if not self.stopping:
            self.notifier.stopping()
        self.carry_out(self.pool.stop(mode, self.clock()))

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
        new, kept = restart_only(self.config, new)
        if kept:
            log.warning("HUP: %s change on restart only", kept)
        self.carry_out(self.pool.reload_to(new, self.clock()))
        logs.set_level(new.log.level_number())
        log.info(
            "HUP: reloading %s: starting generation %d (%s)",
            new.path, self.pool.last_generation, new.describe(),
        )  # fmt: skip

    def scale(self, signum: int) -> None:
        """TTIN / TTOU: the changes `qwsup scale` left in Redis for this supervisor, or,
        when there is none (a plain kill -TTIN), one worker more / fewer in the first
        pool."""
        signame = signal.Signals(signum).name[3:]
        requests: list[tuple[str, str]] = []
        try:
            requests = self.queue.take_scale_requests(self.name) if self.queue else []
        except RedisTrouble as exc:  # (no outage: nothing tries it again but a signal)
            log.error("%s: cannot read the scale requests (%s): first pool", signame, exc)
        asked = " (qwsup scale)" if requests else ""
        if not requests:
            requests = [(self.config.pools[0].name, "+1" if signum == signal.SIGTTIN else "-1")]
        self.pool.scale(signame, requests, asked)

    # -- carrying out the decisions -----------------------------------------------------

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Spawn):
                self.spawn(action)
            elif isinstance(action, Send):
                self.processes.kill(action.pid, action.signal)
            elif isinstance(action, Requeue):
                self.requeue_later(action)
            else:
                self.halt(action)

    def halt(self, halt: Halt) -> None:
        log.error("%s: stopping (exit status %d)", halt.reason, halt.code)
        self.exit_code = halt.code
        self.stop(StopMode.QUICK)

    def police(self, now: float) -> None:
        rss_mb = self.processes.rss_mb if self.memory_check.due(now) else None
        scores = {pid: proc.board.read() for pid, proc in self.pool.procs.items()}
        self.carry_out(police(self.pool, now, scores, rss_mb))
        self.pool.healthy(now)

    # -- dead workers -------------------------------------------------------------

    def reap(self) -> None:
        for pid, code in self.processes.reaped():
            proc = self.pool.procs.get(pid)
            if proc is None:
                continue
            self.read_status(proc)  # a READY still in the pipe counts
            self.close_pipe(proc)
            self.stop_orders.gone(pid)
            self.tally.worker_gone(proc, code)
            self.carry_out(self.pool.exited(proc, code, self.clock()))

    def requeue_pending(self) -> None:
        if self.lists is not None and self.hold is not None:
            self.lists.requeue(self.hold.token)

    def promote_due(self) -> None:
        """Move the retries and jobs for later that are due from delayed:jobs to their
        queue, within a budget per turn so that a huge backlog does not hold up
        heartbeats and reaping."""
        if self.queue is not None:
            with self.outage.guard("promote", self.clock):
                self.queue.promote(budget_s=PROMOTE_BUDGET_S)

    def prune_finished(self) -> None:
        """Remove the finished jobs kept past keep_finished, and the oldest beyond
        keep_finished_max, within the same budget per turn as promote_due."""
        if self.queue is not None:
            with self.outage.guard("prune", self.clock):
                self.queue.prune(self.config.most_finished_kept, budget_s=PROMOTE_BUDGET_S)

    def fire_cron(self) -> None:
        """When a schedule's tick is due (on the Redis clock): claim it with cron.lua,
        which enqueues it once whichever masters claim it (cron.py); then sleep until the
        next tick. A reloaded config's schedules are followed from its first turn."""
        if self.config.cron is not self.cron_config:
            self.cron.follow(self.config.cron)
            self.cron_config, self.cron_at = self.config.cron, 0.0
        if self.queue is None or not self.cron.schedules or self.clock() < self.cron_at:
            return
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
            return
        upcoming = self.cron.next_ms(now_ms)
        wait_s = 0.0 if upcoming is None else max(0.0, (upcoming - now_ms + 1) / 1000)
        self.cron_at = self.clock() + min(wait_s, CRON_LOOK_S)

    # -- cancelled jobs ---------------------------------------------------------------

    def listen_for_stops(self, now: float) -> None:
        """While the name is ours: a BLPOP on <name>:cancels under way (cancels.py), its
        socket among what the loop waits on, so a stop request is acted on at once."""
        if self.queue is None or self.hold is None or not self.hold.token:
            return
        if self.requests is None:
            self.requests = Requests(self.queue.client, self.queue.keys, self.name)
        if not self.requests.due_to_connect(now):
            return
        if self.requests_fd is not None:
            self.wakeups.forget(self.requests_fd)
            self.requests_fd = None
        with self.outage.guard("stop requests", self.clock) as attempt:
            self.requests.listen(now)
        if not attempt.failed:
            self.requests_fd = self.requests.fileno()
            if self.requests_fd is not None:
                self.wakeups.watch(self.requests_fd, self.requests)

    def stop_requested(self, requests: Requests) -> None:
        """A job of one of our workers was cancelled: the worker is ordered to stop it
        (the master's board says which, JOB_CANCEL says look), and killed if it still
        holds it after quick_timeout (enforce_stops)."""
        now = self.clock()
        for request in requests.read(now):
            job = proctitle.printable(request.job.decode("utf-8", "backslashreplace"))
            proc = self.pool.procs.get(request.pid)
            if proc is None or proc.id != request.worker or proc.dismissal.killed:
                log.info("job %s was cancelled; worker %s is gone already", job, request.worker)
                continue
            log.info("job %s was cancelled: stopping it on worker %s", job, proc.id)
            assert self.hold is not None
            self.hold.board.order_stop(proc.pid, request.job)
            self.carry_out([Send(proc.pid, contract.JOB_CANCEL)])
            self.stop_orders.ordered(request, now)
        if requests.conn is None and self.requests_fd is not None:  # the line broke
            self.wakeups.forget(self.requests_fd)
            self.requests_fd = None

    def enforce_stops(self, now: float) -> None:
        """A worker still holding a cancelled job quick_timeout after it was ordered to
        stop it is killed; what else it held goes back to the queues uncharged, and the
        cancelled job ends cancelled (put_back)."""
        for order in self.stop_orders.due(now):
            proc = self.pool.procs.get(order.pid)
            if proc is None or proc.dismissal.killed or self.queue is None:
                continue
            holds = True  # (Redis unreachable: the worker cannot end the job either)
            with self.outage.guard("stop check", self.clock):
                holds = self.queue.still_running(order.worker, order.job)
            if not holds:
                continue
            job = proctitle.printable(order.job.decode("utf-8", "backslashreplace"))
            quick = self.config.supervisor.quick_timeout
            log.warning(
                "worker %s: its job %s was cancelled and did not stop within %g s: SIGKILL",
                proc.id, job, quick,
            )  # fmt: skip
            dismissal = proc.dismissal
            dismissal.reason = f"its job {job} was cancelled and did not stop"
            dismissal.cause, dismissal.killed = Cause.CANCELLED, True
            self.carry_out([Send(proc.pid, signal.SIGKILL)])

    def look(self, now: float) -> None:
        """About once a second, while some worker idles: the lengths of the queues its
        idle workers take from and none waits on (the host queue, and in a pool of
        several queues those no idle worker blocks on); one idle worker is asked to look
        at every queue for each that holds jobs (looks.py)."""
        if self.queue is None or self.hold is None or not self.looks.due(now):
            return
        idle = []
        for proc in self.pool.procs.values():
            if proc.ready and proc.dismissal.mode is None and not proc.board.read().busy_since:
                pool = self.config.pool(proc.pool) or self.config.workers
                waits_on = contract.blocks_on(pool.queues, proc.slot[1])
                idle.append(Idle(proc.pid, pool.queues, waits_on))
        queues = unwatched(idle, self.name)
        if not queues:
            return
        waiting: dict[str, int] = {}
        with self.outage.guard("look", self.clock):
            waiting = self.queue.lengths(queues)
        pids = to_wake(idle, waiting, self.name)
        if pids:
            self.hold.board.ask_to_look(pids)

    def sweep(self, now: float) -> None:
        """Only while holding the name: a master that lost it judges no list."""
        if self.lists is None or self.hold is None or not self.hold.holding(now):
            return
        known = {p.id for p in self.pool.procs.values()}
        # (its pool is not known: the least concurrency, so that no job taken along and
        # not started is charged)
        running = min(pool.concurrency for pool in self.config.pools)
        self.lists.sweep(
            now, known, self.processes.is_live_worker, self.config.most_attempts, running
        )

    # -- new workers ------------------------------------------------------------------

    def spawn(self, spawn: Spawn) -> None:
        try:
            child = self.processes.spawn(
                lambda status_fd, board: self.run_worker(spawn, status_fd, board),
                self.private_fds,
            )
        except OSError as exc:
            log.error("cannot fork a worker: %s", exc)
            self.pool.backoff(spawn.slot).boot_failed(self.clock())
            return
        wid = worker_id(spawn.config.supervisor.name, child.pid)
        proc = Proc(child.pid, wid, spawn.generation, spawn.slot, self.clock(), child.status_fd)
        proc.board = child.board
        self.pool.started(proc)
        self.wakeups.watch(proc.fd, proc)
        self.tally.totals.started += 1
        log.debug("worker %s started (generation %d)", proc.id, spawn.generation)

    def run_worker(self, spawn: Spawn, status_fd: int, board: Scoreboard) -> int:
        """In the new child, once the master's handlers and descriptors are gone."""
        self.wakeups.close()
        config = spawn.config
        pool = config.pool(spawn.slot[0]) or config.workers
        assert self.hold is not None and self.boot is not None
        return self.boot(
            config.for_pool(pool), status_fd, self.pid, board, self.run_as, spawn.slot[1],
            self.hold.board,
        )  # fmt: skip

    def private_fds(self) -> list[int]:
        """The master's descriptors a worker must not keep."""
        fds = [*self.wakeups.fds(), *(p.fd for p in self.pool.procs.values())]
        if self.embedded is not None and self.embedded.lock_fd is not None:
            fds.append(self.embedded.lock_fd)
        if self.metrics_server is not None:
            fds.append(self.metrics_server.socket.fileno())
        if self.requests_fd is not None:
            fds.append(self.requests_fd)
        return [fd for fd in fds if fd >= 0]

    # -- the name, the embedded server, the title, systemd ------------------------------

    def keep_lease(self, now: float, status: str) -> None:
        if self.hold is None:
            return
        halt = self.hold.keep(now, status)
        if halt is not None:
            self.carry_out([halt])

    def watch_others(self, now: float) -> None:
        """The other supervisors' leases; the dead's jobs reclaimed (holding.py)."""
        if self.hold is not None:
            self.hold.watch_others(now)

    def watch_embedded(self) -> None:
        if self.embedded is None or self.embedded.alive():
            return
        log.error("the embedded redis-server is gone: starting it again")
        try:
            self.embedded.start()
        except EmbeddedRedisError as exc:
            log.error("%s", exc)

    def tell_systemd(self, now: float, status: str) -> None:
        """READY=1 once every worker of the running generation has booted (at start and
        after a reload), the STATUS line, and the watchdog ping."""
        if not self.announced and not self.pool.reload and not self.stopping:
            current = self.pool.running()
            if len(current) >= self.pool.count and all(p.ready for p in current):
                self.notifier.ready(status)
                self.announced = True
        self.notifier.status(status)
        self.notifier.watchdog(now)

    def set_title(self) -> None:
        title = proctitle.master_title(self.config.path, len(self.pool.procs), self.pool.state())
        if title != self._title:
            proctitle.set_title(title)
            self._title = title
