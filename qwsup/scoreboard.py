"""A worker's scoreboard, and its master's board: a few numbers in shared memory.

The master maps an anonymous shared page for each worker before it forks it. The
worker writes its heartbeat, when its current job started, and what each job came to;
the master reads them when it polices its workers, builds its status line or is
scraped for metrics. The hot path makes no system call and wakes nobody.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import mmap
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

# the bounds of the job-duration histogram (seconds), each worker counting into its own
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def bucket(seconds: float) -> int:
    """The histogram bucket a job of `seconds` counts in."""
    return bisect.bisect_left(BUCKETS, seconds)


T = TypeVar("T")

_SEQ = struct.Struct("=Q")
_DOUBLE = struct.Struct("=d")
_COUNT = struct.Struct("=Q")
SPINS = 100  # reads of a page being written before the reader sleeps between tries
PATIENCE_S = 0.2  # a writer mid-write this long was stopped there (not just preempted)


class _SeqLock:
    """A sequence lock in the first 8 bytes of a shared page: odd while its writer
    writes, one more once it is done. struct packs a number byte by byte, so a reader in
    another process could see half of one (a time near 0, a count off by 2**32); it
    reads again instead. The sequence itself is read and written as one 8-byte word
    (a memoryview cast to Q: one aligned load or store), never through struct, which
    can leave it half written, or zeroed, for a moment: a reader that saw such a
    value twice took a half-written page for a whole one. Writers of one process take
    turns on a thread lock."""

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory
        self.word = memoryview(memory)[: _SEQ.size].cast("Q")
        self.lock = threading.Lock()

    def release(self) -> None:
        """Before the page is closed (the word holds a view of it)."""
        self.word.release()

    def begin(self) -> int:
        """Start a write, holding `lock` (`with seq.lock:`), and end it with `end` in a
        `finally`: plain calls, not a contextmanager, on the worker's path of every job
        (the `with` releases the lock even when a signal handler raises in between)."""
        seq = self.word[0]
        self.word[0] = seq + 1
        return seq

    def end(self, seq: int) -> None:
        self.word[0] = seq + 2

    def read(self, unpack: Callable[[], T]) -> T | None:
        """What `unpack` read while no write was going on; None when the writer stayed in
        the middle of a write for PATIENCE_S (it was stopped there: a writer merely
        preempted mid-write gets the CPU back sooner, and the reader yields to it)."""
        tries, deadline, last = 0, 0.0, -1
        word = self.word
        while True:
            seq = word[0]
            if not seq % 2:
                value = unpack()
                if word[0] == seq:
                    return value
            if seq != last:  # the writer got on since the last try: it is not stopped
                tries, last = 0, seq
            tries += 1
            if tries == SPINS:
                deadline = time.monotonic() + PATIENCE_S
            elif tries > SPINS:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.001)


# after the sequence: beat, busy_since (monotonic seconds; 0: idle), duration_sum; done,
# retried, failed, lost, cancelled, running (jobs now); then one count per duration bucket
_HEAD = struct.Struct("=3d6Q")
_BUCKETS = struct.Struct(f"={len(BUCKETS) + 1}Q")
_AT = _SEQ.size  # where the head starts
_RUNNING = _AT + 3 * 8 + 5 * 8  # where its running count is
SIZE = _AT + _HEAD.size + _BUCKETS.size
OUTCOMES = ("done", "retry", "failed", "lost", "cancelled")


@dataclass(frozen=True)
class Score:
    beat: float
    busy_since: float
    duration_sum: float
    done: int
    retried: int
    failed: int
    lost: int
    cancelled: int
    buckets: tuple[int, ...]
    running: int = 0  # the jobs it runs now (a worker of several slots: k of N)


class Scoreboard:
    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, SIZE)  # anonymous and shared: seen across fork
        self.seq = _SeqLock(self.memory)
        self.last = Score(0.0, 0.0, 0.0, 0, 0, 0, 0, 0, (0,) * (len(BUCKETS) + 1))

    # the worker's side

    def beat(self, now: float) -> None:
        self._put(_AT, now)

    def busy(self, now: float, running: int = 1) -> None:
        """Running `running` jobs, the oldest since `now` (0.0 and 0: idle)."""
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _DOUBLE.pack_into(self.memory, _AT + 8, now)
                _COUNT.pack_into(self.memory, _RUNNING, running)
            finally:
                self.seq.end(seq)

    def idle(self) -> None:
        self.busy(0.0, 0)

    def _put(self, offset: int, value: float) -> None:
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _DOUBLE.pack_into(self.memory, offset, value)
            finally:
                self.seq.end(seq)

    def ended(self, outcome: str, seconds: float, bucket: int) -> None:
        """A job came to `outcome` (known once Redis has replied): counted, with its
        duration."""
        self.count([(outcome, seconds, bucket)])

    def count(self, ended: list[tuple[str, float, int]]) -> None:
        """`ended` in one write: each job's outcome, duration and duration bucket."""
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _beat, _busy, total, *counts, _running = _HEAD.unpack_from(self.memory, _AT)
                for outcome, seconds, bucket in ended:
                    counts[OUTCOMES.index(outcome)] += 1
                    total += seconds
                    bucket_offset = _AT + _HEAD.size + 8 * bucket
                    (in_bucket,) = _COUNT.unpack_from(self.memory, bucket_offset)
                    _COUNT.pack_into(self.memory, bucket_offset, in_bucket + 1)
                struct.pack_into("=d5Q", self.memory, _AT + 16, total, *counts)
            finally:
                self.seq.end(seq)

    # the master's side

    def read(self) -> Score:
        """The worker's numbers; the last whole read while the worker is stopped in the
        middle of a write."""
        score = self.seq.read(self._unpack)
        if score is not None:
            self.last = score
        return self.last

    def _unpack(self) -> Score:
        beat, busy, total, done, retried, failed, lost, cancelled, running = _HEAD.unpack_from(
            self.memory, _AT
        )
        buckets = _BUCKETS.unpack_from(self.memory, _AT + _HEAD.size)
        return Score(beat, busy, total, done, retried, failed, lost, cancelled, buckets, running)

    def close(self) -> None:
        self.seq.release()
        self.memory.close()


MAX_LOOKS = 8  # workers the master can ask to look at once
MAX_CANCELS = 32  # stop orders the board keeps: the latest
_MASTER = struct.Struct("=dq")  # after the sequence: renewed (CLOCK_BOOTTIME seconds), token
_LOOKS = struct.Struct(f"=Q{MAX_LOOKS}q")  # after those: asks to look, and whom (pids)
# after those: stop orders given so far, then per order (the latest MAX_CANCELS, order k
# at k % MAX_CANCELS) the worker's pid and the digest of the job's id
_CANCELS = struct.Struct(f"=Q{2 * MAX_CANCELS}q")


def job_digest(job_id: bytes) -> int:
    """A job id as the board holds it: 8 bytes of its BLAKE2b, as a signed number."""
    return int.from_bytes(hashlib.blake2b(job_id, digest_size=8).digest(), "little", signed=True)


def boottime() -> float:
    """Seconds since boot, suspended time included (CLOCK_MONOTONIC stops while the
    machine sleeps): the clock of the master's board."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class MasterBoard:
    """The master's page, one for all its workers: when it last renewed its hold on the
    supervisor's name, the token of that hold, and which waiting workers it asks to look
    at every queue now. A worker takes and starts jobs only while the renewal is recent
    (its master is alive and reaches Redis), and drops what it holds when the token
    changes (the name was reclaimed and taken again)."""

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, _SEQ.size + _MASTER.size + _LOOKS.size + _CANCELS.size)
        self.seq = _SeqLock(self.memory)
        self.asked = 0  # the master's side: how many times it asked workers to look
        self.ordered = 0  # the master's side: how many stop orders it gave

    def renewed(self, at: float, token: int) -> None:
        """The hold `token` was renewed by a heartbeat sent at `at` (boottime())."""
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _MASTER.pack_into(self.memory, _SEQ.size, at, token)
            finally:
                self.seq.end(seq)

    def ask_to_look(self, pids: list[int]) -> None:
        """Ask the waiting workers `pids` to end their wait and take from every queue
        (a job waits on a queue none of the idle workers is blocked on)."""
        self.asked += 1
        chosen = (pids + [0] * MAX_LOOKS)[:MAX_LOOKS]
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _LOOKS.pack_into(self.memory, _SEQ.size + _MASTER.size, self.asked, *chosen)
            finally:
                self.seq.end(seq)

    def looks(self) -> int:
        """How many times the master has asked workers to look, so far (-1: unknown, the
        master is in the middle of writing)."""
        found = self.seq.read(lambda: _LOOKS.unpack_from(self.memory, _SEQ.size + _MASTER.size))
        return -1 if found is None else int(found[0])

    def order_stop(self, pid: int, job_id: bytes) -> None:
        """Order worker `pid` to stop job `job_id` (it was cancelled); the master then
        sends it JOB_CANCEL, and the worker reads its orders here."""
        at = _SEQ.size + _MASTER.size + _LOOKS.size
        with self.seq.lock:
            seq = self.seq.begin()
            try:
                _, *flat = _CANCELS.unpack_from(self.memory, at)
                slot = self.ordered % MAX_CANCELS
                flat[2 * slot], flat[2 * slot + 1] = pid, job_digest(job_id)
                self.ordered += 1
                _CANCELS.pack_into(self.memory, at, self.ordered, *flat)
            finally:
                self.seq.end(seq)

    def orders(self) -> int:
        """How many stop orders the master has given so far (-1: unknown, mid-write)."""
        at = _SEQ.size + _MASTER.size + _LOOKS.size
        found = self.seq.read(lambda: _COUNT.unpack_from(self.memory, at))
        return -1 if found is None else int(found[0])

    def stop_orders(self, pid: int, since: int) -> tuple[int, set[int]]:
        """The orders given to worker `pid` after the first `since` (the digests of the
        jobs to stop: job_digest), and how many orders there are now; orders older than
        the latest MAX_CANCELS are gone (the master kills a worker whose job does not
        stop in time anyway)."""
        at = _SEQ.size + _MASTER.size + _LOOKS.size
        found = self.seq.read(lambda: _CANCELS.unpack_from(self.memory, at))
        if found is None:
            return since, set()
        given, *flat = found
        digests = set()
        for k in range(max(since, given - MAX_CANCELS), given):
            slot = k % MAX_CANCELS
            if flat[2 * slot] == pid:
                digests.add(flat[2 * slot + 1])
        return int(given), digests

    def close(self) -> None:
        self.seq.release()
        self.memory.close()

    def asked_to_look(self, pid: int, since: int) -> bool:
        """Whether the master asked worker `pid` to look after it had asked `since` times."""
        found = self.seq.read(lambda: _LOOKS.unpack_from(self.memory, _SEQ.size + _MASTER.size))
        return found is not None and found[0] != since and pid in found[1:]

    def read(self) -> tuple[float, int]:
        """(seconds since the last renewal, the token of the hold); a master stopped in
        the middle of writing it is silent (its token then is the one last written)."""
        found = self.seq.read(lambda: _MASTER.unpack_from(self.memory, _SEQ.size))
        if found is None:
            return math.inf, _MASTER.unpack_from(self.memory, _SEQ.size)[1]
        renewed, token = found
        return boottime() - float(renewed), int(token)
