"""What each page of the dashboard shows, read from Redis. Every query is bounded
whatever the size of the data: lists are read a page at a time (LRANGE, ZRANGE of
PER_PAGE ids, then HMGET of the few fields a row shows), a search reads at most
SEARCH_MOST failed jobs, the rates at most rates.MOST_EVENTS events; only a job's own
page reads its whole hash."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from qwsup.config import Config
from qwsup.ops.admin import Operator, Snapshot, SupervisorView, snapshot
from qwsup.store.jobs import JobInfo, read_job
from qwsup.store.keys import ATTEMPTS, ENQUEUED_AT, FAILED_AT, LAST_ERROR, QUEUE, STATE
from qwsup.web import rates

PER_PAGE = 50  # rows a page lists
SEARCH_MOST = 10_000  # the newest failed jobs a search looks through
SEARCH_BATCH = 1_000  # read per round trip while searching
HIDDEN = "(hidden)"  # what a hidden field shows


@dataclass(frozen=True)
class QueueRow:
    name: str  # "all" for all:jobs, a named queue, or a supervisor's own queue
    key: str  # its list
    depth: int
    paused: bool
    rate_limit: str  # as configured here ("" for none)
    concurrency_limit: int  # (0 for none)
    own: bool  # a supervisor's own queue (<name>:jobs)
    rates: list[float]  # jobs finished per second, rates.BUCKETS of them, oldest first
    per_s: float  # over the last minute


@dataclass(frozen=True)
class Overview:
    snapshot: Snapshot
    queues: list[QueueRow]
    supervisors: list[SupervisorView]
    events_on: bool  # whether the rates (and the live updates' events) are there
    rates_complete: bool

    @property
    def busy(self) -> int:
        """Workers running a job."""
        return sum(1 for s in self.supervisors for w in s.workers if w.jobs)


@dataclass(frozen=True)
class Row:
    """A job as a list shows it: its id and the few fields read for the row."""

    id: str
    state: str
    queue: str
    attempts: int
    error: str
    at_ms: int | None  # failed at, due at, or enqueued at (by list), unix ms


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int  # in the list (or matching the search)
    page: int  # from 0
    pages: int
    search: str = ""
    searched: int = 0  # failed jobs looked through
    search_capped: bool = False  # the search stopped at SEARCH_MOST


@dataclass(frozen=True)
class JobPage:
    info: JobInfo
    fields: dict[str, str]  # the producer's, those hidden replaced by HIDDEN
    hidden: list[str] = field(default_factory=list)  # the names hidden


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _int(raw: bytes | None) -> int:
    try:
        return int(float(raw)) if raw else 0
    except (ValueError, OverflowError):  # not a number, or none a clock can hold
        return 0


def overview(op: Operator, config: Config) -> Overview:
    """Every queue (all:jobs, the named ones the supervisors serve, are paused or have
    limits here, and each supervisor's own) with its depth and rate; the supervisors."""
    snap = snapshot(op, config.cron)
    keys = op.keys
    limits = {q.name: q for q in config.queues}
    own = [s.name for s in snap.supervisors]
    listed = {k.removeprefix(keys.prefix).removesuffix(":jobs") for k in snap.queues}
    names = ["all", *sorted((listed | set(limits)) - {"all", *own}), *own]
    unknown = [name for name in names if keys.queue_jobs(name) not in snap.queues]
    with op.reading() as pipe:
        for name in unknown:
            pipe.llen(keys.queue_jobs(name))
        depths = dict(zip(unknown, pipe.execute() if unknown else [], strict=True))
    now_ms = op.now_ms()
    events_on = config.events.max_len > 0
    found = _rates(op, now_ms) if events_on else rates.Rates({}, True)
    rows = []
    for name in names:
        key = keys.queue_jobs(name)
        limit = limits.get(name)
        rows.append(
            QueueRow(
                name, key, int(snap.queues.get(key, depths.get(name, 0))), name in snap.paused,
                limit.rate_limit if limit else "", limit.concurrency_limit if limit else 0,
                name in own, found.of(name), found.last_minute(name),
            )
        )  # fmt: skip
    return Overview(snap, rows, snap.supervisors, events_on, found.complete)


def _rates(op: Operator, now_ms: int) -> rates.Rates:
    """The "done" events of the window, newest first, at most rates.MOST_EVENTS."""
    start = now_ms - rates.WINDOW_MS
    with op.reading() as pipe:
        pipe.xrevrange(op.keys.events, "+", f"({start}", count=rates.MOST_EVENTS)
        [entries] = pipe.execute()
    done = []
    for entry, fields in entries:
        if fields.get(b"event") == b"done":
            done.append((int(entry.partition(b"-")[0]), _text(fields.get(b"queue")) or "all"))
    complete = len(entries) < rates.MOST_EVENTS
    return rates.count(done, now_ms, complete)


def _rows(op: Operator, ids: list[bytes], at: dict[bytes, int | None] | None = None) -> list[Row]:
    """The rows of `ids`: a few fields of each hash, one pipelined read."""
    with op.reading() as pipe:
        for job_id in ids:
            pipe.hmget(op.keys.job(job_id), [STATE, QUEUE, ATTEMPTS, LAST_ERROR, FAILED_AT,
                                             ENQUEUED_AT])  # fmt: skip
        found = pipe.execute() if ids else []
    rows = []
    for job_id, (state, queue, attempts, error, failed_at, enqueued_at) in zip(
        ids, found, strict=True
    ):
        if at is not None:
            when = at.get(job_id)
        elif failed_at:
            when = _int(failed_at) * 1000 or None
        else:
            when = _int(enqueued_at) or None
        rows.append(
            Row(_text(job_id), _text(state) or ("failed" if failed_at else "queued"),
                _text(queue) or "all", _int(attempts), _text(error).splitlines()[0][:300]
                if error else "", when)
        )  # fmt: skip
    return rows


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def failed_page(op: Operator, page: int, search: str = "") -> Page:
    """A page of failed:jobs, newest first; with `search`, of the failed jobs whose id
    or last error holds it (case not counted), among the newest SEARCH_MOST."""
    total = op.failed_count()
    if not search:
        page = min(max(0, page), _pages(total) - 1)
        return Page(_rows(op, op.failed_ids(page * PER_PAGE, PER_PAGE)), total, page,
                    _pages(total))  # fmt: skip
    needle = search.lower()
    matches: list[bytes] = []
    searched = 0
    while searched < min(total, SEARCH_MOST):
        ids = op.failed_ids(searched, min(SEARCH_BATCH, SEARCH_MOST - searched))
        if not ids:
            break
        with op.reading() as pipe:
            for job_id in ids:
                pipe.hget(op.keys.job(job_id), LAST_ERROR)
            errors = pipe.execute()
        for job_id, error in zip(ids, errors, strict=True):
            if needle in _text(job_id).lower() or needle in _text(error).lower():
                matches.append(job_id)
        searched += len(ids)
    page = min(max(0, page), _pages(len(matches)) - 1)
    shown = matches[page * PER_PAGE : (page + 1) * PER_PAGE]
    return Page(
        _rows(op, shown), len(matches), page, _pages(len(matches)), search, searched,
        total > SEARCH_MOST,
    )  # fmt: skip


def scheduled_page(op: Operator, page: int) -> Page:
    """A page of delayed:jobs (retries, and jobs enqueued for later), soonest first."""
    key = op.keys.delayed_jobs
    with op.reading() as pipe:
        pipe.zcard(key)
        [total] = pipe.execute()
    page = min(max(0, page), _pages(total) - 1)
    with op.reading() as pipe:
        pipe.zrange(key, page * PER_PAGE, (page + 1) * PER_PAGE - 1, withscores=True)
        [found] = pipe.execute()
    due: dict[bytes, int | None] = {job_id: int(score) for job_id, score in found}
    return Page(_rows(op, [job_id for job_id, _ in found], due), total, page, _pages(total))


def queue_page(op: Operator, name: str, page: int) -> Page:
    """A page of the jobs waiting on queue `name`, the next to be taken first."""
    key = op.keys.queue_jobs(name)
    with op.reading() as pipe:
        pipe.llen(key)
        [total] = pipe.execute()
    page = min(max(0, page), _pages(total) - 1)
    start = page * PER_PAGE  # from the tail: workers take the oldest, at the right end
    with op.reading() as pipe:
        pipe.lrange(key, -(start + PER_PAGE), -(start + 1))
        [ids] = pipe.execute()
    return Page(_rows(op, ids[::-1]), total, page, _pages(total))


def job_page(op: Operator, job_id: str, hide: tuple[str, ...]) -> JobPage | None:
    info = read_job(job_id, op.job_fields(job_id))
    if info is None:
        return None
    shown, hidden = hidden_fields(info.fields, hide)
    return JobPage(info, shown, hidden)


def hidden_fields(
    fields: dict[str, str], patterns: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    """`fields` with the values of those whose name matches a pattern (fnmatch, case
    not counted) replaced by HIDDEN, and the names hidden."""
    hidden = [
        name for name in fields if any(fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)
    ]
    return {k: HIDDEN if k in hidden else v for k, v in fields.items()}, hidden
