"""When to start a worker again after workers died while booting: exponential backoff."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RestartBackoff:
    """Pure: fed the boot outcomes and the current time, it says when a spawn may happen.

    Each worker that dies before it is ready doubles the pause before the next spawn
    (first `base_s`, at most `cap_s`); a worker that boots resets it.
    """

    base_s: float = 0.1
    cap_s: float = 30.0
    failures: int = 0
    not_before: float = 0.0

    def boot_failed(self, now: float) -> float:
        """Record a failed boot; returns the pause before the next spawn."""
        self.failures += 1
        delay = min(self.base_s * 2.0 ** (self.failures - 1), self.cap_s)
        self.not_before = now + delay
        return delay

    def booted(self) -> None:
        self.failures = 0
        self.not_before = 0.0

    def may_spawn(self, now: float) -> bool:
        return now >= self.not_before
