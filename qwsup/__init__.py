"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from .current import NotInJob, job_id, pipeline, progress, redis
from .errors import DuplicateJob, JobFailed, UnknownJob, WaitTimeout
from .jobs import JobInfo, State
from .producer import Producer

__version__ = "0.1.0"
__all__ = [
    "DuplicateJob", "JobFailed", "JobInfo", "NotInJob", "Producer", "State", "UnknownJob",
    "WaitTimeout", "__version__", "job_id", "pipeline", "progress", "redis",
]  # fmt: skip
