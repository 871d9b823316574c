"""The commands that change things: `cancel`, `pause`, `resume`, `failed retry`, `failed
purge`, `requeue-orphans` and `scale`, each one of ops/actions.py, its outcome printed."""

from __future__ import annotations

import argparse

from qwsup.cli.say import fail, outcome
from qwsup.config import Config
from qwsup.errors import ExitCode
from qwsup.ops import actions
from qwsup.ops.console import Console


def cancel(config: Config, args: argparse.Namespace) -> int:
    """`qwsup cancel ID...` (exit 1 when an id names no job) or `--queue NAME`."""
    if bool(args.ids) == (args.queue is not None):
        return fail(ExitCode.USAGE, "cancel: give job ids, or --queue NAME")
    console = Console.from_config(config)
    if args.queue is not None:
        return outcome("cancel", actions.cancel_queue(console, args.queue))
    return outcome("cancel", actions.cancel(console, args.ids))


def pause(config: Config, args: argparse.Namespace) -> int:
    """`qwsup pause QUEUE...`: kept in Redis (all:paused)."""
    return outcome("pause", actions.pause(Console.from_config(config), args.queues))


def resume(config: Config, args: argparse.Namespace) -> int:
    return outcome("resume", actions.resume(Console.from_config(config), args.queues))


def failed_retry(config: Config, args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all:
        return fail(ExitCode.USAGE, "failed retry: give job ids, or --all")
    done = actions.retry(Console.from_config(config), None if args.all else args.ids)
    return outcome("failed retry", done)


def failed_purge(config: Config, args: argparse.Namespace) -> int:
    return outcome("failed purge", actions.purge(Console.from_config(config), None))


def requeue_orphans(config: Config, args: argparse.Namespace) -> int:
    if not args.names:
        print(
            f"watching every supervisor for up to {config.supervisor.lease_timeout:g} s "
            "(lease_timeout): those that heartbeat meanwhile are alive",
            flush=True,
        )
    done = actions.requeue(Console.from_config(config), args.names, dead_only=False)
    return outcome("requeue-orphans", done)


def scale(config: Config, args: argparse.Namespace) -> int:
    """Leave the change in Redis for the supervisor, then send it TTIN (more) or TTOU."""
    return outcome("scale", actions.scale(Console.from_config(config), args.pool, args.change))
