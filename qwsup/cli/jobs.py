"""`qwsup enqueue`: one job from KEY=VALUE fields (and `--wait` for its end), or many, one
JSON object a line on stdin, through the Python API's Producer."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from qwsup.cli.say import fail
from qwsup.config import Config
from qwsup.errors import DuplicateJob, ExitCode, JobFailed, UnknownJob, WaitTimeout
from qwsup.ops.report import result_line
from qwsup.produce.producer import CHUNK, Producer, check_fields, target_queue


def enqueue(config: Config, args: argparse.Namespace) -> int:
    producer = Producer.from_config(config)
    # where and when: checked before anything is sent
    options: dict[str, Any] = {
        "queue": args.queue, "host": args.host, "at": args.at, "delay": args.delay,
    }  # fmt: skip
    try:
        target_queue(args.queue, args.host)
    except ValueError as exc:
        return fail(ExitCode.USAGE, f"enqueue: {exc}")
    if args.timeout is not None and not args.wait:
        return fail(ExitCode.USAGE, "enqueue: --timeout goes with --wait")
    if args.fields:
        try:
            fields = check_fields(dict(_split_field(f) for f in args.fields))
        except (ValueError, TypeError) as exc:
            return fail(ExitCode.USAGE, f"enqueue: {exc}")
        try:
            job_id = producer.enqueue(fields, job_id=args.id, unique=args.unique, **options)
        except DuplicateJob as exc:
            return fail(ExitCode.ERROR, f"enqueue: refused: {exc}")
        print(job_id, flush=True)
        return _wait(producer, job_id, args.timeout) if args.wait else int(ExitCode.OK)
    if args.wait or args.timeout is not None:
        return fail(ExitCode.USAGE, "enqueue: --wait is for one job, given as KEY=VALUE fields")
    if args.unique:
        return fail(ExitCode.USAGE, "enqueue: --unique is for one job, given as KEY=VALUE fields")
    if sys.stdin.isatty():
        return fail(ExitCode.USAGE, "enqueue: give KEY=VALUE fields, or JSON lines on stdin")
    error = _enqueue_lines(producer, options)
    if error:
        return fail(ExitCode.USAGE, f"enqueue: {error} (the jobs before it were enqueued)")
    return int(ExitCode.OK)


def _wait(producer: Producer, job_id: str, timeout: float | None) -> int:
    """`enqueue --wait`: the job's result on stdout, or its end on stderr."""
    try:
        result = producer.wait(job_id, timeout=timeout)
    except JobFailed as exc:
        return fail(ExitCode.ERROR, f"enqueue: {exc}")
    except WaitTimeout as exc:
        return fail(ExitCode.TIMED_OUT, f"enqueue: {exc}")
    except UnknownJob as exc:  # removed before we looked (keep_finished, or by hand)
        return fail(ExitCode.ERROR, f"enqueue: {exc}")
    text = result_line(result)
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


def _split_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{text!r} is not KEY=VALUE")
    return key, value
