"""A producer's side of the protocol in Redis: enqueue.lua for each job (a batch in one
pipeline), a job's hash, the wait for its end (wait.lua, then a BLMOVE onto its
ended:<id> list), and cancel.lua and cancel_queue.lua.
"""

from __future__ import annotations

from typing import Any

from redis.typing import EncodableT, KeyT

from qwsup.store.namespace import Namespace
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, translated

WAIT_BLOCK_S = 30.0  # the longest block of a wait before it looks at the job again
TOMBSTONE_MS = 86_400_000  # a cancelled job whose id was not found on its queue: kept a day


class ProducerStore(Namespace):
    def enqueue_each(
        self,
        jobs: list[tuple[str, dict[str, str]]],
        queue: str,
        *,
        at_ms: int | None = None,
        delay_ms: int | None = None,
        unique: str = "",
    ) -> list[tuple[bool, str]]:
        """Enqueue each job with enqueue.lua (atomic per job, the batch in one pipeline):
        pushed on the queue named `queue` ("all", or a supervisor's name), or put in
        delayed:jobs, due at `at_ms` (unix ms) or `delay_ms` from now on the Redis
        server's clock; a `unique` job only while no other job holds that name. Returns
        per job (whether it was enqueued, its id or that of the job holding the name)."""
        when = ["" if at_ms is None else at_ms, "" if delay_ms is None else delay_ms]
        with translated(), self.scripts.pipeline() as pipe:
            for job_id, fields in jobs:
                keys: list[KeyT] = [
                    self.keys.job(job_id), self.keys.delayed_jobs, self.keys.queue_jobs(queue),
                    self.keys.unique(unique),  # "unique:" when none: a key the ACL allows
                    self.keys.finished_jobs,
                ]  # fmt: skip
                args: list[EncodableT] = [job_id, *when, queue, unique]
                for name, value in fields.items():
                    args += [name, value]
                self.scripts.run("enqueue", keys, args, pipe=pipe)
            replies = pipe.execute()
        return [(bool(ok), holder.decode(errors="replace")) for ok, holder in replies]

    def fields(self, job_id: str) -> dict[bytes, bytes]:
        """Job `job_id`'s hash ({} when there is none)."""
        with translated():
            raw: dict[bytes, bytes] = self.client.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        return raw

    def look_at_end(self, job_id: str) -> tuple[dict[bytes, bytes], bytes | None]:
        """wait.lua: the job's hash, and the state its end told its waiters (when it is
        gone already: finished jobs not kept); it marks the job waited for."""
        with translated():
            flat, told = self.scripts.run(
                "wait", [self.keys.job(job_id), self.keys.ended(job_id)], []
            )
        return dict(zip(flat[::2], flat[1::2], strict=True)), told or None

    def block_on_end(self, job_id: str, seconds: float) -> None:
        """Block until the job's end is told (or `seconds` pass): onto itself, so that
        every waiter sees the one element."""
        ended = self.keys.ended(job_id)
        command: Any = self.client.execute_command  # (untyped in redis-py)
        with translated():
            command("BLMOVE", ended, ended, "RIGHT", "LEFT", round(max(seconds, 0.01), 3))

    def longest_block(self) -> float:
        """The longest a wait blocks in one command: WAIT_BLOCK_S, or less than the
        client's socket timeout (a reply later than that would be taken for a lost
        connection)."""
        kwargs = self.client.connection_pool.connection_kwargs
        socket_timeout = kwargs.get("socket_timeout")
        if not socket_timeout:
            return WAIT_BLOCK_S
        return max(0.1, min(WAIT_BLOCK_S, float(socket_timeout) * 0.8))

    def cancel(self, job_id: str) -> tuple[str, str, str]:
        """cancel.lua: what it did ("unknown" for no such job), the job's state, and the
        worker asked to stop it ("" for none)."""
        keys: list[KeyT] = [
            self.keys.job(job_id), self.keys.all_jobs, self.keys.delayed_jobs,
            self.keys.finished_jobs,
        ]  # fmt: skip
        args: list[EncodableT] = [job_id, self.keep_ms, max(self.keep_ms, TOMBSTONE_MS)]
        with translated():
            what, state, worker = self.scripts.run("cancel", keys, args)
        return what.decode(), state.decode(), worker.decode()

    def cancel_queue(self, queue: str) -> int:
        """Cancel every job waiting on the queue named `queue` now, in bounded calls
        (cancel_queue.lua); jobs pushed meanwhile are left alone. How many were
        cancelled."""
        key = self.keys.queue_jobs(queue)
        with translated():
            total = int(self.client.llen(key))
        taken = cancelled = 0
        while taken < total:
            batch = min(BULK_BATCH, total - taken)
            args: list[EncodableT] = [self.keep_ms, batch, BULK_BUDGET_US]
            with translated():
                got, ended = self.scripts.run("cancel_queue", [key, self.keys.finished_jobs], args)
            if not got:
                break
            taken, cancelled = taken + int(got), cancelled + int(ended)
        return cancelled
