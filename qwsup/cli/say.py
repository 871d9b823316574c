"""What the commands print besides their output: a failure on stderr, `qwsup: ...`, and an
action's outcome (what it did on stdout, what it could not do on stderr)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from qwsup.errors import ExitCode

if TYPE_CHECKING:
    from qwsup.ops.actions import Outcome


def fail(code: ExitCode, message: str) -> int:
    print(f"qwsup: {message}", file=sys.stderr)
    return int(code)


def outcome(command: str, done: Outcome) -> int:
    """Print `done` (its problems as `qwsup: COMMAND: ...`); its exit status."""
    for line in done.said:
        print(line, flush=True)
    for problem in done.problems:
        fail(done.code, f"{command}: {problem}")
    return int(done.code)
