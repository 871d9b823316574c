"""Where this master runs, so that a holder of a supervisor's name can be judged.

A pid says something only inside its pid namespace, on one boot of one kernel. So a
master records, with its pid, the kernel's boot id (/proc/sys/kernel/random/boot_id:
random at every boot, the same for every container on that kernel) and the inode of
its pid namespace (/proc/self/ns/pid: one per container). /etc/machine-id is not
used: containers from one image, and cloned VMs, share it. Two masters are in the same
place when both match; only then can one tell by the pid whether the other is alive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Place:
    boot_id: str  # "" when unknown
    pidns: str  # "pid:[4026531836]", "" when unknown

    @property
    def known(self) -> bool:
        return bool(self.boot_id and self.pidns)


def here() -> Place:
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    return Place(boot_id, pidns)


def started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (field 22 of its stat): with
    the pid, it names one process of one boot. "" when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
    return fields[19] if len(fields) > 19 else ""


def still_running(pid: int, start: str) -> bool:
    """Whether process `pid` is the one that started at `start` (not a reused pid). When
    its /proc entry cannot be read (hidden: another user's, under ProtectProc=) but the
    pid exists, it may be: counted as running, so that a live master is never taken for
    a dead one."""
    now = started(pid)
    if now:
        return bool(start) and now == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0
