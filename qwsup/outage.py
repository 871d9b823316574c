"""Redis trouble, logged once when it starts and once when it ends, not once a retry.

A trouble starts with the first command that fails, and ends only once every kind
of command that failed meanwhile has worked again (and none has failed for
QUIET_S): while Redis refuses writes (out of memory), reads go on working, and that
is still one trouble, not one per read. The caller names each kind of command
("heartbeat", "take", ...) and passes the time, so the rule is tested with a fake
clock.

`Outage.guard` runs a command that a loop tries again at its next turn (the master's
way): a failure is recorded, not raised. `Retrying` is the one "retry until Redis is
reachable" loop (the worker's way): it pauses between tries (doubling, with jitter, up
to RETRY_MAX_S) and keeps an Outage for the log lines. The clock, the pause and the
jitter are passed in, so both are tested without waiting.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from qwsup.errors import RedisRefused, RedisTrouble

T = TypeVar("T")

QUIET_S = 1.0  # no failure for this long before a trouble is over
RETRY_MIN_S = 0.05  # the first pause after a failure
RETRY_MAX_S = 5.0  # longest pause between two tries while Redis is unreachable


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


class Retrying:
    """Tries commands until Redis answers: after each failure a pause twice the last
    (RETRY_MIN_S first, at most `max_s`), times a jitter in [0.5, 1); the first success
    resets it. Not thread-safe: one per thread that retries."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.0),
        max_s: float = RETRY_MAX_S,
    ) -> None:
        self.outage = Outage(log)
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.max_s = max_s
        self.pause_s = 0.0  # the last pause; 0 once a command worked

    def failed(self, exc: RedisTrouble, what: str) -> None:
        """A command of kind `what` failed: logged (once per trouble), then a pause."""
        self.outage.down(exc, what, self.clock())
        self.pause_s = min(max(self.pause_s * 2, RETRY_MIN_S), self.max_s)
        self.sleep(self.pause_s * self.jitter())

    def worked(self, what: str) -> None:
        self.outage.up(what, self.clock())
        self.pause_s = 0.0

    def until_reachable(self, call: Callable[[], T], what: str) -> T:
        """`call()`'s result, tried again after each RedisTrouble until it works."""
        while True:
            try:
                result = call()
            except RedisTrouble as exc:
                self.failed(exc, what)
                continue
            self.worked(what)
            return result
