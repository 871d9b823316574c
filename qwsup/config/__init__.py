"""The config file (`qwsup -c FILE`): TOML into frozen dataclasses, every problem named
by its key. Callers import from here; the modules behind it may change.

- schema: the sections' frozen dataclasses (`Config`, `WorkersConfig`, ...), each key
  a field with its type, default and check; `restart_only`, what a reload keeps.
- load: reading the file (`load`, `parse`), each section into its dataclass by its
  fields' type hints, the checks of several keys together.
- checks: the check of one key's value, and what a value may be (patterns, bounds).
"""

from qwsup.config.checks import APPENDFSYNC, MAX_WORKERS, QUEUE_NAME
from qwsup.config.load import load, parse
from qwsup.config.schema import (
    SECTIONS,
    Config,
    CronConfig,
    QueueConfig,
    WebConfig,
    WorkersConfig,
    restart_only,
)

_SECTIONS = SECTIONS  # the name tests/test_config_properties.py has long imported

__all__ = [
    "APPENDFSYNC",
    "MAX_WORKERS",
    "QUEUE_NAME",
    "SECTIONS",
    "_SECTIONS",
    "Config",
    "CronConfig",
    "QueueConfig",
    "WebConfig",
    "WorkersConfig",
    "load",
    "parse",
    "restart_only",
]
