"""Logging set-up: one line per event on stderr, each naming the process it came from."""

from __future__ import annotations

import json
import logging
import os
import sys

_who = "master"


class _Who(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.who = _who
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, who (master or worker id), logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "who": getattr(record, "who", _who),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: int, style: str = "text") -> None:
    """Log to stderr, one line per event. In text, journald stamps its own time, so
    lines carry none under it (JOURNAL_STREAM is set)."""
    handler = logging.StreamHandler(sys.stderr)
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        fmt = "%(levelname)s %(who)s: %(message)s"
        if not os.environ.get("JOURNAL_STREAM"):
            fmt = "%(asctime)s " + fmt
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
