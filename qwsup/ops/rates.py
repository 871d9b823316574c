"""Jobs finished per second, per queue, over the last minutes, from the events stream
(all:events' "done" entries, whose ids are their times on the Redis clock), and the
small chart that draws them. Pure: the entries are read by the store (pages.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WINDOW_MS = 5 * 60_000  # what the charts cover
BUCKETS = 30  # of 10 s each
MOST_EVENTS = 20_000  # the most entries one look reads: the chart says when it stopped short


@dataclass(frozen=True)
class Rates:
    """Per queue, jobs finished per second in each bucket, oldest first; `complete` is
    False when the look stopped at MOST_EVENTS before the window's start (the oldest
    buckets then count less than happened)."""

    per_queue: dict[str, list[float]]
    complete: bool
    bucket_s: float = WINDOW_MS / BUCKETS / 1000

    def of(self, queue: str) -> list[float]:
        return self.per_queue.get(queue, [0.0] * BUCKETS)

    def last_minute(self, queue: str) -> float:
        """Jobs/s over the last minute (its last six buckets)."""
        values = self.of(queue)[-6:]
        return sum(values) / len(values)


def count(done: Iterable[tuple[int, str]], now_ms: int, complete: bool = True) -> Rates:
    """`done`: (time in unix ms, queue) of each job finished; those older than the
    window, or later than `now_ms`, are left out."""
    width = WINDOW_MS // BUCKETS
    start = now_ms - WINDOW_MS
    counts: dict[str, list[int]] = {}
    for at, queue in done:
        if start < at <= now_ms:
            index = min(BUCKETS - 1, (at - start - 1) // width)
            counts.setdefault(queue, [0] * BUCKETS)[index] += 1
    seconds = width / 1000
    return Rates({q: [n / seconds for n in c] for q, c in counts.items()}, complete)


def sparkline(values: list[float], width: int = 120, height: int = 24) -> str:
    """The points of an SVG polyline drawing `values` left to right, scaled to the
    highest (a flat line at the bottom when all are 0)."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )
