"""The master's counters: what its workers did, kept across worker restarts, for the
shutdown summary, the systemd STATUS line and the metrics."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# job duration buckets, seconds (Prometheus's defaults, stretched for long jobs)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass
class Totals:
    done: int = 0  # jobs finished by our workers
    retried: int = 0  # failed attempts that will be retried
    failed_for_good: int = 0  # jobs our workers moved to failed:jobs
    lost: int = 0  # jobs that ended after someone else requeued them
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

    def job_ended(self, outcome: str, seconds: float) -> None:
        if outcome == "done":
            self.done += 1
        elif outcome == "retry":
            self.retried += 1
        elif outcome == "failed":
            self.failed_for_good += 1
        else:
            self.lost += 1
        self.bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds

    def worker_ended(self, cause: str) -> None:
        self.restarts[cause] = self.restarts.get(cause, 0) + 1

    def histogram(self) -> list[tuple[str, int]]:
        """Cumulative (le, count) pairs, "+Inf" last, as Prometheus wants them."""
        pairs, running = [], 0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.bucket_counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs
