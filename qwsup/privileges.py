"""Who workers run as: `[supervisor] user` and `group`, and the refusal to run jobs as root.

A master started as root keeps root (to signal and watch its workers) and drops to
the configured user in each worker after fork, before the handler is imported: its
supplementary groups, then its group, then its user, and HOME, USER and LOGNAME. The
embedded redis-server runs as that user too, in a state directory it owns, so that
the workers can reach its socket. A master started as root with no user to run its
workers as refuses to start, unless `run_as_root = true` says it in so many words.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from qwsup.config import Config
from qwsup.errors import ConfigError


@dataclass(frozen=True)
class RunAs:
    user: str
    uid: int
    gid: int
    home: str


def resolve(config: Config) -> RunAs | None:
    """The user workers switch to, None to stay as the master is; ConfigError when the
    config names one that does not exist or cannot be switched to, or when it would run
    jobs as root without saying so."""
    s = config.supervisor
    entry = _user(config, s.user) if s.user else None
    gid = _group(config, s.group) if s.group else (entry.pw_gid if entry else os.getegid())
    if os.geteuid() != 0:
        if (entry and entry.pw_uid != os.geteuid()) or gid != os.getegid():
            me = _name(os.geteuid())
            problem = f"only a master started as root can run workers as another user ({me} is not)"
            raise ConfigError(config.path, "supervisor.user", problem)
        return None
    if entry is None or entry.pw_uid == 0:
        if s.run_as_root:
            return None
        problem = (
            "refusing to run jobs as root: name the user to run the workers as "
            '(user = "..."), or set supervisor.run_as_root = true'
        )
        raise ConfigError(config.path, "supervisor.user", problem)
    return RunAs(entry.pw_name, entry.pw_uid, gid, entry.pw_dir)


def _user(config: Config, name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(config.path, "supervisor.user", f"no such user: {name!r}") from None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(config: Config, name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(config.path, "supervisor.group", f"no such group: {name!r}") from None


def drop(run_as: RunAs) -> None:
    """In a worker, before anything of the handler's runs: become `run_as` for good."""
    os.initgroups(run_as.user, run_as.gid)
    os.setgid(run_as.gid)
    os.setuid(run_as.uid)
    os.environ.update(HOME=run_as.home, USER=run_as.user, LOGNAME=run_as.user)


def hand_over(path: Path, run_as: RunAs) -> None:
    """Make a directory qwsup created (the embedded server's) the workers' user's."""
    os.chown(path, run_as.uid, run_as.gid)
