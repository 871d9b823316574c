"""Exit codes and the project's exceptions.

Exit codes are a contract between the workers, the master and systemd:
`Restart=on-failure` with `RestartPreventExitStatus=73 78` keeps a bad config,
or a name another live master holds, from restart-looping, and the master stops
instead of respawning a worker that cannot import its handler.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1  # unexpected error
    USAGE = 2  # bad command line (argparse's own code)
    HANDLER = 3  # the handler cannot be imported: workers cannot boot
    UNAVAILABLE = 69  # EX_UNAVAILABLE: Redis or the embedded server cannot be reached
    NAME_HELD = 73  # the supervisor's name is held by another live master
    CONFIG = 78  # EX_CONFIG: the config file is missing or invalid
    TIMED_OUT = 124  # `enqueue --wait --timeout S`: the job had not ended (as timeout(1))


class QwsupError(Exception):
    """Base class of every error qwsup raises on purpose."""


class ConfigError(QwsupError):
    """The config file cannot be used; the message is one line for the operator."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class HandlerError(QwsupError):
    """The configured handler cannot be imported or is not callable."""


class RedisTrouble(QwsupError):
    """Redis could not do what was asked, for now: the caller logs it once and retries."""


class ConnectionLost(RedisTrouble):
    """Redis could not be reached; raised where redis-py's errors are translated."""


class RedisRefused(RedisTrouble):
    """Redis answered with an error, such as a queue key of the wrong type."""


class DuplicateJob(QwsupError):
    """A unique job was refused: another job holds its name (queued or running)."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"unique name {name!r} is held by job {holder}, queued or running")
        self.name = name
        self.holder = holder


class UnknownJob(QwsupError, LookupError):
    """No job has this id (never enqueued, or removed since it finished)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id}: never enqueued, or removed since it ended")
        self.job_id = job_id


class JobFailed(QwsupError):
    """A job waited for failed for good (`state` "failed") or was cancelled
    ("cancelled"); `error` is its last error."""

    def __init__(self, job_id: str, state: str, error: str | None) -> None:
        what = "failed for good" if state == "failed" else state
        super().__init__(f"job {job_id} {what}" + (f": {error}" if error else ""))
        self.job_id, self.state, self.error = job_id, state, error


class WaitTimeout(QwsupError, TimeoutError):
    """A job waited for had not ended within the time given."""

    def __init__(self, job_id: str, state: str, timeout: float) -> None:
        super().__init__(f"job {job_id} still {state} after {timeout:g} s")
        self.job_id, self.state, self.timeout = job_id, state, timeout


class EmbeddedRedisError(QwsupError):
    """The embedded redis-server cannot be started or reached."""
