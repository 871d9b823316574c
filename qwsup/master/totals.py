"""The master's counters: what its workers did, kept across worker restarts, for the
shutdown summary, the systemd STATUS line and the metrics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qwsup.scoreboard import BUCKETS

if TYPE_CHECKING:
    from qwsup.scoreboard import Score

# job duration buckets, seconds (Prometheus's defaults, stretched for long jobs)


@dataclass
class Totals:
    done: int = 0  # jobs finished by our workers
    retried: int = 0  # failed attempts that will be retried
    failed_for_good: int = 0  # jobs our workers moved to failed:jobs
    lost: int = 0  # jobs that ended after someone else requeued them
    cancelled: int = 0  # jobs our workers stopped, or dropped, because they were cancelled
    started: int = 0  # workers started
    died: int = 0  # workers that died on their own
    requeued: int = 0  # jobs requeued from dead workers' lists (ours or reclaimed)
    failed: int = 0  # jobs that ran out of attempts when requeued
    restarts: dict[str, int] = field(default_factory=dict)  # workers ended, by cause
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    duration_sum: float = 0.0

    @property
    def attempts_failed(self) -> int:
        return self.retried + self.failed_for_good

    def add_jobs(self, score: Score) -> None:
        """Count the jobs of a worker's scoreboard in."""
        self.done += score.done
        self.retried += score.retried
        self.failed_for_good += score.failed
        self.lost += score.lost
        self.cancelled += score.cancelled
        self.duration_sum += score.duration_sum
        for i, count in enumerate(score.buckets):
            self.bucket_counts[i] += count

    def with_jobs_of(self, scores: list[Score]) -> Totals:
        """A copy that also counts the jobs of live workers."""
        copy = dataclasses.replace(
            self, restarts=dict(self.restarts), bucket_counts=list(self.bucket_counts)
        )
        for score in scores:
            copy.add_jobs(score)
        return copy

    def worker_ended(self, cause: str) -> None:
        self.restarts[cause] = self.restarts.get(cause, 0) + 1

    def histogram(self) -> list[tuple[str, int]]:
        """Cumulative (le, count) pairs, "+Inf" last, as Prometheus wants them."""
        pairs, running = [], 0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.bucket_counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs
