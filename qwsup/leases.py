"""Who holds a supervisor's name, and when another master may be declared dead.

Pure decisions, no Redis and no clock of their own: the master passes what it read
and when (its monotonic clock), and does what they say.

A lease is not judged by the Redis server's clock, which an operator or NTP can step,
nor by a deadline written by the holder. A master declares another dead only after it
has watched that supervisor's record (see lib/beat.lua: it changes with every
heartbeat) not change for a whole `lease_timeout` on its own monotonic clock, while its
own reads were answered promptly and often: a read slower than a quarter of the lease,
or a gap of over half a lease between two reads (this master stalled, or the server
did), starts the watch again. So neither a clock step nor a server stall
(CLIENT PAUSE, DEBUG SLEEP, a slow disk) can get a live supervisor reclaimed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .identity import Place

SLOW_READ = 0.25  # of the lease: a read slower than this starts the watch again
READ_GAP = 0.5  # of the lease: so does a gap this long between two reads


class Beat(NamedTuple):
    """One supervisor's record as a read found it."""

    value: str  # what it shows of its life: changes with every heartbeat
    lease_s: float = 0.0  # the lease it heartbeats for (0: unknown)


class LeaseWatch:
    """Watches the records of the other supervisors through this master's reads. Each
    is judged by the longer of its own lease and the watcher's: a supervisor with a
    longer lease heartbeats less often."""

    def __init__(self, lease_s: float, me: str = "") -> None:
        self.lease_s = lease_s
        self.me = me
        self.seen: dict[str, str] = {}  # name -> the record last read
        self.since: dict[str, float] = {}  # name -> when that record was first read
        self.last_reply: float | None = None

    def observe(self, sent: float, replied: float, beats: dict[str, Beat]) -> list[str]:
        """One read of every supervisor's record, sent and answered at those times;
        returns the supervisors that have now been watched silent for a whole lease."""
        unsteady = (
            self.last_reply is None
            or replied - sent > self.lease_s * SLOW_READ
            or sent - self.last_reply > self.lease_s * READ_GAP
        )
        self.last_reply = replied
        for name in set(self.seen) - set(beats):
            self.forget(name)
        dead = []
        for name, beat in beats.items():
            if name == self.me:
                continue
            if unsteady or self.seen.get(name) != beat.value:
                self.seen[name], self.since[name] = beat.value, replied
            elif sent - self.since[name] >= max(self.lease_s, beat.lease_s):
                dead.append(name)
        return sorted(dead)

    def lost_link(self) -> None:
        """A read failed: what was watched so far proves nothing."""
        self.last_reply = None

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)
        self.since.pop(name, None)


@dataclass(frozen=True)
class Holder:
    """The master that holds a supervisor's name, as its record in Redis says."""

    token: str
    pid: int
    host: str
    place: Place
    started: str  # its process's start time (see identity.started)
    since_ms: int  # when it took the name, unix ms on the Redis clock

    @classmethod
    def from_record(cls, record: dict[bytes, bytes]) -> Holder | None:
        """None when nobody holds the name: no record, or one with no token and no pid (a
        record of a qwsup before holders had tokens counts as held: it is watched)."""
        fields = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in record.items()}
        if not fields.get("token") and not fields.get("pid"):
            return None
        pid = fields.get("pid", "")
        since = fields.get("since_ms", "")
        return cls(
            token=fields.get("token", ""),
            pid=int(pid) if pid.isdigit() else 0,
            host=fields.get("host", "?"),
            place=Place(fields.get("boot_id", ""), fields.get("pidns", "")),
            started=fields.get("started", ""),
            since_ms=int(since) if since.isdigit() else 0,
        )


class Claim(enum.Enum):
    TAKE = "take"  # the name is free, or its holder is provably gone: take it now
    REFUSE = "refuse"  # a live master holds it
    WATCH = "watch"  # its holder runs elsewhere: alive only if its record changes


def judge(me: Place, holder: Holder | None, running: Callable[[int, str], bool]) -> Claim:
    """What a starting master does about the current holder of its name. `running(pid,
    started)` tells whether that process is alive here."""
    if holder is None:
        return Claim.TAKE
    if me.known and holder.place == me:
        return Claim.REFUSE if running(holder.pid, holder.started) else Claim.TAKE
    return Claim.WATCH
