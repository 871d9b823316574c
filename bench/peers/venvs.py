"""Each peer's own virtualenv under .bench-venvs/<system>, made with `python -m venv`
and filled from PyPI with pip: never a dependency of qwsup."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from bench.peers.versions import BODY, PINS

# What a venv's interpreter prints: the installed distributions' versions, as JSON.
_VERSIONS = (
    "import importlib.metadata as m, json, sys;"
    "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
)


class InstallError(Exception):
    """The peer could not be installed here; the message says why (pip's last lines)."""


def python_of(root: Path, system: str) -> Path:
    return root / system / "bin" / "python"


def ensure(root: Path, system: str, timeout: float = 900) -> Path:
    """The interpreter of `system`'s venv, made and filled first when missing or when the
    pins changed; InstallError when that fails."""
    specs = (*PINS[system], *BODY)
    stamp = hashlib.sha256(json.dumps(specs).encode()).hexdigest()[:16]
    venv = root / system
    marker = venv / f".installed-{stamp}"
    python = python_of(root, system)
    if marker.exists() and python.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *specs],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise InstallError(f"{' '.join(step[:4])}: no end after {timeout:g} s") from e
        if done.returncode != 0:
            raise InstallError(f"{' '.join(step[:4])} exited {done.returncode}: {why(done)}")
    marker.touch()
    return python


def why(done: subprocess.CompletedProcess[str]) -> str:
    """pip's reason, short: its ERROR lines (else its last lines), at most 300 characters."""
    lines = (done.stderr or done.stdout).strip().splitlines()
    errors = [line for line in lines if line.startswith("ERROR")] or lines[-3:]
    text = " | ".join(errors)
    return text if len(text) <= 300 else text[:297] + "..."


def installed(python: Path, names: list[str]) -> dict[str, str]:
    """The versions `python`'s environment has of the distributions `names`."""
    done = subprocess.run(
        [str(python), "-c", _VERSIONS, *names], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return {}
    versions: dict[str, str] = json.loads(done.stdout)
    return versions
