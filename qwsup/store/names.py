"""The supervisors' names and leases in Redis: the workers' registries, a master's
heartbeat and hold on its name (claim, release), the others' records and the order of
their heartbeats (beats, watch), and reclaiming a dead one's jobs. Each step that reads
and decides is one Lua script (docs/protocol.md, "Holding a name").
"""

from __future__ import annotations

from typing import Any

from redis.typing import EncodableT, KeyT

from qwsup.store.namespace import Namespace
from qwsup.store.records import Beat, Reclaimed, Suspect, Watched
from qwsup.store.scripts import translated

REQUEUE_BATCH = 100  # ids moved per requeue.lua (and reclaim.lua) call
WATCH_LIMIT = 1000  # suspects one watch.lua call reports at most (the rest in later calls)


class Names(Namespace):
    def register_worker(self, name: str, worker: str) -> None:
        with translated():
            self.client.sadd(self.keys.workers(name), worker)

    def unregister_worker(self, name: str, worker: str) -> None:
        with translated():
            self.client.srem(self.keys.workers(name), worker)

    def registered_workers(self, name: str) -> set[str]:
        with translated():
            members = self.client.smembers(self.keys.workers(name))
        return {m.decode(errors="replace") if isinstance(m, bytes) else m for m in members}

    def heartbeat(
        self,
        name: str,
        lease_s: float,
        *,
        token: str,
        pid: int,
        host: str,
        status: str,
        pools: str = "[]",
    ) -> int:
        """Renew the hold on supervisor `name` (its `token`): 1 renewed, 0 the name has no
        holder any more (reclaimed), -1 another master holds it. `pools` (JSON) is what
        `qwsup status` shows of its pools."""
        keys: list[KeyT] = [
            self.keys.leases, self.keys.supervisors, self.keys.info(name), self.keys.beats,
            self.keys.beat_seq,
        ]  # fmt: skip
        args: list[EncodableT] = [name, int(lease_s * 1000), pid, host, status, pools, token]
        return int(self.scripts.run("heartbeat", keys, args))

    def holder(self, name: str) -> dict[bytes, bytes]:
        """The record of whoever holds supervisor `name` ({} when none)."""
        with translated():
            record: dict[bytes, bytes] = self.client.hgetall(self.keys.info(name))  # type: ignore[assignment]
        return record

    def claim(
        self, name: str, token: str, *, expected: str, lease_s: float, holder: dict[str, str]
    ) -> str | None:
        """Take supervisor `name` for `token` if its hold is now `expected` ("" for none);
        None when taken, else the token that holds it."""
        keys: list[KeyT] = [
            self.keys.info(name), self.keys.supervisors, self.keys.leases, self.keys.beats,
            self.keys.beat_seq,
        ]  # fmt: skip
        args: list[EncodableT] = [name, token, expected, int(lease_s * 1000)]
        for field, value in holder.items():
            args += [field, value]
        ok, held_by = self.scripts.run("claim", keys, args)
        return None if ok else held_by.decode(errors="replace")

    def release(self, name: str, token: str) -> bool:
        """Let supervisor `name` go, if `token` still holds it."""
        keys: list[KeyT] = [
            self.keys.info(name), self.keys.supervisors, self.keys.leases, self.keys.beats,
        ]  # fmt: skip
        return bool(self.scripts.run("release", keys, [name, token]))

    def beats(self, names: list[str] | None = None) -> dict[str, Beat]:
        """What the records of the named supervisors (default: every registered one)
        show of their life (see lib/beat.lua), and the lease each heartbeats for."""
        flat = self.scripts.run("beats", [self.keys.supervisors], names or [])
        found = {}
        for i in range(0, len(flat), 3):
            lease = flat[i + 2].decode(errors="replace")
            lease_s = int(lease) / 1000 if lease.isdigit() else 0.0
            found[flat[i].decode(errors="replace")] = Beat(flat[i + 1].decode(), lease_s)
        return found

    def watch(self, name: str, token: str, upto: int, limit: int = WATCH_LIMIT) -> Watched | None:
        """watch.lua, for the master that holds `name` under `token`: the heartbeats'
        counter now, and the supervisors that have not beaten since it stood at `upto`
        (-1: none), at most `limit`, the longest silent first. None when `token` does
        not hold the name."""
        keys: list[KeyT] = [
            self.keys.beats, self.keys.beat_seq, self.keys.leases, self.keys.info(name)
        ]  # fmt: skip
        reply: Any = self.scripts.run("watch", keys, [token, upto, limit])
        if not reply:
            return None
        seq, mark, complete, *flat = reply
        suspects = {}
        for i in range(0, len(flat), 4):
            lease = flat[i + 3].decode(errors="replace")
            lease_s = int(lease) / 1000 if lease.isdigit() else 0.0
            suspect = Suspect(int(flat[i + 1]), flat[i + 2].decode(errors="replace"), lease_s)
            suspects[flat[i].decode(errors="replace")] = suspect
        found = mark.decode(errors="replace")
        return Watched(int(seq), int(found) if found.isdigit() else None, bool(complete), suspects)

    def reclaim(self, dead: str, *, by: str, max_attempts: int, seen: str = "") -> Reclaimed | None:
        """Reclaim the jobs of supervisor `dead`, if its record still shows `seen` (what
        the caller watched not change for a lease), or whatever it shows when `seen` is
        "". None when it is not to be reclaimed (it beat after all)."""
        keys: list[KeyT] = [
            self.keys.leases,
            self.keys.supervisors,
            self.keys.all_jobs,
            self.keys.failed_jobs,
            self.keys.beats,
            self.keys.beat_seq,
            self.keys.finished_jobs,
        ]
        total: Reclaimed | None = None
        first = "1"
        while True:
            args: list[EncodableT] = [
                by, max_attempts, REQUEUE_BATCH, dead, seen, first, self.keep_ms
            ]  # fmt: skip
            reply: Any = self.scripts.run("reclaim", keys, args)
            if not reply:
                return total
            requeued, failed, finished = reply
            previous = total or Reclaimed(dead, 0, 0)
            total = Reclaimed(dead, previous.requeued + requeued, previous.failed + failed)
            if finished:
                return total
            first = "0"
