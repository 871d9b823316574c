"""Redis trouble, logged once when it starts and once when it ends, not once a retry."""

from __future__ import annotations

import logging
import time

from .errors import RedisRefused, RedisTrouble


class Outage:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.since: float | None = None
        self.refused = False

    def down(self, exc: RedisTrouble) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.refused = isinstance(exc, RedisRefused)
            what = "Redis refused a command" if self.refused else "Redis unreachable"
            self.log.error("%s (%s): retrying", what, exc)

    def up(self) -> None:
        if self.since is not None:
            again = "Redis works again" if self.refused else "Redis reachable again"
            self.log.info("%s after %.1f s", again, time.monotonic() - self.since)
            self.since = None
