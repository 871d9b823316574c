"""Prometheus metrics, served by the master when `[metrics] listen` is set.

Everything is read at scrape time: the master's counters (which outlive its workers),
its workers' state and memory, and the queue depths from Redis through a client of
the metrics thread's own (the store's Operator: `Operator.gauges`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from qwsup.config import Config
from qwsup.errors import RedisTrouble
from qwsup.limits import Limits
from qwsup.master.totals import Totals
from qwsup.store.operator import Gauges, Operator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerState:
    id: str
    pid: int
    busy: bool
    pool: str = "default"
    running: int = 0  # the jobs it runs now (k of its concurrency)


@dataclass(frozen=True)
class MasterState:
    """What the master lets the metrics thread see, copied by the master's own code."""

    name: str
    totals: Totals
    workers: list[WorkerState]
    queues: tuple[str, ...] = ("all",)  # the workers' queues, by name
    pools: dict[str, Totals] = field(default_factory=dict)  # what each pool's workers did
    limits: tuple[Limits, ...] = ()  # of those queues, the ones with limits
    cron: dict[str, tuple[int, int]] = field(default_factory=dict)  # ticks fired, skipped


class QwsupCollector(Collector):
    def __init__(self, state: Callable[[], MasterState], store: Operator) -> None:
        self.state = state
        self.store = store

    def collect(self) -> Iterator[Metric]:
        state = self.state()
        t = state.totals
        yield _counter("qwsup_jobs_done", "Jobs finished by this master's workers.", t.done)
        yield _counter("qwsup_jobs_retried", "Failed attempts that will be retried.", t.retried)
        yield _counter(
            "qwsup_jobs_failed",
            "Jobs moved to failed:jobs by this master.",
            t.failed_for_good + t.failed,
        )
        yield _counter("qwsup_jobs_requeued", "Jobs requeued from dead workers' lists.", t.requeued)
        yield _counter(
            "qwsup_jobs_cancelled",
            "Jobs this master's workers stopped, or dropped unstarted, as they were cancelled.",
            t.cancelled,
        )
        pool_done = CounterMetricFamily(
            "qwsup_pool_jobs_done", "Jobs finished by each pool's workers.", labels=["pool"]
        )
        pool_failed = CounterMetricFamily(
            "qwsup_pool_attempts_failed",
            "Failed attempts in each pool's workers (retried or failed for good).",
            labels=["pool"],
        )
        for pool, done in state.pools.items():
            pool_done.add_metric([pool], done.done)
            pool_failed.add_metric([pool], done.attempts_failed)
        yield pool_done
        yield pool_failed
        restarts = CounterMetricFamily(
            "qwsup_worker_restarts", "Workers that ended, by cause.", labels=["cause"]
        )
        for cause, count in sorted(t.restarts.items()):
            restarts.add_metric([cause], count)
        yield restarts
        yield HistogramMetricFamily(
            "qwsup_job_duration_seconds", "How long jobs ran.", buckets=t.histogram(),
            sum_value=t.duration_sum,
        )  # fmt: skip
        workers = GaugeMetricFamily(
            "qwsup_workers", "Worker processes, by pool.", labels=["pool", "state"]
        )
        for pool in dict.fromkeys(w.pool for w in state.workers):
            mine = [w for w in state.workers if w.pool == pool]
            workers.add_metric([pool, "alive"], len(mine))
            workers.add_metric([pool, "busy"], sum(w.busy for w in mine))
        yield workers
        running = GaugeMetricFamily(
            "qwsup_jobs_running", "Jobs running now, by pool (each slot's).", labels=["pool"]
        )
        for pool in dict.fromkeys(w.pool for w in state.workers):
            running.add_metric([pool], sum(w.running for w in state.workers if w.pool == pool))
        yield running
        memory = GaugeMetricFamily(
            "qwsup_worker_memory_bytes", "Resident memory of each worker.",
            labels=["pool", "worker"],
        )  # fmt: skip
        for w in state.workers:
            with contextlib.suppress(psutil.Error):
                memory.add_metric([w.pool, w.id], psutil.Process(w.pid).memory_info().rss)
        yield memory
        ticks = CounterMetricFamily(
            "qwsup_cron_ticks", "Ticks of each schedule this master enqueued or skipped.",
            labels=["schedule", "outcome"],
        )  # fmt: skip
        for schedule, (fired, skipped) in sorted(state.cron.items()):
            ticks.add_metric([schedule, "fired"], fired)
            ticks.add_metric([schedule, "skipped"], skipped)
        yield ticks
        yield from self._queues(state.name, state.queues, state.limits)

    def _queues(
        self, name: str, names: tuple[str, ...], limits: tuple[Limits, ...]
    ) -> Iterator[Metric]:
        up = GaugeMetricFamily("qwsup_redis_up", "1 when Redis answered this scrape.")
        queues = list(dict.fromkeys((*names, "all", name)))
        try:
            found = self.store.gauges(queues, limits)
        except RedisTrouble as exc:
            log.debug("metrics: Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        keys = self.store.keys
        depth = GaugeMetricFamily("qwsup_queue_jobs", "Jobs waiting in a list.", labels=["queue"])
        for queue, jobs in found.depths.items():
            depth.add_metric([keys.queue_jobs(queue)], jobs)
        depth.add_metric([keys.delayed_jobs], found.delayed)
        depth.add_metric([keys.failed_jobs], found.failed)
        yield depth
        yield from _holds(queues, found, limits)


def _holds(queues: list[str], found: Gauges, limits: tuple[Limits, ...]) -> Iterator[Metric]:
    """The gauges of what holds the queues back: paused, at a limit (take.lua's rules)."""
    pause = GaugeMetricFamily(
        "qwsup_queue_paused", "1 while the queue is paused (qwsup pause).", labels=["queue"]
    )
    paused = found.paused
    held_back = {queue for queue in queues if queue in paused}
    for queue in dict.fromkeys([*queues, *sorted(paused)]):
        pause.add_metric([queue], 1 if queue in paused else 0)
    yield pause
    started = GaugeMetricFamily(
        "qwsup_queue_rate_window_jobs",
        "Jobs started from a rate-limited queue in its current window.", labels=["queue"],
    )  # fmt: skip
    capped = GaugeMetricFamily(
        "qwsup_queue_limited_running",
        "Jobs counted against a queue's concurrency limit.", labels=["queue"],
    )  # fmt: skip
    for limit in limits:
        in_window, running = found.in_window[limit.queue], found.limited[limit.queue]
        if limit.rate_jobs:
            started.add_metric([limit.queue], in_window)
            if in_window >= limit.rate_jobs:
                held_back.add(limit.queue)
        if limit.concurrency:
            capped.add_metric([limit.queue], running)
            if running >= limit.concurrency:
                held_back.add(limit.queue)
    yield started
    yield capped
    held = GaugeMetricFamily(
        "qwsup_queue_held_jobs",
        "Jobs waiting in a queue that a pause or a limit holds back now.", labels=["queue"],
    )  # fmt: skip
    for queue in queues:
        held.add_metric([queue], found.depths[queue] if queue in held_back else 0)
    yield held


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def serve(config: Config, state: Callable[[], MasterState]) -> Any:
    """Start the HTTP server thread of `[metrics] listen` (None when it is not set);
    returns the server (its socket is closed in workers). Raises OSError naming the
    address when it cannot listen."""
    address = config.metrics.address()
    if address is None:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QwsupCollector(state, Operator.from_config(config)))
    try:
        server, _thread = start_http_server(address[1], address[0], registry=registry)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {config.metrics.listen}: {exc}") from None
    log.info("metrics on http://%s/metrics", config.metrics.listen)
    return server
