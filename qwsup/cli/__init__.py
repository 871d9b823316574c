"""The command line, `qwsup -c FILE [run | check | enqueue | status | ...]`.

- commands: the parser and one function per command.
"""

from qwsup.cli.commands import main

__all__ = ["main"]
