"""The locked development environment: uv.lock, the Makefile that installs from it, and
the ranges users resolve for themselves (docs/development.md, "Dependencies")."""

from __future__ import annotations

import re
import tomllib

import pytest

from testkit import ROOT

pytestmark = pytest.mark.unit


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        table: dict[str, object] = tomllib.load(f)["project"]
    return table


def locked() -> dict[str, str]:
    with (ROOT / "uv.lock").open("rb") as f:
        return {p["name"]: p["version"] for p in tomllib.load(f)["package"] if "version" in p}


def make_variable(name: str) -> str:
    found = re.search(rf"^{name} = (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found, f"the Makefile sets no {name}"
    return found.group(1)


def requirement(spec: str) -> tuple[str, str]:
    name = re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]
    return name.lower(), spec[len(name) :].strip()


def test_runtime_dependencies_are_ranges_not_pins() -> None:
    """A library must not pin its users: pins live in uv.lock only."""
    specs = list(project()["dependencies"])  # type: ignore[call-overload]
    extras = project()["optional-dependencies"]
    for group in extras.values():  # type: ignore[attr-defined]
        specs += group
    for spec in specs:
        name, bound = requirement(spec)
        assert "==" not in bound and "<" not in bound, f"{name} is pinned in pyproject: {spec}"


def test_the_makefile_bootstraps_the_uv_the_lock_holds() -> None:
    assert make_variable("UV_VERSION") == locked()["uv"]


def test_the_lock_holds_every_runtime_dependency() -> None:
    versions = locked()
    for spec in project()["dependencies"]:  # type: ignore[attr-defined]
        name, _ = requirement(spec)
        assert name in versions, f"{name} is not in uv.lock: run `uv lock`"


def test_the_lowest_redis_py_tried_is_the_range_floor() -> None:
    """make test-redis-lowest runs the suite on the oldest redis-py the range admits."""
    redis = next(s for s in project()["dependencies"] if requirement(s)[0] == "redis")  # type: ignore[attr-defined]
    floor = requirement(redis)[1].removeprefix(">=")
    assert release(make_variable("REDIS_LOWEST")) == release(floor)
    assert release(locked()["redis"]) > release(floor), "the lock should hold the newest"


def release(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))
