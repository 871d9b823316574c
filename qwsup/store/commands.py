"""The commands of a worker's line (feed.py): take.lua, ack.lua and the wait on a
queue, each with every key it touches in KEYS (docs/protocol.md, "Taking jobs").
"""

from __future__ import annotations

from redis.typing import EncodableT, KeyT

from qwsup.limits import Limits
from qwsup.store.jobs import Result
from qwsup.store.keys import Keys
from qwsup.store.records import Words
from qwsup.store.scripts import Scripts

Command = tuple[EncodableT, ...]


class Commands:
    """Worker `worker` of supervisor `name`, taking from `queues` (in priority order)
    jobs of at most `max_job_bytes` (0: no limit), under its queues' `limits`, starting
    at most `starts` of them at once (its concurrency; the others are held); `traced`:
    each job taken also brings its attempts and queue (tracing.py)."""

    def __init__(
        self,
        keys: Keys,
        scripts: Scripts,
        worker: str,
        name: str,
        queues: tuple[str, ...],
        max_job_bytes: int,
        limits: tuple[Limits, ...],
        traced: bool,
        starts: int = 1,
    ) -> None:
        self.keys, self.scripts, self.worker, self.name = keys, scripts, worker, name
        self.queues, self.max_job_bytes = queues, max_job_bytes
        # take.lua's arguments for the limits of those of its queues that have any: how
        # many jobs start at once (the most a limited queue gives a take), then the limits
        words = tuple(word for limit in limits for word in limit.words())
        self.limit_words = (starts, *words) if words else ()
        self.traced = "1" if traced else ""

    def take(
        self,
        finished: bytes,
        want: int,
        result: Result | None,
        *,
        known: int,
        token: str,
        waited_on: str,
        keep_ms: int,
    ) -> Command:
        """take.lua: finish `finished` (when not b"", with its `result`, kept `keep_ms`)
        and take at most `want` jobs beyond the `known` ones in hand, under the master's
        `token`; `waited_on`: the queue of the last wait (where its ids came from)."""
        k = self.keys
        keys: list[KeyT] = [
            k.worker_jobs(self.worker),
            k.queue_jobs(self.name),
            k.workers(self.name),
            k.supervisors,
            k.job(finished) if finished else k.job_prefix,
            k.info(self.name),
            k.finished_jobs,
            *(k.queue_jobs(queue) for queue in self.queues),
        ]
        kind, data = result or (b"", b"")
        args: list[EncodableT] = [
            self.worker, self.name, finished, want, self.max_job_bytes, token,
            waited_on, known, keep_ms, kind, data, self.traced, *self.limit_words,
        ]  # fmt: skip
        return self.scripts.evalsha("take", keys, args)

    def ack(
        self,
        job_id: bytes,
        next_id: bytes,
        writes: tuple[Words, ...],
        result: Result | None,
        keep_ms: int,
    ) -> Command:
        """ack.lua: finish `job_id` (b"": none; with its `result`, kept `keep_ms`, and
        apply its `writes`); `next_id` is the held job the worker would start next (its
        reply says whether it may: not when it was cancelled; its start is stamped)."""
        k = self.keys
        next_key = k.job(next_id) if next_id else k.job_prefix
        keys: list[KeyT] = [k.worker_jobs(self.worker), k.job(job_id), next_key, k.finished_jobs]
        kind, data = result or (b"", b"")
        args: list[EncodableT] = [job_id, next_id, keep_ms, kind, data]
        for words in writes:
            args += (len(words), *words)
        return self.scripts.evalsha("ack", keys, args)

    def wait(self, timeout_s: float, queue: str, blmove: bool) -> Command:
        """Block on one queue: BLMOVE, or BRPOPLPUSH before Redis 6.2 (`blmove` False)."""
        src, dst = self.keys.queue_jobs(queue), self.keys.worker_jobs(self.worker)
        if blmove:
            return ("BLMOVE", src, dst, "RIGHT", "LEFT", timeout_s)
        return ("BRPOPLPUSH", src, dst, timeout_s)
