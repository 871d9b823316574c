"""A worker's scoreboard, and its master's board: a few numbers in shared memory.

The master maps an anonymous shared page for each worker before it forks it. The
worker writes its heartbeat, when its current job started, and what each job came to;
the master reads them when it polices its workers, builds its status line or is
scraped for metrics. The hot path makes no system call and wakes nobody.
"""

from __future__ import annotations

import mmap
import struct
import time
from dataclasses import dataclass

from .totals import BUCKETS

# beat, busy_since (monotonic seconds; 0: idle), duration_sum; done, retried, failed,
# lost; then one count per duration bucket. Aligned 8-byte fields: torn reads cannot
# happen on the platforms we run on.
_HEAD = struct.Struct("=3d4Q")
_BUCKETS = struct.Struct(f"={len(BUCKETS) + 1}Q")
SIZE = _HEAD.size + _BUCKETS.size
OUTCOMES = ("done", "retry", "failed", "lost")


@dataclass(frozen=True)
class Score:
    beat: float
    busy_since: float
    duration_sum: float
    done: int
    retried: int
    failed: int
    lost: int
    buckets: tuple[int, ...]


class Scoreboard:
    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, SIZE)  # anonymous and shared: seen across fork

    # the worker's side

    def beat(self, now: float) -> None:
        struct.pack_into("=d", self.memory, 0, now)

    def busy(self, now: float) -> None:
        struct.pack_into("=d", self.memory, 8, now)

    def idle(self) -> None:
        struct.pack_into("=d", self.memory, 8, 0.0)

    def ended(self, outcome: str, seconds: float, bucket: int) -> None:
        """A job came to `outcome` (known once Redis has replied): counted, with its
        duration."""
        _beat, _busy, total, *counts = _HEAD.unpack_from(self.memory)
        counts[OUTCOMES.index(outcome)] += 1
        bucket_offset = _HEAD.size + 8 * bucket
        (in_bucket,) = struct.unpack_from("=Q", self.memory, bucket_offset)
        struct.pack_into("=Q", self.memory, bucket_offset, in_bucket + 1)
        struct.pack_into("=d4Q", self.memory, 16, total + seconds, *counts)

    # the master's side

    def read(self) -> Score:
        beat, busy, total, done, retried, failed, lost = _HEAD.unpack_from(self.memory)
        buckets = _BUCKETS.unpack_from(self.memory, _HEAD.size)
        return Score(beat, busy, total, done, retried, failed, lost, buckets)

    def close(self) -> None:
        self.memory.close()


_MASTER = struct.Struct("=dq")  # renewed (CLOCK_BOOTTIME seconds), token


def boottime() -> float:
    """Seconds since boot, suspended time included (CLOCK_MONOTONIC stops while the
    machine sleeps): the clock of the master's board."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class MasterBoard:
    """The master's page, one for all its workers: when it last renewed its hold on the
    supervisor's name, and the token of that hold. A worker takes and starts jobs only
    while the renewal is recent (its master is alive and reaches Redis), and drops what
    it holds when the token changes (the name was reclaimed and taken again)."""

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, _MASTER.size)

    def renewed(self, at: float, token: int) -> None:
        """The hold `token` was renewed by a heartbeat sent at `at` (boottime())."""
        # the token first: a worker that reads between the two sees the new token with
        # the old time, never the old token with the new time
        struct.pack_into("=q", self.memory, 8, token)
        struct.pack_into("=d", self.memory, 0, at)

    def read(self) -> tuple[float, int]:
        """(seconds since the last renewal, the token of the hold)."""
        renewed, token = _MASTER.unpack_from(self.memory)
        return boottime() - float(renewed), int(token)
