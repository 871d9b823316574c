"""The script layer (qwsup/store/scripts.py): nested includes, the errors of a bad include at
load time, every packaged script loading on a real server, and each script registered
once per client."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import redis

from qwsup.errors import RedisRefused
from qwsup.store.scripts import SOURCES, IncludeError, Scripts, source

LUA = resources.files("qwsup.store").joinpath("lua")


def lua_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / f"{name}.lua"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.unit
def test_includes_nest_and_each_library_is_pasted_once_before_its_users(
    tmp_path: Path,
) -> None:
    root = lua_dir(
        tmp_path,
        {
            "lib/base": "local function base() return 1 end",
            "lib/mid": "-- qwsup:include base\nlocal function mid() return base() + 1 end",
            "lib/top": "-- qwsup:include base\n-- qwsup:include mid\nlocal function top() end",
            "main": "-- qwsup:include top\n-- qwsup:include mid\nreturn top()",
        },
    )
    text = source("main", root)
    assert "qwsup:include" not in text
    assert [text.count(f"local function {f}(") for f in ("base", "mid", "top")] == [1, 1, 1]
    assert text.index("function base") < text.index("function mid") < text.index("function top")
    assert text.rstrip().endswith("return top()")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"lib/a": "-- qwsup:include b", "lib/b": "-- qwsup:include a"},
         "main.lua: include loop: a -> b -> a"),
        ({"lib/a": "-- qwsup:include a"}, "main.lua: include loop: a -> a"),
        ({"lib/a": "-- qwsup:include c"}, "a.lua includes c, but there is no lib/c.lua"),
    ],
    ids=["loop", "itself", "missing"],
)  # fmt: skip
def test_an_include_loop_or_a_missing_library_fails_at_load_time(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    root = lua_dir(tmp_path, {**files, "main": "-- qwsup:include a\nreturn 1"})
    with pytest.raises(IncludeError) as raised:
        source("main", root)
    assert str(raised.value) == message


@pytest.mark.unit
def test_a_script_naming_a_missing_library_fails_at_load_time(tmp_path: Path) -> None:
    root = lua_dir(tmp_path, {"main": "-- qwsup:include nowhere\nreturn 1"})
    with pytest.raises(IncludeError, match=r"^main\.lua includes nowhere, but there is no"):
        source("main", root)


@pytest.mark.unit
def test_every_script_documents_the_key_prefix_as_its_first_argument() -> None:
    scripts = [e for e in LUA.iterdir() if e.name.endswith(".lua")]
    assert len(scripts) == len(SOURCES) > 10
    for entry in scripts:
        header = entry.read_text(encoding="utf-8")
        assert re.search(r"^-- ARGV\[1\] = the key prefix", header, re.MULTILINE), entry.name


@pytest.mark.unit
def test_no_script_builds_a_key_name_outside_lib_keys() -> None:
    """Names are built in lib/keys.lua (tied to keys.py by test_lua_keys.py) and nowhere
    else: no other file joins a string to a key name's parts."""
    parts = re.compile(r"\.\.\s*'(:jobs|:info|:workers|job:|unique:)'|'(job:|unique:)'\s*\.\.")
    files = [*LUA.iterdir(), *LUA.joinpath("lib").iterdir()]
    for entry in files:
        if entry.name.endswith(".lua") and entry.name != "keys.lua":
            assert not parts.search(entry.read_text(encoding="utf-8")), entry.name


@pytest.mark.unit
def test_every_script_includes_the_libraries_it_calls() -> None:
    """A library function called but not included would fail only when Redis runs that
    line; this finds it when the source is read."""
    libs = LUA.joinpath("lib")
    shared = {
        fn
        for entry in libs.iterdir()
        for fn in re.findall(r"^local function (\w+)", entry.read_text(), re.MULTILINE)
    }
    for name, text in SOURCES.items():
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        called = set(re.findall(r"\b(\w+)\(", code)) & shared
        defined = set(re.findall(r"^local function (\w+)", text, re.MULTILINE))
        assert called <= defined, (name, called - defined)
        if "keys." in code:
            assert "local keys = {}" in text, name


@pytest.mark.redis
def test_every_packaged_script_compiles_on_the_server(client: redis.Redis) -> None:
    for name, text in SOURCES.items():
        assert "qwsup:include" not in text
        functions = re.findall(r"^local function (\w+)", text, re.MULTILINE)
        assert len(functions) == len(set(functions)), name  # each library pasted once
        client.script_load(text)  # raises on a syntax error


@pytest.mark.redis
def test_each_script_is_registered_once_per_client(client: redis.Redis) -> None:
    assert Scripts(client, "a:")["take"] is Scripts(client, "b:")["take"]
    other = redis.Redis(connection_pool=client.connection_pool)
    assert Scripts(other, "")["take"] is not Scripts(client, "")["take"]


@pytest.mark.redis
def test_a_script_error_reply_is_translated(client: redis.Redis) -> None:
    client.set("all:jobs", "not a list")
    client.rpush("host.1:jobs", "a")
    with pytest.raises(RedisRefused, match="WRONGTYPE"):
        Scripts(client, "").run("giveback", ["host.1:jobs", "all:jobs", "finished:jobs"], [0, "a"])
