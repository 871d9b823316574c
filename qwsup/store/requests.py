"""A master's line for stop requests: cancel.lua leaves "<worker>\t<job id>" on
`<name>:cancels`, and `Requests` blocks on that list (BLPOP, on a connection of its
own) without the master waiting for it: its socket is one more thing the master's loop
waits on, with the workers' pipes and the signals, so a request reaches the master as
soon as Redis has it, and an idle master costs Redis one command every BLOCK_S.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import redis

from qwsup.errors import RedisTrouble
from qwsup.store.keys import Keys, split_worker_id
from qwsup.store.scripts import translated

log = logging.getLogger(__name__)


BLOCK_S = 30  # a BLPOP's timeout: the master sends the next one after each reply
SLACK_S = 10.0  # a BLPOP not answered this long after its timeout: the line is lost


@dataclass(frozen=True, slots=True)
class Request:
    worker: str  # <name>.<pid>
    pid: int
    job: bytes


def parse(raw: bytes, name: str) -> Request | None:
    """A request "<worker>\\t<job id>" for one of supervisor `name`'s workers, or None
    for what is not one."""
    worker, sep, job = raw.partition(b"\t")
    parts = split_worker_id(worker.decode("utf-8", "replace"))
    if not sep or not job or parts is None or parts[0] != name:
        return None
    return Request(worker.decode(), parts[1], job)


class Requests:
    """Supervisor `name`'s stop requests: a BLPOP always under way on a connection of
    its own (`fileno` for the master's selector), its replies read when the socket has
    something (`read`)."""

    def __init__(self, client: Any, keys: Keys, name: str) -> None:
        self.client, self.name = client, name
        self.key = keys.cancels(name)
        self.conn: Any = None  # a redis-py Connection (untyped)
        self.sent_at = 0.0

    def fileno(self) -> int | None:
        sock = getattr(self.conn, "_sock", None) if self.conn is not None else None
        return sock.fileno() if sock is not None else None

    def due_to_connect(self, now: float) -> bool:
        """No BLPOP under way, or the last one went unanswered too long."""
        return self.conn is None or now - self.sent_at > BLOCK_S + SLACK_S

    def listen(self, now: float) -> None:
        """A new connection, and a BLPOP sent on it (see `fileno`). Raises RedisTrouble
        when Redis cannot be reached (the master tries again next turn)."""
        self.close()
        with translated():
            client = self.client
            if isinstance(client, redis.RedisCluster):  # the node of the namespace's slot
                finder: Any = client.get_node_from_key  # (untyped in redis-py)
                client = finder(self.key).redis_connection
            conn = client.connection_pool.make_connection()
            conn.connect()
            conn.send_command("BLPOP", self.key, BLOCK_S)
        self.conn, self.sent_at = conn, now

    def read(self, now: float) -> list[Request]:
        """The request Redis answered with, the next BLPOP sent at once (none when the
        BLPOP timed out). A broken line is closed: `listen` makes a new one."""
        try:
            with translated():
                if not self.conn.can_read(timeout=0):
                    return []  # the socket woke with no reply: over TLS, a session ticket
                reply = self.conn.read_response()
                self.conn.send_command("BLPOP", self.key, BLOCK_S)
            self.sent_at = now
        except RedisTrouble as exc:
            log.warning("stop requests: %s: listening again", exc)
            self.close()
            return []
        if not reply:
            return []
        found = parse(reply[1], self.name)
        if found is None:
            log.warning("ignored a stop request that names no worker of ours: %r", reply[1][:100])
            return []
        return [found]

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, redis.RedisError):
                self.conn.disconnect()
        self.conn = None
