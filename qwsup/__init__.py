"""qwsup: a prefork supervisor for reliable Redis queue workers."""

from .producer import Producer

__version__ = "0.1.0"
__all__ = ["Producer", "__version__"]
