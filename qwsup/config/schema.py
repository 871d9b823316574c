"""The config's schema: one frozen dataclass per section, whose fields are the keys
it accepts, each with its type (the loader reads the type hints: bool, int, float, str,
`str | None`, `tuple[str, ...]` for a list of strings, `dict[str, str]` for a table),
its default and its check (checks.py), kept in the field's metadata; and `Config`, the
whole file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qwsup.config.checks import (
    ACCOUNT,
    APPENDFSYNC,
    HANDLER,
    MAX_CONCURRENCY,
    MAX_PREFETCH,
    MAX_WORKERS,
    NAME,
    NAMESPACE,
    QUEUE_NAME,
    Check,
    at_least,
    between,
    check_expression,
    directories,
    job_fields,
    log_level,
    matches,
    metrics_listen,
    one_of,
    parses,
    patterns,
    queue_names,
    redis_url,
    sentinel_addresses,
    time_zone,
    web_listen,
)
from qwsup.limits import Limits, Rate, duration_s


def _key(default: Any, check: Check | None = None) -> Any:
    """A key's field: its default, and the check of its value (None: its type is enough)."""
    return dataclasses.field(default=default, metadata={"check": check})


@dataclasses.dataclass(frozen=True)
class RedisConfig:
    url: str | None = _key(None, redis_url)
    password_file: str | None = None
    namespace: str = _key("", matches(NAMESPACE, "printable ASCII without spaces"))
    state_dir: str | None = None
    server: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cluster: bool = _key(False)
    # Redis Sentinel: the sentinels ("host:port") and the name they monitor the primary by
    sentinels: tuple[str, ...] = _key((), sentinel_addresses)
    service_name: str = _key("", matches(NAMESPACE, "printable ASCII without spaces"))
    sentinel_password_file: str | None = None
    sentinel_password_env: str | None = None
    # run on a server whose maxmemory-policy is not noeviction (or cannot be read)
    accept_eviction: bool = _key(False)
    # the embedded server's AOF fsync policy (with a url, the server's own config decides)
    appendfsync: str = _key("always", one_of(*APPENDFSYNC))

    def prefix(self) -> str:
        return f"{self.namespace}:" if self.namespace else ""


@dataclasses.dataclass(frozen=True)
class SupervisorConfig:
    name: str = _key("", matches(NAME, "letters, digits, '.', '_' or '-'"))
    graceful_timeout: float = _key(30.0, at_least(0))
    quick_timeout: float = _key(5.0, at_least(0))
    lease_timeout: float = _key(30.0, at_least(1))
    user: str = _key("", matches(ACCOUNT, "a user name"))
    group: str = _key("", matches(ACCOUNT, "a group name"))
    run_as_root: bool = _key(False)


@dataclasses.dataclass(frozen=True)
class WorkersConfig:
    """One pool of workers: `[workers]`, or one of `[[pools]]`."""

    name: str = _key("default", matches(QUEUE_NAME, "letters, digits, '_' or '-'"))
    count: int = _key(4, between(1, MAX_WORKERS))
    handler: str = _key("qwsup.examples:log_job", matches(HANDLER, '"package.module:function"'))
    # directories put at the front of sys.path before the handler is imported, in each
    # worker and in `qwsup check`; loaded absolute (a relative one is from the file's)
    pythonpath: tuple[str, ...] = _key((), directories)
    max_attempts: int = _key(3, at_least(1))
    boot_timeout: float = _key(30.0, at_least(0.1))
    heartbeat_timeout: float = _key(30.0, at_least(0.2))
    job_timeout: float = _key(0.0, at_least(0))
    max_jobs: int = _key(0, at_least(0))
    max_memory_mb: float = _key(0.0, at_least(0))
    prefetch: int = _key(10, between(1, MAX_PREFETCH))
    concurrency: int = _key(1, between(1, MAX_CONCURRENCY))
    max_job_mb: float = _key(16.0, at_least(0))
    queues: tuple[str, ...] = _key(("all",), queue_names)
    retry_delay: float = _key(5.0, at_least(0))
    retry_backoff: float = _key(2.0, at_least(1))
    retry_delay_max: float = _key(3600.0, at_least(0))
    keep_finished: float = _key(3600.0, at_least(0))
    keep_finished_max: int = _key(10_000, at_least(0))
    max_result_kb: float = _key(64.0, at_least(0))


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    listen: str = _key("", metrics_listen)

    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """[web]: the dashboard `qwsup web` serves (qwsup/web/)."""

    listen: str = _key("127.0.0.1:9312", web_listen)
    # the operators' token, which actions need: from the environment variable
    # token_env names, else from token_file (its first line); neither: read-only
    token_env: str | None = None
    token_file: str | None = None
    # job fields shown as hidden, by name pattern (fnmatch: "password*")
    hide_fields: tuple[str, ...] = _key((), patterns)
    # the host names a request may ask for besides loopback's and the listen address
    # (a proxy's public name, when it passes the browser's Host on)
    hosts: tuple[str, ...] = _key((), patterns)


@dataclasses.dataclass(frozen=True)
class OtelConfig:
    """[otel]: OpenTelemetry traces of enqueues and attempts (qwsup/tracing.py; needs
    `pip install qwsup[otel]`), set up from the standard OTEL_* environment variables."""

    enabled: bool = _key(False)


@dataclasses.dataclass(frozen=True)
class QueueConfig:
    """`[queues.NAME]`: what holds queue NAME back, on every host sharing the Redis
    (qwsup/limits.py)."""

    name: str = "all"
    rate_limit: str = _key("", parses(Rate.parse))  # "100/60s": at most 100 jobs started per 60 s
    concurrency_limit: int = _key(0, between(0, 1_000_000))  # running at once; 0: no cap

    @property
    def limits(self) -> Limits:
        return Limits.of(self.name, self.rate_limit, self.concurrency_limit)


@dataclasses.dataclass(frozen=True)
class CronConfig:
    """`[[cron]]`: a job enqueued on a schedule, once per tick across every master
    (qwsup/master/cron.py)."""

    name: str = _key("", matches(NAME, "letters, digits, '.', '_' or '-'"))
    schedule: str = _key("", lambda v: check_expression(v) if v else None)  # "0 3 * * *"
    every: str = _key("", parses(duration_s))  # or an interval: "30s"
    timezone: str = _key("UTC", time_zone)
    queue: str = _key("all", matches(QUEUE_NAME, "letters, digits, '_' or '-'"))
    fields: dict[str, str] = dataclasses.field(default_factory=dict, metadata={"check": job_fields})
    unique: bool = _key(False)  # skip a tick while the previous run is queued or running
    catch_up: str = _key("none", one_of("none", "last"))


@dataclasses.dataclass(frozen=True)
class EventsConfig:
    """`[events]`: the stream of job events, all:events (docs/protocol.md)."""

    max_len: int = _key(10_000, at_least(0))  # about how many it keeps; 0: none written


@dataclasses.dataclass(frozen=True)
class LogConfig:
    level: str = _key("info", log_level)
    format: str = _key("text", one_of("text", "json"))

    def level_number(self) -> int:
        return int(getattr(logging, self.level.upper()))


@dataclasses.dataclass(frozen=True)
class Config:
    path: str
    redis: RedisConfig
    supervisor: SupervisorConfig
    workers: WorkersConfig
    log: LogConfig
    metrics: MetricsConfig
    # every pool, in the order of the file; `workers` is the first (the one of a worker
    # process: the master hands each worker a Config whose `workers` is its pool)
    pools: tuple[WorkersConfig, ...] = ()
    events: EventsConfig = EventsConfig()
    queues: tuple[QueueConfig, ...] = ()  # [queues.NAME], in the order of the file
    cron: tuple[CronConfig, ...] = ()  # [[cron]], in the order of the file
    web: WebConfig = WebConfig()
    otel: OtelConfig = OtelConfig()

    def __post_init__(self) -> None:
        if not self.pools:
            object.__setattr__(self, "pools", (self.workers,))

    def pool(self, name: str) -> WorkersConfig | None:
        return next((p for p in self.pools if p.name == name), None)

    def describe(self) -> str:
        """What the pools run, for the log: "4 workers running app.jobs:run", and the
        pool names when there are several."""
        if len(self.pools) == 1:
            return f"{self.workers.count} workers running {self.workers.handler}"
        return ", ".join(
            f"pool {p.name}: {p.count} workers running {p.handler} on {'+'.join(p.queues)}"
            for p in self.pools
        )

    @property
    def most_attempts(self) -> int:
        """max_attempts for jobs whose pool is not known (reclaimed from another
        supervisor, found in a dead worker's list by a sweep): the most any pool allows,
        so that none is failed early."""
        return max(pool.max_attempts for pool in self.pools)

    @property
    def longest_kept_ms(self) -> int:
        """keep_finished, in ms, for the jobs the master or a command ends whose pool is
        not known (cancelled): the longest any pool keeps."""
        return round(max(pool.keep_finished for pool in self.pools) * 1000)

    @property
    def most_finished_kept(self) -> int:
        """keep_finished_max for the master's pruning, which cannot tell the pools' jobs
        apart: the most any pool keeps (0, no bound, when one says so)."""
        bounds = [pool.keep_finished_max for pool in self.pools]
        return 0 if 0 in bounds else max(bounds)

    def limits(self, queues: tuple[str, ...]) -> tuple[Limits, ...]:
        """The limits of those of `queues` that have any, for take.lua."""
        found = {q.name: q.limits for q in self.queues}
        return tuple(found[name] for name in queues if name in found and found[name].any)

    def for_pool(self, pool: WorkersConfig) -> Config:
        """This config as a worker of `pool` sees it."""
        return dataclasses.replace(self, workers=pool)

    def exposed_secret(self) -> bool:
        """The file holds a password (in the URL) and users other than its owner's group
        can read it."""
        if self.redis.url is None or urlsplit(self.redis.url).password is None:
            return False
        try:
            return bool(Path(self.path).stat().st_mode & 0o004)
        except OSError:
            return False

    @property
    def embedded(self) -> bool:
        return self.redis.url is None and not self.redis.sentinels

    def state_dir(self) -> Path:
        """Where the embedded server keeps its socket and data."""
        if self.redis.state_dir:
            return Path(self.redis.state_dir)
        if os.environ.get("STATE_DIRECTORY"):  # set by systemd's StateDirectory=
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        home = Path("/var/lib") if os.geteuid() == 0 else Path.home() / ".local" / "state"
        base = Path(os.environ.get("XDG_STATE_HOME") or home)
        absolute = str(Path(self.path).resolve())
        digest = hashlib.sha256(absolute.encode()).hexdigest()[:8]
        return base / "qwsup" / f"{Path(self.path).stem}-{digest}"


# the sections of one table each, by name; besides them: [[pools]] (each a [workers]),
# [queues.NAME] (each a QueueConfig) and [[cron]] (each a CronConfig)
SECTIONS: dict[str, type[Any]] = {
    "redis": RedisConfig,
    "supervisor": SupervisorConfig,
    "workers": WorkersConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "events": EventsConfig,
    "web": WebConfig,
    "otel": OtelConfig,
}


def restart_only(old: Config, new: Config) -> tuple[Config, str]:
    """A reloaded config with the keys that change only with a restart kept as in `old`
    (the Redis connection, the metrics address, the supervisor's name, lease and user),
    and the words for the log when the file changed them ("" when it did not)."""
    o = old.supervisor
    supervisor = dataclasses.replace(
        new.supervisor, name=o.name, user=o.user, group=o.group, run_as_root=o.run_as_root,
        lease_timeout=o.lease_timeout,
    )  # fmt: skip
    kept = ""
    if new.redis != old.redis or new.metrics != old.metrics or supervisor != new.supervisor:
        kept = "[redis], [metrics], supervisor.name, lease_timeout, user, group and run_as_root"
    return dataclasses.replace(
        new, redis=old.redis, supervisor=supervisor, metrics=old.metrics
    ), kept
