"""The files the servers and qwsup read: a qwsup config written from dicts, the Redis
ACL file of the checkout with real passwords."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the checkout

ACL_PASSWORDS = {"qwsup": "supervisor-secret", "qwsup-producer": "producer-secret"}


def acl_file(directory: Path) -> Path:
    """conf/redis-acl.conf in `directory`, each user's placeholder replaced by the hash of
    its password (ACL_PASSWORDS)."""
    lines = []
    for line in (ROOT / "conf" / "redis-acl.conf").read_text().splitlines():
        if line.startswith("user "):
            digest = hashlib.sha256(ACL_PASSWORDS[line.split()[1]].encode()).hexdigest()
            line = line.replace("#SHA256-OF-PASSWORD", f"#{digest}")
        lines.append(line)
    path = directory / "redis-acl.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(
    path: Path,
    redis_url: str | None,
    pools: list[dict[str, Any]] | None = None,
    cron: list[dict[str, Any]] | None = None,
    **sections: dict[str, Any],
) -> Path:
    """A config file: [redis] url plus the given sections' keys (TOML-quoted by repr),
    and [[pools]] ([[cron]]) tables when `pools` (`cron`) is given; a section named
    "queues.NAME" is the table [queues.NAME].

    Run as root (as CI runs the tests), it says run_as_root = true unless it names a
    user: a root master refuses to run jobs as root otherwise."""
    tables: dict[str, dict[str, Any]] = {"redis": {}, "supervisor": {}, "workers": {}, "log": {}}
    if redis_url is not None:
        tables["redis"]["url"] = redis_url
    tables["supervisor"].setdefault("name", "testhost")
    if os.geteuid() == 0 and "user" not in sections.get("supervisor", {}):
        tables["supervisor"]["run_as_root"] = True
    for name, values in sections.items():
        tables.setdefault(name, {}).update(values)
    tables = {  # a key given as None is left out (supervisor.name: the host name)
        name: {k: v for k, v in values.items() if v is not None} for name, values in tables.items()
    }
    lines: list[str] = []
    blocks = [(f"[{name}]", values) for name, values in tables.items() if values]
    blocks += [("[[pools]]", pool) for pool in pools or []]
    blocks += [("[[cron]]", schedule) for schedule in cron or []]
    for header, values in blocks:
        lines.append(header)
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value).lower()
