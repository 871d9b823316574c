"""Process titles, so that `ps` tells what every qwsup process is doing."""

from __future__ import annotations

import psutil

try:
    from setproctitle import setproctitle as _set
except ImportError:  # pragma: no cover - setproctitle is a dependency; stay harmless without it

    def _set(title: str) -> None:
        pass


MASTER = "qwsup: master"
WORKER = "qwsup: worker"


def set_title(title: str) -> None:
    _set(title)


def printable(text: str, limit: int = 64) -> str:
    """A job id as one short line of printable text for a title or a log line."""
    shown = text[:limit]
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else "?" for c in shown)
    return shown + ("..." if len(text) > limit else "")


def master_title(config_path: str, workers: int, state: str = "") -> str:
    title = f"{MASTER} {config_path} [{workers} workers]"
    return f"{title} {state}" if state else title


def titled(pid: int, prefix: str) -> bool:
    """Whether process `pid` is alive and its title starts with `prefix` (a pid read from
    Redis may be stale, reused, or forged by whoever can write there)."""
    try:
        title = " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return title.startswith(prefix)


def worker_prefix(worker_id: str) -> str:
    """How every title of worker `worker_id` starts; the sweep recognises live workers by it."""
    return f"{WORKER} {worker_id} "
