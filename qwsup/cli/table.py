"""The commands: each one's name, help, options, and the function that runs it, named
"module:function" of qwsup.cli and imported only when it runs, so that a command loads
what it uses only (`qwsup --help` and `status` load neither the master, the worker nor
the dashboard)."""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qwsup import __version__

Options = Callable[[argparse.ArgumentParser], None]
Run = Callable[..., int]  # (config, args) -> exit status


def _no_options(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: str  # "module:function" in qwsup.cli ("" for a command of actions)
    options: Options = _no_options
    actions: tuple[Command, ...] = ()  # `qwsup failed list`: its actions

    def function(self) -> Run:
        module, _, name = self.run.partition(":")
        found: Run = getattr(importlib.import_module(f"qwsup.cli.{module}"), name)
        return found


def _start_time(text: str) -> float:
    """--at: unix seconds, or an ISO 8601 time (local time when it names no zone)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither ISO 8601 (2026-12-01T09:00+01:00) nor unix seconds"
        ) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _enqueue(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fields", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--id", help="the job id (default: a new UUID)")
    parser.add_argument("--queue", metavar="NAME", help="push on <NAME>:jobs, not all:jobs")
    parser.add_argument(
        "--host", metavar="NAME", help="push on supervisor NAME's own queue, <NAME>:jobs"
    )
    parser.add_argument(
        "--unique", metavar="NAME",
        help="refuse the job (exit 1) while another job enqueued with NAME is queued or running",
    )  # fmt: skip
    parser.add_argument(
        "--wait", action="store_true",
        help="wait for the job's end: print its result (exit 0), or its error (exit 1)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS",
        help="with --wait: give up after SECONDS (exit 124; the job goes on)",
    )  # fmt: skip
    later = parser.add_mutually_exclusive_group()
    later.add_argument(
        "--at", type=_start_time, metavar="TIME",
        help="start no earlier than TIME: ISO 8601 (2026-12-01T09:00+01:00) or unix seconds",
    )  # fmt: skip
    later.add_argument(
        "--delay", type=_seconds, metavar="SECONDS",
        help="start no earlier than SECONDS from now (on the Redis server's clock)",
    )  # fmt: skip


def _cancel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID")
    parser.add_argument(
        "--queue", metavar="NAME", help="every job waiting on NAME:jobs (all: all:jobs)"
    )


def _events(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--follow", action="store_true", help="then wait for new ones")
    parser.add_argument("-n", "--count", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def _queues(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queues", nargs="+", metavar="QUEUE")


def _json_array(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")


def _job(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID")
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")


def _web(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", metavar="HOST:PORT", help="where to listen instead")


def _status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="for scripts")
    parser.add_argument(
        "--watch", nargs="?", const=2.0, type=float, metavar="SECONDS",
        help="refresh every SECONDS (default 2) until Ctrl-C",
    )  # fmt: skip


def _failed_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, help="how many (0: all; default 50)")
    parser.add_argument("--json", action="store_true")


def _failed_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id")
    parser.add_argument("--json", action="store_true")


def _failed_retry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID")
    parser.add_argument("--all", action="store_true", help="every failed job")


def _orphans(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="supervisors you know are gone (their jobs may run twice if they are not)",
    )  # fmt: skip


def _scale(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pool", metavar="POOL")
    parser.add_argument("change", metavar="CHANGE", help="+N or -N workers, or N in all")


RUN = Command("run", "run the supervisor in the foreground (the default)", "runs:supervise")
COMMANDS = (
    RUN,
    Command("check", "validate the config, import the handler, check the Redis server",
            "runs:check"),
    Command("enqueue",
            "add a job (key=value fields) or many (one JSON object per line on stdin)",
            "jobs:enqueue", _enqueue),
    Command("cancel", "cancel jobs: a waiting one never runs, a running one is stopped",
            "acts:cancel", _cancel),
    Command("events",
            "the latest job events (all:events), like tail; -f: new ones as they come",
            "looks:events", _events),
    Command("pause", "every worker on every host: stop taking jobs from the queues (all: "
            "all:jobs)", "acts:pause", _queues),
    Command("resume", "every worker on every host: take jobs again from the queues (all: "
            "all:jobs)", "acts:resume", _queues),
    Command("cron", "the [[cron]] schedules: last and next run, their last job and its state",
            "looks:cron", _json_array),
    Command("job", "one job: its state, worker, times, error, result", "looks:job", _job),
    Command("web", "serve the web dashboard (on [web] listen, 127.0.0.1:9312 by default)",
            "runs:web", _web),
    Command("status", "queues, supervisors and workers", "looks:status", _status),
    Command("failed", "look at, retry or purge failed jobs", "", actions=(
        Command("list", "the newest failed jobs with their errors", "looks:failed_list",
                _failed_list),
        Command("show", "one failed job: fields, error, traceback", "looks:failed_show",
                _failed_show),
        Command("retry", "put failed jobs back in their queues, attempts reset",
                "acts:failed_retry", _failed_retry),
        Command("purge", "delete every failed job and its data", "acts:failed_purge"),
    )),
    Command("requeue-orphans",
            "requeue the jobs of supervisors whose lease is over, or of the NAMEd ones now",
            "acts:requeue_orphans", _orphans),
    Command("scale", "change a pool's worker count in this host's running supervisor",
            "acts:scale", _scale),
)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="qwsup",
        description="A prefork supervisor for reliable Redis queue workers.",
        epilog="Without a command, qwsup runs the supervisor in the foreground.",
    )
    found.add_argument("--version", action="version", version=f"qwsup {__version__}")
    found.add_argument("-c", "--config", required=True, metavar="FILE", help="the TOML config")
    commands = found.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help)
        command.options(sub)
        if command.actions:
            actions = sub.add_subparsers(dest="action", metavar="ACTION")
            for action in command.actions:
                action.options(actions.add_parser(action.name, help=action.help))
    return found


def chosen(args: argparse.Namespace) -> Command | str:
    """The command `args` name (the supervisor when none), or, for a command of actions
    given none, what to say: its actions."""
    command = next((c for c in COMMANDS if c.name == args.command), RUN)
    if not command.actions:
        return command
    action = next((a for a in command.actions if a.name == args.action), None)
    if action is not None:
        return action
    width = max(len(a.name) for a in command.actions)
    listed = "".join(f"\n  {a.name:<{width}}  {a.help}" for a in command.actions)
    return f"{command.name}: give an action:{listed}"
