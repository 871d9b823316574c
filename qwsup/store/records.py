"""The records the store takes and returns, for the policies above it to decide on:
what a read of the supervisors found, what a cron claim asks, a write sent with a job's
acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
