"""The command line, `qwsup -c FILE [run | check | enqueue | status | ...]`: a table of
commands, each a small function in the module of its kind, imported when it runs.

- commands: the entry point, `main`: the arguments, the config, the command, its errors
  as exit codes.
- table: every command, its help and options, and where its function is.
- say: a failure on stderr, an action's outcome.
- looks: the commands that read (status, job, events, cron, failed list and show).
- acts: the commands that change things (cancel, pause, resume, failed retry and purge,
  requeue-orphans, scale), each one of ops/actions.py.
- jobs: enqueue.
- runs: the supervisor (run), check, web.
"""

from qwsup.cli.commands import main

__all__ = ["main"]
