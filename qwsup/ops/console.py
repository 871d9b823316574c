"""What the operators' commands and the dashboard work through: the config, and the one
Redis client it names, as the store's Operator (the reads and writes of operators) and a
Producer (cancelling jobs). Built once, from the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qwsup.config import Config
from qwsup.produce.producer import Producer
from qwsup.store.connection import make_client, redact, url_of
from qwsup.store.operator import Operator


@dataclass(frozen=True)
class Console:
    config: Config
    store: Operator
    producer: Producer

    @classmethod
    def from_config(cls, config: Config, client: Any = None) -> Console:
        """The console of the Redis and namespace `config` names (over `client`, or a new
        one)."""
        client = client if client is not None else make_client(config)
        keep_s = config.longest_kept_ms / 1000
        producer = Producer(client, config.redis.namespace, keep_s, config.events.max_len)
        return cls(config, Operator.from_config(config, client), producer)

    def where(self) -> str:
        """The Redis it talks to, its password left out: for messages."""
        return redact(url_of(self.config))


def embedded_away(config: Config) -> str:
    """What to say when the embedded server (no `[redis] url`) cannot be reached: it runs
    only inside a supervisor, and what to do about it."""
    return (
        f"no Redis at {redact(url_of(config))}: {config.path} names no [redis] url, so its "
        "Redis is the embedded server, which runs only while the supervisor runs: start the "
        f"supervisor (qwsup -c {config.path}), or set [redis] url to a Redis server of your own"
    )
