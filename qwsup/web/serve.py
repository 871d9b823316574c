"""`qwsup -c FILE web [--listen HOST:PORT]`: the dashboard on its own process (not in
the master, whose loop stays small: a web server's work, memory and failures are kept
out of the process that keeps the workers alive). It listens on `[web] listen`
(127.0.0.1:9312 by default), and refuses an address beyond this machine's loopback
unless an operators' token is configured."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys

import uvicorn

from qwsup.config import Config
from qwsup.errors import ExitCode
from qwsup.ops.console import Console
from qwsup.web.app import Dashboard
from qwsup.web.auth import Auth, read_token

log = logging.getLogger(__name__)

GRACE_S = 2  # how long a stop waits for open pages (their event streams) to close


def split_listen(listen: str) -> tuple[str, int]:
    """ "host:port" ("[::1]:9312" for IPv6) as (host, port); ValueError when it is not."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f'must be "host:port", got {listen!r}')
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_problem(host: str, token: bool) -> str | None:
    """Why the dashboard must not listen on `host`, or None."""
    if token or is_loopback(host):
        return None
    return (
        f"refusing to serve the dashboard on {host} without an operators' token: anyone who "
        "reaches it could read every job; set [web] token_env or token_file, or listen on "
        "127.0.0.1"
    )


def allowed_hosts(host: str, config: Config) -> list[str]:
    """The names a request's Host may give: loopback's, the address listened on (unless
    it is a wildcard), and `[web] hosts` (the names a proxy in front passes on)."""
    names = {"127.0.0.1", "localhost", "[::1]", *config.web.hosts}
    if host not in ("0.0.0.0", "::"):
        names.add(f"[{host}]" if ":" in host else host)
    else:
        names.add("*")  # every address of the machine: any name that reaches it
    return sorted(names)


def serve(config: Config, listen: str | None) -> int:
    """Serve until SIGTERM or SIGINT; the exit status (the CLI prints `fail` lines)."""
    try:
        host, port = split_listen(listen or config.web.listen)
    except ValueError as exc:
        print(f"qwsup: web: --listen {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    token = read_token(config)
    problem = exposure_problem(host, token is not None)
    if problem is not None:
        print(f"qwsup: web: {problem}", file=sys.stderr)
        return int(ExitCode.CONFIG)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"qwsup: web: cannot serve the dashboard on {host}:{port}: {exc}", file=sys.stderr)
        return int(ExitCode.UNAVAILABLE)
    dashboard = Dashboard(Console.from_config(config), Auth(token), allowed_hosts(host, config))
    server = uvicorn.Server(
        uvicorn.Config(
            dashboard.app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=GRACE_S,
        )
    )  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "dashboard on http://%s:%d/ (%s)", shown, port,
        "actions for operators who log in" if token else "read-only: no token configured",
    )  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGINT):  # uvicorn sends them again when it is
        signal.signal(signum, lambda *_: None)  # done: the stop it asked for, exit 0
    server.run(sockets=[sock])
    log.info("dashboard stopped")
    return int(ExitCode.OK)
