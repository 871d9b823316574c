"""The Lua scripts and the edge of redis-py: every script's source, each script
registered once per client, and redis-py's errors translated into the project's.

A script is one file of qwsup/store/lua; a line `-- qwsup:include NAME` pulls in
lua/lib/NAME.lua in its place (Redis runs every script on its own, so the functions
several share are pasted in). Includes nest, each library is pasted once per script
(where it is first included), and a loop or a missing library is an error when the
source is read, not when Redis runs it.

Every script gets the key prefix (the namespace and its ':', or "") as ARGV[1]; the
names a script builds itself come from lib/keys.lua, which mirrors keys.py.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import redis
from redis.commands.core import Script
from redis.typing import EncodableT, KeyT

from qwsup.errors import ConnectionLost, QwsupError, RedisRefused

INCLUDE = re.compile(r"^-- qwsup:include (\w+)$", re.MULTILINE)
# The bulk scripts (promote, retry, retry_all, purge): the most ids per call, and the
# time after which a call stops, so that none blocks Redis for long.
BULK_BATCH = 1000
BULK_BUDGET_US = 2000


class IncludeError(QwsupError):
    """A script includes a library that does not exist, or libraries that include
    each other."""


def source(name: str, root: Traversable | None = None) -> str:
    """The source of script `name` (root/NAME.lua, root defaulting to qwsup/store/lua), each
    include replaced by its library's source, nested includes first."""
    root = root or resources.files("qwsup.store").joinpath("lua")
    pasted: set[str] = set()

    def expand(text: str, chain: tuple[str, ...]) -> str:
        def included(match: re.Match[str]) -> str:
            lib = match[1]
            if lib in chain:
                raise IncludeError(f"{name}.lua: include loop: {' -> '.join((*chain, lib))}")
            if lib in pasted:
                return f"-- (lib/{lib}.lua: included above)"
            path = root.joinpath("lib", f"{lib}.lua")
            if not path.is_file():
                where = chain[-1] if chain else name
                raise IncludeError(f"{where}.lua includes {lib}, but there is no lib/{lib}.lua")
            pasted.add(lib)
            return expand(path.read_text(encoding="utf-8").rstrip("\n"), (*chain, lib))

        return INCLUDE.sub(included, text)

    return expand(root.joinpath(f"{name}.lua").read_text(encoding="utf-8"), ())


def _all_sources() -> dict[str, str]:
    lua = resources.files("qwsup.store").joinpath("lua")
    names = sorted(e.name.removesuffix(".lua") for e in lua.iterdir() if e.name.endswith(".lua"))
    return {name: source(name) for name in names}


# Every script's source, read once at import: a worker that drops privileges after fork
# may no longer be able to read qwsup's files.
SOURCES = _all_sources()

# The scripts registered on each client (redis-py sends EVALSHA, and the source again
# on NOSCRIPT), so that a client registers each script once however many users it has.
_registered: weakref.WeakKeyDictionary[Any, dict[str, Script]] = weakref.WeakKeyDictionary()


def translation(exc: BaseException) -> BaseException:
    """redis-py's error as ConnectionLost (unreachable) or RedisRefused (an error reply,
    such as WRONGTYPE for a queue key that is not a list); any other as it is."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return ConnectionLost(str(exc) or type(exc).__name__)
    if isinstance(exc, redis.ResponseError):
        return RedisRefused(str(exc))
    return exc


class _Translated:
    """`with translated():` raises redis-py's errors as their translation (a class, not
    a generator: it is on the worker's path of every job)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        translated = translation(exc)
        if translated is not exc:
            raise translated from None


_TRANSLATED = _Translated()


def translated() -> _Translated:
    return _TRANSLATED


def no_such_command(exc: redis.ResponseError) -> bool:
    return "unknown command" in str(exc).lower()


EVENTS_MAX = 10_000  # [events] max_len's default


class Scripts:
    """The scripts as one client runs them for one namespace: `run` prepends the key
    prefix (ARGV[1]) and the most events the stream keeps (ARGV[2], lib/events.lua) to
    the arguments, and translates errors."""

    def __init__(self, client: Any, prefix: str, events_max: int = EVENTS_MAX) -> None:
        self.client = client  # a Redis, or a RedisCluster standing in for one
        self.prefix = prefix
        self.events_max = events_max  # [events] max_len: ARGV[2] of every script
        self._scripts = _registered.setdefault(client, {})

    def __getitem__(self, name: str) -> Script:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(SOURCES[name])
        return script

    def pipeline(self) -> Any:
        """A pipeline (no MULTI) that scripts can be queued on (`run(..., pipe=)`): on a
        cluster, one to the node that serves the namespace's slot (a namespace's keys
        are all in one slot), since redis-py's cluster pipelines refuse EVALSHA."""
        client = self.client
        if isinstance(client, redis.RedisCluster):
            finder: Any = client.get_node_from_key  # (untyped in redis-py)
            with translated():
                client = finder(self.prefix + "all:jobs").redis_connection
        return client.pipeline(transaction=False)

    def args(self, args: Sequence[EncodableT]) -> list[EncodableT]:
        """A script's whole ARGV: the key prefix, the events' max length, then `args`."""
        return [self.prefix, self.events_max, *args]

    def run(
        self,
        name: str,
        keys: Sequence[KeyT] = (),
        args: Sequence[EncodableT] = (),
        *,
        pipe: redis.client.Pipeline | None = None,
    ) -> Any:
        """Run script `name` (queued on `pipe`, when given: its reply comes with the
        pipeline's)."""
        with translated():
            return self[name](keys=list(keys), args=self.args(args), client=pipe)

    def evalsha(
        self, name: str, keys: Sequence[KeyT], args: Sequence[EncodableT]
    ) -> tuple[EncodableT, ...]:
        """The EVALSHA command of script `name`, for a caller that sends it on a
        connection of its own."""
        return ("EVALSHA", self[name].sha, len(keys), *keys, *self.args(args))

    def load(self, *names: str) -> None:
        """Load the scripts into the server again (it lost them: SCRIPT FLUSH, a restart)."""
        with translated():
            for name in names:
                self.client.script_load(SOURCES[name])


def moved(exc: redis.ResponseError) -> bool:
    """An error reply that means the line leads to the wrong server since a failover: a
    cluster whose layout changed, or a primary demoted to a replica (READONLY: a
    managed Redis whose DNS name moved to the new primary)."""
    return str(exc).split(" ", 1)[0] in ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY")
