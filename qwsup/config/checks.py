"""The checks of one key's value: each takes the value, already of the field's type,
and returns the problem in words (the loader puts the key in front), or None when the
value is good. What a value may be (the patterns, the choices, the bounds) is here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from qwsup.store.keys import FIELD_PREFIX

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
ACCOUNT = re.compile(r"^([A-Za-z_][A-Za-z0-9._-]*\$?)?$")  # a user or group name, or ""
HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
NAMESPACE = re.compile(r"^[\x21-\x7e]*$")  # printable ASCII, no spaces
DB = re.compile(r"^(/[0-9]*)?$")  # a url's path: the db number, or nothing
SENTINEL = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")
LOG_LEVELS = ("debug", "info", "warning", "error")
APPENDFSYNC = ("always", "everysec")  # the embedded server's AOF fsync policies
MAX_PREFETCH = 1000
MAX_CONCURRENCY = 1000  # jobs one worker runs at once (threads, or asyncio tasks)
MAX_WORKERS = 10_000

Check = Callable[[Any], str | None]  # returns the problem, or None when the value is good


def show(value: Any) -> str:
    """A value as a problem quotes it: its TOML type's Python name and its repr."""
    return f"{type(value).__name__} {value!r}"[:80]


def check_expression(expression: str) -> str | None:
    """The problem with a five-field cron expression, or None."""
    if len(expression.split()) != 5:
        fields = "minute hour day month weekday"
        return f"must be a five-field cron expression ({fields}), got {expression!r}"
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        return f"is not a valid cron expression ({exc}): {expression!r}"
    return None


def at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be >= {low:g}, got {v!r}"


def matches(pattern: re.Pattern[str], what: str) -> Check:
    return lambda v: None if pattern.match(v) else f"must be {what}, got {v!r}"


def between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"must be from {low} to {high}, got {v!r}"


def one_of(*choices: str) -> Check:
    """`"a" or "b"` (`"a", "b" or "c"`): one of a few words."""
    quoted = [f'"{choice}"' for choice in choices]
    words = f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return lambda v: None if v in choices else f"must be {words}, got {v!r}"


def log_level(v: str) -> str | None:
    return None if v in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"


def parses(parse: Callable[[str], object]) -> Check:
    """A check that `parse` takes the value ("" is left out: the key's default)."""

    def check(v: str) -> str | None:
        try:
            if v:
                parse(v)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def redis_url(v: str) -> str | None:
    try:
        scheme = urlsplit(v).scheme
    except ValueError as exc:
        return f"is not a URL ({exc}): {v!r}"
    if scheme not in ("redis", "rediss", "unix"):
        return f"must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}"
    return None


def sentinel_addresses(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must name at least one sentinel (or leave the key out)"
    for address in v:
        found = SENTINEL.match(address)
        if not found or not 0 < int(found[2]) < 65536:
            return f'must be "host:port" addresses (port 1 to 65535), got {address!r}'
    if len(set(v)) != len(v):
        return "names a sentinel twice"
    return None


def queue_names(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must name at least one queue"
    for name in v:
        if not QUEUE_NAME.match(name):
            return f"queue names are letters, digits, '_' or '-', got {name!r}"
    if len(set(v)) != len(v):
        return "names a queue twice"
    return None


def directories(v: tuple[str, ...]) -> str | None:
    """Directories for the import path (whether each exists is the loader's to say: it
    knows the config file's directory, which a relative one is taken from)."""
    return "must not hold an empty directory" if any(not d.strip() for d in v) else None


def metrics_listen(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if v and not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return f'must be "host:port" (or "" for no metrics), got {v!r}'
    return None


def web_listen(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return f'must be "host:port", got {v!r}'
    return None


def patterns(v: tuple[str, ...]) -> str | None:
    empty = [p for p in v if not p.strip()]
    return "must not hold an empty pattern" if empty else None


def time_zone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return f'must be an IANA time zone like "Europe/Berlin" or "UTC", got {v!r}'
    return None


def job_fields(v: dict[str, Any]) -> str | None:
    for key, value in v.items():
        if key.startswith(FIELD_PREFIX) or not key:
            return f"a field's name may not be empty or start with {FIELD_PREFIX!r}: {key!r}"
        if not isinstance(value, str):
            return f"values must be strings (as enqueue writes them), got {show(value)} for {key}"
    return None
