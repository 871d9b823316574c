"""qwsup: a prefork supervisor for reliable Redis queue workers.

The public names are imported when first used (PEP 562), so that a command that needs
none of them (`qwsup --help`) does not import redis-py and the worker's code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qwsup.errors import DuplicateJob, JobFailed, UnknownJob, WaitTimeout
    from qwsup.produce.producer import Cancelled, Producer
    from qwsup.produce.tasks import BadTask, Task, Tasks
    from qwsup.store.jobs import JobInfo, State
    from qwsup.worker.current import NotInJob, job_id, pipeline, progress, redis
    from qwsup.worker.runner import JobCancelled, JobTimeout

__version__ = "0.1.0"

_HOMES = {
    "qwsup.errors": ("DuplicateJob", "JobFailed", "UnknownJob", "WaitTimeout"),
    "qwsup.produce.producer": ("Cancelled", "Producer"),
    "qwsup.produce.tasks": ("BadTask", "Task", "Tasks"),
    "qwsup.store.jobs": ("JobInfo", "State"),
    "qwsup.worker.current": ("NotInJob", "job_id", "pipeline", "progress", "redis"),
    "qwsup.worker.runner": ("JobCancelled", "JobTimeout"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BadTask",
    "Cancelled",
    "DuplicateJob",
    "JobCancelled",
    "JobFailed",
    "JobInfo",
    "JobTimeout",
    "NotInJob",
    "Producer",
    "State",
    "Task",
    "Tasks",
    "UnknownJob",
    "WaitTimeout",
    "__version__",
    "job_id",
    "pipeline",
    "progress",
    "redis",
]  # fmt: skip (each a name of _HOMES: tests/test_cli.py holds the two together)


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'qwsup' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: the next use is a plain attribute
    return value
