"""What holds a queue back (pure): its `[queues.NAME]` limits, and how long an idle
worker that only a limit or a pause holds back waits before it takes again.

The limits are enforced by take.lua, for every worker of every host sharing the Redis
(docs/protocol.md "Limits and pauses"): at most `rate` jobs taken from the queue in
any window of `per_s` (a log of the take times, on the Redis clock), and at most
`concurrency` of its jobs in workers' lists at once (the set <queue>:running). A
worker that found nothing to take but jobs held back waits on a timer (`held_wait_s`),
not in a loop of takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)?\s*(ms|s|m|h|d)\s*$")
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*([0-9]+)\s*/\s*(.+)$")

HELD_WAIT_MAX_S = 1.0  # the longest an idle held-back worker waits: a resume, a job elsewhere
CAP_RETRY_MS = 250  # a queue at its concurrency limit is looked at again this often
PAUSE_RETRY_MS = 1000  # and a paused one


def duration_s(text: str) -> float:
    """ "30s", "1.5m", "500ms", "2h", "1d", "s" (one second) in seconds; ValueError when
    it is none of these or not above zero."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f'{text!r} is not a duration like "30s", "5m", "500ms", "1h" or "1d"')
    seconds = float(found[1] or 1) * _UNITS_S[found[2]]
    if seconds <= 0:
        raise ValueError(f"{text!r} is not above zero")
    return seconds


@dataclass(frozen=True)
class Rate:
    """At most `jobs` started in any window of `per_s` seconds."""

    jobs: int
    per_s: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "100/60s", "50/s", "1000/1h"; ValueError naming what is wrong."""
        found = _RATE.match(text)
        if not found:
            raise ValueError(f'{text!r} is not a rate like "100/60s" (jobs / duration)')
        jobs = int(found[1])
        if jobs < 1:
            raise ValueError(f"{text!r}: the number of jobs must be at least 1")
        per_s = duration_s(found[2])
        if per_s < 0.001:
            raise ValueError(f"{text!r}: the window must be at least 1 ms")
        return cls(jobs, per_s)


@dataclass(frozen=True)
class Limits:
    """One queue's limits as take.lua gets them: `queue` and its rate (jobs per
    window_ms; 0 jobs: none) and concurrency cap (0: none)."""

    queue: str
    rate_jobs: int = 0
    window_ms: int = 0
    concurrency: int = 0

    @classmethod
    def of(cls, queue: str, rate_limit: str, concurrency_limit: int) -> Limits:
        rate = Rate.parse(rate_limit) if rate_limit else Rate(0, 0)
        return cls(queue, rate.jobs, round(rate.per_s * 1000), concurrency_limit)

    @property
    def any(self) -> bool:
        return bool(self.rate_jobs or self.concurrency)

    def words(self) -> tuple[str, int, int, int]:
        """The four arguments take.lua reads per limited queue."""
        return (self.queue, self.rate_jobs, self.window_ms, self.concurrency)


def held_wait_s(held_ms: int) -> float:
    """How long an idle worker whose take found nothing, while jobs were held back by a
    limit or a pause for about `held_ms` more, waits before it takes again: until the
    window opens, at most HELD_WAIT_MAX_S (so that a resume, a lowered limit or a job on
    another of its queues is seen within a second), at least 10 ms."""
    return min(max(held_ms / 1000, 0.01), HELD_WAIT_MAX_S)
