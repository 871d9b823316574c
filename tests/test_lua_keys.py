"""The key names the Lua builds (lib/keys.lua) are keys.py's, builder for builder, over
a namespaced prefix and over none."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import redis

from qwsup.store.keys import Keys
from qwsup.store.scripts import source

pytestmark = pytest.mark.redis

KEYS_LUA = resources.files("qwsup.store").joinpath("lua", "lib", "keys.lua")

# Each builder of lib/keys.lua: the Lua call (on ARGV[2], a name or an id), and the name
# keys.py gives for it.
BUILDERS = {
    "job": lambda k, v: k.job(v).decode(),
    "queue_jobs": lambda k, v: k.queue_jobs(v),
    "worker_jobs": lambda k, v: k.worker_jobs(v),
    "workers": lambda k, v: k.workers(v),
    "info": lambda k, v: k.info(v),
    "unique": lambda k, v: k.unique(v),
    "ended": lambda k, v: k.ended(v).decode(),
    "cancels": lambda k, v: k.cancels(v),
    "events": lambda k, v: k.events,
    "paused": lambda k, v: k.paused,
    "started": lambda k, v: k.started(v),
    "running": lambda k, v: k.running(v),
}


def names_script(tmp_path: Path) -> str:
    """A tiny script that calls every builder, loaded as the packaged ones are: its
    include of `keys` resolved against the package's lib/."""
    (tmp_path / "lib").symlink_to(Path(str(KEYS_LUA)).parent)
    calls = ", ".join(f"keys.{name}(ARGV[2])" for name in BUILDERS)
    (tmp_path / "names.lua").write_text(
        f"-- qwsup:include keys\nreturn {{{calls}, keys.queue_name(keys.queue_jobs(ARGV[2]))}}\n"
    )
    return source("names", tmp_path)


def test_every_builder_of_keys_lua_is_checked() -> None:
    defined = re.findall(r"^function keys\.(\w+)\(", KEYS_LUA.read_text(), re.MULTILINE)
    assert sorted(defined) == sorted([*BUILDERS, "queue_name"])


@pytest.mark.parametrize("prefix", ["{app}:", "ns:", ""], ids=["hash-tag", "namespace", "none"])
@pytest.mark.parametrize("value", ["host-a", "host-a.41", "7f3a", "a:b"])
def test_the_lua_names_are_keys_py_names(
    client: redis.Redis, tmp_path: Path, prefix: str, value: str
) -> None:
    keys = Keys(prefix)
    *built, name = client.eval(names_script(tmp_path), 0, prefix, value)
    assert [b.decode() for b in built] == [make(keys, value) for make in BUILDERS.values()]
    assert name.decode() == value  # queue_name undoes queue_jobs


@pytest.mark.unit
def test_the_fixed_keys_the_scripts_expect_are_keys_py_names() -> None:
    """Keys of one fixed name (all:beats, all:beat_seq, all:leases, ...) arrive in KEYS,
    never built in Lua: each script's header names them, and each must be a name
    keys.py builds (a new key added to a script and not to keys.py fails here)."""
    built = {
        getattr(Keys(), name) for name, value in vars(Keys).items() if isinstance(value, property)
    }
    named: dict[str, set[str]] = {}
    for script in resources.files("qwsup.store").joinpath("lua").iterdir():
        if script.name.endswith(".lua"):
            for key in re.findall(
                r"^-- KEYS\[\d+\] = ((?:all|failed|delayed):\w+)", script.read_text(), re.MULTILINE
            ):
                named.setdefault(key, set()).add(script.name)
    assert {"all:beats", "all:beat_seq"} <= set(named)
    assert set(named) <= built, {key: named[key] for key in set(named) - built}
    assert named["all:beat_seq"] == {"heartbeat.lua", "claim.lua", "reclaim.lua", "watch.lua"}


FIELDS_LUA = resources.files("qwsup.store").joinpath("lua", "lib", "fields.lua")


@pytest.mark.unit
def test_the_job_fields_of_the_scripts_are_keys_py_fields_and_named_once() -> None:
    """lib/fields.lua is the scripts' one home of the job hash's field names, keys.py
    Python's: the same names, constant for constant, and no script spells one out."""
    from qwsup.store import keys as keys_py

    lua = dict(re.findall(r"^  ([A-Z_]+) = '(qwsup:[a-z_]+)',$", FIELDS_LUA.read_text(), re.M))
    python = {
        name: value
        for name, value in vars(keys_py).items()
        if name.isupper() and isinstance(value, str) and value.startswith(keys_py.FIELD_PREFIX)
        and value != keys_py.FIELD_PREFIX
    }  # fmt: skip
    assert lua == python
    spelled = {}
    for script in resources.files("qwsup.store").joinpath("lua").iterdir():
        paths = [script] if script.name.endswith(".lua") else []
        if script.name == "lib":
            paths = [p for p in script.iterdir() if p.name != "fields.lua"]
        for path in paths:
            found = re.findall(r"""['"]qwsup:[a-z_]+['"]""", path.read_text())
            if found:
                spelled[path.name] = found
    assert spelled == {}, "use lib/fields.lua's F.NAME"
