"""Periodic duties on the monotonic clock: the master's memory checks, sweeps,
renewals and watches each keep one `Every`."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Every:
    """Due at once, then every `interval_s` after the time it was last found due."""

    interval_s: float
    at: float = -math.inf  # when it is due next

    def due(self, now: float) -> bool:
        """Whether it is due at `now`; if so, the next time is set from `now`."""
        if now < self.at:
            return False
        self.restart(now)
        return True

    def restart(self, now: float) -> None:
        """Due again one interval after `now`."""
        self.at = now + self.interval_s
