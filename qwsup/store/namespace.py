"""One client's view of one namespace: its client, its keys' names, its scripts
(registered once per client), how long finished jobs are kept, and the events' cap.
The stores of each role (names.py, queue.py) are built on it.
"""

from __future__ import annotations

import redis

from qwsup.store.keys import Keys
from qwsup.store.scripts import EVENTS_MAX, Scripts

KEEP_MS = 3_600_000  # [workers] keep_finished's default

Client = redis.Redis  # what the store is handed (a RedisCluster stands in for one)


class Namespace:
    def __init__(
        self, client: redis.Redis, keys: Keys, keep_ms: int = KEEP_MS, events_max: int = EVENTS_MAX
    ) -> None:
        self.client = client
        self.keys = keys
        self.scripts = Scripts(client, keys.prefix, events_max)
        self.keep_ms = keep_ms
