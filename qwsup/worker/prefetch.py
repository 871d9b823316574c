"""How a worker takes jobs: how many per round trip, how long it blocks, when it gives
back the jobs it holds, and when it takes none. Pure: the durations, the time and the
master's signs of life are passed in, so the rules are tested with a fake clock.

A worker takes about PREFETCH_SPAN_S of jobs at a time (by the running average of its
job durations, within `workers.prefetch`), so that short jobs cost one round trip per
batch, not one each. The jobs it holds and has not started go back to their queue
behind a job that runs GIVE_BACK_S, so that an idle sibling can run them, and when its
master is silent for longer than a third of the lease (the master renews its hold six
times per lease): then it takes nothing until the master is heard again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from qwsup.limits import held_wait_s

BLOCK_S = 30  # how long one wait on a queue blocks in Redis: an idle worker's cost
LOOK_S = 1.0  # a partly busy worker looks for new jobs at least this often
PREFETCH_SPAN_S = 0.005  # a batch of prefetched jobs is sized to run about this long
PACE_WEIGHT = 0.2  # of the last job in the running average of job durations
GIVE_BACK_S = 0.25  # jobs held behind one running this long go back to their queue
HOLD_TICK_S = 0.1  # how often the worker looks again while it holds or may not take
SILENCE_PART = 3  # the master is silent once it has not renewed its hold for lease / this


def silence_bound(lease_timeout: float) -> float:
    """How long the master may be silent before its workers take nothing, hold nothing."""
    return lease_timeout / SILENCE_PART


@dataclass
class Prefetch:
    """The sizing of takes and the give-back rule of one worker."""

    limit: int  # workers.prefetch: the most jobs taken at once
    silence_s: float  # silence_bound(supervisor.lease_timeout)
    pace: float = PREFETCH_SPAN_S  # running average of job durations, seconds

    def ran(self, seconds: float) -> None:
        """A job took `seconds` (only successes are counted: a failure's duration says
        little about the next job's)."""
        self.pace += (seconds - self.pace) * PACE_WEIGHT

    def want(self, *, stopping: bool, left: int | None) -> int:
        """How many jobs to take: about PREFETCH_SPAN_S of them at the running average,
        within `limit`, and no more than the `left` before recycling (None: no limit)."""
        if stopping:
            return 1
        want = min(self.limit, int(PREFETCH_SPAN_S / max(self.pace, 1e-6)))
        if left is not None:
            want = min(want, left)
        return max(1, want)

    @staticmethod
    def give_back_due(running_s: float) -> bool:
        """Whether the jobs held behind a job running for `running_s` go back."""
        return running_s >= GIVE_BACK_S

    def master_silent(self, silent_s: float) -> bool:
        """Whether a master that last renewed its hold `silent_s` ago is silent."""
        return silent_s > self.silence_s


def wait_on(held_ms: int, trouble: bool, own_queue: str, blocks_on: str) -> tuple[str, float]:
    """Where an idle worker waits, and how long: on its queue (`blocks_on`) for BLOCK_S
    (1 s while a `trouble` with Redis is open, so that its end is seen); while its last
    take found jobs held back for `held_ms` (a paused queue, a limit), on its
    supervisor's own queue, only until the hold may end (at most a second, limits.py):
    a timer, not a loop of takes, and never a wait that would move a held-back job."""
    if held_ms:
        return own_queue, held_wait_s(held_ms)
    return blocks_on, 1 if trouble else BLOCK_S


@dataclass
class JobLimit:
    """`workers.max_jobs`: the jobs a worker runs before it is recycled (0: no limit),
    drawn once up to 10% over, so that a pool's workers do not all restart at once."""

    limit: int
    done: int = 0
    failed: int = 0

    @classmethod
    def drawn(cls, max_jobs: int) -> JobLimit:
        return cls(random.randint(max_jobs, max_jobs + max_jobs // 10))

    def worn_out(self, ending: int = 0) -> bool:
        """Due to be recycled, counting `ending` jobs about to end."""
        return bool(self.limit) and self.done + self.failed + ending >= self.limit

    def left(self) -> int | None:
        """How many jobs it may still run (None: no limit)."""
        return self.limit - self.done - self.failed if self.limit else None
