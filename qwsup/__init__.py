"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from qwsup.errors import DuplicateJob, JobFailed, UnknownJob, WaitTimeout
from qwsup.produce.producer import Cancelled, Producer
from qwsup.produce.tasks import BadTask, Task, Tasks
from qwsup.store.jobs import JobInfo, State
from qwsup.worker.current import NotInJob, job_id, pipeline, progress, redis
from qwsup.worker.runner import JobCancelled, JobTimeout

__version__ = "0.1.0"
__all__ = [
    "BadTask", "Cancelled", "DuplicateJob", "JobCancelled", "JobFailed", "JobInfo",
    "JobTimeout", "NotInJob", "Producer", "State", "Task", "Tasks", "UnknownJob",
    "WaitTimeout", "__version__", "job_id", "pipeline", "progress", "redis",
]  # fmt: skip
