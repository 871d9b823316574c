"""Which idle workers the master asks to look at every queue (pure, given the
workers' scoreboards and the queues' lengths).

An idle worker blocks in Redis on one queue of its pool (contract.blocks_on) for up to
BLOCK_S, so that it costs Redis a few commands per BLOCK_S and not per second. A job
pushed on that queue wakes it at once. A job pushed on the supervisor's own queue, which
no worker blocks on, or on a queue of the pool that none of its idle workers is blocked
on, would wait for the end of a wait; so the master looks, about once a second, at the
lengths of just those queues (one pipelined LLEN each, whatever the number of hosts),
and asks one idle worker that takes from each such queue with jobs to end its wait and
take (scoreboard.MasterBoard.ask_to_look: shared memory, no Redis).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwsup import contract
from qwsup.master.actions import Action, AskToLook
from qwsup.scoreboard import MAX_LOOKS

if TYPE_CHECKING:
    from qwsup.config import Config
    from qwsup.master.pool import Proc

LOOK_EVERY_S = 1.0  # how often the master looks at the queues no idle worker waits on


@dataclass(frozen=True)
class Idle:
    """An idle worker of this master, as its pool and its scoreboard say."""

    pid: int
    queues: tuple[str, ...]  # its pool's queues, in priority order
    blocks_on: str  # the one it waits on


def unwatched(idle: list[Idle], host_queue: str) -> list[str]:
    """The queues an idle worker takes from and no idle worker waits on (the host queue
    first: every pool takes it first), in a stable order; none when no worker idles."""
    if not idle:
        return []
    waited_on = {worker.blocks_on for worker in idle}
    queues = [host_queue, *(queue for worker in idle for queue in worker.queues)]
    return [queue for queue in dict.fromkeys(queues) if queue not in waited_on]


def to_wake(idle: list[Idle], waiting: dict[str, int], host_queue: str) -> list[int]:
    """The pids to ask to look: for each unwatched queue that holds jobs (`waiting`: its
    length), one idle worker that takes from it and was not chosen for another; at
    most MAX_LOOKS (the next look, a second later, finds the rest)."""
    chosen: list[int] = []
    for queue in unwatched(idle, host_queue):
        if waiting.get(queue, 0) <= 0:
            continue
        for worker in idle:
            if worker.pid not in chosen and (queue == host_queue or queue in worker.queues):
                chosen.append(worker.pid)
                break
    return chosen[:MAX_LOOKS]


def idle_workers(procs: Iterable[Proc], config: Config) -> list[Idle]:
    """The master's workers that are up, not being stopped, and running no job (their
    scoreboards say so), each with the queue it blocks on."""
    idle = []
    for proc in procs:
        if proc.ready and proc.dismissal.mode is None and not proc.board.read().busy_since:
            pool = config.pool(proc.pool) or config.workers
            idle.append(Idle(proc.pid, pool.queues, contract.blocks_on(pool.queues, proc.slot[1])))
    return idle


def wake(idle: list[Idle], waiting: dict[str, int], host_queue: str) -> list[Action]:
    """The request to look (to_wake's pids), or nothing."""
    pids = to_wake(idle, waiting, host_queue)
    return [AskToLook(tuple(pids))] if pids else []
