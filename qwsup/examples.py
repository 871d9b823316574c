"""Example handlers, for trying qwsup out."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def log_job(job_id: str, data: dict[str, str]) -> None:
    """Log the job: `qwsup -c conf/workers.toml enqueue greeting=hello` shows it go through."""
    log.info("job %s: %s", job_id, data)
