"""The config file (`qwsup -c FILE`): TOML into frozen dataclasses, every problem named
by its key. Callers import from here; the modules behind it may change.

- file: the sections' dataclasses, the loading and the checks.
"""

from qwsup.config.file import (
    _SECTIONS,
    APPENDFSYNC,
    MAX_WORKERS,
    QUEUE_NAME,
    Config,
    CronConfig,
    WebConfig,
    WorkersConfig,
    load,
    parse,
    restart_only,
)

__all__ = [
    "APPENDFSYNC",
    "MAX_WORKERS",
    "QUEUE_NAME",
    "_SECTIONS",
    "Config",
    "CronConfig",
    "WebConfig",
    "WorkersConfig",
    "load",
    "parse",
    "restart_only",
]
