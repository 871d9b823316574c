"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from .current import NotInJob, job_id, pipeline, progress, redis
from .errors import DuplicateJob, JobFailed, UnknownJob, WaitTimeout
from .jobs import JobInfo, State
from .producer import Cancelled, Producer
from .runner import JobCancelled, JobTimeout
from .tasks import BadTask, Task, Tasks

__version__ = "0.1.0"
__all__ = [
    "BadTask", "Cancelled", "DuplicateJob", "JobCancelled", "JobFailed", "JobInfo",
    "JobTimeout", "NotInJob", "Producer", "State", "Task", "Tasks", "UnknownJob",
    "WaitTimeout", "__version__", "job_id", "pipeline", "progress", "redis",
]  # fmt: skip
