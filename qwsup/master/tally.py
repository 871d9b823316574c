"""What the master reports: its counters, the status line, the pools for `qwsup status`,
and the state the metrics are made from.

The counts of the workers gone are kept here; a live worker's are on its scoreboard
and added when asked, so a report never waits for a worker.
"""

from __future__ import annotations

import json

from qwsup.master.pool import Pool, Proc, died_on_its_own, end_cause
from qwsup.master.totals import Totals
from qwsup.ops import metrics
from qwsup.ops.report import counted


class Tally:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.totals = Totals()  # the jobs and workers of the workers gone
        self.by_pool: dict[str, Totals] = {}  # the jobs of each pool's workers gone

    def worker_gone(self, proc: Proc, code: int) -> None:
        """Count a reaped worker's jobs in, and how it ended; its scoreboard is closed."""
        score = proc.board.read()
        self.totals.add_jobs(score)
        self.by_pool.setdefault(proc.pool, Totals()).add_jobs(score)
        proc.board.close()
        self.totals.died += died_on_its_own(proc, code)
        self.totals.worker_ended(end_cause(proc, code))

    def live(self) -> Totals:
        """The counts of the workers gone and of those still running."""
        return self.totals.with_jobs_of([p.board.read() for p in self.pool.procs.values()])

    def summary(self) -> str:
        """The shutdown line's counts."""
        t = self.live()
        late = f"; {counted(t.lost, 'job')} finished after another master reclaimed them"
        late = late if t.lost else ""
        return (
            f"{counted(t.done, 'job')} done, {counted(t.attempts_failed, 'attempt')} failed, "
            f"{counted(t.failed_for_good + t.failed, 'job')} failed for good, "
            f"{t.requeued} requeued; {counted(t.started, 'worker')} started, {t.died} died{late}"
        )

    def status_line(self) -> str:
        """ "3/4 workers, 1 busy, 120 jobs done, 2 failed attempts" (and the pools, when
        several): a failed attempt is retried, or the job failed for good."""
        pool = self.pool
        current = pool.running()
        ready = sum(p.ready for p in current)
        scores = [p.board.read() for p in pool.procs.values()]
        busy = sum(bool(score.busy_since) for score in scores)
        t = self.totals.with_jobs_of(scores)
        workers = f"{ready}/{pool.count} workers"
        if len(pool.counts) > 1:  # "builds 2/2, mail 1/1 workers"
            workers = ", ".join(
                f"{name} {sum(p.ready for p in current if p.pool == name)}/{count}"
                for name, count in pool.counts.items()
            ) + " workers"  # fmt: skip
        done, failed = counted(t.done, "job"), counted(t.attempts_failed, "failed attempt")
        return f"{workers}, {busy} busy, {done} done, {failed}"

    def pools_json(self) -> str:
        """Each pool's wanted count, queues and running workers, for `qwsup status`."""
        current = self.pool.running()
        return json.dumps([
            {
                "name": p.name, "count": self.pool.counts.get(p.name, 0),
                "queues": list(p.queues), "concurrency": p.concurrency,
                "workers": [w.id for w in current if w.pool == p.name],
            }
            for p in self.pool.config.pools
        ])  # fmt: skip

    def metrics_state(
        self, name: str, cron: dict[str, tuple[int, int]] | None = None
    ) -> metrics.MasterState:
        """Called from the metrics thread: copies made in C, so no lock is needed."""
        procs = list(self.pool.procs.values())
        scores = [p.board.read() for p in procs]
        workers = [
            metrics.WorkerState(p.id, p.pid, bool(score.busy_since), p.pool, score.running)
            for p, score in zip(procs, scores, strict=True)
        ]
        totals = self.totals.with_jobs_of(scores)
        gone = dict(self.by_pool)
        pools = {}
        for pool in dict.fromkeys([*gone, *(p.pool for p in procs)]):
            live = [s for p, s in zip(procs, scores, strict=True) if p.pool == pool]
            pools[pool] = gone.get(pool, Totals()).with_jobs_of(live)
        queues = self.pool.queues()
        limits = self.pool.config.limits(queues)
        return metrics.MasterState(name, totals, workers, queues, pools, limits, cron or {})
