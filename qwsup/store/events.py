"""Reading the job events stream (all:events, written by the scripts: lib/events.lua),
for `qwsup events [--follow] [--json]` and anyone who follows jobs from Python."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qwsup.proctitle import printable
from qwsup.store.scripts import translated

EVENTS = ("enqueued", "started", "progress", "done", "failed", "retrying", "cancelled")
FOLLOW_BLOCK_MS = 5_000  # one XREAD's block while following


@dataclass(frozen=True)
class Event:
    entry: str  # the stream entry's id: "<unix ms>-<sequence>"
    event: str
    job: str
    queue: str
    worker: str
    more: dict[str, str]  # error, attempt, progress, message

    @property
    def at(self) -> float:
        """Unix seconds (Redis clock), from the entry's id."""
        return int(self.entry.partition("-")[0]) / 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry, "at": self.at, "event": self.event, "id": self.job,
            "queue": self.queue, "worker": self.worker or None, **self.more,
        }  # fmt: skip

    def line(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        ms = int(self.entry.partition("-")[0]) % 1000
        where = f" on {self.worker}" if self.worker else ""
        more = "".join(f" {k}={printable(v, 200)}" for k, v in self.more.items())
        return (
            f"{when}.{ms:03d}  {self.event:<9} {printable(self.job, 64)}  {self.queue}{where}{more}"
        )


def event_of(entry: bytes, fields: dict[bytes, bytes]) -> Event:
    text = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()}
    known = {"event", "id", "queue", "worker"}
    return Event(
        entry.decode(), text.get("event", "?"), text.get("id", ""), text.get("queue", ""),
        text.get("worker", ""), {k: v for k, v in text.items() if k not in known},
    )  # fmt: skip


def last(client: Any, key: str, count: int) -> list[Event]:
    """The latest `count` events, oldest first."""
    with translated():
        entries = client.xrevrange(key, count=count)
    return [event_of(entry, fields) for entry, fields in reversed(entries)]


def follow(client: Any, key: str, after: str) -> Iterator[Event]:
    """The events written after entry `after` ("$": from now), as they come (XREAD
    BLOCK: no polling), for ever."""
    while True:
        with translated():
            found = client.xread({key: after}, block=FOLLOW_BLOCK_MS, count=1000)
        for _stream, entries in found or []:
            for entry, fields in entries:
                after = entry.decode()
                yield event_of(entry, fields)


def newest_after(client: Any, key: str, after: str, block_ms: int) -> str | None:
    """The id of the newest event, once there is one after entry `after` ("$": from
    now), waiting at most `block_ms` for it (XREAD BLOCK); None when none came."""
    with translated():
        found = client.xread({key: after}, block=block_ms, count=1)
        if not found:
            return None
        newest = client.xrevrange(key, count=1)
    return str(newest[0][0].decode()) if newest else None


def as_json(event: Event) -> str:
    return json.dumps(event.as_dict())
