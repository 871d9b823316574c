"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from .current import NotInJob, job_id, pipeline, redis
from .errors import DuplicateJob
from .producer import Producer

__version__ = "0.1.0"
__all__ = ["DuplicateJob", "NotInJob", "Producer", "__version__", "job_id", "pipeline", "redis"]
