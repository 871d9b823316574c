"""A reference, not a peer: the article's loop at its leanest, as issue 13 measured it.
Ten jobs a round trip (a script moves them to the worker's own list and returns their
hashes); the handler's record writes sent with the acknowledgements of the whole
batch, in one round trip after the batch. Nothing is lost when it dies (every job
waits in its list until acknowledged), but the jobs of a batch that ended before the
death run again, and there is no retry, no time limit, no title, no supervision.

    python -m bench.batched REDIS_URL        (the harness's job format: w, id)
"""

from __future__ import annotations

import os
import signal
import sys

import redis

from bench.peers import body

BATCH = 10
TAKE = """
local out = {}
for _ = 1, tonumber(ARGV[1]) do
  local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not id then break end
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', 'job:' .. id)
end
return out
"""


def main(url: str) -> None:
    client = redis.Redis.from_url(url)
    own = f"batched.{os.getpid()}:jobs"
    take = client.register_script(TAKE)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        got = take(keys=["all:jobs", own], args=[BATCH])
        batch = list(zip(got[::2], got[1::2], strict=True))
        if not batch:
            job_id = client.blmove("all:jobs", own, 1, "RIGHT", "LEFT")
            if job_id:
                batch = [(job_id, client.hgetall(b"job:" + job_id))]
        with client.pipeline(transaction=False) as pipe:
            for job_id, flat in batch:
                data = (
                    dict(zip(flat[::2], flat[1::2], strict=True))
                    if isinstance(flat, list)
                    else flat
                )
                body.work(data[b"w"].decode())
                body.record(pipe, data[b"id"].decode())
                pipe.delete(b"job:" + job_id)
                pipe.lrem(own, 1, job_id)
            if batch:
                pipe.execute()


if __name__ == "__main__":
    main(sys.argv[1])
