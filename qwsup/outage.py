"""Redis trouble, logged once when it starts and once when it ends, not once a retry.

A trouble starts with the first command that fails, and ends only once every kind
of command that failed meanwhile has worked again (and none has failed for
QUIET_S): while Redis refuses writes (out of memory), reads go on working, and that
is still one trouble, not one per read. The caller names each kind of command
("heartbeat", "take", ...) and passes the time, so the rule is tested with a fake
clock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import RedisRefused, RedisTrouble

QUIET_S = 1.0  # no failure for this long before a trouble is over


class Outage:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.since: float | None = None  # when the trouble started; None: no trouble
        self.refused = False  # an error reply (not an unreachable server) started it
        self.failing: set[str] = set()  # the kinds of command that failed and not worked since
        self.last_failure = 0.0

    def down(self, exc: RedisTrouble, what: str, now: float) -> None:
        """A command of kind `what` failed at `now`."""
        self.failing.add(what)
        self.last_failure = now
        if self.since is None:
            self.since = now
            self.refused = isinstance(exc, RedisRefused)
            trouble = "Redis refused a command" if self.refused else "Redis unreachable"
            self.log.error("%s (%s): retrying", trouble, exc)

    def up(self, what: str, now: float) -> None:
        """A command of kind `what` worked at `now`."""
        self.failing.discard(what)
        if self.since is None or self.failing or now - self.last_failure < QUIET_S:
            return
        again = "Redis works again" if self.refused else "Redis reachable again"
        self.log.info("%s after %.1f s", again, now - self.since)
        self.since = None

    @contextlib.contextmanager
    def guard(self, what: str, clock: Callable[[], float] = time.monotonic) -> Iterator[Attempt]:
        """Run the block as a command of kind `what`: a RedisTrouble it raises is recorded
        (and not raised on); the attempt says whether it failed.

            with outage.guard("promote") as attempt:
                queue.promote()
            if attempt.failed: ...
        """
        attempt = Attempt()
        try:
            yield attempt
        except RedisTrouble as exc:
            attempt.failed = True
            self.down(exc, what, clock())
        else:
            self.up(what, clock())


@dataclass
class Attempt:
    failed: bool = False
