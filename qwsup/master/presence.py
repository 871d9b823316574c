"""What the master shows outside itself: its title in `ps`, and what systemd hears
(READY=1 once every worker of the running generation has booted, at start and after a
reload; the STATUS line; the watchdog ping). Nothing here fails: systemd.py does
nothing where there is no systemd.
"""

from __future__ import annotations

from qwsup import proctitle
from qwsup.master.pool import Pool
from qwsup.systemd import Notifier


class Presence:
    def __init__(self, pool: Pool, notifier: Notifier | None = None) -> None:
        self.pool = pool
        self.notifier = notifier or Notifier()
        self.title = ""
        self.announced = False  # READY=1 sent for the current generation

    def set_title(self) -> None:
        pool = self.pool
        title = proctitle.master_title(pool.config.path, len(pool.procs), pool.state())
        if title != self.title:
            proctitle.set_title(title)
            self.title = title

    def tell_systemd(self, now: float, status: str) -> None:
        pool = self.pool
        if not self.announced and not pool.reload and not pool.stopping:
            current = pool.running()
            if len(current) >= pool.count and all(p.ready for p in current):
                self.notifier.ready(status)
                self.announced = True
        self.notifier.status(status)
        self.notifier.watchdog(now)

    def reloading(self) -> None:
        self.notifier.reloading()
        self.announced = False  # READY=1 again once the reload is over, whichever way

    def stopping(self) -> None:
        self.notifier.stopping()
