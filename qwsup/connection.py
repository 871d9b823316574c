"""Building Redis clients from the config, the one place that knows URLs and passwords."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis

from .config import Config
from .errors import ConfigError

SOCKET_NAME = "redis.sock"


def url_of(config: Config) -> str:
    """The configured URL, or the embedded server's unix socket."""
    if config.redis.url is not None:
        return config.redis.url
    return f"unix://{config.state_dir() / SOCKET_NAME}"


def redact(url: str) -> str:
    """The URL with its password replaced, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _password(config: Config) -> str | None:
    """From the environment variable `password_env` names, else from `password_file`."""
    if config.redis.password_env:
        password = os.environ.get(config.redis.password_env)
        if password is None:
            problem = f"environment variable {config.redis.password_env} is not set"
            raise ConfigError(config.path, "redis.password_env", problem)
        return password
    if not config.redis.password_file:
        return None
    try:
        return Path(config.redis.password_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(config.path, "redis.password_file", f"cannot read: {exc}") from None


def _tls(config: Config) -> dict[str, object]:
    """rediss:// options: the server's certificate is always verified (never plain text
    as a fallback); cert_file and key_file give a client certificate (mutual TLS)."""
    r = config.redis
    if urlsplit(url_of(config)).scheme != "rediss":
        return {}
    options: dict[str, object] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if r.ca_file:
        options["ssl_ca_certs"] = r.ca_file
    if r.cert_file:
        options["ssl_certfile"] = r.cert_file
        options["ssl_keyfile"] = r.key_file
    return options


def make_client(config: Config, *, socket_timeout: float | None = 10.0) -> redis.Redis:
    """A client with its own connection pool; each process builds its own after fork.

    Replies stay bytes: job ids and fields are whatever producers wrote, and the
    worker decides how to decode them.
    """
    url = url_of(config)
    password = _password(config)
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 5.0,
        "decode_responses": False,
        # no CLIENT SETINFO on connect: a round trip saved, and nothing the least-privilege
        # user of conf/redis-acl.conf is denied (Redis 7.2 and later log each denial)
        "lib_name": None,
        "lib_version": None,
        **_tls(config),
    }
    if password is not None and urlsplit(url).password is None:
        options["password"] = password  # a password in the URL wins over the file
    if config.redis.cluster:
        # a RedisCluster has the commands qwsup uses, routed by key (every key of the
        # namespace is in one slot); typed as the Redis it stands in for
        return cast(redis.Redis, redis.RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, **options)
