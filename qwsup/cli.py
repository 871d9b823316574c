"""The command line: `qwsup -c FILE [run | check | enqueue ...]`."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__, logs
from .config import Config, load
from .connection import redact, url_of
from .errors import ConfigError, ConnectionLost, EmbeddedRedisError, ExitCode, HandlerError
from .master import Master
from .producer import CHUNK, Producer, check_fields
from .worker import load_handler


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
    commands.add_parser("check", help="validate the config and import the handler")
    enqueue = commands.add_parser(
        "enqueue",
        help="add a job (key=value fields) or many (one JSON object per line on stdin)",
    )
    enqueue.add_argument("fields", nargs="*", metavar="KEY=VALUE")
    enqueue.add_argument("--id", help="the job id (default: a new UUID)")
    enqueue.add_argument("--host", metavar="NAME", help="push on <NAME>:jobs, not all:jobs")
    return parser


def _fail(code: ExitCode, message: str) -> int:
    print(f"qwsup: {message}", file=sys.stderr)
    return int(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        return _fail(ExitCode.CONFIG, str(exc))
    logs.setup(config.log.level_number())
    try:
        if args.command == "check":
            return check(config)
        if args.command == "enqueue":
            return enqueue(config, args)
        return Master(config).run()
    except (EmbeddedRedisError, ConnectionLost) as exc:
        return _fail(ExitCode.UNAVAILABLE, f"Redis at {redact(url_of(config))}: {exc}")
    except HandlerError as exc:
        return _fail(ExitCode.HANDLER, f"handler {config.workers.handler}: {exc}")
    except ConfigError as exc:
        return _fail(ExitCode.CONFIG, str(exc))


def check(config: Config) -> int:
    load_handler(config.workers.handler)
    print(f"{config.path}: OK; handler {config.workers.handler} imported")
    return int(ExitCode.OK)


def enqueue(config: Config, args: argparse.Namespace) -> int:
    producer = Producer.from_config(config)
    if args.fields:
        try:
            fields = check_fields(dict(_split_field(f) for f in args.fields))
        except (ValueError, TypeError) as exc:
            return _fail(ExitCode.USAGE, f"enqueue: {exc}")
        print(producer.enqueue(fields, job_id=args.id, host=args.host))
        return int(ExitCode.OK)
    if sys.stdin.isatty():
        return _fail(ExitCode.USAGE, "enqueue: give KEY=VALUE fields, or JSON lines on stdin")
    error = _enqueue_lines(producer, args.host)
    if error:
        return _fail(ExitCode.USAGE, f"enqueue: {error} (the jobs before it were enqueued)")
    return int(ExitCode.OK)


def _enqueue_lines(producer: Producer, host: str | None) -> str | None:
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
            print("\n".join(producer.enqueue_many(chunk, host=host)))
            chunk = []
        if error:
            return error
    if chunk:
        print("\n".join(producer.enqueue_many(chunk, host=host)))
    return None


def _split_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{text!r} is not KEY=VALUE")
    return key, value
