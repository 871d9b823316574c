"""The templates' environment: Jinja2 with autoescape (job data is text wherever it
shows) and the filters the pages use: times in UTC, durations, counts, attempts, the
rates' chart, quoting for a URL, text a job kept undecodable."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import jinja2

from qwsup.ops import rates, report


def clock(ms: int | float | None) -> str:
    """A time (unix ms) as the pages show it, in UTC."""
    if ms is None:
        return "—"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):  # a time no clock shows (NaN, far off)
        return "?"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qwsup.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock
    env.filters["seconds"] = report.duration
    env.filters["counted"] = report.counted
    env.filters["noun"] = lambda n, noun: noun if n == 1 else f"{noun}s"
    env.filters["attempts"] = report.attempts
    env.filters["points"] = rates.sparkline
    env.filters["quote"] = lambda value: quote(str(value), safe="")
    env.filters["shown"] = shown
    return env


def shown(value: object) -> str:
    """Text as a page can hold it: bytes a job kept undecodable (surrogate escapes)
    shown as replacement characters."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
