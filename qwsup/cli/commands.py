"""The command line: `qwsup -c FILE [run | check | enqueue ...]`."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from datetime import datetime
from typing import Any

from qwsup import __version__, logs, privileges
from qwsup.config import Config, load
from qwsup.errors import (
    ConfigError,
    ConnectionLost,
    DuplicateJob,
    EmbeddedRedisError,
    ExitCode,
    HandlerError,
    JobFailed,
    RedisRefused,
    UnknownJob,
    WaitTimeout,
)
from qwsup.master.loop import Master
from qwsup.ops import actions, report, views
from qwsup.ops.actions import Outcome
from qwsup.ops.console import Console
from qwsup.produce.producer import CHUNK, Producer, check_fields, target_queue
from qwsup.store import server
from qwsup.store.connection import make_client, redact, url_of
from qwsup.tracing import TracingError
from qwsup.worker.loop import boot, load_handler

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwsup",
        description="A prefork supervisor for reliable Redis queue workers.",
        epilog="Without a command, qwsup runs the supervisor in the foreground.",
    )
    parser.add_argument("--version", action="version", version=f"qwsup {__version__}")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="the TOML config")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the supervisor in the foreground (the default)")
    commands.add_parser(
        "check", help="validate the config, import the handler, check the Redis server"
    )
    enqueue = commands.add_parser(
        "enqueue",
        help="add a job (key=value fields) or many (one JSON object per line on stdin)",
    )
    enqueue.add_argument("fields", nargs="*", metavar="KEY=VALUE")
    enqueue.add_argument("--id", help="the job id (default: a new UUID)")
    enqueue.add_argument("--queue", metavar="NAME", help="push on <NAME>:jobs, not all:jobs")
    enqueue.add_argument(
        "--host", metavar="NAME", help="push on supervisor NAME's own queue, <NAME>:jobs"
    )
    enqueue.add_argument(
        "--unique", metavar="NAME",
        help="refuse the job (exit 1) while another job enqueued with NAME is queued or running",
    )  # fmt: skip
    enqueue.add_argument(
        "--wait", action="store_true",
        help="wait for the job's end: print its result (exit 0), or its error (exit 1)",
    )  # fmt: skip
    enqueue.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS",
        help="with --wait: give up after SECONDS (exit 124; the job goes on)",
    )  # fmt: skip
    later = enqueue.add_mutually_exclusive_group()
    later.add_argument(
        "--at", type=_start_time, metavar="TIME",
        help="start no earlier than TIME: ISO 8601 (2026-12-01T09:00+01:00) or unix seconds",
    )  # fmt: skip
    later.add_argument(
        "--delay", type=_seconds, metavar="SECONDS",
        help="start no earlier than SECONDS from now (on the Redis server's clock)",
    )  # fmt: skip
    cancel = commands.add_parser(
        "cancel", help="cancel jobs: a waiting one never runs, a running one is stopped"
    )
    cancel.add_argument("ids", nargs="*", metavar="ID")
    cancel.add_argument(
        "--queue", metavar="NAME", help="every job waiting on NAME:jobs (all: all:jobs)"
    )
    events = commands.add_parser(
        "events", help="the latest job events (all:events), like tail; -f: new ones as they come"
    )
    events.add_argument("-f", "--follow", action="store_true", help="then wait for new ones")
    events.add_argument("-n", "--count", type=int, default=20, help="how many (default 20)")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    for verb, words in (("pause", "stop taking jobs from"), ("resume", "take jobs again from")):
        pausing = commands.add_parser(
            verb, help=f"every worker on every host: {words} the queues (all: all:jobs)"
        )
        pausing.add_argument("queues", nargs="+", metavar="QUEUE")
    cron = commands.add_parser(
        "cron", help="the [[cron]] schedules: last and next run, their last job and its state"
    )
    cron.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    job = commands.add_parser("job", help="one job: its state, worker, times, error, result")
    job.add_argument("id", metavar="ID")
    job.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    web = commands.add_parser(
        "web", help="serve the web dashboard (on [web] listen, 127.0.0.1:9312 by default)"
    )
    web.add_argument("--listen", metavar="HOST:PORT", help="where to listen instead")
    status = commands.add_parser("status", help="queues, supervisors and workers")
    status.add_argument("--json", action="store_true", help="for scripts")
    status.add_argument(
        "--watch", nargs="?", const=2.0, type=float, metavar="SECONDS",
        help="refresh every SECONDS (default 2) until Ctrl-C",
    )  # fmt: skip
    failed = commands.add_parser("failed", help="look at, retry or purge failed jobs")
    actions = failed.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the newest failed jobs with their errors")
    listing.add_argument("--limit", type=int, default=50, help="how many (0: all; default 50)")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one failed job: fields, error, traceback")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    retry = actions.add_parser("retry", help="put failed jobs back in their queues, attempts reset")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every failed job")
    actions.add_parser("purge", help="delete every failed job and its data")
    orphans = commands.add_parser(
        "requeue-orphans",
        help="requeue the jobs of supervisors whose lease is over, or of the NAMEd ones now",
    )
    scaling = commands.add_parser(
        "scale", help="change a pool's worker count in this host's running supervisor"
    )
    scaling.add_argument("pool", metavar="POOL")
    scaling.add_argument("change", metavar="CHANGE", help="+N or -N workers, or N in all")
    orphans.add_argument(
        "names", nargs="*", metavar="NAME",
        help="supervisors you know are gone (their jobs may run twice if they are not)",
    )  # fmt: skip
    return parser


def _fail(code: ExitCode, message: str) -> int:
    print(f"qwsup: {message}", file=sys.stderr)
    return int(code)


def _outcome(command: str, done: Outcome) -> int:
    """Print an action's outcome (its problems as `qwsup: COMMAND: ...`); its exit status."""
    for line in done.said:
        print(line, flush=True)
    for problem in done.problems:
        _fail(done.code, f"{command}: {problem}")
    return int(done.code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        return _fail(ExitCode.CONFIG, str(exc))
    logs.setup(config.log.level_number(), config.log.format)
    if args.command not in (None, "run"):
        logs.set_who(args.command)
    if config.exposed_secret():
        log.warning(
            "%s holds a Redis password and every user can read it: chmod o-r %s",
            config.path, config.path,
        )  # fmt: skip
    try:
        if args.command == "check":
            return check(config)
        if args.command == "enqueue":
            return enqueue(config, args)
        if args.command == "status":
            return status(config, args)
        if args.command == "job":
            return show_job(config, args)
        if args.command == "cancel":
            return cancel(config, args)
        if args.command == "events":
            return show_events(config, args)
        if args.command in ("pause", "resume"):
            return pause(config, args)
        if args.command == "cron":
            found = views.cron_views(Console.from_config(config))
            print(report.as_json(found) if args.json else report.cron_table(found))
            return int(ExitCode.OK)
        if args.command == "failed":
            return failed(config, args)
        if args.command == "web":
            from qwsup.web.serve import serve

            return serve(config, args.listen)
        if args.command == "requeue-orphans":
            return requeue_orphans(config, args)
        if args.command == "scale":
            return scale(config, args)
        return Master(config, privileges.resolve(config), boot=boot).run()
    except (EmbeddedRedisError, ConnectionLost) as exc:
        return _fail(ExitCode.UNAVAILABLE, f"Redis at {redact(url_of(config))}: {exc}")
    except RedisRefused as exc:
        return _fail(ExitCode.ERROR, f"Redis at {redact(url_of(config))} refused: {exc}")
    except HandlerError as exc:
        return _fail(ExitCode.HANDLER, f"handler {config.workers.handler}: {exc}")
    except (ConfigError, TracingError) as exc:
        return _fail(ExitCode.CONFIG, str(exc))


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


def show_job(config: Config, args: argparse.Namespace) -> int:
    found = views.job(Console.from_config(config), args.id)
    if found is None:
        return _fail(ExitCode.ERROR, f"job: {UnknownJob(args.id)}")
    print(report.job_json(found) if args.json else report.job_detail(found, time.time()))
    return int(ExitCode.OK)


def show_events(config: Config, args: argparse.Namespace) -> int:
    """`qwsup events [-n N] [--follow] [--json]`: until Ctrl-C with --follow."""
    if args.count < 0:
        return _fail(ExitCode.USAGE, "events: --count must be >= 0")
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


def cancel(config: Config, args: argparse.Namespace) -> int:
    """`qwsup cancel ID...` (exit 1 when an id names no job) or `--queue NAME`."""
    if bool(args.ids) == (args.queue is not None):
        return _fail(ExitCode.USAGE, "cancel: give job ids, or --queue NAME")
    console = Console.from_config(config)
    if args.queue is not None:
        return _outcome("cancel", actions.cancel_queue(console, args.queue))
    return _outcome("cancel", actions.cancel(console, args.ids))


def pause(config: Config, args: argparse.Namespace) -> int:
    """`qwsup pause QUEUE...` and `qwsup resume QUEUE...`: kept in Redis (all:paused)."""
    act = actions.pause if args.command == "pause" else actions.resume
    return _outcome(args.command, act(Console.from_config(config), args.queues))


def failed(config: Config, args: argparse.Namespace) -> int:
    console = Console.from_config(config)
    if args.action == "list":
        jobs, total = views.failed_jobs(console, args.limit)
        print(report.as_json(jobs) if args.json else report.failed_table(jobs, total))
    elif args.action == "show":
        job = views.failed_job(console, args.id)
        if job is None:
            return _fail(ExitCode.USAGE, f"failed show: {args.id!r} is not a failed job")
        print(report.as_json(job) if args.json else report.failed_detail(job))
    elif args.action == "retry":
        if bool(args.ids) == args.all:
            return _fail(ExitCode.USAGE, "failed retry: give job ids, or --all")
        return _outcome("failed retry", actions.retry(console, None if args.all else args.ids))
    else:
        return _outcome("failed purge", actions.purge(console, None))
    return int(ExitCode.OK)


def scale(config: Config, args: argparse.Namespace) -> int:
    """Leave the change in Redis for the supervisor, then send it TTIN (more) or TTOU."""
    return _outcome("scale", actions.scale(Console.from_config(config), args.pool, args.change))


def requeue_orphans(config: Config, args: argparse.Namespace) -> int:
    if not args.names:
        print(
            f"watching every supervisor for up to {config.supervisor.lease_timeout:g} s "
            "(lease_timeout): those that heartbeat meanwhile are alive",
            flush=True,
        )
    done = actions.requeue(Console.from_config(config), args.names, dead_only=False)
    return _outcome("requeue-orphans", done)


def check(config: Config) -> int:
    """Every pool's handler imports (the config itself loaded already), and the Redis
    server keeps every key, as a master would check at start (see server.py). The
    embedded server is not asked: qwsup runs it with noeviction."""
    for pool in config.pools:
        try:
            load_handler(pool.handler)
        except HandlerError as exc:
            which = f" (pool {pool.name})" if len(config.pools) > 1 else ""
            return _fail(ExitCode.HANDLER, f"handler {pool.handler}{which}: {exc}")
    handlers = ", ".join(dict.fromkeys(pool.handler for pool in config.pools))
    if config.embedded:
        redis_line = "embedded redis-server, run with maxmemory-policy noeviction"
    else:
        verdict = server.check(config, make_client(config))
        if verdict.refuse:
            return _fail(ExitCode.CONFIG, f"{config.path}: {verdict.line}")
        redis_line = verdict.line
    print(f"{config.path}: OK; handler {handlers} imported; {redis_line}")
    return int(ExitCode.OK)


def enqueue(config: Config, args: argparse.Namespace) -> int:
    producer = Producer.from_config(config)
    # where and when: checked before anything is sent
    options: dict[str, Any] = {
        "queue": args.queue, "host": args.host, "at": args.at, "delay": args.delay,
    }  # fmt: skip
    try:
        target_queue(args.queue, args.host)
    except ValueError as exc:
        return _fail(ExitCode.USAGE, f"enqueue: {exc}")
    if args.timeout is not None and not args.wait:
        return _fail(ExitCode.USAGE, "enqueue: --timeout goes with --wait")
    if args.fields:
        try:
            fields = check_fields(dict(_split_field(f) for f in args.fields))
        except (ValueError, TypeError) as exc:
            return _fail(ExitCode.USAGE, f"enqueue: {exc}")
        try:
            job_id = producer.enqueue(fields, job_id=args.id, unique=args.unique, **options)
        except DuplicateJob as exc:
            return _fail(ExitCode.ERROR, f"enqueue: refused: {exc}")
        print(job_id, flush=True)
        return _wait(producer, job_id, args.timeout) if args.wait else int(ExitCode.OK)
    if args.wait or args.timeout is not None:
        return _fail(ExitCode.USAGE, "enqueue: --wait is for one job, given as KEY=VALUE fields")
    if args.unique:
        return _fail(ExitCode.USAGE, "enqueue: --unique is for one job, given as KEY=VALUE fields")
    if sys.stdin.isatty():
        return _fail(ExitCode.USAGE, "enqueue: give KEY=VALUE fields, or JSON lines on stdin")
    error = _enqueue_lines(producer, options)
    if error:
        return _fail(ExitCode.USAGE, f"enqueue: {error} (the jobs before it were enqueued)")
    return int(ExitCode.OK)


def _wait(producer: Producer, job_id: str, timeout: float | None) -> int:
    """`enqueue --wait`: the job's result on stdout, or its end on stderr."""
    try:
        result = producer.wait(job_id, timeout=timeout)
    except JobFailed as exc:
        return _fail(ExitCode.ERROR, f"enqueue: {exc}")
    except WaitTimeout as exc:
        return _fail(ExitCode.TIMED_OUT, f"enqueue: {exc}")
    except UnknownJob as exc:  # removed before we looked (keep_finished, or by hand)
        return _fail(ExitCode.ERROR, f"enqueue: {exc}")
    text = report.result_line(result)
    if text:
        print(text)
    return int(ExitCode.OK)


def _enqueue_lines(producer: Producer, options: dict[str, Any]) -> str | None:
    """Enqueue one job per JSON line of stdin, printing the ids as the jobs are pushed.

    Stops at the first bad line; everything before it is enqueued. Returns the error.
    """
    chunk: list[dict[str, str]] = []
    error = None
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError("a job is a JSON object of fields")
            chunk.append(check_fields(job))
        except json.JSONDecodeError as exc:
            error = f"stdin line {number}: not JSON: {exc}"
        except (ValueError, TypeError) as exc:
            error = f"stdin line {number}: {exc}"
        if chunk and (error or len(chunk) == CHUNK):
            print("\n".join(producer.enqueue_many(chunk, **options)))
            chunk = []
        if error:
            return error
    if chunk:
        print("\n".join(producer.enqueue_many(chunk, **options)))
    return None


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


def _split_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{text!r} is not KEY=VALUE")
    return key, value
