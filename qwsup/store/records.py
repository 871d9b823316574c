"""The records the store takes and returns, for the policies above it to decide on:
what a read of the supervisors found, what a cron claim asks, a write sent with a job's
acknowledgement."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.typing import EncodableT


class Beat(NamedTuple):
    """One supervisor's record as a read found it."""

    value: str  # what it shows of its life: changes with every heartbeat
    lease_s: float = 0.0  # the lease it heartbeats for (0: unknown)


class Suspect(NamedTuple):
    """A supervisor that a read of the heartbeats' order found silent since some read."""

    seq: int  # the number of its last heartbeat
    value: str  # what its record shows of its life (lib/beat.lua): reclaim.lua's check
    lease_s: float = 0.0  # the lease it heartbeats for (0: unknown)


@dataclass(frozen=True)
class Watched:
    """One read of the heartbeats' order (watch.lua)."""

    seq: int  # the number of the last heartbeat, when the read ran
    mark: int | None  # the `seq` this watcher's previous read left in its record (None: none)
    complete: bool  # every registered supervisor numbers its heartbeats (no older master)
    suspects: dict[str, Suspect]  # those not beaten since the number the read asked about


@dataclass(frozen=True)
class Claim:
    """What a master asks of cron.lua for schedule `name`: if its record still says
    `expected` (None: no record), move it to `tick`, enqueueing its job when `fire`,
    and count `skipped` missed ticks."""

    name: str
    expected: int | None
    tick: int
    fire: bool
    skipped: int


Words = tuple[EncodableT, ...]  # one write: its command and arguments


class JobKind(enum.StrEnum):
    """What take.lua found for a job it took: the Redis type of its key ("hash", "none"
    when missing, or another type), or one of qwsup's own kinds."""

    HASH = "hash"
    MISSING = "none"
    OVERSIZE = "oversize"  # a job hash over the size limit, its data not sent
    EMPTY = "empty"  # an empty id: dropped from the worker's list, never run
    CANCELLED = "cancelled"  # a job cancelled: dropped from the worker's list, never run


OVERSIZE = JobKind.OVERSIZE


EMPTY = JobKind.EMPTY


CANCELLED = JobKind.CANCELLED


_KINDS = {kind.value: kind for kind in JobKind}


@dataclass(frozen=True, slots=True)
class Job:
    id: bytes
    kind: JobKind | str  # the Redis type of the job's key ("none": missing), or "oversize"
    fields: dict[bytes, bytes]
    size: int = 0  # "oversize": the bytes of data the hash holds


def _job(reply: Any) -> Job:
    """One job of take.lua's reply: {id, type of its key[, {field, value, ...}]}, or
    {id, "oversize", bytes}."""
    job_id, raw = reply[0], reply[1].decode()
    kind: JobKind | str = _KINDS.get(raw, raw)  # another type of key: its Redis name
    if kind == JobKind.OVERSIZE:
        return Job(job_id, kind, {}, int(reply[2]))
    flat: list[bytes] = reply[2] if len(reply) > 2 else []
    return Job(job_id, kind, dict(zip(flat[::2], flat[1::2], strict=True)))


@dataclass(frozen=True, slots=True)
class Taken:
    """What take.lua did: whether the finished job was still the worker's, whether the
    worker was fenced off (its master no longer holds the name: nothing taken), how long
    until a queue that held jobs back (paused, at a limit) may give one (ms; 0: none
    held any back), and the jobs taken, oldest first (an empty id among them is kind
    "empty": dropped, not to run)."""

    finished: bool
    fenced: bool
    jobs: list[Job]
    held_ms: int = 0
    woken: bool = False  # a wait ended early by the worker (Feed.wait): nothing taken


NOTHING = Taken(finished=False, fenced=False, jobs=[])  # no take: what a wait ended early gives


def taken(reply: Any) -> Taken:
    jobs = [_job(job) for job in reply[3:]]
    return Taken(bool(reply[0]), bool(reply[1]), jobs, int(reply[2]))


@dataclass(frozen=True, slots=True)
class Answered:
    """What Redis replied to the acknowledgements: (job id, whether it was still the
    worker's) each, and for those whose writes failed, (job id, [(n, error), ...])."""

    acked: list[tuple[bytes, bool]]
    failed_writes: list[tuple[bytes, list[tuple[int, str]]]]


NO_ANSWERS = Answered([], [])


class Acked(NamedTuple):
    """What one ack.lua answered: of the job it finished, 1 (finished), 0 (taken away)
    or -1 (finished already); whether the held job it was asked about may start; the
    writes that failed, (n, error) each."""

    finished: int
    starts: bool = True
    failed_writes: list[tuple[int, str]] = []  # noqa: RUF012 (never changed)


_PLAIN = {n: Acked(n) for n in (1, 0, -1)}  # (no writes, no job asked about: no object)


def acked(reply: Any) -> Acked:
    if not isinstance(reply, list):
        return _PLAIN[int(reply)]
    pairs = reply[2:]
    failed = [(int(pairs[i]), _text(pairs[i + 1])) for i in range(0, len(pairs) - 1, 2)]
    return Acked(int(reply[0]), int(reply[1]) == 1, failed)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Retry:
    """When a failed job runs again: after delay_s, growing by backoff, at most
    delay_max_s; never after max_attempts."""

    max_attempts: int
    delay_s: float = 0.0
    backoff: float = 1.0
    delay_max_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Reclaimed:
    name: str  # the dead supervisor
    requeued: int
    failed: int


@dataclass(frozen=True, slots=True)
class Requeued:
    requeued: int
    failed: int
    fenced: bool = False  # the caller's token no longer holds the name: nothing moved
    cancelled: int = 0  # jobs asked to stop meanwhile: ended cancelled, not requeued
