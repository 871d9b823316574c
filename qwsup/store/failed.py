"""The failed jobs (failed:jobs, newest first), for operators: read a page at a time, one
whole, searched by id or error; retried or purged by the bulk scripts (retry.lua,
retry_all.lua, purge.lua, purge_ids.lua), each call bounded in ids and time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT, KeyT

from qwsup.store.keys import ATTEMPTS, FAILED_AT, LAST_ERROR, Keys
from qwsup.store.pages import text
from qwsup.store.scripts import BULK_BATCH, BULK_BUDGET_US, EVENTS_MAX, Scripts, translated

PAGE = 1000  # failed jobs read per round trip: no LRANGE of a whole huge list


@dataclass
class FailedJob:
    id: str
    attempts: int
    error: str
    failed_at: float | None  # unix seconds
    fields: dict[str, str]  # everything in its hash, qwsup's own fields included


@dataclass(frozen=True, slots=True)
class Refused:
    """A failed unique job left failed by a retry: another job that can still run holds
    its name."""

    id: str
    name: str
    holder: str


@dataclass(frozen=True, slots=True)
class Retried:
    moved: int
    refused: list[Refused]  # left in failed:jobs
    missing: list[str]  # ids named that were not failed jobs


class FailedJobs:
    def __init__(
        self,
        client: Any,
        keys: Keys,
        *,
        batch: int = BULK_BATCH,
        budget_us: int = BULK_BUDGET_US,
        events_max: int = EVENTS_MAX,
    ) -> None:
        self.client = client
        self.keys = keys
        self.batch = batch
        self.budget_us = budget_us
        self.scripts = Scripts(client, keys.prefix, events_max)

    def count(self) -> int:
        with translated():
            return int(self.client.llen(self.keys.failed_jobs))

    def ids(self, start: int, count: int) -> list[bytes]:
        """`count` ids of failed:jobs from index `start` (0: the newest)."""
        with translated():
            ids: list[bytes] = self.client.lrange(self.keys.failed_jobs, start, start + count - 1)
        return ids

    def jobs(self, limit: int = 100) -> list[FailedJob]:
        """The newest `limit` failed jobs (0: all of them), read a page at a time."""
        jobs: list[FailedJob] = []
        while not limit or len(jobs) < limit:
            want = PAGE if not limit else min(PAGE, limit - len(jobs))
            ids = self.ids(len(jobs), want)
            with translated(), self.client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(self.keys.job(job_id))
                hashes = pipe.execute() if ids else []
            jobs += [_failed(job_id, fields) for job_id, fields in zip(ids, hashes, strict=True)]
            if len(ids) < want:
                break
        return jobs

    def job(self, job_id: str) -> FailedJob | None:
        """A job that failed for good (its hash has qwsup:failed_at), or None."""
        with translated():
            fields = self.client.hgetall(self.keys.job(job_id))
        return _failed(job_id, fields) if FAILED_AT.encode() in fields else None

    def errors(self, start: int, count: int) -> list[tuple[bytes, str]]:
        """`count` failed jobs from index `start`, each id with its last error: what a
        search looks through."""
        ids = self.ids(start, count)
        with translated(), self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self.keys.job(job_id), LAST_ERROR)
            errors = pipe.execute() if ids else []
        return [(job_id, text(error)) for job_id, error in zip(ids, errors, strict=True)]

    def retry(self, job_ids: list[str] | None) -> Retried:
        """Put failed jobs back at the back of their queue with their attempts reset: the
        named ones, or, with None, every job failed:jobs holds now, oldest first. A unique
        job takes its name again; while a job that can still run holds it, it stays in
        failed:jobs (refused)."""
        if job_ids is None:
            return self._retry_all()
        keys: list[KeyT] = [self.keys.failed_jobs, self.keys.all_jobs]
        moved, refused, missing = 0, list[Refused](), list[str]()
        left = list(job_ids)
        while left:
            batch = left[: self.batch]
            replies = self.scripts.run("retry", keys, [self.budget_us, *batch])
            for job_id, reply in zip(batch, replies, strict=False):
                if isinstance(reply, list):
                    refused.append(Refused(job_id, text(reply[0]), text(reply[1])))
                elif reply:
                    moved += 1
                else:
                    missing.append(job_id)
            left = left[len(replies) :]
        return Retried(moved, refused, missing)

    def _retry_all(self) -> Retried:
        keys: list[KeyT] = [self.keys.failed_jobs, self.keys.all_jobs]
        todo = self.count()
        taken, refused = 0, list[Refused]()
        while taken < todo:
            most = min(self.batch, todo - taken)
            reply = self.scripts.run("retry_all", keys, [most, self.budget_us])
            if not reply[0]:
                break
            taken += int(reply[0])
            for i in range(1, len(reply), 3):
                refused.append(Refused(*(text(part) for part in reply[i : i + 3])))
        return Retried(taken - len(refused), refused, [])

    def purge(self, job_ids: list[str] | None) -> int:
        """Remove failed jobs and their hashes, freeing the unique names they hold: the
        named ones (an id not in failed:jobs is left alone), or, with None, every job
        failed:jobs holds now, oldest first. Returns how many were removed."""
        if job_ids is None:
            return self._purge_all()
        removed, left = 0, list(job_ids)
        while left:
            args: list[EncodableT] = [self.budget_us, *left[: self.batch]]
            done, gone = self.scripts.run("purge_ids", [self.keys.failed_jobs], args)
            removed, left = removed + int(gone), left[int(done) :]
        return removed

    def _purge_all(self) -> int:
        todo = self.count()
        removed = 0
        while removed < todo:
            most = min(self.batch, todo - removed)
            args: list[EncodableT] = [most, self.budget_us]
            batch = int(self.scripts.run("purge", [self.keys.failed_jobs], args))
            if not batch:
                break
            removed += batch
        return removed


def _failed(job_id: bytes | str, fields: dict[Any, Any]) -> FailedJob:
    failed_at = fields.get(FAILED_AT.encode())
    return FailedJob(
        id=text(job_id),
        attempts=int(fields.get(ATTEMPTS.encode(), b"0")),
        error=text(fields.get(LAST_ERROR.encode())),
        failed_at=float(failed_at) if failed_at else None,
        fields={text(k): text(v) for k, v in fields.items()},
    )
