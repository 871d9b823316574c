"""The contract between the master and its workers: the signals each side sends, what
a worker writes to its master's pipe, and which queue an idle worker blocks on. The
scoreboard's format (scoreboard.py) is the rest of it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

DUMP_STACK = signal.SIGUSR1  # the master asks for a stack dump before killing a hung worker
JOB_TIMEOUT = signal.SIGUSR2  # the master says the current job has run too long
JOB_CANCEL = signal.SIGURG  # the master ordered jobs stopped (its board says which)
READY = b"R"  # written to the master's pipe once the handler is imported


def blocks_on(queues: tuple[str, ...], slot: int) -> str:
    """The queue a worker blocks on when idle: the pool's workers spread over its
    queues, so that a job pushed on any of them usually wakes one at once; every take
    looks at all of them, in order. A job on a queue no idle worker is blocked on (or on
    the host queue) is found by the master, which looks about once a second and asks an
    idle worker to end its wait (looks.py), so none waits much longer than a second."""
    return queues[slot % len(queues)]


# The worker's entry point, handed to the master (the CLI passes worker/boot.py's boot): the
# master never imports the worker's code, only forks into it.
Boot = Callable[..., int]
