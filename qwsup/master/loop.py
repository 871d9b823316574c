"""The master: forks the workers, keeps them alive, reloads and stops on signals.

Signal handlers only record the signal; the loop acts. One turn of the loop (`step`)
is a fixed sequence of small steps (tests/test_layout.py holds this list to `step`):

    1. `wait` for a signal, a worker's pipe, a stop request or the next deadline (<= 1 s)
    2. `dispatch` the signals: stop, reload, scale
    3. `workers.reap` the dead workers, and what each death means (pool.py)
    4. `duties.requeue_pending`: their lists back to the queues, while the name is held
    5. `duties.promote_due`: the retries and jobs for later that are due, to their queue
    6. `duties.prune_finished`: the finished jobs kept past keep_finished
    7. `duties.fire_cron`: claim the cron ticks that are due (cron.py)
    8. `duties.listen_for_stops`: keep a line open for stop requests (cancels.py)
    9. `duties.look`: ask an idle worker to take from a queue none waits on (looks.py)
    10. `workers.police`: end the workers that overran a deadline (deadlines.py)
    11. `duties.enforce_stops`: kill a worker that did not stop a cancelled job
    12. `pool.manage`: keep the worker count, start the next generation (pool.py)
    13. `duties.sweep` the lists of workers that died unseen (lists.py)
    14. `duties.keep_lease`: renew the hold on the supervisor's name (holding.py)
    15. `duties.watch_others`: the other supervisors' leases; reclaim the dead's jobs
    16. `watch_embedded`: restart the embedded server if it died
    17. `presence.set_title`: keep the process title current (presence.py)
    18. `presence.tell_systemd`: READY, STATUS and the watchdog

The decisions are made by pure objects that return actions (actions.py): `Pool` (slots,
generations, what a death means), `police` (who is overdue), cancels.py, looks.py,
cron.py; the duties in Redis (duties.py) and the workers' processes (workers.py) return
the actions that follow, and only `carry_out` carries them out. Effects on processes go
through `Processes`, so a test can hand it fakes.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from qwsup import config as config_module
from qwsup import contract, logs
from qwsup.config import Config, restart_only
from qwsup.contract import Boot
from qwsup.errors import ConfigError, EmbeddedRedisError, ExitCode
from qwsup.master.actions import Action, AskToLook, Halt, Requeue, Send, Spawn, StopJob, StopMode
from qwsup.master.children import HANDLED, Processes
from qwsup.master.duties import WAIT_MAX_S, Duties, connect
from qwsup.master.pool import Pool, Proc
from qwsup.master.presence import Presence
from qwsup.master.tally import Tally
from qwsup.master.wakeups import Wakeups
from qwsup.master.workers import Workers
from qwsup.ops import metrics
from qwsup.outage import Outage
from qwsup.privileges import RunAs
from qwsup.scoreboard import Scoreboard
from qwsup.store.connection import redact, url_of
from qwsup.store.embedded import EmbeddedRedis
from qwsup.store.queue import Queue
from qwsup.store.requests import Requests

log = logging.getLogger(__name__)


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
        self.pid = os.getpid()
        self.outage = Outage(log)
        self._duties: Duties | None = None  # once connected
        self.embedded: EmbeddedRedis | None = None
        self.wakeups: Wakeups[Proc | Requests] = Wakeups()
        self.workers = Workers(
            self.pool, self.processes, self.wakeups, self.tally, clock,
            child=self.run_worker, private_fds=self.private_fds, gone=self.gone,
        )  # fmt: skip
        self.presence = Presence(self.pool)
        self.metrics_server: Any = None

    @property
    def config(self) -> Config:
        """The running generation's config (a reload replaces it once it has booted)."""
        return self.pool.config

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
        self.presence.set_title()
        if self.config.embedded:
            self.embedded = EmbeddedRedis.for_config(self.config, self.run_as)
            self.embedded.start()
        if self.queue is None:
            self.queue = connect(self.config)  # raises UnsafeServer: exit 78
        self.metrics_server = metrics.serve(self.config, self.metrics_state)
        self.wakeups.install(HANDLED)
        log.info(
            "master %d started: %s on %s",
            self.pid, self.config.describe(), redact(url_of(self.config)),
        )  # fmt: skip
        duties = self.connected(self.queue)
        self.carry_out(duties.claim_name())
        if not duties.hold.token:
            return
        now = self.clock()
        self.carry_out(duties.keep_lease(now, self.tally.status_line()))
        self.carry_out(duties.sweep(now, self.processes.is_live_worker))
        self.carry_out(duties.requeue_pending())
        self.carry_out(self.pool.manage(now))

    def connected(self, queue: Queue) -> Duties:
        self.queue = queue
        self._duties = Duties(
            queue, self.pool, self.tally.totals, self.outage, self.wakeups, self.clock,
            pools=self.tally.pools_json, pause=self.pause,
        )  # fmt: skip
        return self._duties

    @property
    def duties(self) -> Duties:
        """What the master does in Redis each turn (duties.py): there once connected."""
        assert self._duties is not None, "the master is not connected yet"
        return self._duties

    def step(self) -> None:
        self.wait(self.timeout(self.clock()))
        self.dispatch()
        self.carry_out(self.workers.reap())
        self.carry_out(self.duties.requeue_pending())
        self.carry_out(self.duties.promote_due())
        self.carry_out(self.duties.prune_finished())
        self.carry_out(self.duties.fire_cron())
        now = self.clock()
        self.carry_out(self.duties.listen_for_stops(now))
        self.carry_out(self.duties.look(now))
        self.carry_out(self.workers.police(now))
        self.carry_out(self.duties.enforce_stops(now))
        self.carry_out(self.pool.manage(now))
        self.carry_out(self.duties.sweep(now, self.processes.is_live_worker))
        status = self.tally.status_line()  # read from every scoreboard: once a turn
        self.carry_out(self.duties.keep_lease(now, status))
        self.carry_out(self.duties.watch_others(now))
        self.watch_embedded()
        self.presence.set_title()
        self.presence.tell_systemd(now, status)

    def finished(self) -> bool:
        """Stopping, every worker gone, and their jobs requeued (or Redis is down: the
        next master's sweep requeues them)."""
        if not self.stopping or self.pool.procs:
            return False
        return self._duties is None or self._duties.settled()

    def abandon(self) -> None:
        """After a fault of the master's: QUIT every worker, reap those gone within
        quick_timeout, SIGKILL the rest. Their lists stay in Redis, and so does the
        name's record: the next master here takes the name at once and its sweep finds
        them (no Redis call here: the fault may be Redis's)."""
        self.carry_out(self.pool.stop(StopMode.QUICK, self.clock()))
        deadline = time.monotonic() + self.config.supervisor.quick_timeout
        while self.pool.procs and time.monotonic() < deadline:
            self.carry_out(self.workers.reap())
            time.sleep(0.05)
        for proc in self.pool.procs.values():
            self.processes.kill(proc.pid, signal.SIGKILL)
            reason = f"worker {proc.id} was killed when its master failed"
            self.duties.requeue_later(Requeue(proc.id, 1, reason, self.config.most_attempts))

    def cleanup(self) -> None:
        if self._duties is not None:
            self._duties.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.embedded is not None and not self.pool.procs:
            self.embedded.stop()
        self.presence.notifier.close()
        log.info(
            "master %d exiting (status %d): %s", self.pid, self.exit_code, self.tally.summary()
        )

    # -- waiting ------------------------------------------------------------------

    def timeout(self, now: float) -> float:
        """Until the next deadline: a kill or spawn, a duty (duties.py), the watchdog."""
        deadlines = [self.workers.next_deadline()]
        if self._duties is not None:
            deadlines.append(self._duties.next_deadline())
        if self.presence.notifier.watchdog_s is not None:
            deadlines.append(now + self.presence.notifier.watchdog_s)
        return max(0.0, min([now + WAIT_MAX_S, *deadlines]) - now)

    def wait(self, timeout: float) -> None:
        for ready in self.wakeups.wait(timeout):
            if isinstance(ready, Requests):
                self.carry_out(self.duties.stop_requested(ready))
            else:
                self.workers.read_status(ready)

    def pause(self, seconds: float) -> None:
        """Wait (signals cut it short and are dispatched)."""
        self.wait(seconds)
        self.dispatch()

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
            self.presence.stopping()
        self.carry_out(self.pool.stop(mode, self.clock()))

    def handle_hup(self) -> None:
        if self.stopping:
            return
        self.presence.reloading()
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
        requests = self._duties.scale_requests(signame) if self._duties is not None else []
        asked = " (qwsup scale)" if requests else ""
        if not requests:
            requests = [(self.config.pools[0].name, "+1" if signum == signal.SIGTTIN else "-1")]
        self.pool.scale(signame, requests, asked)

    # -- carrying out the decisions -----------------------------------------------------

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Spawn):
                self.workers.spawn(action)
            elif isinstance(action, Send):
                self.processes.kill(action.pid, action.signal)
            elif isinstance(action, Requeue):
                self.duties.requeue_later(action)
            elif isinstance(action, StopJob):
                self.duties.hold.board.order_stop(action.pid, action.job)
                self.processes.kill(action.pid, contract.JOB_CANCEL)
            elif isinstance(action, AskToLook):
                self.duties.hold.board.ask_to_look(list(action.pids))
            else:
                self.halt(action)

    def halt(self, halt: Halt) -> None:
        log.error("%s: stopping (exit status %d)", halt.reason, halt.code)
        self.exit_code = halt.code
        self.stop(StopMode.QUICK)

    # -- dead workers -------------------------------------------------------------

    # -- cancelled jobs ---------------------------------------------------------------

    # -- new workers ------------------------------------------------------------------

    def watch_embedded(self) -> None:
        if self.embedded is not None:
            self.embedded.watch()

    def metrics_state(self) -> metrics.MasterState:
        """From the metrics thread, which may ask before the master is connected."""
        cron = self._duties.cron.counts() if self._duties is not None else None
        return self.tally.metrics_state(self.config.supervisor.name, cron)

    def gone(self, pid: int) -> None:
        """Worker `pid` was reaped: no stop order of its is left to enforce."""
        if self._duties is not None:
            self._duties.stopping.gone(pid)

    def run_worker(self, spawn: Spawn, status_fd: int, board: Scoreboard) -> int:
        """In the new child, once the master's handlers and descriptors are gone."""
        self.wakeups.close()
        config = spawn.config
        pool = config.pool(spawn.slot[0]) or config.workers
        assert self.boot is not None
        return self.boot(
            config.for_pool(pool), status_fd, self.pid, board, self.run_as, spawn.slot[1],
            self.duties.hold.board,
        )  # fmt: skip

    def private_fds(self) -> list[int]:
        """The master's descriptors a worker must not keep."""
        fds = [*self.wakeups.fds(), *(p.fd for p in self.pool.procs.values())]
        if self.embedded is not None and self.embedded.lock_fd is not None:
            fds.append(self.embedded.lock_fd)
        if self.metrics_server is not None:
            fds.append(self.metrics_server.socket.fileno())
        if self._duties is not None:
            fds += self._duties.fds()
        return [fd for fd in fds if fd >= 0]

    # -- the name, the embedded server, the title, systemd ------------------------------
