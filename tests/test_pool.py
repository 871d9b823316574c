"""The master's decisions, with a fake clock and no process: the pool of slots and
generations (pool.py) and the deadlines (deadlines.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from qwsup.config import Config, parse
from qwsup.contract import DUMP_STACK, JOB_TIMEOUT
from qwsup.errors import ExitCode
from qwsup.master.actions import Action, Halt, Requeue, Send, Spawn, StopMode
from qwsup.master.deadlines import DUMP_GRACE_S, TERM_AGAIN_S, police
from qwsup.master.pool import CRASH_LOOP_UPTIME_S, Pool, Proc
from qwsup.scoreboard import Score

pytestmark = pytest.mark.unit

T0 = 1000.0
TWO_POOLS = """
[supervisor]
name = "h"
graceful_timeout = 30
quick_timeout = 5
[[pools]]
name = "builds"
count = 2
queues = ["builds"]
heartbeat_timeout = 10
boot_timeout = 20
job_timeout = 60
max_memory_mb = 100
max_attempts = 5
[[pools]]
name = "mail"
count = 1
queues = ["mail"]
"""


def config(text: str = TWO_POOLS) -> Config:
    return parse("w.toml", text)


class World:
    """A pool and the processes its actions made, on a fake clock."""

    def __init__(self, text: str = TWO_POOLS) -> None:
        self.pool = Pool(config(text))
        self.now = T0
        self.next_pid = 100
        self.signals: list[tuple[int, int]] = []
        self.requeued: list[Requeue] = []
        self.halts: list[Halt] = []

    def apply(self, actions: list[Action]) -> list[Action]:
        for action in actions:
            if isinstance(action, Spawn):
                self.next_pid += 1
                wid = f"h.{self.next_pid}"
                proc = Proc(self.next_pid, wid, action.generation, action.slot, self.now)
                self.pool.started(proc)
            elif isinstance(action, Send):
                self.signals.append((action.pid, action.signal))
            elif isinstance(action, Requeue):
                self.requeued.append(action)
            else:
                self.halts.append(action)
        return actions

    def manage(self) -> list[Action]:
        return self.apply(self.pool.manage(self.now))

    def boot_all(self) -> None:
        for proc in self.pool.procs.values():
            self.pool.booted(proc)

    def procs(self, pool: str = "", generation: int = 0) -> list[Proc]:
        return [
            p
            for p in self.pool.procs.values()
            if (not pool or p.pool == pool) and (not generation or p.generation == generation)
        ]

    def exit(self, proc: Proc, code: int) -> list[Action]:
        return self.apply(self.pool.exited(proc, code, self.now))

    def police(
        self, scores: dict[int, Score] | None = None, rss: float | None = None
    ) -> list[Action]:
        scores = scores or {p.pid: score(beat=self.now) for p in self.pool.procs.values()}
        rss_mb = (lambda pid: rss) if rss is not None else None
        return self.apply(police(self.pool, self.now, scores, rss_mb))


def score(beat: float = 0.0, busy_since: float = 0.0) -> Score:
    return Score(beat, busy_since, 0.0, 0, 0, 0, 0, 0, ())


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    for proc in w.pool.procs.values():
        proc.board.close()


def spawned_slots(actions: list[Action]) -> list[tuple[str, int]]:
    return [a.slot for a in actions if isinstance(a, Spawn)]


# -- keeping the count -------------------------------------------------------------------


def test_the_pool_fills_every_slot_of_every_pool(world: World) -> None:
    assert spawned_slots(world.manage()) == [("builds", 0), ("builds", 1), ("mail", 0)]
    assert world.manage() == []  # nothing missing: nothing more


def test_a_worker_that_dies_after_booting_is_replaced_at_once_and_its_jobs_charged(
    world: World,
) -> None:
    world.manage()
    world.boot_all()
    victim = world.procs("builds")[0]
    world.now += CRASH_LOOP_UPTIME_S + 1
    world.exit(victim, -signal.SIGKILL)
    assert world.requeued == [
        Requeue(victim.id, 1, f"worker {victim.id} was killed by SIGKILL while running the job", 5)
    ]
    assert spawned_slots(world.manage()) == [victim.slot]


def test_a_worker_that_exits_cleanly_costs_its_job_nothing(world: World) -> None:
    world.manage()
    world.boot_all()
    proc = world.procs("mail")[0]
    world.exit(proc, 0)
    assert world.requeued[0].cost == 0
    assert spawned_slots(world.manage()) == [("mail", 0)]


def test_a_worker_that_keeps_dying_soon_after_boot_backs_off_exponentially(world: World) -> None:
    world.manage()
    world.boot_all()
    pauses = []
    for _ in range(4):
        proc = next(p for p in world.procs("mail"))
        world.now += 0.5  # up for less than CRASH_LOOP_UPTIME_S
        world.exit(proc, 1)
        backoff = world.pool.backoff(("mail", 0))
        pauses.append(round(backoff.not_before - world.now, 3))
        assert world.manage() == []  # backing off: no spawn yet
        assert world.pool.backing_off()
        world.now = backoff.not_before
        assert spawned_slots(world.manage()) == [("mail", 0)]
        world.boot_all()
    assert pauses == [0.1, 0.2, 0.4, 0.8]
    world.now += CRASH_LOOP_UPTIME_S
    world.pool.healthy(world.now)  # up long enough: the slot is healthy again
    assert world.pool.backoff(("mail", 0)).failures == 0


def test_backoff_is_per_slot_so_one_bad_slot_does_not_starve_the_pool(world: World) -> None:
    world.manage()
    first, second = world.procs("builds")
    world.exit(first, 1)  # died while booting
    assert world.pool.backoff(first.slot).failures == 1
    assert world.pool.backoff(second.slot).failures == 0
    world.now += 0.05
    assert world.manage() == []  # slot 0 waits out its pause; slot 1 has its worker


def test_a_handler_that_cannot_be_imported_halts_the_master_before_any_worker_booted(
    world: World,
) -> None:
    world.manage()
    proc = world.procs("builds")[0]
    world.exit(proc, ExitCode.HANDLER)
    assert world.halts == [
        Halt(ExitCode.HANDLER, "handler qwsup.examples:log_job cannot be imported")
    ]


def test_once_a_worker_booted_a_handler_import_failure_only_backs_off(world: World) -> None:
    world.manage()
    world.pool.booted(world.procs("mail")[0])
    proc = world.procs("builds")[0]
    world.exit(proc, ExitCode.HANDLER)
    assert world.halts == []
    assert world.pool.backoff(proc.slot).failures == 1


def test_a_worker_that_does_not_boot_in_time_is_killed(world: World) -> None:
    world.manage()
    proc = world.procs("builds")[0]
    world.now += 19
    assert world.police() == []
    world.now += 2  # past boot_timeout = 20
    assert (proc.pid, signal.SIGKILL) in [
        (a.pid, a.signal) for a in world.police() if isinstance(a, Send)
    ]
    assert world.police() == []  # killed once


# -- reloads ------------------------------------------------------------------------------


def test_a_reload_starts_a_generation_and_retires_the_old_one_once_all_booted(
    world: World,
) -> None:
    world.manage()
    world.boot_all()
    old = {p.pid for p in world.procs()}
    new_config = config(
        TWO_POOLS.replace('count = 1\nqueues = ["mail"]', 'count = 2\nqueues = ["mail"]')
    )
    world.apply(world.pool.reload_to(new_config, world.now))
    actions = world.manage()
    assert [(a.generation, a.slot) for a in actions if isinstance(a, Spawn)] == [
        (2, ("builds", 0)), (2, ("builds", 1)), (2, ("mail", 0)), (2, ("mail", 1)),
    ]  # fmt: skip
    assert world.signals == []  # the old generation runs on meanwhile
    for proc in world.procs(generation=2)[:3]:
        world.pool.booted(proc)
    world.manage()
    assert world.signals == [] and world.pool.generation == 1
    world.pool.booted(world.procs(generation=2)[3])
    world.manage()
    assert world.pool.generation == 2 and world.pool.config is new_config
    assert sorted(world.signals) == sorted((pid, signal.SIGTERM) for pid in old)
    assert world.pool.counts == {"builds": 2, "mail": 2}


def test_a_new_worker_dying_while_booting_aborts_the_reload(world: World) -> None:
    world.manage()
    world.boot_all()
    world.apply(world.pool.reload_to(config(), world.now))
    world.manage()
    new = world.procs(generation=2)
    world.exit(new[0], 1)
    assert world.pool.reload is None and world.pool.generation == 1
    assert sorted(world.signals) == sorted((p.pid, signal.SIGTERM) for p in new[1:])
    assert world.halts == []


def test_a_second_hup_replaces_a_generation_that_had_not_booted(world: World) -> None:
    world.manage()
    world.boot_all()
    world.apply(world.pool.reload_to(config(), world.now))
    world.manage()
    second = {p.pid for p in world.procs(generation=2)}
    world.apply(world.pool.reload_to(config(), world.now))
    assert world.pool.reload is not None and world.pool.reload.generation == 3
    assert {pid for pid, _ in world.signals} == second


# -- scaling and stopping -----------------------------------------------------------------


def test_ttin_and_ttou_change_a_pools_count_within_bounds(world: World) -> None:
    world.manage()
    world.boot_all()
    world.pool.scale("TTIN", [("mail", "+2")], "")
    assert spawned_slots(world.manage()) == [("mail", 1), ("mail", 2)]
    world.pool.scale("TTOU", [("builds", "-5"), ("nope", "+1")], "")
    assert world.pool.counts == {"builds": 1, "mail": 3}  # at least one; no pool "nope"
    world.manage()
    retired = [p for p in world.procs("builds") if p.dismissal.mode is StopMode.GRACEFUL]
    assert [p.slot for p in retired] == [("builds", 1)]
    assert retired[0].dismissal.cause == "scaled_down"


def test_a_graceful_stop_becomes_quick_but_never_the_other_way(world: World) -> None:
    world.manage()
    pids = {p.pid for p in world.procs()}
    world.apply(world.pool.stop(StopMode.GRACEFUL, world.now))
    world.apply(world.pool.stop(StopMode.QUICK, world.now + 1))
    world.apply(world.pool.stop(StopMode.GRACEFUL, world.now + 2))
    assert sorted(world.signals) == sorted(
        [(pid, signal.SIGTERM) for pid in pids] + [(pid, signal.SIGQUIT) for pid in pids]
    )
    assert all(p.dismissal.kill_at == world.now + 1 + 5 for p in world.procs())  # quick_timeout
    assert world.manage() == []  # stopping: nothing spawned


def test_a_worker_that_does_not_stop_in_time_is_killed(world: World) -> None:
    world.manage()
    world.boot_all()
    world.apply(world.pool.stop(StopMode.GRACEFUL, world.now))
    world.now += 29.9
    world.police({p.pid: score(beat=world.now, busy_since=T0) for p in world.procs()})
    assert world.signals[-1][1] == signal.SIGTERM  # busy: asked once only
    world.now += 0.2
    assert len(world.police()) == 3 and world.signals[-1][1] == signal.SIGKILL


def test_an_idle_worker_asked_to_stop_is_sent_term_again_until_it_goes(world: World) -> None:
    world.manage()
    world.boot_all()
    pids = sorted(p.pid for p in world.procs())
    world.apply(world.pool.stop(StopMode.GRACEFUL, world.now))
    world.now += TERM_AGAIN_S - 0.1
    assert world.police() == []
    world.now += 0.1  # a TERM that landed in a finalizer was lost: the worker still waits
    assert sorted(a.pid for a in world.police()) == pids
    assert world.signals[-1][1] == signal.SIGTERM and len(world.signals) == 2 * len(pids)
    assert world.police() == []  # not again before TERM_AGAIN_S more


# -- deadlines of running workers ---------------------------------------------------------


def test_a_worker_silent_past_its_heartbeat_timeout_dumps_its_stack_then_is_killed(
    world: World,
) -> None:
    world.manage()
    world.boot_all()
    proc = world.procs("builds")[0]
    scores = {p.pid: score(beat=world.now) for p in world.procs()}
    world.now += 10.5  # builds: heartbeat_timeout = 10
    scores[proc.pid] = score(beat=T0)
    others = {p.pid: score(beat=world.now) for p in world.procs() if p is not proc}
    assert world.police({**others, proc.pid: scores[proc.pid]}) == [Send(proc.pid, DUMP_STACK)]
    assert proc.dismissal.charge and proc.dismissal.cause == "hung"
    world.now += DUMP_GRACE_S
    assert world.police({**others, proc.pid: score(beat=T0)}) == [Send(proc.pid, signal.SIGKILL)]
    world.exit(proc, -signal.SIGKILL)
    assert world.requeued[-1] == Requeue(
        proc.id, 1, f"worker {proc.id} hung (no heartbeat for 10 s) while running the job", 5
    )
    assert world.pool.backoff(proc.slot).failures == 0  # killed on purpose: no backoff


def test_a_job_past_its_time_limit_is_stopped_and_the_worker_spared_once_it_records_it(
    world: World,
) -> None:
    world.manage()
    world.boot_all()
    proc = world.procs("builds")[0]
    others = {p.pid: score(beat=T0 + 61) for p in world.procs() if p is not proc}
    world.now = T0 + 61
    assert world.police({**others, proc.pid: score(beat=world.now, busy_since=T0)}) == [
        Send(proc.pid, JOB_TIMEOUT)
    ]
    assert proc.dismissal.kill_at == world.now + 5  # quick_timeout
    world.now += 1  # the worker stopped the job and took the next
    assert world.police({**others, proc.pid: score(beat=world.now, busy_since=world.now)}) == []
    assert proc.dismissal.kill_at == float("inf") and not proc.dismissal.charge


def test_a_job_that_ignores_its_time_limit_gets_its_worker_killed(world: World) -> None:
    world.manage()
    world.boot_all()
    proc = world.procs("builds")[0]
    others = {p.pid: score(beat=T0 + 70) for p in world.procs() if p is not proc}
    world.now = T0 + 61
    world.police({**others, proc.pid: score(beat=world.now, busy_since=T0)})
    world.now += 5
    assert world.police({**others, proc.pid: score(beat=world.now, busy_since=T0)}) == [
        Send(proc.pid, signal.SIGKILL)
    ]


def test_memory_over_the_limit_replaces_after_the_job_far_over_kills_at_once(
    world: World,
) -> None:
    world.manage()
    world.boot_all()
    builds = world.procs("builds")
    assert world.police(rss=99) == []
    actions = world.police(rss=120)  # over 100 MB: TERM for both builds workers
    assert sorted(actions, key=str) == sorted(
        [Send(p.pid, signal.SIGTERM) for p in builds], key=str
    )
    assert all(p.dismissal.cause == "memory" and not p.dismissal.charge for p in builds)
    fresh = World()
    fresh.manage()
    fresh.boot_all()
    actions = fresh.police(rss=151)  # over 1.5 times: SIGKILL, the job charged
    assert [a.signal for a in actions if isinstance(a, Send)] == [signal.SIGKILL] * 2
    assert all(p.dismissal.charge for p in fresh.procs("builds"))
    assert world.police() == []  # memory is read only when given (every MEMORY_CHECK_S)
