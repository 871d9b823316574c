"""The store: the only code that talks to Redis (the handler's own client aside).

- connection: Redis clients built from the config (URLs, passwords, TLS, Sentinel, Cluster).
- embedded: the embedded redis-server, used when the config names no `[redis] url`.
- server: what the server is configured with, as far as qwsup's promise depends on it.
- keys: every key name and job hash field, in one place (lua/lib/keys.lua is its twin).
- scripts: the Lua scripts of lua/, registered once per client; redis-py's errors translated.
- namespace: what a client's stores share (the client, its keys, its scripts, retention).
- queue: the masters' and the workers' side of the protocol (requeue, promote, prune,
  cron's claims, fail, give back), built on names: the registries, heartbeats, holds,
  leases and reclaims.
- feed: a worker's own line to Redis (takes in batches, acknowledgements without waiting);
  commands: the take, acknowledgement and wait it sends.
- requests: a master's line for stop requests (a BLPOP of its own).
- producer: a producer's side (enqueue.lua batches, the wait for an end, cancels).
- records: what the store returns (jobs taken, a take's facts, reads of the leases).
- jobs: a job as anyone can follow it, read from its hash.
- events: the job events stream (all:events).
- operator: the operators' line (status, the dashboard, the metrics): the queues, the
  supervisors and their workers, cron records, pause, scale, reclaim.
- failed: the failed jobs, read a page at a time, retried and purged in bounded calls.
- pages: the bounded reads of jobs: a page of a list, a row's fields, a job, the events.
"""
