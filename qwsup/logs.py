"""Logging set-up: one line per event on stderr, each naming the process it came from."""

from __future__ import annotations

import logging
import os
import sys

_who = "master"


class _Who(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.who = _who
        return True


def setup(level: int) -> None:
    """Log to stderr; journald stamps its own time, so lines carry none under it."""
    fmt = "%(levelname)s %(who)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(_Who())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def set_level(level: int) -> None:
    logging.getLogger().setLevel(level)


def set_who(who: str) -> None:
    """Name the process in every later line (a worker calls it after fork)."""
    global _who
    _who = who


def flush() -> None:
    """Before os._exit, which skips logging's own shutdown."""
    for handler in logging.getLogger().handlers:
        handler.flush()
