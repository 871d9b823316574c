"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from .errors import DuplicateJob
from .producer import Producer

__version__ = "0.1.0"
__all__ = ["DuplicateJob", "Producer", "__version__"]
