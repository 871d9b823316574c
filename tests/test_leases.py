"""Who holds a supervisor's name and who is dead (qwsup/master/leases.py), with a fake clock."""

from __future__ import annotations

import pytest

from qwsup.master.identity import Place, here, started, still_running
from qwsup.master.leases import BeatWatch, Claim, Holder, LeaseWatch, judge
from qwsup.store.records import Beat, Suspect, Watched

pytestmark = pytest.mark.unit

LEASE = 30.0


def reads(watch: LeaseWatch, beats: dict[str, Beat], start: float, until: float, every: float):
    """Reads every `every` s from `start` to `until`, each answered in 10 ms; the names
    declared dead, by the time of the read that declared them."""
    dead: dict[float, list[str]] = {}
    t = start
    while t <= until:
        found = watch.observe(t, t + 0.01, beats)
        if found:
            dead[t] = found
        t += every
    return dead


def test_a_supervisor_is_dead_after_a_whole_lease_without_a_beat() -> None:
    watch = LeaseWatch(LEASE, me="a")
    dead = reads(watch, {"a": Beat("t:1:1"), "b": Beat("t:7:1000")}, 0.0, 40.0, 5.0)
    assert min(dead) == 35.0  # first seen in the reply at 0.01: a lease later, at the read at 35
    assert dead[35.0] == ["b"]  # never itself


def test_a_beat_starts_the_lease_again() -> None:
    watch = LeaseWatch(LEASE)
    assert reads(watch, {"b": Beat("t:1:1")}, 0.0, 25.0, 5.0) == {}
    assert watch.observe(29.0, 29.01, {"b": Beat("t:2:5")}) == []  # it beat
    assert reads(watch, {"b": Beat("t:2:5")}, 34.0, 55.0, 5.0) == {}  # 29.01 + 30 > 55
    assert watch.observe(59.5, 59.51, {"b": Beat("t:2:5")}) == ["b"]


def test_a_step_of_the_redis_clock_does_not_matter() -> None:
    # the record holds the server's time (heartbeat_ms); only whether it changes counts
    watch = LeaseWatch(LEASE)
    beats = [f"t:{n}:{ms}" for n, ms in enumerate([1_000, 3_601_000, 3_606_000, 7_000])]
    t = 0.0
    for beat in beats * 5:
        assert watch.observe(t, t + 0.01, {"b": Beat(beat)}) == []
        t += 5.0


def test_a_slow_read_starts_the_watch_again() -> None:
    """A server stall (DEBUG SLEEP, CLIENT PAUSE) holds the holder's heartbeat as long as
    our read: the read that waited proves nothing."""
    watch = LeaseWatch(LEASE)
    assert reads(watch, {"b": Beat("x")}, 0.0, 20.0, 5.0) == {}
    assert watch.observe(25.0, 45.0, {"b": Beat("x")}) == []  # answered 20 s late
    assert watch.observe(50.0, 50.01, {"b": Beat("x")}) == []  # 30 s since 25.0, but not since 45.0
    assert reads(watch, {"b": Beat("x")}, 55.0, 70.0, 5.0) == {}
    assert watch.observe(75.0, 75.01, {"b": Beat("x")}) == ["b"]  # a lease after 45.0


def test_a_gap_between_reads_starts_the_watch_again() -> None:
    """The watcher itself stalled (SIGSTOP, a frozen VM): it saw nothing meanwhile."""
    watch = LeaseWatch(LEASE)
    assert watch.observe(0.0, 0.01, {"b": Beat("x")}) == []
    assert watch.observe(40.0, 40.01, {"b": Beat("x")}) == []  # 40 s without a read
    assert watch.observe(45.0, 45.01, {"b": Beat("x")}) == []
    assert watch.observe(70.02, 70.03, {"b": Beat("x")}) == []  # gap of 25 s: over half a lease
    assert reads(watch, {"b": Beat("x")}, 75.0, 100.0, 5.0) == {}
    assert watch.observe(100.05, 100.06, {"b": Beat("x")}) == ["b"]  # a lease after 70.03


def test_a_failed_read_starts_the_watch_again() -> None:
    watch = LeaseWatch(LEASE)
    assert reads(watch, {"b": Beat("x")}, 0.0, 25.0, 5.0) == {}
    watch.lost_link()
    assert reads(watch, {"b": Beat("x")}, 30.0, 55.0, 5.0) == {}
    assert watch.observe(60.0, 60.01, {"b": Beat("x")}) == []  # first seen again at 30.01
    assert watch.observe(60.02, 60.03, {"b": Beat("x")}) == ["b"]


def test_supervisors_that_left_are_forgotten() -> None:
    watch = LeaseWatch(LEASE)
    watch.observe(0.0, 0.01, {"b": Beat("x"), "c": Beat("y")})
    watch.observe(5.0, 5.01, {"c": Beat("y")})
    assert set(watch.seen) == {"c"}
    assert reads(watch, {"b": Beat("x"), "c": Beat("y")}, 10.0, 40.0, 5.0) == {
        35.0: ["c"],
        40.0: ["c"],
    }


# -- BeatWatch: the heartbeats' order, one read per turn -------------------------------


class Order:
    """The heartbeats' order as heartbeat.lua and watch.lua keep it in Redis, in memory:
    a counter, each supervisor's last number, and the mark each watcher's read leaves."""

    def __init__(self, **leases: float) -> None:
        self.seq = 0
        self.scores: dict[str, int] = {}
        self.leases = leases  # name -> its lease, s (absent: the watcher's)
        self.marks: dict[str, int] = {}

    def beat(self, *names: str) -> None:
        for name in names:
            self.seq += 1
            self.scores[name] = self.seq

    def read(self, me: str, upto: int) -> Watched:
        mark, self.marks[me] = self.marks.get(me), self.seq
        suspects = {
            name: Suspect(seq, f"t:{seq}", self.leases.get(name, 0.0))
            for name, seq in self.scores.items()
            if seq <= upto
        }
        return Watched(self.seq, mark, True, suspects)

    def snapshot(self) -> tuple[int, dict[str, int], dict[str, int]]:
        return self.seq, dict(self.scores), dict(self.marks)

    def restore(self, saved: tuple[int, dict[str, int], dict[str, int]]) -> None:
        """Redis went back to `saved` (a failover to a replica behind, a restart from an
        older file): the writes since are lost."""
        self.seq, self.scores, self.marks = saved[0], dict(saved[1]), dict(saved[2])


def turns(
    watch: BeatWatch,
    order: Order,
    start: float,
    until: float,
    every: float,
    beating: tuple[str, ...] = (),
    answer: float = 0.01,
) -> dict[float, list[str]]:
    """A watcher's turns every `every` s from `start` to `until`: the `beating`
    supervisors heartbeat, then the watcher reads (answered in `answer` s); the names
    declared dead, by the time of the read that declared them."""
    dead: dict[float, list[str]] = {}
    t = start
    while t <= until:
        order.beat(*beating)
        read = order.read(watch.me, watch.upto(t))
        found = watch.observe(t, t + answer, read)
        if found:
            dead[t] = found
        t += every
    return dead


def test_the_order_declares_dead_after_a_whole_lease_without_a_beat() -> None:
    order, watch = Order(), BeatWatch(LEASE, me="a")
    order.beat("a", "b", "c")
    dead = turns(watch, order, 0.0, 60.0, 5.0, beating=("a", "c"))
    assert min(dead) == 35.0  # b's last beat counted by the read answered at 0.01
    assert all(names == ["b"] for names in dead.values())


def test_the_order_asks_only_about_those_silent_since_a_read_a_lease_old() -> None:
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b", "c")
    assert watch.upto(0.0) == -1
    turns(watch, order, 0.0, 25.0, 5.0, beating=("b",))
    assert watch.upto(29.0) == -1  # no read answered 30 s before it
    assert watch.upto(30.5) == 3  # the counter as the read at 0 showed it: c, not b
    read = order.read("", watch.upto(30.5))
    assert set(read.suspects) == {"c"}


def test_a_beat_in_the_order_starts_the_lease_again() -> None:
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b")
    assert turns(watch, order, 0.0, 25.0, 5.0) == {}
    order.beat("b")  # at 29: counted by no read before
    assert turns(watch, order, 30.0, 60.0, 5.0) == {}  # the read at 30.01 counted it
    assert turns(watch, order, 65.0, 65.0, 5.0) == {65.0: ["b"]}


def test_the_order_never_declares_the_watcher_itself() -> None:
    order, watch = Order(), BeatWatch(LEASE, me="a")
    order.beat("a")
    assert turns(watch, order, 0.0, 100.0, 5.0) == {}


def test_a_slow_read_of_the_order_starts_the_watch_again() -> None:
    """A server stall holds the holder's heartbeat as long as our read."""
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b")
    assert turns(watch, order, 0.0, 20.0, 5.0) == {}
    assert turns(watch, order, 25.0, 25.0, 5.0, answer=20.0) == {}  # answered at 45
    assert turns(watch, order, 50.0, 70.0, 5.0) == {}  # 30 s since 25.0, not since 45.0
    assert turns(watch, order, 75.0, 75.0, 5.0) == {75.0: ["b"]}


def test_a_gap_between_reads_of_the_order_starts_the_watch_again() -> None:
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b")
    assert turns(watch, order, 0.0, 0.0, 5.0) == {}
    assert turns(watch, order, 40.0, 45.0, 5.0) == {}  # 40 s without a read
    assert turns(watch, order, 70.02, 70.02, 5.0) == {}  # a gap of 25 s: over half a lease
    assert turns(watch, order, 75.0, 100.0, 5.0) == {}
    assert turns(watch, order, 100.05, 100.05, 5.0) == {100.05: ["b"]}  # a lease after 70.03


def test_a_failed_read_of_the_order_starts_the_watch_again() -> None:
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b")
    assert turns(watch, order, 0.0, 25.0, 5.0) == {}
    watch.lost_link()
    assert turns(watch, order, 30.0, 55.0, 5.0) == {}
    assert turns(watch, order, 60.0, 60.0, 5.0) == {}  # first seen again at 30.01
    assert turns(watch, order, 65.0, 65.0, 5.0) == {65.0: ["b"]}


def test_redis_going_back_in_time_starts_the_watch_again() -> None:
    """A failover to a replica behind, or a restart from an older file: the counter goes
    back, and the numbers handed out again would look older than reads that saw them.
    Our last read's mark is gone from our record, so nothing seen before counts."""
    order, watch = Order(), BeatWatch(LEASE)
    order.beat("b")
    assert turns(watch, order, 0.0, 0.0, 5.0, beating=("b",)) == {}
    saved = order.snapshot()  # the replica stops here
    assert turns(watch, order, 5.0, 60.0, 5.0, beating=("b",)) == {}  # b beats 12 times
    order.restore(saved)  # and is promoted: b's beats are numbered 2, 3, ... again
    assert turns(watch, order, 65.0, 200.0, 5.0, beating=("b",)) == {}
    # b stops: dead a lease after the first read that counted its last beat
    assert min(turns(watch, order, 205.0, 300.0, 5.0)) == 235.0


def test_without_the_mark_redis_going_back_would_reclaim_a_live_supervisor() -> None:
    """The counterpart of the test above: it is the mark that keeps b alive when the
    counter, gone back, has climbed past what our last read showed by our next read."""

    def after_the_failover(mark_survives: bool) -> list[str]:
        order, watch = Order(), BeatWatch(LEASE)
        order.beat("b")
        turns(watch, order, 0.0, 0.0, 5.0, beating=("b",))
        saved = order.snapshot()
        turns(watch, order, 5.0, 60.0, 5.0, beating=("b",))  # the counter reaches 14
        order.restore(saved)  # back to 2
        if mark_survives:
            order.marks[""] = 14  # what a read that counts on the counter alone would see
        order.beat("b", *["c"] * 20)  # b beats (3), then c beats 20 times (23 > 14)
        return watch.observe(65.0, 65.01, order.read("", watch.upto(65.0)))

    assert after_the_failover(mark_survives=False) == []
    assert after_the_failover(mark_survives=True) == ["b"]  # b beat just now, numbered 3


def test_the_order_judges_a_longer_lease_by_its_own() -> None:
    """It heartbeats less often: a watcher with a short lease must not declare it dead,
    and keeps its reads long enough to declare it once its own lease is over."""
    order, watch = Order(b=60.0), BeatWatch(6.0)
    order.beat("b")
    assert turns(watch, order, 0.0, 60.0, 1.0) == {}
    assert turns(watch, order, 61.0, 61.0, 1.0) == {61.0: ["b"]}  # 60 s after 0.01


def test_the_order_keeps_few_reads() -> None:
    order, watch = Order(), BeatWatch(LEASE)
    turns(watch, order, 0.0, 3000.0, 5.0, beating=("b",))
    assert len(watch.reads) <= LEASE / 5 + 2  # a lease of them, not every read


HERE = Place("boot-1", "pid:[1]")


def holder(place: Place = HERE, **fields: str) -> Holder:
    record = {"token": "7", "pid": "42", "host": "web", "started": "99", "since_ms": "5"}
    record |= {"boot_id": place.boot_id, "pidns": place.pidns, **fields}
    found = Holder.from_record({k.encode(): v.encode() for k, v in record.items()})
    assert found is not None
    return found


def test_a_free_name_is_taken() -> None:
    assert Holder.from_record({}) is None
    assert Holder.from_record({b"status": b"x"}) is None
    assert judge(HERE, None, lambda pid, start: True) is Claim.TAKE


def test_a_holder_here_is_judged_by_its_process() -> None:
    alive = {(42, "99")}
    assert judge(HERE, holder(), lambda pid, start: (pid, start) in alive) is Claim.REFUSE
    # the pid was reused by another process (another start time), or it is gone
    assert judge(HERE, holder(started="100"), lambda p, s: (p, s) in alive) is Claim.TAKE
    assert judge(HERE, holder(), lambda pid, start: False) is Claim.TAKE


def test_a_holder_elsewhere_is_watched_whatever_its_pid() -> None:
    """Two containers from one image: the same host name, the same small pids, one
    kernel (boot id) but two pid namespaces."""
    other_container = Place("boot-1", "pid:[2]")
    other_machine = Place("boot-2", "pid:[1]")
    for place in (other_container, other_machine, Place("", "")):
        assert judge(HERE, holder(place), lambda pid, start: True) is Claim.WATCH
    # a master that cannot tell where it runs never trusts a pid
    assert judge(Place("", ""), holder(Place("", "")), lambda p, s: False) is Claim.WATCH


def test_a_record_of_an_older_qwsup_counts_as_held() -> None:
    old = Holder.from_record({b"pid": b"12", b"host": b"web", b"heartbeat_ms": b"1"})
    assert old is not None and old.token == "" and old.place == Place("", "")
    assert judge(HERE, old, lambda pid, start: True) is Claim.WATCH


def test_this_process_is_recognised_and_a_reused_pid_is_not() -> None:
    import os

    me = os.getpid()
    assert here().known
    assert still_running(me, started(me))
    assert not still_running(me, str(int(started(me)) + 1))
    assert not still_running(me, "")


def test_a_supervisor_with_a_longer_lease_is_judged_by_its_own() -> None:
    """It heartbeats less often: a watcher with a short lease must not declare it dead."""
    watch = LeaseWatch(6.0)
    assert reads(watch, {"b": Beat("x", lease_s=60.0)}, 0.0, 59.0, 1.0) == {}
    assert watch.observe(60.5, 60.51, {"b": Beat("x", lease_s=60.0)}) == ["b"]
