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

Two watches apply that rule. `BeatWatch`, the masters' own, reads one structure in one
call whatever the number of supervisors: the order of their heartbeats (every heartbeat
takes the next number of one counter and scores its name with it, lib/sequence.lua).
A supervisor scored at or below the number a read showed has not beaten since that
read ran, so it needs no record of its own to be watched. `LeaseWatch` reads every
record and compares it with the last read: for a name held from elsewhere while a
master starts, for `qwsup requeue-orphans`, and alongside BeatWatch while masters of an
older version, which do not number their heartbeats, share the Redis.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from qwsup.master.identity import Place
from qwsup.store.records import Beat, Watched

SLOW_READ = 0.25  # of the lease: a read slower than this starts the watch again
READ_GAP = 0.5  # of the lease: so does a gap this long between two reads
MAX_READS = 10_000  # BeatWatch keeps at most this many reads (dropping one only delays)


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


class BeatWatch:
    """Watches every other supervisor through one read per turn of the heartbeats'
    order, by LeaseWatch's rule. It keeps its steady reads: when each was answered, and
    the heartbeats' counter it showed. A supervisor whose last heartbeat has a number
    no higher than a read's counter has not beaten since that read ran, which was
    before its reply; so it is dead once the first read that counted past its number
    was answered a whole lease before the current read was sent (the longer of its own
    lease and the watcher's), every read in between steady. The counter is Redis's and
    only orders the heartbeats: no clock of the server's or of the holder's is used.

    A read also finds, in the watcher's own record, the counter its previous read left
    there: when it is not what that read showed, Redis lost writes (a failover, a
    restart from an older file) and may hand out the same numbers again, so the watch
    starts again, as after a slow read or a gap."""

    def __init__(self, lease_s: float, me: str = "") -> None:
        self.lease_s = lease_s
        self.me = me
        self.reads: deque[tuple[float, int]] = deque()  # (replied, counter), oldest first
        self.last_reply: float | None = None
        self.last_seq: int | None = None  # what our last read wrote into our record
        self.longest = lease_s  # the longest lease seen: how far back reads are kept

    def upto(self, now: float) -> int:
        """What to ask the next read, sent at `now`, about: the counter as the last read
        answered a lease ago showed it (only those not beaten since can be dead); -1
        while no read is that old."""
        found = -1
        for replied, seq in self.reads:
            if replied > now - self.lease_s:
                break
            found = seq
        return found

    def observe(self, sent: float, replied: float, read: Watched) -> list[str]:
        """A read sent and answered at those times, which asked about `upto(sent)`;
        returns the supervisors now watched silent for a whole lease."""
        unsteady = (
            self.last_reply is None
            or replied - sent > self.lease_s * SLOW_READ
            or sent - self.last_reply > self.lease_s * READ_GAP
            or read.mark != self.last_seq  # Redis went back: our last read's write is lost
            or (bool(self.reads) and read.seq < self.reads[-1][1])
        )
        self.last_reply, self.last_seq = replied, read.seq
        dead = []
        if unsteady:
            self.reads.clear()
        else:
            for name, suspect in read.suspects.items():
                self.longest = max(self.longest, suspect.lease_s)
                since = self.since(suspect.seq)
                lease = max(self.lease_s, suspect.lease_s)
                if name != self.me and since is not None and sent - since >= lease:
                    dead.append(name)
        self.reads.append((replied, read.seq))
        while len(self.reads) > 1 and (
            self.reads[1][0] <= sent - self.longest or len(self.reads) > MAX_READS
        ):
            self.reads.popleft()  # (a later first read only makes a silence look shorter)
        return sorted(dead)

    def since(self, seq: int) -> float | None:
        """When the first steady read whose counter had reached `seq` was answered: a
        supervisor whose last heartbeat is `seq` has been silent since then, at least."""
        for replied, counter in self.reads:
            if counter >= seq:
                return replied
        return None

    def lost_link(self) -> None:
        """A read failed, or the watcher does not hold its name: what was watched so far
        proves nothing."""
        self.last_reply = None


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
