"""Loading the config file: its TOML read, each section turned into its dataclass
(schema.py), and the checks that take several keys together. Every problem is a
`ConfigError` whose message is one line naming the file, the key and the problem.

What a key's value must be is read from its field's type hint (`Kind`), then its own
check (checks.py) is asked.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qwsup.config.checks import DB, QUEUE_NAME, show
from qwsup.config.schema import (
    SECTIONS,
    Config,
    CronConfig,
    QueueConfig,
    RedisConfig,
    SupervisorConfig,
    WorkersConfig,
)
from qwsup.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Kind:
    """What a TOML value must be to fill a field of one type, and what it becomes."""

    fits: Callable[[Any], bool]
    words: str  # "must be {words}, got ..."
    # what the value becomes once its check passed (the check sees it as written, so
    # that a problem quotes it so: `got -1`, not `got -1.0`)
    made: Callable[[Any], Any] = lambda value: value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# the fields' types, and how a TOML value is taken for each (a bool is no number)
KINDS: dict[object, Kind] = {
    bool: Kind(lambda v: isinstance(v, bool), "true or false"),
    int: Kind(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: Kind(_number, "a number", float),
    str: Kind(lambda v: isinstance(v, str), "a string"),
    tuple[str, ...]: Kind(_strings, "a list of strings"),  # a tuple, for its check too
    dict[str, str]: Kind(lambda v: isinstance(v, dict), "a table"),  # its values: its check
}


def kind(hint: object) -> Kind:
    """The kind of a field's type hint; `X | None` is X's (TOML has no null: None is
    only ever the default)."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        hint, *others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if others:
            raise TypeError(f"a key's type is one type or None, not {hint!r}")
    found = KINDS.get(hint)
    if found is None:
        raise TypeError(f"no kind of TOML value for a key of type {hint!r}")
    return found


Keys = dict[str, tuple[dataclasses.Field[Any], Kind]]


def keys(cls: type[Any]) -> Keys:
    """A section's keys, in the order of its fields: each field and its kind."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f, kind(hints[f.name])) for f in dataclasses.fields(cls)}


# every table's keys, read once: a field of a type with no kind fails at import
TABLES: dict[type[Any], Keys] = {
    cls: keys(cls) for cls in (*SECTIONS.values(), QueueConfig, CronConfig)
}


def section(path: str, name: str, cls: type[Any], table: Any) -> Any:
    """Table `name` as a `cls`, each value of the field's kind and passing its check."""
    if not isinstance(table, dict):
        raise ConfigError(path, name, f"must be a table ([{name}]), got {show(table)}")
    known = TABLES[cls]
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{name}.{key}"
        if key not in known:
            raise ConfigError(path, where, f"unknown key (known: {', '.join(known)})")
        field, taken = known[key]
        if not taken.fits(value):
            raise ConfigError(path, where, f"must be {taken.words}, got {show(value)}")
        if isinstance(value, list):
            value = tuple(value)  # frozen, as the dataclass is
        check = field.metadata.get("check")
        problem = check(value) if check else None
        if problem is not None:
            raise ConfigError(path, where, problem)
        values[key] = taken.made(value)
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
        if name not in SECTIONS:
            known = ", ".join([*SECTIONS, "[[pools]]", "[queues.NAME]", "[[cron]]"])
            raise ConfigError(path, name, f"unknown section (known: {known})")
    sections = {
        name: section(path, name, cls, data.get(name, {})) for name, cls in SECTIONS.items()
    }
    supervisor: SupervisorConfig = sections["supervisor"]
    if not supervisor.name:
        host = socket.gethostname().split(".")[0] or "localhost"
        supervisor = dataclasses.replace(supervisor, name=host)
    redis: RedisConfig = sections["redis"]
    _check_redis(path, redis, "appendfsync" in data.get("redis", {}))
    if sections["otel"].enabled:
        _check_otel(path)
    pools = pools or (_import_path(path, "workers", sections["workers"]),)
    return Config(
        path, redis, supervisor, pools[0], sections["log"], sections["metrics"], pools,
        events=sections["events"], queues=queues, cron=cron, web=sections["web"],
        otel=sections["otel"],
    )  # fmt: skip


def _check_redis(path: str, redis: RedisConfig, appendfsync_given: bool) -> None:
    """The files it names exist, TLS's with a rediss:// url and in pairs; the embedded
    server's keys without a url; the sentinels' and the cluster's needs."""
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
    if (redis.url is not None or redis.sentinels) and appendfsync_given:
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
        if parts.scheme not in ("redis", "rediss") or hosted or not DB.match(parts.path):
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
        pool = section(path, f"pools[{i}]", WorkersConfig, table)
        pools.append(_import_path(path, f"pools[{i}]", pool))
    names = [p.name for p in pools]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(path, "pools", f"two pools are named {name!r}")
    return tuple(pools)


def _import_path(path: str, where: str, pool: WorkersConfig) -> WorkersConfig:
    """The pool's pythonpath made absolute, a relative directory taken from the config
    file's; each must be a directory."""
    base = os.path.dirname(os.path.abspath(path))
    directories = []
    for given in pool.pythonpath:
        directory = os.path.normpath(os.path.join(base, given))
        if not os.path.isdir(directory):
            relative = "" if os.path.isabs(given) else f" ({given}, relative to {base})"
            named = f"{directory}{relative}"
            raise ConfigError(path, f"{where}.pythonpath", f"no such directory: {named}")
        directories.append(directory)
    return dataclasses.replace(pool, pythonpath=tuple(directories))


def _queues(path: str, tables: Any) -> tuple[QueueConfig, ...]:
    """[queues.NAME]: each a table of one queue's limits."""
    if not isinstance(tables, dict):
        raise ConfigError(path, "queues", f"must be [queues.NAME] tables, got {show(tables)}")
    found = []
    for name, table in tables.items():
        where = f"queues.{name}"
        if not QUEUE_NAME.match(name):
            raise ConfigError(path, where, "a queue's name is letters, digits, '_' or '-'")
        if isinstance(table, dict) and "name" in table:
            problem = "unknown key (the table's name is the queue's)"
            raise ConfigError(path, f"{where}.name", problem)
        queue = section(path, where, QueueConfig, table)
        found.append(dataclasses.replace(queue, name=name))
    return tuple(found)


def _cron(path: str, tables: Any) -> tuple[CronConfig, ...]:
    """[[cron]]: each a schedule with a name of its own, and one of schedule or every."""
    if not isinstance(tables, list):
        raise ConfigError(path, "cron", f"must be [[cron]] tables, got {show(tables)}")
    found: list[CronConfig] = []
    for i, table in enumerate(tables):
        where = f"cron[{i}]"
        if isinstance(table, dict) and not table.get("name"):
            raise ConfigError(path, where, "needs a name")
        cron = section(path, where, CronConfig, table)
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


def load(path: str) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "the config file is not UTF-8") from None
    return parse(path, text)
