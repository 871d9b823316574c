"""The commands that read: `status`, `job`, `events`, `cron`, `failed list` and `failed
show`, each what ops/views.py reads, as ops/report.py renders it."""

from __future__ import annotations

import argparse
import sys
import time

from qwsup.cli.say import fail
from qwsup.config import Config
from qwsup.errors import ExitCode, UnknownJob
from qwsup.ops import report, views
from qwsup.ops.console import Console


def status(config: Config, args: argparse.Namespace) -> int:
    console = Console.from_config(config)
    colour = sys.stdout.isatty() and not args.json
    try:
        while True:
            snap = views.snapshot(console)
            text = report.status_json(snap) if args.json else report.status_table(snap, colour)
            if args.watch is None:
                print(text)
                return int(ExitCode.OK)
            if sys.stdout.isatty():
                print("\033[H\033[2J", end="")  # like top: from the top of a clear screen
            print(f"{time.strftime('%H:%M:%S')}  every {args.watch:g} s\n{text}", flush=True)
            time.sleep(args.watch)
    except KeyboardInterrupt:  # how --watch ends
        return int(ExitCode.OK)


def job(config: Config, args: argparse.Namespace) -> int:
    found = views.job(Console.from_config(config), args.id)
    if found is None:
        return fail(ExitCode.ERROR, f"job: {UnknownJob(args.id)}")
    print(report.job_json(found) if args.json else report.job_detail(found, time.time()))
    return int(ExitCode.OK)


def events(config: Config, args: argparse.Namespace) -> int:
    """`qwsup events [-n N] [--follow] [--json]`: until Ctrl-C with --follow."""
    if args.count < 0:
        return fail(ExitCode.USAGE, "events: --count must be >= 0")
    console = Console.from_config(config)
    show = report.event_json if args.json else report.event_line
    shown = views.events(console, args.count)
    for event in shown:
        print(show(event), flush=True)
    if not args.follow:
        return int(ExitCode.OK)
    try:
        for event in views.follow(console, shown[-1].entry if shown else "$"):
            print(show(event), flush=True)
    except KeyboardInterrupt:  # how --follow ends
        pass
    return int(ExitCode.OK)


def cron(config: Config, args: argparse.Namespace) -> int:
    found = views.cron_views(Console.from_config(config))
    print(report.as_json(found) if args.json else report.cron_table(found))
    return int(ExitCode.OK)


def failed_list(config: Config, args: argparse.Namespace) -> int:
    jobs, total = views.failed_jobs(Console.from_config(config), args.limit)
    print(report.as_json(jobs) if args.json else report.failed_table(jobs, total))
    return int(ExitCode.OK)


def failed_show(config: Config, args: argparse.Namespace) -> int:
    found = views.failed_job(Console.from_config(config), args.id)
    if found is None:
        return fail(ExitCode.USAGE, f"failed show: {args.id!r} is not a failed job")
    print(report.as_json(found) if args.json else report.failed_detail(found))
    return int(ExitCode.OK)
