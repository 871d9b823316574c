"""The master's loop carrying out its decisions, with fake processes, a fake queue and
a fake clock: no fork, no Redis, no signal sent."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from qwsup.config import parse
from qwsup.errors import ConnectionLost, ExitCode
from qwsup.master.children import Processes
from qwsup.master.lists import unseen
from qwsup.master.loop import Master
from qwsup.store.records import Requeued, Watched

pytestmark = pytest.mark.unit

CONFIG = """
[redis]
url = "redis://127.0.0.1:1"
[supervisor]
name = "h"
lease_timeout = 30
[workers]
count = 2
max_attempts = 4
"""


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class FakeProcesses(Processes):
    """Real pipes and scoreboards; a fork that only makes up a pid."""

    def __init__(self) -> None:
        self.next_pid = 1000
        self.sent: list[tuple[int, int]] = []
        self.gone: list[tuple[int, int]] = []  # (pid, code) to reap
        self.live_workers: set[str] = set()

    def fork(self) -> int:
        self.next_pid += 1
        return self.next_pid

    def kill(self, pid: int, sig: int) -> None:
        self.sent.append((pid, sig))

    def reaped(self) -> Iterator[tuple[int, int]]:
        while self.gone:
            yield self.gone.pop(0)

    def rss_mb(self, pid: int) -> float | None:
        return 10.0

    def is_live_worker(self, pid: int, wid: str) -> bool:
        return wid in self.live_workers


class FakeQueue:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.down = False
        self.registered: set[str] = set()
        self.scale_requests: list[tuple[str, str]] = []
        self.renewal = 1

    def _call(self, name: str, *args: Any) -> None:
        if self.down:
            raise ConnectionLost("connection refused")
        self.calls.append((name, args))

    def requeue(self, worker: str, **kw: Any) -> Requeued:
        self._call("requeue", worker, kw)
        return Requeued(requeued=2, failed=0)

    def unregister_worker(self, name: str, worker: str) -> None:
        self._call("unregister", worker)

    def promote(self, budget_s: float) -> int:
        self._call("promote")
        return 0

    def registered_workers(self, name: str) -> set[str]:
        self._call("registered")
        return set(self.registered)

    def take_scale_requests(self, name: str) -> list[tuple[str, str]]:
        self._call("scale")
        requests, self.scale_requests = self.scale_requests, []
        return requests

    def heartbeat(self, name: str, lease_s: float, **kw: Any) -> int:
        self._call("heartbeat", kw["token"])
        return self.renewal

    def claim(self, name: str, token: str, **kw: Any) -> str | None:
        self._call("claim", token)
        return None

    def beats(self, names: list[str] | None = None) -> dict[str, Any]:
        self._call("beats")
        return {}

    def watch(self, name: str, token: str, upto: int) -> Watched:
        self._call("watch", token)
        return Watched(0, None, True, {})

    def names(self, call: str) -> list[str]:
        return [c for c, _ in self.calls if c == call]


@pytest.fixture
def master() -> Iterator[Master]:
    clock = Clock()
    m = Master(parse("w.toml", CONFIG), processes=FakeProcesses(), queue=FakeQueue(), clock=clock)  # type: ignore[arg-type]
    m.connected(m.queue)  # type: ignore[arg-type]
    m.duties.hold.took(12345)
    m.carry_out(m.pool.manage(clock.now))
    yield m
    for proc in list(m.pool.procs.values()):
        m.workers.close_pipe(proc)
        proc.board.close()
    m.wakeups.close()


def fakes(m: Master) -> tuple[FakeProcesses, FakeQueue, Clock]:
    return m.processes, m.queue, m.clock  # type: ignore[return-value]


def test_a_dead_workers_list_is_requeued_under_the_names_token_then_it_is_replaced(
    master: Master,
) -> None:
    procs, queue, clock = fakes(master)
    dead = next(iter(master.pool.procs.values()))
    master.pool.booted(dead)
    clock.now += 3  # up long enough not to back off
    procs.gone.append((dead.pid, -signal.SIGKILL))
    master.carry_out(master.workers.reap())
    master.carry_out(master.duties.requeue_pending())
    (worker, kw) = queue.calls[-2][1]
    assert worker == dead.id and kw["token"] == "12345" and kw["cost"] == 1
    assert kw["max_attempts"] == 4 and kw["name"] == "h"
    assert queue.calls[-1] == ("unregister", (dead.id,))
    assert master.tally.totals.requeued == 2 and master.tally.totals.died == 1
    master.carry_out(master.pool.manage(master.clock()))
    assert len(master.pool.procs) == 2 and dead.pid not in master.pool.procs


def test_while_redis_is_down_the_requeue_waits_and_nothing_is_lost(master: Master) -> None:
    procs, queue, clock = fakes(master)
    dead = next(iter(master.pool.procs.values()))
    procs.gone.append((dead.pid, 1))
    master.carry_out(master.workers.reap())
    queue.down = True
    master.carry_out(master.duties.requeue_pending())
    assert [r.worker for r in master.duties.pending] == [dead.id]
    assert master.duties.outage.since == clock.now
    queue.down = False
    clock.now += 2
    master.carry_out(master.duties.requeue_pending())
    assert master.duties.pending == [] and queue.names("requeue") == ["requeue"]
    assert master.duties.outage.since is None


def test_a_master_that_lost_its_name_requeues_nothing(master: Master) -> None:
    procs, queue, _ = fakes(master)
    dead = next(iter(master.pool.procs.values()))
    procs.gone.append((dead.pid, 1))
    master.carry_out(master.workers.reap())
    master.duties.hold.token = 0  # reclaimed by another master while this one stalled
    master.carry_out(master.duties.requeue_pending())
    assert queue.names("requeue") == [] and len(master.duties.pending) == 1


def test_the_sweep_requeues_lists_of_workers_that_died_unseen_and_spares_live_ones(
    master: Master,
) -> None:
    procs, queue, clock = fakes(master)
    queue.registered = {"h.7", "h.8", "other.9", *(p.id for p in master.pool.procs.values())}
    procs.live_workers = {"h.8"}
    master.carry_out(master.duties.sweep(clock.now, procs.is_live_worker))
    assert [(r.worker, r.cost, r.max_attempts) for r in master.duties.pending] == [("h.7", 1, 4)]
    master.carry_out(master.duties.sweep(clock.now + 1, procs.is_live_worker))  # not due again yet
    assert queue.names("registered") == ["registered"]


def test_term_asks_every_worker_to_stop_and_the_master_finishes_once_they_are_reaped(
    master: Master,
) -> None:
    procs = fakes(master)[0]
    pids = set(master.pool.procs)
    master.wakeups.signals.put_nowait(signal.SIGTERM)
    master.dispatch()
    assert {(pid, signal.SIGTERM) for pid in pids} == set(procs.sent)
    assert not master.finished()
    procs.gone += [(pid, 0) for pid in pids]
    master.carry_out(master.workers.reap())
    assert not master.finished()  # their lists are still to requeue
    master.carry_out(master.duties.requeue_pending())
    assert master.finished() and master.exit_code == ExitCode.OK
    assert master.pool.manage(master.clock()) == []


def test_ttin_reads_the_scale_requests_left_in_redis(master: Master) -> None:
    _, queue, _ = fakes(master)
    queue.scale_requests = [("default", "5")]
    master.wakeups.signals.put_nowait(signal.SIGTTIN)
    master.dispatch()
    assert master.pool.counts == {"default": 5}
    master.wakeups.signals.put_nowait(signal.SIGTTOU)  # none left in Redis: one fewer
    master.dispatch()
    assert master.pool.counts == {"default": 4}


def test_a_name_taken_over_halts_the_master_with_status_73(master: Master) -> None:
    procs, queue, clock = fakes(master)
    queue.renewal = -1  # the record holds another master's token
    clock.now += 30 / 6
    master.carry_out(master.duties.keep_lease(clock.now, master.tally.status_line()))
    assert master.exit_code == ExitCode.NAME_HELD
    assert {sig for _, sig in procs.sent} == {signal.SIGQUIT}


def test_a_fault_of_the_masters_own_stops_every_worker_and_keeps_their_lists(
    master: Master,
) -> None:
    procs = fakes(master)[0]
    c = master.config
    master.pool.config = dataclasses.replace(
        c, supervisor=dataclasses.replace(c.supervisor, quick_timeout=0.2)
    )
    quits, stays = sorted(master.pool.procs)
    procs.gone.append((quits, -signal.SIGQUIT))
    master.abandon()
    assert {(quits, signal.SIGQUIT), (stays, signal.SIGQUIT), (stays, signal.SIGKILL)} == set(
        procs.sent
    )
    assert list(master.pool.procs) == [stays]  # killed, not reaped yet
    # both lists wait for the next master's sweep: the name's record is kept for it
    assert sorted(r.worker for r in master.duties.pending) == [f"h.{quits}", f"h.{stays}"]


def test_the_sweep_takes_only_this_names_workers_whose_process_is_gone() -> None:
    registered = ["h.1", "h.2", "h.3", "hx.4", "other.5", "garbage"]
    gone = unseen(registered, known={"h.1"}, name="h", is_live=lambda pid, wid: pid == 2)
    assert gone == ["h.3"]
