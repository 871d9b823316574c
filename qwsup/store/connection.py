"""Building Redis clients from the config, the one place that knows URLs and passwords."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, SentinelManagedConnection

from qwsup.config import Config
from qwsup.errors import ConfigError

SOCKET_NAME = "redis.sock"
SENTINEL_TIMEOUT_S = 3.0  # a sentinel that takes longer to connect or answer is passed over


def url_of(config: Config) -> str:
    """The configured URL, the sentinels (redis+sentinel://[user@]host:port,.../service[/db],
    for logs only), or the embedded server's unix socket."""
    r = config.redis
    if r.sentinels:
        parts = urlsplit(r.url or "redis://")
        user = parts.netloc.rpartition("@")[0]
        db = parts.path.strip("/")
        return (
            f"{parts.scheme}+sentinel://{user + '@' if user else ''}{','.join(r.sentinels)}"
            f"/{r.service_name}{'/' + db if db else ''}"
        )
    if r.url is not None:
        return r.url
    return f"unix://{config.state_dir() / SOCKET_NAME}"


def redact(url: str) -> str:
    """The URL with its password replaced, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _password(config: Config, of: str = "") -> str | None:
    """From the environment variable `password_env` names, else from `password_file`
    (with `of` = "sentinel_": the sentinels' own, sentinel_password_env and _file)."""
    env = getattr(config.redis, f"{of}password_env")
    file = getattr(config.redis, f"{of}password_file")
    if env:
        password = os.environ.get(env)
        if password is None:
            problem = f"environment variable {env} is not set"
            raise ConfigError(config.path, f"redis.{of}password_env", problem)
        return password
    if not file:
        return None
    try:
        return Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(config.path, f"redis.{of}password_file", f"cannot read: {exc}") from None


def _tls(config: Config) -> dict[str, object]:
    """rediss:// options: the server's certificate is always verified (never plain text
    as a fallback); cert_file and key_file give a client certificate (mutual TLS)."""
    r = config.redis
    if urlsplit(r.url or "").scheme != "rediss":
        return {}
    options: dict[str, object] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if r.ca_file:
        options["ssl_ca_certs"] = r.ca_file
    if r.cert_file:
        options["ssl_certfile"] = r.cert_file
        options["ssl_keyfile"] = r.key_file
    return options


# redis-py 8 names CLIENT SETINFO's data driver_info (lib_name and lib_version warn);
# older releases know only those two
_NO_CLIENT_SETINFO: dict[str, Any] = (
    {"driver_info": None}
    if "driver_info" in inspect.signature(redis.connection.AbstractConnection.__init__).parameters
    else {"lib_name": None, "lib_version": None}
)


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
        **_NO_CLIENT_SETINFO,
        **_tls(config),
    }
    if password is not None and urlsplit(url).password is None:
        options["password"] = password  # a password in the URL wins over the file
    if config.redis.sentinels:
        return _primary_of_sentinels(config, options)
    if config.redis.cluster:
        # a RedisCluster has the commands qwsup uses, routed by key (every key of the
        # namespace is in one slot); typed as the Redis it stands in for
        return cast(redis.Redis, redis.RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def _primary_of_sentinels(config: Config, options: dict[str, Any]) -> redis.Redis:
    """A client of the primary the sentinels name: each new connection asks them (the
    first that answers) where it is, so one made after a failover reaches the new one.

    The url, if any, gives the scheme (rediss: TLS to the sentinels and the primary,
    with the same certificates), the ACL user, a password and the db; the sentinels get
    their own password only (sentinel_password_env or _file), or none, and redis-py's
    CLIENT SETINFO (it ignores a refusal; no ACL of a data server sees it)."""
    r = config.redis
    url = urlsplit(r.url or "redis://")
    target = dict(options)
    if url.username:
        target["username"] = unquote(url.username)
    if url.password is not None:
        target["password"] = unquote(url.password)
    if url.path.strip("/"):
        target["db"] = int(url.path.strip("/"))
    target["connection_class"] = _PrimaryTLS if url.scheme == "rediss" else _Primary
    ask: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),  # one that does not answer: the next one, at once
        "decode_responses": False,
        **_tls(config),
        **({"ssl": True} if url.scheme == "rediss" else {}),
    }
    password = _password(config, "sentinel_")
    if password is not None:
        ask["password"] = password
    addresses = []
    for address in r.sentinels:
        host, _, port = address.rpartition(":")
        addresses.append((host.strip("[]"), int(port)))
    sentinel = _Sentinels(addresses, sentinel_kwargs=ask)
    primary: redis.Redis = sentinel.master_for(r.service_name, **target)
    return primary


class _Sentinels(redis.Sentinel):
    """redis-py's, with a short reason per sentinel when none names a primary (redis-py's
    message holds the repr of each sentinel's client, kilobytes in a log line)."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        problems = []
        for i, sentinel in enumerate(self.sentinels):
            kwargs = sentinel.connection_pool.connection_kwargs
            where = f"sentinel {kwargs.get('host')}:{kwargs.get('port')}"
            try:
                masters: Any = sentinel.sentinel_masters()
                state = masters.get(service_name)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            if state and self.check_master_state(state, service_name):  # type: ignore[no-untyped-call]
                self.sentinels[0], self.sentinels[i] = sentinel, self.sentinels[0]  # ask it first
                return str(state["ip"]), int(state["port"])
            if state:
                problems.append(f"{where}: says {state['ip']}:{state['port']} is down")
            else:
                problems.append(f"{where}: does not monitor {service_name!r}")
        what = f"no sentinel names a primary for {service_name!r}"
        raise MasterNotFoundError(f"{what} ({'; '.join(problems)})")


class _Primary(SentinelManagedConnection):
    """A connection to the primary the sentinels name. redis-py (8.1) reconnects one that
    sends while disconnected without asking them (to where it was, or to localhost:6379
    when new): a worker's own line (feed.py), which sends on a connection of its own
    after every break, would never follow a failover."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:  # SentinelManagedConnection's connect() asks the sentinels
            self.connect()  # type: ignore[no-untyped-call]
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


class _PrimaryTLS(_Primary, SSLConnection):
    pass
