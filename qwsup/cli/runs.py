"""The commands that run something for long, or check that it can: the supervisor
(`run`, the default), `check`, and `web`, the dashboard."""

from __future__ import annotations

import argparse

from qwsup.cli.say import fail
from qwsup.config import Config
from qwsup.errors import ExitCode, HandlerError


def supervise(config: Config, args: argparse.Namespace) -> int:
    from qwsup import privileges
    from qwsup.master.loop import Master
    from qwsup.worker.boot import boot

    return Master(config, privileges.resolve(config), boot=boot).run()


def check(config: Config, args: argparse.Namespace) -> int:
    """Every pool's handler imports (the config itself loaded already), and the Redis
    server keeps every key, as a master would check at start (see server.py). The
    embedded server is not asked: qwsup runs it with noeviction."""
    from qwsup.worker.runner import load_handler

    for pool in config.pools:
        try:
            load_handler(pool.handler, pythonpath=pool.pythonpath)
        except HandlerError as exc:
            which = f" (pool {pool.name})" if len(config.pools) > 1 else ""
            return fail(ExitCode.HANDLER, f"handler {pool.handler}{which}: {exc}")
    handlers = ", ".join(dict.fromkeys(pool.handler for pool in config.pools))
    if config.embedded:
        redis_line = "embedded redis-server, run with maxmemory-policy noeviction"
    else:
        from qwsup.store import server
        from qwsup.store.connection import make_client

        verdict = server.check(config, make_client(config))
        if verdict.refuse:
            return fail(ExitCode.CONFIG, f"{config.path}: {verdict.line}")
        redis_line = verdict.line
    print(f"{config.path}: OK; handler {handlers} imported; {redis_line}")
    return int(ExitCode.OK)


def web(config: Config, args: argparse.Namespace) -> int:
    from qwsup.web.serve import serve

    return serve(config, args.listen)
