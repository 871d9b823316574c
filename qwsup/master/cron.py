"""Periodic jobs (`[[cron]]`), each tick enqueued once across every master sharing the
Redis, whichever masters are up.

Every master computes each schedule's ticks (pure: `Ticks`, cron expressions parsed by
cronsim, in the schedule's time zone); when one is due, it claims it with cron.lua, a
compare-and-set on the schedule's record all:cron:<name> (the last tick handled): the
one claim that finds the record as it last saw it enqueues the job, in the same step;
the others find the record moved on and learn its new tick. No leader, none lost when
a master dies, none doubled when several run.

A tick is fired when it is claimed within ON_TIME_S of its time, each one once, however
many a short outage (a master restarting, Redis away) made late. Those claimed later (no
master ran at their time) follow the schedule's `catch_up`: "none" skips them, "last"
runs the latest once; the others are counted as skipped either way (never a flood of
catch-up jobs). A new schedule starts with its first tick after it is first seen,
and so does one whose record is more than a tick ahead of the Redis clock (the clock
stepped back: waiting for it to catch up would silence the schedule that long).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cronsim import CronSim

from qwsup.limits import duration_s
from qwsup.store.records import Claim

if TYPE_CHECKING:
    from qwsup.config import CronConfig

log = logging.getLogger(__name__)

ON_TIME_S = 60.0  # a tick claimed later than this after its time was missed
MOST_COUNTED = 100_000  # the most missed ticks counted between two claims


@dataclass(frozen=True)
class Ticks:
    """When one schedule fires: a cron expression in a time zone, or every `every_ms`
    (ticks at whole multiples of it since the epoch, so that every master agrees)."""

    expression: str = ""
    every_ms: int = 0
    timezone: str = "UTC"

    @classmethod
    def of(cls, cron: CronConfig) -> Ticks:
        every_ms = round(duration_s(cron.every) * 1000) if cron.every else 0
        return cls(cron.schedule, every_ms, cron.timezone)

    def next_after(self, ms: int) -> int:
        """The first tick after `ms` (unix ms)."""
        if self.every_ms:
            return (ms // self.every_ms + 1) * self.every_ms
        start = datetime.fromtimestamp(ms // 1000, ZoneInfo(self.timezone))
        return int(next(CronSim(self.expression, start)).timestamp() * 1000)

    def latest(self, ms: int) -> int:
        """The last tick at or before `ms`."""
        if self.every_ms:
            return ms // self.every_ms * self.every_ms
        start = datetime.fromtimestamp(ms // 1000, ZoneInfo(self.timezone)) + timedelta(seconds=1)
        return int(next(CronSim(self.expression, start, reverse=True)).timestamp() * 1000)

    def between(self, after: int, before: int) -> int:
        """How many ticks lie strictly between `after` and `before` (at most MOST_COUNTED)."""
        if self.every_ms:
            return max(0, min(MOST_COUNTED, (before - 1) // self.every_ms - after // self.every_ms))
        count, tick = 0, self.next_after(after)
        while tick < before and count < MOST_COUNTED:
            count, tick = count + 1, self.next_after(tick)
        return count


def decide(name: str, ticks: Ticks, catch_up: str, last: int | None, now_ms: int) -> Claim | None:
    """The next claim to make for a schedule whose record says `last` (None: none yet)
    at `now_ms` (Redis clock), or None when no tick is due. One tick per claim while
    they are on time (a master back after a short outage fires each tick it missed);
    the ticks older than ON_TIME_S go in one claim that follows `catch_up`."""
    due = ticks.latest(now_ms)
    if last is None:
        return Claim(name, None, due, fire=False, skipped=0)  # from its next tick on
    if last > ticks.next_after(now_ms):  # the Redis clock stepped back past the record
        return Claim(name, last, due, fire=False, skipped=0)  # from its next tick on
    if due <= last:
        return None
    first = ticks.next_after(last)
    if now_ms - first <= ON_TIME_S * 1000:
        return Claim(name, last, first, fire=True, skipped=0)
    missed = ticks.latest(now_ms - round(ON_TIME_S * 1000) - 1)  # the latest one too late
    fire = catch_up == "last"
    return Claim(name, last, missed, fire, ticks.between(last, missed) + (0 if fire else 1))


@dataclass
class Schedule:
    """One `[[cron]]` entry as a master follows it: its ticks, and the last tick its
    record said (None until read)."""

    config: CronConfig
    ticks: Ticks
    last: int | None = None
    known: bool = False  # whether `last` was read from (or written to) the record
    fired: int = 0  # ticks this master enqueued
    skipped: int = 0  # and counted as skipped (missed, or unique and still running)

    def next_ms(self, now_ms: int) -> int:
        """When this master should look again (Redis clock)."""
        if not self.known:
            return now_ms
        return self.ticks.next_after(max(now_ms, self.last or now_ms))


@dataclass
class Cron:
    """Every schedule of the config, as one master follows them (no Redis here: the
    master makes the claims and hands the replies back)."""

    schedules: dict[str, Schedule] = field(default_factory=dict)

    def follow(self, configs: tuple[CronConfig, ...]) -> None:
        """The schedules of a (re)loaded config: what a schedule's record said is kept
        for those whose name stays."""
        kept = {}
        for cron in configs:
            old = self.schedules.get(cron.name)
            ticks = Ticks.of(cron)
            if old is not None and old.ticks == ticks:
                old.config = cron
                kept[cron.name] = old
            else:
                kept[cron.name] = Schedule(cron, ticks)
                if old is not None:
                    kept[cron.name].fired, kept[cron.name].skipped = old.fired, old.skipped
        self.schedules = kept

    def unknown(self) -> list[str]:
        """The schedules whose record is still to be read."""
        return [name for name, s in self.schedules.items() if not s.known]

    def read(self, name: str, last: int | None) -> None:
        schedule = self.schedules.get(name)
        if schedule is not None:
            schedule.last, schedule.known = last, True

    def due(self, now_ms: int) -> list[Claim]:
        """The claims to make at `now_ms` (Redis clock)."""
        claims = []
        for name, s in self.schedules.items():
            if s.known:
                claim = decide(name, s.ticks, s.config.catch_up, s.last, now_ms)
                if claim is not None:
                    claims.append(claim)
        return claims

    def claimed(self, claim: Claim, outcome: str, last: int | None) -> None:
        """cron.lua's answer to `claim`: "fired", "skipped" (a unique schedule whose
        previous job is still queued or running, or a missed tick), "moved" (the record
        was not as expected: `last` is what it says now)."""
        s = self.schedules.get(claim.name)
        if s is None:
            return
        if outcome == "moved":
            s.last = last
            return
        s.last = claim.tick
        skipped = claim.skipped + (1 if claim.fire and outcome == "skipped" else 0)
        s.skipped += skipped
        if outcome == "fired":
            s.fired += 1
        if skipped:
            log.info(
                "cron %s: %d ticks skipped (missed, or the previous job still runs)",
                claim.name, skipped,
            )  # fmt: skip

    def next_ms(self, now_ms: int) -> int | None:
        """The next time a schedule needs this master (Redis clock), or None."""
        times = [s.next_ms(now_ms) for s in self.schedules.values()]
        return min(times) if times else None

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per schedule: ticks fired and skipped by this master."""
        return {name: (s.fired, s.skipped) for name, s in self.schedules.items()}
