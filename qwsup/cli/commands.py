"""The command line's entry point: the arguments parsed (table.py), the config loaded,
the command run, and the errors that end a command turned into exit codes and one line
on stderr, the Redis URL's password left out."""

from __future__ import annotations

import logging

from qwsup import logs
from qwsup.cli.say import fail
from qwsup.cli.table import chosen, parser
from qwsup.config import Config, load
from qwsup.errors import (
    ConfigError,
    ConnectionLost,
    EmbeddedRedisError,
    ExitCode,
    HandlerError,
    RedisRefused,
)
from qwsup.tracing import TracingError

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = chosen(args)
    if isinstance(command, str):
        return fail(ExitCode.USAGE, command)
    try:
        config = load(args.config)
    except ConfigError as exc:
        return fail(ExitCode.CONFIG, str(exc))
    logs.setup(config.log.level_number(), config.log.format)
    if args.command not in (None, "run"):
        logs.set_who(args.command)
    if config.exposed_secret():
        log.warning(
            "%s holds a Redis password and every user can read it: chmod o-r %s",
            config.path, config.path,
        )  # fmt: skip
    try:
        return command.function()(config, args)
    except (EmbeddedRedisError, ConnectionLost) as exc:
        if config.embedded and args.command not in (None, "run"):
            from qwsup.ops.console import embedded_away

            return fail(ExitCode.UNAVAILABLE, embedded_away(config))
        return fail(ExitCode.UNAVAILABLE, f"Redis at {_where(config)}: {exc}")
    except RedisRefused as exc:
        return fail(ExitCode.ERROR, f"Redis at {_where(config)} refused: {exc}")
    except HandlerError as exc:
        return fail(ExitCode.HANDLER, f"handler {config.workers.handler}: {exc}")
    except (ConfigError, TracingError) as exc:
        return fail(ExitCode.CONFIG, str(exc))


def _where(config: Config) -> str:
    from qwsup.store.connection import redact, url_of

    return redact(url_of(config))
