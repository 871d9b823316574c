"""What the job path makes of Redis's replies (pure, but for the log lines): the jobs a
take dropped, what fail.lua's answer means, and the acknowledgements answered.
"""

from __future__ import annotations

import logging

from qwsup import proctitle
from qwsup.scoreboard import bucket
from qwsup.store.records import CANCELLED, EMPTY, Answered, Job
from qwsup.worker.runner import Outcome

log = logging.getLogger(__name__)


def shown(job_id: bytes) -> str:
    return proctitle.printable(job_id.decode("utf-8", "backslashreplace"))


def dropped(jobs: list[Job]) -> list[Job]:
    """A take's jobs but those take.lua dropped: an empty id, a cancelled job."""
    if any(job.kind == EMPTY for job in jobs):
        log.error("dropped an empty job id taken from a queue: no job can have it")
    for job in jobs:
        if job.kind == CANCELLED:
            log.info("job %s was cancelled: dropped, not run", shown(job.id))
    return [job for job in jobs if job.kind not in (EMPTY, CANCELLED)]


def failed(job_id: bytes, error: str, result: int, max_attempts: int) -> Outcome:
    """What fail.lua's `result` means: the attempt it was (a retry), 0 (failed for
    good), -1 (requeued meanwhile: lost), -2 (it was cancelled)."""
    job = shown(job_id)
    if result == -2:
        log.info("job %s cancelled", job)
        return Outcome.CANCELLED
    if result < 0:
        log.warning("job %s failed (%s), but it had been requeued meanwhile", job, error)
        return Outcome.LOST
    if result == 0:
        log.error("job %s failed for good, moved to failed:jobs: %s", job, error)
        return Outcome.FAILED
    log.warning("job %s failed (attempt %d of %d): %s", job, result, max_attempts, error)
    return Outcome.RETRY


def acknowledged(answered: Answered, finishing: dict[bytes, float]) -> list[tuple[str, float, int]]:
    """The scoreboard's counts of the acknowledgements Redis answered (DONE, or LOST
    when the job had been requeued meanwhile), each with its run's seconds, taken from
    `finishing`; the writes that failed are logged."""
    ended = []
    debug = log.isEnabledFor(logging.DEBUG)
    for job_id, owned in answered.acked:
        seconds = finishing.pop(job_id, 0.0)
        if owned:
            outcome = Outcome.DONE
            if debug:
                log.debug("job %s done", shown(job_id))
        else:
            outcome = Outcome.LOST
            log.warning(
                "job %s finished, but it had been requeued meanwhile: it may run again",
                shown(job_id),
            )
        ended.append((outcome.value, seconds, bucket(seconds)))
    for job_id, failures in answered.failed_writes:
        for n, error in failures:
            log.error("job %s done, but its write %d failed: %s", shown(job_id), n, error)
    return ended
