"""A worker's own line to Redis: jobs taken in batches, acknowledgements sent without
waiting for their replies.

Everything goes over one connection, so Redis runs the commands in the order they
were sent: an acknowledgement is always done before the next take (which would
otherwise hand the finished job out again) and before the worker puts its list back.
A reply is read when the worker next needs an answer: when it takes jobs, waits for
one, or settles before leaving. What the acknowledgements came to is kept in
`acked` for the worker to count.

When the line breaks (Redis unreachable, or a signal that stops the worker in the
middle of a read), the acknowledgements whose replies were not read are sent again
before anything else; ack.lua tells an acknowledgement that had already been done
(-1) from a job that was requeued meanwhile (0). When Redis has lost the scripts
(SCRIPT FLUSH, a restart), they are loaded again and what they refused is redone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis.typing import EncodableT

from .errors import ConnectionLost, RedisRefused
from .keys import ALL
from .queue import Job, Queue, no_such_command, taken, translated

ACK, TAKE, WAIT = "ack", "take", "wait"


def moved(exc: redis.ResponseError) -> bool:
    """An error reply that means the line leads to the wrong server since a failover: a
    cluster whose layout changed, or a primary demoted to a replica (READONLY: a
    managed Redis whose DNS name moved to the new primary)."""
    return str(exc).split(" ", 1)[0] in ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY")


@dataclass(frozen=True, slots=True)
class Sent:
    """A command whose reply has not been read yet."""

    kind: str  # ACK, TAKE or WAIT
    job_id: bytes = b""  # the job it acknowledges (ACK, or TAKE finishing one), or b""
    want: int = 0  # TAKE: the most jobs asked for


class Feed:
    def __init__(self, queue: Queue, worker: str, host: str, blocks_on: str = ALL) -> None:
        self.queue = queue
        self.worker = worker
        self.host = host
        self.blocks_on = blocks_on  # the queue it waits on
        self.token = ""  # of the master's hold on the name, sent with every take
        self.fenced = False  # the last take was refused: the token is not the name's
        self.conn: Any = None  # a redis-py Connection (untyped), made on the first send
        self.sent: list[Sent] = []  # in the order sent
        self.unsure: list[bytes] = []  # acknowledged when the line broke: to send again
        self.acked: list[tuple[bytes, bool]] = []  # (job id, whether it was still ours)
        self._take = queue.script("take")
        self._ack = queue.script("ack")

    # -- what the worker calls --------------------------------------------------

    def finish(self, job_id: bytes, next_id: bytes) -> None:
        """Acknowledge a job without waiting; `next_id` is the prefetched job the worker
        starts now (stamped as started)."""
        keys, args = self.queue.ack_call(self.worker, job_id, next_id)
        self._send([(Sent(ACK, job_id), ("EVALSHA", self._ack.sha, len(keys), *keys, *args))])

    def take(self, finished: bytes, want: int) -> list[Job]:
        """Acknowledge `finished` (when not b"") and take at most `want` jobs."""
        self._send([self._take_command(finished, want)])
        return self._read()

    def wait(self, block_s: int, want: int, queue: str) -> list[Job]:
        """Block on the queue named `queue` for at most `block_s`, then take (from every
        queue, in order): two commands sent at once, so that a job pushed while the
        worker waits starts after one round trip."""
        command = self.queue.wait_call(self.worker, block_s, queue)
        self._send([(Sent(WAIT), command), self._take_command(b"", want)])
        return self._read()

    def settle(self) -> None:
        """Read every reply due, and resend what a broken line left unsure."""
        self._resend_unsure()
        self._read()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.disconnect()

    def _connect(self) -> Any:
        """A connection of our own: to the server, or on a cluster to the node that
        serves the namespace's slot (looked up again after every break: a failover
        moves it)."""
        client: Any = self.queue.client  # a Redis, or a RedisCluster standing in for one
        if isinstance(client, redis.RedisCluster):
            finder: Any = client.get_node_from_key  # untyped in redis-py
            with translated():
                node = finder(self.queue.keys.all_jobs)
            return node.redis_connection.connection_pool.make_connection()
        return client.connection_pool.make_connection()

    # -- sending and reading ----------------------------------------------------

    def _take_command(self, finished: bytes, want: int) -> tuple[Sent, tuple[EncodableT, ...]]:
        keys, args = self.queue.take_call(
            self.worker, self.host, finished, want, self.token, self.blocks_on
        )
        return Sent(TAKE, finished, want), ("EVALSHA", self._take.sha, len(keys), *keys, *args)

    def _send(self, commands: list[tuple[Sent, tuple[EncodableT, ...]]]) -> None:
        self._resend_unsure()
        self.sent += [sent for sent, _ in commands]  # before sending: a broken send is unsure
        if self.conn is None:
            self.conn = self._connect()
        packed = self.conn.pack_commands([c for _, c in commands])
        fresh = len(self.sent) == len(commands)  # no reply due from before on this line
        with self._line():
            try:
                self.conn.send_packed_command(packed)
            except redis.ConnectionError:
                if not fresh:
                    raise
                # the server closed the connection while it was idle (a restart): once more
                self.conn.send_packed_command(packed)

    def _read(self) -> list[Job]:
        """Read the replies due; the jobs of the last take among them."""
        jobs: list[Job] = []
        redo: list[Sent] = []  # refused because the server had lost the scripts
        refused: redis.ResponseError | None = None
        with self._line():
            while self.sent:
                sent = self.sent[0]
                try:
                    reply = self.conn.read_response()
                except redis.ResponseError as exc:
                    self.sent.pop(0)
                    if isinstance(exc, redis.exceptions.NoScriptError):
                        redo.append(sent)
                    elif sent.kind == WAIT and self.queue.blmove and no_such_command(exc):
                        self.queue.blmove = False  # before Redis 6.2: BRPOPLPUSH from now on
                    else:  # not done: a key of another type, a cluster that moved (MOVED)
                        refused = refused or exc
                        if sent.job_id:
                            self.unsure.append(sent.job_id)
                    continue
                self.sent.pop(0)
                jobs = self._reply(sent, reply, jobs)
        if redo:
            jobs = self._redo(redo)
        if refused is not None and moved(refused):
            self._drop()
            raise ConnectionLost(f"the cluster moved the namespace's slot ({refused})")
        if refused is not None:
            raise RedisRefused(str(refused))
        return jobs

    def _reply(self, sent: Sent, reply: Any, jobs: list[Job]) -> list[Job]:
        if sent.kind == ACK:
            self.acked.append((sent.job_id, int(reply) == 1))
        elif sent.kind == TAKE:
            took = taken(reply)
            self.fenced, jobs = took.fenced, took.jobs
            if sent.job_id:
                self.acked.append((sent.job_id, took.finished))
        return jobs

    def _redo(self, redo: list[Sent]) -> list[Job]:
        """Load the scripts again and redo what they refused: acknowledgements first, then
        a fresh take (one that ran before a refused acknowledgement may have handed out
        the job that acknowledgement was finishing)."""
        with translated():
            for script in (self._take, self._ack):
                self.queue.client.script_load(script.script)
        self.unsure += [sent.job_id for sent in redo if sent.job_id]
        self._resend_unsure(again=False)
        wants = [sent.want for sent in redo if sent.kind == TAKE]
        return self.take(b"", wants[-1]) if wants else []

    def _resend_unsure(self, *, again: bool = True) -> None:
        """Acknowledge again, one at a time, what the line left unsure. Sent `again`, a
        job found finished already (-1) counts as ours."""
        while self.unsure:
            if self.conn is None:
                self.conn = self._connect()
            job_id = self.unsure[0]
            keys, args = self.queue.ack_call(self.worker, job_id, b"")
            with self._line():
                self.conn.send_command("EVALSHA", self._ack.sha, len(keys), *keys, *args)
                try:
                    result = int(self.conn.read_response())
                except redis.exceptions.NoScriptError:
                    self.queue.client.script_load(self._ack.script)
                    continue
                except redis.ResponseError as exc:
                    if moved(exc):  # this node no longer serves the slot: find the one that does
                        raise ConnectionLost(f"the cluster moved the slot ({exc})") from None
                    raise
            self.unsure.pop(0)
            self.acked.append((job_id, result == 1 or (again and result == -1)))

    @contextlib.contextmanager
    def _line(self) -> Iterator[None]:
        """Around a send or a read: a failure that breaks the line (not an error reply)
        leaves the replies due unknown: their acknowledgements become unsure, and the
        connection is dropped (redis-py reconnects on the next send)."""
        try:
            with translated():
                yield
        except BaseException as exc:
            if not isinstance(exc, RedisRefused):
                self.unsure += [sent.job_id for sent in self.sent if sent.job_id]
                self.sent.clear()
                self._drop()
            raise

    def _drop(self) -> None:
        """Let the connection go; the next send makes a new one (on a cluster, to the
        node that serves the slot by then, the cluster's layout read again)."""
        if self.conn is not None:
            self.conn.disconnect()
        client: Any = self.queue.client
        if isinstance(client, redis.RedisCluster):
            self.conn = None
            with contextlib.suppress(redis.RedisError):
                client.nodes_manager.initialize()
