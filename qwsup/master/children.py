"""The master's effects on its children: fork, signal, reap, read their memory.

`Processes` is the real thing; the master takes it through its constructor, so the
unit tests hand it a fake. Forking is careful (STYLE 4): the signals the master
handles are blocked around fork(); the child resets every one of them to its default,
closes the master's private descriptors, runs the worker and leaves with os._exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil

from qwsup import logs, proctitle
from qwsup.errors import ExitCode
from qwsup.scoreboard import Scoreboard

log = logging.getLogger(__name__)

HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)  # the master's signals: recorded by its handlers, reset to their defaults in a child


@dataclass(frozen=True)
class Child:
    """What the master keeps of a new worker process."""

    pid: int
    status_fd: int  # the read end of the pipe the worker writes READY to
    board: Scoreboard  # shared memory the worker writes its heartbeat and counts to


class Processes:
    def fork(self) -> int:
        return os.fork()

    def spawn(
        self, run: Callable[[int, Scoreboard], int], private_fds: Callable[[], list[int]]
    ) -> Child:
        """Fork a child that runs `run(status_fd, board)` and exits with what it returns;
        raises OSError when the fork fails."""
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        board = Scoreboard()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            pid = self.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_fd)
            os.close(write_fd)
            board.close()
            raise
        if pid == 0:  # the child never returns from here
            _child(run, write_fd, board, [read_fd, *private_fds()])
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write_fd)
        return Child(pid, read_fd, board)

    def kill(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone: reaping will see it
            os.kill(pid, sig)

    def reaped(self) -> Iterator[tuple[int, int]]:
        """(pid, exit code as waitstatus_to_exitcode gives it) of each child gone."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            yield pid, os.waitstatus_to_exitcode(status)

    def rss_mb(self, pid: int) -> float | None:
        try:
            return float(psutil.Process(pid).memory_info().rss / 2**20)
        except psutil.Error:
            return None

    def is_live_worker(self, pid: int, wid: str) -> bool:
        """Whether `pid` is still worker `wid` (and not a pid reused by another process)."""
        return proctitle.titled(pid, proctitle.worker_prefix(wid))


def _child(
    run: Callable[[int, Scoreboard], int], status_fd: int, board: Scoreboard, close: list[int]
) -> None:
    code: int = ExitCode.ERROR
    try:
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        code = run(status_fd, board)
    except BaseException:
        log.exception("worker crashed")
    finally:
        logs.flush()
        sys.stdout.flush()
        os._exit(code)
