"""The config file: TOML into frozen dataclasses, every problem named by its key.

Every section is a dataclass; its fields are the keys it accepts, with their
types and defaults. `load()` rejects an unknown section or key, a wrong type
and a bad value with a `ConfigError` whose message is one line naming the
file, the key and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import os
import re
import socket
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from qwsup.errors import ConfigError
from qwsup.limits import Limits, Rate, duration_s
from qwsup.store.keys import FIELD_PREFIX

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_ACCOUNT = re.compile(r"^([A-Za-z_][A-Za-z0-9._-]*\$?)?$")  # a user or group name, or ""
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
_NAMESPACE = re.compile(r"^[\x21-\x7e]*$")  # printable ASCII, no spaces
LOG_LEVELS = ("debug", "info", "warning", "error")
APPENDFSYNC = ("always", "everysec")  # the embedded server's AOF fsync policies
MAX_PREFETCH = 1000
MAX_CONCURRENCY = 1000  # jobs one worker runs at once (threads, or asyncio tasks)
MAX_WORKERS = 10_000

Check = Callable[[Any], str | None]  # returns the problem, or None when the value is good


def check_expression(expression: str) -> str | None:
    """The problem with a five-field cron expression, or None."""
    if len(expression.split()) != 5:
        fields = "minute hour day month weekday"
        return f"must be a five-field cron expression ({fields}), got {expression!r}"
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        return f"is not a valid cron expression ({exc}): {expression!r}"
    return None


def _key(default: Any, check: Check | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"check": check})


def _at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be >= {low:g}, got {v!r}"


def _matches(pattern: re.Pattern[str], what: str) -> Check:
    return lambda v: None if pattern.match(v) else f"must be {what}, got {v!r}"


def _between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"must be from {low} to {high}, got {v!r}"


_DB = re.compile(r"^(/[0-9]*)?$")  # a url's path: the db number, or nothing
_SENTINEL = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")


def _sentinels(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must name at least one sentinel (or leave the key out)"
    for address in v:
        found = _SENTINEL.match(address)
        if not found or not 0 < int(found[2]) < 65536:
            return f'must be "host:port" addresses (port 1 to 65535), got {address!r}'
    if len(set(v)) != len(v):
        return "names a sentinel twice"
    return None


def _url(v: str) -> str | None:
    try:
        scheme = urlsplit(v).scheme
    except ValueError as exc:
        return f"is not a URL ({exc}): {v!r}"
    if scheme not in ("redis", "rediss", "unix"):
        return f"must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}"
    return None


@dataclasses.dataclass(frozen=True)
class RedisConfig:
    url: str | None = _key(None, _url)
    password_file: str | None = None
    namespace: str = _key("", _matches(_NAMESPACE, "printable ASCII without spaces"))
    state_dir: str | None = None
    server: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cluster: bool = _key(False)
    # Redis Sentinel: the sentinels ("host:port") and the name they monitor the primary by
    sentinels: tuple[str, ...] = _key((), _sentinels)
    service_name: str = _key("", _matches(_NAMESPACE, "printable ASCII without spaces"))
    sentinel_password_file: str | None = None
    sentinel_password_env: str | None = None
    # run on a server whose maxmemory-policy is not noeviction (or cannot be read)
    accept_eviction: bool = _key(False)
    # the embedded server's AOF fsync policy (with a url, the server's own config decides)
    appendfsync: str = _key(
        "always",
        lambda v: None if v in APPENDFSYNC else f'must be "always" or "everysec", got {v!r}',
    )

    def prefix(self) -> str:
        return f"{self.namespace}:" if self.namespace else ""


def _queue_names(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must name at least one queue"
    for name in v:
        if not QUEUE_NAME.match(name):
            return f"queue names are letters, digits, '_' or '-', got {name!r}"
    if len(set(v)) != len(v):
        return "names a queue twice"
    return None


@dataclasses.dataclass(frozen=True)
class SupervisorConfig:
    name: str = _key("", _matches(_NAME, "letters, digits, '.', '_' or '-'"))
    graceful_timeout: float = _key(30.0, _at_least(0))
    quick_timeout: float = _key(5.0, _at_least(0))
    lease_timeout: float = _key(30.0, _at_least(1))
    user: str = _key("", _matches(_ACCOUNT, "a user name"))
    group: str = _key("", _matches(_ACCOUNT, "a group name"))
    run_as_root: bool = _key(False)


@dataclasses.dataclass(frozen=True)
class WorkersConfig:
    """One pool of workers: `[workers]`, or one of `[[pools]]`."""

    name: str = _key("default", _matches(QUEUE_NAME, "letters, digits, '_' or '-'"))
    count: int = _key(4, _between(1, MAX_WORKERS))
    handler: str = _key("qwsup.examples:log_job", _matches(_HANDLER, '"package.module:function"'))
    max_attempts: int = _key(3, _at_least(1))
    boot_timeout: float = _key(30.0, _at_least(0.1))
    heartbeat_timeout: float = _key(30.0, _at_least(0.2))
    job_timeout: float = _key(0.0, _at_least(0))
    max_jobs: int = _key(0, _at_least(0))
    max_memory_mb: float = _key(0.0, _at_least(0))
    prefetch: int = _key(10, _between(1, MAX_PREFETCH))
    concurrency: int = _key(1, _between(1, MAX_CONCURRENCY))
    max_job_mb: float = _key(16.0, _at_least(0))
    queues: tuple[str, ...] = _key(("all",), _queue_names)
    retry_delay: float = _key(5.0, _at_least(0))
    retry_backoff: float = _key(2.0, _at_least(1))
    retry_delay_max: float = _key(3600.0, _at_least(0))
    keep_finished: float = _key(3600.0, _at_least(0))
    keep_finished_max: int = _key(10_000, _at_least(0))
    max_result_kb: float = _key(64.0, _at_least(0))


def _listen(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if v and not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return f'must be "host:port" (or "" for no metrics), got {v!r}'
    return None


def _web_listen(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return f'must be "host:port", got {v!r}'
    return None


def _patterns(v: tuple[str, ...]) -> str | None:
    empty = [p for p in v if not p.strip()]
    return "must not hold an empty pattern" if empty else None


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    listen: str = _key("", _listen)

    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """[web]: the dashboard `qwsup web` serves (qwsup/web/)."""

    listen: str = _key("127.0.0.1:9312", _web_listen)
    # the operators' token, which actions need: from the environment variable
    # token_env names, else from token_file (its first line); neither: read-only
    token_env: str | None = None
    token_file: str | None = None
    # job fields shown as hidden, by name pattern (fnmatch: "password*")
    hide_fields: tuple[str, ...] = _key((), _patterns)
    # the host names a request may ask for besides loopback's and the listen address
    # (a proxy's public name, when it passes the browser's Host on)
    hosts: tuple[str, ...] = _key((), _patterns)


@dataclasses.dataclass(frozen=True)
class OtelConfig:
    """[otel]: OpenTelemetry traces of enqueues and attempts (qwsup/tracing.py; needs
    `pip install qwsup[otel]`), set up from the standard OTEL_* environment variables."""

    enabled: bool = _key(False)


def _parses(parse: Callable[[str], object]) -> Check:
    """A check that `parse` takes the value ("" is left out: the key's default)."""

    def check(v: str) -> str | None:
        try:
            if v:
                parse(v)
        except ValueError as exc:
            return str(exc)
        return None

    return check


@dataclasses.dataclass(frozen=True)
class QueueConfig:
    """`[queues.NAME]`: what holds queue NAME back, on every host sharing the Redis
    (qwsup/limits.py)."""

    name: str = "all"
    rate_limit: str = _key("", _parses(Rate.parse))  # "100/60s": at most 100 jobs started per 60 s
    concurrency_limit: int = _key(0, _between(0, 1_000_000))  # running at once; 0: no cap

    @property
    def limits(self) -> Limits:
        return Limits.of(self.name, self.rate_limit, self.concurrency_limit)


def _timezone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return f'must be an IANA time zone like "Europe/Berlin" or "UTC", got {v!r}'
    return None


def _job_fields(v: dict[str, Any]) -> str | None:
    for key, value in v.items():
        if key.startswith(FIELD_PREFIX) or not key:
            return f"a field's name may not be empty or start with {FIELD_PREFIX!r}: {key!r}"
        if not isinstance(value, str):
            return f"values must be strings (as enqueue writes them), got {_show(value)} for {key}"
    return None


@dataclasses.dataclass(frozen=True)
class CronConfig:
    """`[[cron]]`: a job enqueued on a schedule, once per tick across every master
    (qwsup/master/cron.py)."""

    name: str = _key("", _matches(_NAME, "letters, digits, '.', '_' or '-'"))
    schedule: str = _key("", lambda v: check_expression(v) if v else None)  # "0 3 * * *"
    every: str = _key("", _parses(duration_s))  # or an interval: "30s"
    timezone: str = _key("UTC", _timezone)
    queue: str = _key("all", _matches(QUEUE_NAME, "letters, digits, '_' or '-'"))
    fields: dict[str, str] = dataclasses.field(
        default_factory=dict, metadata={"check": _job_fields}
    )
    unique: bool = _key(False)  # skip a tick while the previous run is queued or running
    catch_up: str = _key(
        "none", lambda v: None if v in ("none", "last") else f'must be "none" or "last", got {v!r}'
    )


@dataclasses.dataclass(frozen=True)
class EventsConfig:
    """`[events]`: the stream of job events, all:events (docs/protocol.md)."""

    max_len: int = _key(10_000, _at_least(0))  # about how many it keeps; 0: none written


@dataclasses.dataclass(frozen=True)
class LogConfig:
    level: str = _key(
        "info", lambda v: None if v in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"
    )
    format: str = _key(
        "text", lambda v: None if v in ("text", "json") else f'must be "text" or "json", got {v!r}'
    )

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


_SECTIONS: dict[str, type[Any]] = {
    "redis": RedisConfig,
    "supervisor": SupervisorConfig,
    "workers": WorkersConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "events": EventsConfig,
    "web": WebConfig,
    "otel": OtelConfig,
}


def _type_problem(value: Any, annotation: str) -> str | None:
    """The fields' annotations are strings (postponed evaluation); these are all we use."""
    if annotation == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, got {_show(value)}"
    if annotation == "tuple[str, ...]":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else f"must be a list of strings, got {_show(value)}"
    if annotation == "dict[str, str]":
        return None if isinstance(value, dict) else f"must be a table, got {_show(value)}"
    if annotation == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {_show(value)}"
    if annotation == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"must be a number, got {_show(value)}"
    return None if isinstance(value, str) else f"must be a string, got {_show(value)}"


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _section(path: str, name: str, cls: type[Any], table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(path, name, f"must be a table ([{name}]), got {_show(table)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{name}.{key}"
        field = fields.get(key)
        if field is None:
            raise ConfigError(path, where, f"unknown key (known: {', '.join(fields)})")
        problem = _type_problem(value, str(field.type))
        if isinstance(value, list):
            value = tuple(value)
        if problem is None and field.metadata.get("check"):
            problem = field.metadata["check"](value)
        if problem is not None:
            raise ConfigError(path, where, problem)
        values[key] = float(value) if field.type == "float" else value
    return cls(**values)


def parse(path: str, text: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    pools = _pools(path, data.pop("pools", None), "workers" in data)
    queues = _queues(path, data.pop("queues", {}))
    cron = _cron(path, data.pop("cron", []))
    for name in data:
        if name not in _SECTIONS:
            known = ", ".join([*_SECTIONS, "[[pools]]", "[queues.NAME]", "[[cron]]"])
            raise ConfigError(path, name, f"unknown section (known: {known})")
    sections = {
        name: _section(path, name, cls, data.get(name, {})) for name, cls in _SECTIONS.items()
    }
    supervisor: SupervisorConfig = sections["supervisor"]
    if not supervisor.name:
        host = socket.gethostname().split(".")[0] or "localhost"
        supervisor = dataclasses.replace(supervisor, name=host)
    redis: RedisConfig = sections["redis"]
    for key in ("password_file", "sentinel_password_file", "ca_file", "cert_file", "key_file"):
        value = getattr(redis, key)
        if value and not Path(value).is_file():
            raise ConfigError(path, f"redis.{key}", f"no such file: {value}")
    tls = urlsplit(redis.url or "").scheme == "rediss"
    for key in ("ca_file", "cert_file", "key_file"):
        if getattr(redis, key) and not tls:
            raise ConfigError(path, f"redis.{key}", "is for a rediss:// (TLS) url only")
    if bool(redis.cert_file) != bool(redis.key_file):
        raise ConfigError(path, "redis.cert_file", "needs redis.key_file, and the other way round")
    if (redis.url is not None or redis.sentinels) and "appendfsync" in data.get("redis", {}):
        problem = (
            "is for the embedded server only (no url, no sentinels): set appendfsync in "
            "your Redis server's own configuration"
        )
        raise ConfigError(path, "redis.appendfsync", problem)
    _check_sentinels(path, redis)
    if redis.cluster and redis.url is None:
        raise ConfigError(path, "redis.cluster", "needs a url: the embedded server is no cluster")
    if redis.cluster and not re.search(r"\{[^{}]+\}", redis.namespace):
        problem = (
            'needs a namespace with a hash tag, like "{app}", so that all of its keys are '
            "in one slot"
        )
        raise ConfigError(path, "redis.cluster", problem)
    if sections["otel"].enabled:
        _check_otel(path)
    pools = pools or (sections["workers"],)
    return Config(
        path, redis, supervisor, pools[0], sections["log"], sections["metrics"], pools,
        events=sections["events"], queues=queues, cron=cron, web=sections["web"],
        otel=sections["otel"],
    )  # fmt: skip


def _check_otel(path: str) -> None:
    """[otel] enabled: the SDK is there, and the exporter OTEL_TRACES_EXPORTER names."""
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        raise ConfigError(path, "otel.enabled", "needs OpenTelemetry: pip install 'qwsup[otel]'")
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter not in ("otlp", "console", "none"):
        problem = f'OTEL_TRACES_EXPORTER must be "otlp", "console" or "none", got {exporter!r}'
        raise ConfigError(path, "otel.enabled", problem)
    if exporter == "otlp" and importlib.util.find_spec("opentelemetry.exporter.otlp") is None:
        problem = "OTEL_TRACES_EXPORTER=otlp needs pip install 'qwsup[otel]'"
        raise ConfigError(path, "otel.enabled", problem)


def _check_sentinels(path: str, redis: RedisConfig) -> None:
    """With sentinels: a service name, no cluster, and a url (if any) that names no host,
    only the scheme (rediss: TLS), the ACL user, a password and the db."""
    if not redis.sentinels:
        for key in ("service_name", "sentinel_password_file", "sentinel_password_env"):
            if getattr(redis, key):
                raise ConfigError(path, f"redis.{key}", "is for redis.sentinels only")
        return
    if not redis.service_name:
        problem = "is needed with redis.sentinels: the name they monitor the primary by"
        raise ConfigError(path, "redis.service_name", problem)
    if redis.cluster:
        problem = "are for Redis Sentinel, cluster = true for Redis Cluster: not both"
        raise ConfigError(path, "redis.sentinels", problem)
    if redis.url is not None:
        parts = urlsplit(redis.url)
        hosted = parts.netloc.rpartition("@")[2]
        if parts.scheme not in ("redis", "rediss") or hosted or not _DB.match(parts.path):
            problem = (
                "with redis.sentinels names no host (the sentinels name the primary), only "
                f'the scheme, user and db, like "rediss://qwsup@/0", got {redis.url!r}'
            )
            raise ConfigError(path, "redis.url", problem)


def _pools(path: str, tables: Any, workers_too: bool) -> tuple[WorkersConfig, ...]:
    """[[pools]]: each a [workers] table with a name of its own."""
    if tables is None:
        return ()
    if workers_too:
        raise ConfigError(path, "pools", "give [workers] (one pool) or [[pools]], not both")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(path, "pools", "must be one or more [[pools]] tables")
    pools = []
    for i, table in enumerate(tables):
        if isinstance(table, dict) and "name" not in table:
            raise ConfigError(path, f"pools[{i}]", "needs a name")
        pools.append(_section(path, f"pools[{i}]", WorkersConfig, table))
    names = [p.name for p in pools]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(path, "pools", f"two pools are named {name!r}")
    return tuple(pools)


def _queues(path: str, tables: Any) -> tuple[QueueConfig, ...]:
    """[queues.NAME]: each a table of one queue's limits."""
    if not isinstance(tables, dict):
        raise ConfigError(path, "queues", f"must be [queues.NAME] tables, got {_show(tables)}")
    found = []
    for name, table in tables.items():
        where = f"queues.{name}"
        if not QUEUE_NAME.match(name):
            raise ConfigError(path, where, "a queue's name is letters, digits, '_' or '-'")
        if isinstance(table, dict) and "name" in table:
            problem = "unknown key (the table's name is the queue's)"
            raise ConfigError(path, f"{where}.name", problem)
        queue = _section(path, where, QueueConfig, table)
        found.append(dataclasses.replace(queue, name=name))
    return tuple(found)


def _cron(path: str, tables: Any) -> tuple[CronConfig, ...]:
    """[[cron]]: each a schedule with a name of its own, and one of schedule or every."""
    if not isinstance(tables, list):
        raise ConfigError(path, "cron", f"must be [[cron]] tables, got {_show(tables)}")
    found: list[CronConfig] = []
    for i, table in enumerate(tables):
        where = f"cron[{i}]"
        if isinstance(table, dict) and not table.get("name"):
            raise ConfigError(path, where, "needs a name")
        cron = _section(path, where, CronConfig, table)
        where = f"cron.{cron.name}"
        if bool(cron.schedule) == bool(cron.every):
            problem = 'needs one of schedule = "0 3 * * *" or every = "30s", not both'
            raise ConfigError(path, where, problem)
        if cron.every and cron.timezone != "UTC":
            raise ConfigError(path, f"{where}.timezone", "is for a schedule, not for every")
        if any(c.name == cron.name for c in found):
            raise ConfigError(path, "cron", f"two schedules are named {cron.name!r}")
        found.append(cron)
    return tuple(found)


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


def load(path: str) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "the config file is not UTF-8") from None
    return parse(path, text)
