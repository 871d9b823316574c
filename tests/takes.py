"""Taking and finishing jobs the way a worker does, through its feed (qwsup/store/feed.py),
for tests that look at what take.lua and ack.lua do."""

from __future__ import annotations

import weakref

from qwsup.store.feed import Feed
from qwsup.store.jobs import Result
from qwsup.store.queue import Queue
from qwsup.store.records import Job, Taken

# One feed per queue and worker, as a worker has one: each holds a connection of the
# client's pool for good.
_feeds: weakref.WeakKeyDictionary[Queue, dict[tuple[str, str], Feed]] = weakref.WeakKeyDictionary()


def feed(
    q: Queue,
    worker: str,
    name: str,
    token: str = "",
    queues: tuple[str, ...] = ("all",),
    max_job_bytes: int = 0,
    keep_ms: int = 0,
) -> Feed:
    """Worker `worker`'s feed on the queue's client, taking from `queues`, keeping the
    jobs it finishes `keep_ms` (0: deleted), with nothing acknowledged yet."""
    feeds = _feeds.setdefault(q, {})
    line = feeds.get((worker, name))
    if line is None:
        line = feeds[(worker, name)] = Feed(q.client, q.keys, worker, name, queues, max_job_bytes)
    line.token, line.keep_ms = token, keep_ms
    line.answered()  # (what an earlier use left unread is not this one's)
    return line


def finish_and_take(
    q: Queue, worker: str, name: str, finished: bytes, want: int = 1, token: str = ""
) -> Taken:
    """Finish `finished` (b"": none) and take at most `want` jobs, in one take.lua."""
    return feed(q, worker, name, token).take(finished, want)


def take(q: Queue, worker: str, name: str, want: int = 1, token: str = "") -> list[Job]:
    return finish_and_take(q, worker, name, b"", want, token).jobs


def ack(
    q: Queue, worker: str, job_id: bytes, keep_ms: int = 0, result: Result | None = None
) -> bool:
    """Finish the job with ack.lua (kept `keep_ms`, with `result`); False when the
    worker no longer owned it."""
    line = feed(q, worker, "", keep_ms=keep_ms)
    line.finish(job_id, (), result)
    line.settle()
    return line.answered().acked == [(job_id, True)]
