"""A worker's own line to Redis: jobs taken in batches, acknowledgements sent without
waiting for their replies, but when they ask whether a held job may start (go_on).

Everything goes over one connection, so Redis runs the commands in the order they
were sent: an acknowledgement is always done before the next take (which would
otherwise hand the finished job out again) and before the worker puts its list back.
A reply is read when the worker next needs an answer (a take, a wait, a held job's
start, leaving). What the acknowledgements came to is kept for the worker to count.

When the line breaks (Redis unreachable, or a signal that stops the worker in the
middle of a read), the acknowledgements whose replies were not read are sent again
before anything else; ack.lua tells an acknowledgement that had already been done
(-1) from a job that was requeued meanwhile (0). When Redis has lost the scripts
(SCRIPT FLUSH, a restart), they are loaded again and what they refused is redone.

A job's writes (qwsup.pipeline() in its handler) go inside its ack.lua, which applies
them only when it finishes the job: an acknowledgement sent again keeps its writes,
and applies them only if the first did not. Its result goes with the acknowledgement
too (ack.lua or take.lua), and is sent again with it.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

from qwsup.errors import ConnectionLost, RedisRefused
from qwsup.limits import Limits
from qwsup.store.commands import Command, Commands
from qwsup.store.jobs import Result
from qwsup.store.keys import ALL, Keys
from qwsup.store.records import NO_ANSWERS, NOTHING, Acked, Answered, Taken, Words, acked, taken
from qwsup.store.scripts import EVENTS_MAX, Scripts, moved, no_such_command, translated, translation

WAKE_TICK_S = 0.25  # how often a waiting worker looks at its master's board and parent


WOKEN = Taken(finished=False, fenced=False, jobs=[], woken=True)


class Kind(enum.Enum):
    """What a command sent and not yet answered was."""

    ACK = "ack"  # ack.lua: finish a job
    TAKE = "take"  # take.lua: finish a job (or none) and take the next
    WAIT = "wait"  # BLMOVE (BRPOPLPUSH before Redis 6.2): block on one queue


ACK, TAKE, WAIT = Kind.ACK, Kind.TAKE, Kind.WAIT
WAIT_SLACK_S = 10.0  # a wait not answered this long after its timeout: the line is lost


class _Woken(Exception):
    """A wait ended early by the worker (its `wake`): the line is dropped, no error."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A command whose reply has not been read yet."""

    kind: Kind
    job_id: bytes = b""  # the job it acknowledges (ACK, or TAKE finishing one), or b""
    want: int = 0  # TAKE: the most jobs asked for
    known: int = 0  # TAKE: the ids of the worker's list in hand, skipped


class Feed:
    """The line of worker `worker` of supervisor `name`: it takes from `queues` (in
    priority order) jobs of at most `max_job_bytes` (0: no limit), and waits on
    `blocks_on`. `client` is what its connection is made from (never used for jobs)."""

    def __init__(
        self,
        client: Any,  # a Redis, or a RedisCluster standing in for one
        keys: Keys,
        worker: str,
        name: str,
        queues: tuple[str, ...] = (ALL,),
        max_job_bytes: int = 0,
        blocks_on: str = ALL,
        keep_ms: int = 0,
        events_max: int = EVENTS_MAX,
        limits: tuple[Limits, ...] = (),
        traced: bool = False,
        starts: int = 1,
    ) -> None:
        """`traced`: each job taken also brings its attempts and queue (for the span of
        its attempt, tracing.py); `starts`: how many jobs it starts at once (its slots)."""
        self.client = client
        self.keys = keys
        self.scripts = Scripts(client, keys.prefix, events_max)
        self.commands = Commands(
            keys, self.scripts, worker, name, queues, max_job_bytes, limits, traced, starts
        )
        self.blocks_on = blocks_on  # the queue it waits on
        self.waited_on = blocks_on  # the queue of its last wait (where its ids came from)
        self.keep_ms = keep_ms  # how long a finished job is kept (workers.keep_finished)
        self.blmove = True  # until the server says it has no BLMOVE (before Redis 6.2)
        self.token = ""  # of the master's hold on the name, sent with every take
        self.conn: Any = None  # a redis-py Connection (untyped), made on the first send
        self.sent: list[Sent] = []  # in the order sent
        self.unsure: list[bytes] = []  # acknowledged when the line broke: to send again
        self.acked: list[tuple[bytes, bool]] = []  # (job id, whether it was still ours)
        self.may_start = False  # whether the last held job asked about (go_on) may start
        # around a send or a read: a failure that breaks the line (not an error reply)
        # leaves the replies due unknown: their acknowledgements become unsure, and the
        # connection is dropped (redis-py reconnects on the next send)
        self.line = _Line(self)
        # the writes and results of the acknowledgements not yet answered, to send again
        self.ends: dict[bytes, tuple[tuple[Words, ...], Result | None]] = {}
        # the writes that failed, of the jobs acknowledged: (job id, [(n, error), ...])
        self.failed_writes: list[tuple[bytes, list[tuple[int, str]]]] = []

    # -- what the worker calls --------------------------------------------------

    def finish(
        self, job_id: bytes, writes: tuple[Words, ...] = (), result: Result | None = None
    ) -> None:
        """Acknowledge a job without waiting; `writes` and `result` are its own."""
        self._send([self._ack(job_id, b"", writes, result)])

    def go_on(
        self, job_id: bytes, next_id: bytes, writes: tuple[Words, ...] = (),
        result: Result | None = None,
    ) -> bool:  # fmt: skip
        """Acknowledge a job (b"": none) and ask whether the held job `next_id` may
        start, in one ack.lua whose reply is awaited: False when that job was cancelled
        while held (it ended cancelled, and left the worker's list); else its start is
        stamped."""
        self.may_start = False
        self._send([self._ack(job_id, next_id, writes, result)])
        self._read()
        return self.may_start

    def take(
        self,
        finished: bytes,
        want: int,
        writes: tuple[Words, ...] = (),
        result: Result | None = None,
        *,
        known: int = 0,
    ) -> Taken:
        """Acknowledge `finished` (when not b"", with its `writes` and `result`) and take
        at most `want` jobs beyond the `known` ones of the worker's list that it has in
        hand (running or held: a worker running several jobs at once)."""
        if writes:  # the writes ride in ack.lua, sent with the take
            ack = self._ack(finished, b"", writes, result)
            self._send([ack, self._take_command(b"", want, known=known)])
        else:
            if result is not None:
                self.ends[finished] = ((), result)
            self._send([self._take_command(finished, want, result, known=known)])
        return self._read()

    def wait(
        self,
        block_s: float,
        want: int,
        queue: str,
        wake: Callable[[], bool] = lambda: False,
        tick_s: float = WAKE_TICK_S,
        *,
        known: int = 0,
    ) -> Taken:
        """Block on the queue named `queue` for at most `block_s`, then take (from every
        queue, in order): two commands sent at once, so that a job pushed while the
        worker waits starts after one round trip. Meanwhile, every `tick_s`, `wake()`
        (no Redis: the worker's master and parent) may end the wait early: the line is
        dropped (what the BLMOVE may have moved meanwhile stays in the worker's own
        list, taken first next time) and no job is returned (`woken`). A wait that no
        reply ends within `block_s` and the socket timeout is a lost line."""
        self.waited_on = queue
        command = self.commands.wait(block_s, queue, self.blmove)
        self._send([(Sent(WAIT), command), self._take_command(b"", want, known=known)])
        deadline = time.monotonic() + block_s + WAIT_SLACK_S
        try:
            with self.line:  # (_Woken breaks the line, as any failure would)
                while not self.conn.can_read(timeout=tick_s):
                    if time.monotonic() > deadline:
                        raise redis.TimeoutError(f"no reply to a {block_s} s wait")
                    if wake():
                        raise _Woken
        except _Woken:
            return WOKEN
        return self._read()

    def settle(self) -> None:
        """Read every reply due, and resend what a broken line left unsure."""
        self._resend_unsure()
        self._read()

    def answered(self) -> Answered:
        """The acknowledgements Redis has replied to since the last call, and the writes
        of theirs that failed (each handed out once)."""
        if not self.acked and not self.failed_writes:
            return NO_ANSWERS  # (on every job's path: no object made)
        answered, self.acked, self.failed_writes = Answered(self.acked, self.failed_writes), [], []
        return answered

    def close(self) -> None:
        if self.conn is not None:
            self.conn.disconnect()

    def _connect(self) -> Any:
        """A connection of our own: to the server, or on a cluster to the node that
        serves the namespace's slot (looked up again after every break: a failover
        moves it)."""
        client = self.client
        if isinstance(client, redis.RedisCluster):
            finder: Any = client.get_node_from_key  # untyped in redis-py
            with translated():
                node = finder(self.keys.all_jobs)
            return node.redis_connection.connection_pool.make_connection()
        return client.connection_pool.make_connection()

    # -- the commands -------------------------------------------------------------

    def _take_command(
        self, finished: bytes, want: int, result: Result | None = None, *, known: int = 0
    ) -> tuple[Sent, Command]:
        command = self.commands.take(
            finished, want, result,
            known=known, token=self.token, waited_on=self.waited_on, keep_ms=self.keep_ms,
        )  # fmt: skip
        return Sent(TAKE, finished, want, known), command

    def _ack(
        self,
        job_id: bytes,
        next_id: bytes,
        writes: tuple[Words, ...],
        result: Result | None,
    ) -> tuple[Sent, Command]:
        if job_id and (writes or result is not None):
            self.ends[job_id] = (writes, result)  # until its reply is read
        command = self.commands.ack(job_id, next_id, writes, result, self.keep_ms)
        return Sent(ACK, job_id), command

    # -- sending and reading ----------------------------------------------------

    def _send(self, commands: list[tuple[Sent, Command]]) -> None:
        try:
            self._resend_unsure()
            if self.conn is None:
                self.conn = self._connect()
        except BaseException:  # not sent: what they acknowledge is sent again later
            self.unsure += [sent.job_id for sent, _ in commands if sent.job_id]
            raise
        # hiredis's packer itself: redis-py's wrapper around it costs more than it does
        pack: Any = hiredis.pack_command  # (its stub types the tuple as of one item)
        packed = [b"".join([pack(command) for _, command in commands])]
        self.sent += [sent for sent, _ in commands]  # before sending: a broken send is unsure
        fresh = len(self.sent) == len(commands)  # no reply due from before on this line
        with self.line:
            try:
                self.conn.send_packed_command(packed)
            except redis.ConnectionError:
                if not fresh:
                    raise
                # the server closed the connection while it was idle (a restart): once more
                self.conn.send_packed_command(packed)

    def _read(self) -> Taken:
        """Read the replies due; what the last take among them did (NOTHING: none)."""
        took = NOTHING
        redo: list[Sent] = []  # refused because the server had lost the scripts
        refused: redis.ResponseError | None = None
        with self.line:
            while self.sent:
                sent = self.sent[0]
                try:
                    reply = self.conn.read_response()
                except redis.ResponseError as exc:
                    self.sent.pop(0)
                    if isinstance(exc, redis.exceptions.NoScriptError):
                        redo.append(sent)
                    elif sent.kind == WAIT and self.blmove and no_such_command(exc):
                        self.blmove = False  # before Redis 6.2: BRPOPLPUSH from now on
                    else:  # not done: a key of another type, a cluster that moved (MOVED)
                        refused = refused or exc
                        if sent.job_id:
                            self.unsure.append(sent.job_id)
                    continue
                self.sent.pop(0)
                took = self._reply(sent, reply, took)
        if redo:
            took = self._redo(redo)
        if refused is not None and moved(refused):
            self._drop()
            raise ConnectionLost(f"the cluster moved the namespace's slot ({refused})")
        if refused is not None:
            raise RedisRefused(str(refused))
        return took

    def _reply(self, sent: Sent, reply: Any, took: Taken) -> Taken:
        if sent.kind == ACK:
            answer = self._acked(sent.job_id, reply)
            if sent.job_id:
                self.acked.append((sent.job_id, answer.finished == 1))
            self.may_start = answer.starts  # (go_on's is the last read)
        elif sent.kind == TAKE:
            took = taken(reply)
            if sent.job_id:
                self.ends.pop(sent.job_id, None)
                self.acked.append((sent.job_id, took.finished))
        return took

    def _redo(self, redo: list[Sent]) -> Taken:
        """Load the scripts again and redo what they refused: acknowledgements first, then
        a fresh take (one that ran before a refused acknowledgement may have handed out
        the job that acknowledgement was finishing)."""
        self.scripts.load("take", "ack")
        self.unsure += [sent.job_id for sent in redo if sent.job_id]
        self._resend_unsure(again=False)
        wants = [sent for sent in redo if sent.kind == TAKE]
        return self.take(b"", wants[-1].want, known=wants[-1].known) if wants else NOTHING

    def _resend_unsure(self, *, again: bool = True) -> None:
        """Acknowledge again, one at a time, what the line left unsure. Sent `again`, a
        job found finished already (-1) counts as ours."""
        while self.unsure:
            if self.conn is None:
                self.conn = self._connect()
            job_id = self.unsure[0]
            with self.line:
                writes, result = self.ends.get(job_id, ((), None))
                command = self.commands.ack(job_id, b"", writes, result, self.keep_ms)
                self.conn.send_command(*command)
                try:
                    answer = self._acked(job_id, self.conn.read_response()).finished
                except redis.exceptions.NoScriptError:
                    self.scripts.load("ack")
                    continue
                except redis.ResponseError as exc:
                    if moved(exc):  # this node no longer serves the slot: find the one that does
                        raise ConnectionLost(f"the cluster moved the slot ({exc})") from None
                    raise
            self.unsure.pop(0)
            self.acked.append((job_id, answer == 1 or (again and answer == -1)))

    def _acked(self, job_id: bytes, reply: Any) -> Acked:
        """What ack.lua's reply says; the job's writes and result are done with."""
        self.ends.pop(job_id, None)
        answer = acked(reply)
        if answer.failed_writes:
            self.failed_writes.append((job_id, answer.failed_writes))
        return answer

    def _broken(self) -> None:
        self.unsure += [sent.job_id for sent in self.sent if sent.job_id]
        self.sent.clear()
        self._drop()

    def _drop(self) -> None:
        """Let the connection go; the next send makes a new one (on a cluster, to the
        node that serves the slot by then, the cluster's layout read again)."""
        if self.conn is not None:
            self.conn.disconnect()
        if isinstance(self.client, redis.RedisCluster):
            self.conn = None
            with contextlib.suppress(redis.RedisError):
                self.client.nodes_manager.initialize()


class _Line:
    """Feed.line's context manager (a class, not a generator: it is on every job's
    path): redis-py's errors translated (scripts.translation); a failure other than an
    error reply breaks the line."""

    __slots__ = ("feed",)

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if not isinstance(translation(exc), RedisRefused):
            self.feed._broken()
        translated().__exit__(kind, exc, tb)  # raises the translation, if any
