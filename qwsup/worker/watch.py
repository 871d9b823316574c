"""The master as its worker sees it, on the master's board (shared memory, no Redis):
when it last renewed its hold on the supervisor's name and under which token, whether
it asked this worker to look at every queue, and whether it is gone (the worker's
parent is another process).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from qwsup.scoreboard import MasterBoard
from qwsup.worker.prefetch import Prefetch


class MasterWatch:
    def __init__(
        self,
        board: MasterBoard,
        master_pid: int,
        prefetch: Prefetch,
        parent: Callable[[], int] = os.getppid,
    ) -> None:
        self.board, self.master_pid, self.prefetch, self.parent = (
            board, master_pid, prefetch, parent,
        )  # fmt: skip

    def orphaned(self) -> bool:
        return self.parent() != self.master_pid

    def read(self) -> tuple[float, int]:
        """How long since the master renewed its hold (s), and the hold's token."""
        return self.board.read()

    def silent(self, silent_s: float) -> bool:
        return self.prefetch.master_silent(silent_s)

    def wake(self, looks: int, held_token: int) -> bool:
        """Whether to end a wait on a queue early (looked at every WAKE_TICK_S): the
        master asked this worker to look at every queue since `looks` (a job waits on
        one no idle worker is blocked on), it is gone, silent, or holds the name under
        another token than `held_token`. So a long wait in Redis delays none of these."""
        if self.board.asked_to_look(os.getpid(), looks) or self.orphaned():
            return True
        silent, token = self.board.read()
        return token != held_token or self.silent(silent)
