"""What each page of the dashboard shows, read through the store in bounded, paged
queries whatever the size of the data: lists are read a page at a time (LRANGE, ZRANGE
of PER_PAGE ids, then HMGET of the few fields a row shows), a search reads at most
SEARCH_MOST failed jobs, the rates at most rates.MOST_EVENTS events; only a job's own
page reads its whole hash."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field

from qwsup.ops import rates
from qwsup.ops.console import Console
from qwsup.ops.views import Snapshot, snapshot
from qwsup.store.jobs import JobInfo
from qwsup.store.operator import SupervisorView
from qwsup.store.pages import Row

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
class Page:
    rows: list[Row]
    total: int  # in the list (or matching the search)
    page: int  # from 0
    pages: int
    search: str = ""
    searched: int = 0  # failed jobs looked through
    search_capped: bool = False  # the search stopped at SEARCH_MOST
    paused: bool = False  # a queue's page: whether the queue is paused


@dataclass(frozen=True)
class JobPage:
    info: JobInfo
    fields: dict[str, str]  # the producer's, those hidden replaced by HIDDEN
    hidden: list[str] = field(default_factory=list)  # the names hidden (fields, arguments)
    task: str | None = None  # the task a task's job calls (qwsup.Tasks)
    args: dict[str, str] = field(default_factory=dict)  # and its arguments, each as JSON


def overview(console: Console) -> Overview:
    """Every queue (all:jobs, the named ones the supervisors serve, are paused or have
    limits here, and each supervisor's own) with its depth and rate; the supervisors."""
    config = console.config
    limits = {q.name: q for q in config.queues}
    snap = snapshot(console, also=limits)
    keys = console.store.keys
    own = {s.name for s in snap.supervisors}
    events_on = config.events.max_len > 0
    found = _rates(console) if events_on else rates.Rates({}, True)
    rows = []
    for key, depth in snap.queues.items():
        name = key.removeprefix(keys.prefix).removesuffix(":jobs")
        limit = limits.get(name)
        rows.append(
            QueueRow(
                name, key, depth, name in snap.paused,
                limit.rate_limit if limit else "", limit.concurrency_limit if limit else 0,
                name in own, found.of(name), found.last_minute(name),
            )
        )  # fmt: skip
    return Overview(snap, rows, snap.supervisors, events_on, found.complete)


def _rates(console: Console) -> rates.Rates:
    """The "done" events of the window, newest first, at most rates.MOST_EVENTS."""
    now_ms = console.store.now_ms()
    done, complete = console.store.pages.done_since(now_ms - rates.WINDOW_MS, rates.MOST_EVENTS)
    return rates.count(done, now_ms, complete)


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def failed_page(console: Console, page: int, search: str = "") -> Page:
    """A page of failed:jobs, newest first; with `search`, of the failed jobs whose id
    or last error holds it (case not counted), among the newest SEARCH_MOST."""
    failed, rows = console.store.failed, console.store.pages.rows
    total = failed.count()
    if not search:
        page = min(max(0, page), _pages(total) - 1)
        return Page(rows(failed.ids(page * PER_PAGE, PER_PAGE)), total, page, _pages(total))
    needle = search.lower()
    matches: list[bytes] = []
    searched = 0
    while searched < min(total, SEARCH_MOST):
        found = failed.errors(searched, min(SEARCH_BATCH, SEARCH_MOST - searched))
        if not found:
            break
        for job_id, error in found:
            if needle in job_id.decode("utf-8", "replace").lower() or needle in error.lower():
                matches.append(job_id)
        searched += len(found)
    page = min(max(0, page), _pages(len(matches)) - 1)
    shown = matches[page * PER_PAGE : (page + 1) * PER_PAGE]
    return Page(
        rows(shown), len(matches), page, _pages(len(matches)), search, searched,
        total > SEARCH_MOST,
    )  # fmt: skip


def scheduled_page(console: Console, page: int) -> Page:
    """A page of delayed:jobs (retries, and jobs enqueued for later), soonest first."""
    pages = console.store.pages
    total, found = pages.delayed(max(0, page) * PER_PAGE, PER_PAGE)
    if page > 0 and not found and total:  # past the last page: the last one
        page = _pages(total) - 1
        total, found = pages.delayed(page * PER_PAGE, PER_PAGE)
    due: dict[bytes, int | None] = dict(found)
    return Page(pages.rows(list(due), due), total, min(max(0, page), _pages(total) - 1),
                _pages(total))  # fmt: skip


def queue_page(console: Console, name: str, page: int) -> Page:
    """A page of the jobs waiting on queue `name`, the next to be taken first."""
    pages = console.store.pages
    total, ids = pages.waiting(name, max(0, page) * PER_PAGE, PER_PAGE)
    if page > 0 and not ids and total:  # past the last page: the last one
        page = _pages(total) - 1
        total, ids = pages.waiting(name, page * PER_PAGE, PER_PAGE)
    paused = name in console.store.paused()
    page = min(max(0, page), _pages(total) - 1)
    return Page(pages.rows(ids), total, page, _pages(total), paused=paused)


def job_page(console: Console, job_id: str) -> JobPage | None:
    """A job's page (None: no such job): its fields and, for a task's job, the task and
    its arguments, those `[web] hide_fields` names shown as HIDDEN."""
    found = console.store.pages.job(job_id)
    if found is None:
        return None
    hide = console.config.web.hide_fields
    shown, hidden = hidden_fields(found.info.fields, hide)
    if found.task is None:
        return JobPage(found.info, shown, hidden)
    given = found.task.args
    args = given if isinstance(given, dict) else {"(not an object)": given}
    args_shown, args_hidden = hidden_fields(
        {name: json.dumps(value, ensure_ascii=False) for name, value in args.items()}, hide
    )
    return JobPage(found.info, shown, hidden + args_hidden, found.task.name, args_shown)


def hidden_fields(
    fields: dict[str, str], patterns: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    """`fields` with the values of those whose name matches a pattern (fnmatch, case
    not counted) replaced by HIDDEN, and the names hidden."""
    hidden = [
        name for name in fields if any(fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)
    ]
    return {k: HIDDEN if k in hidden else v for k, v in fields.items()}, hidden


def newest_event_after(console: Console, after: str, block_ms: int) -> str | None:
    """The id of the newest event once one comes after `after` ("$": from now), waiting at
    most `block_ms`; None when none came (what the live updates wait on)."""
    return console.store.pages.newest_event_after(after, block_ms)
