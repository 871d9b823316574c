"""Property: whatever id a producer pushes, through the real scripts on a real server,
it runs at most once per attempt, an empty id never runs, and the queues drain: no id
loops (an empty id used to run 712 times in 8 s)."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from takes import ack, finish_and_take

from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from qwsup.store.records import EMPTY, Retry

pytestmark = pytest.mark.redis

W = "host.1"
ids = st.lists(
    st.one_of(st.binary(max_size=40), st.sampled_from([b"", b" ", b"\x00", b"\xff", b"a:jobs"])),
    unique=True,
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pushed=ids, failing=st.sets(st.integers(0, 11)), want=st.integers(1, 4))
def test_every_id_runs_once_per_attempt_and_the_queues_drain(
    client: redis.Redis, pushed: list[bytes], failing: set[int], want: int
) -> None:
    client.flushdb()
    q = Queue(client, Keys())
    for job_id in pushed:
        client.hset(b"job:" + job_id, "n", "1")  # a hash for every id, the empty one too
        client.lpush("all:jobs", job_id)
    fail_once = {job_id for i, job_id in enumerate(pushed) if i in failing}
    ran: Counter[bytes] = Counter()
    finished = b""
    for _ in range(3 * len(pushed) + 3):  # enough rounds for every job and its retry
        took = finish_and_take(q, W, "host", finished, want)
        finished = b""
        if not took.jobs:
            break
        for job in took.jobs:
            if job.kind == EMPTY:
                continue
            ran[job.id] += 1
            if job.id in fail_once and ran[job.id] == 1:
                assert q.fail(W, job.id, error="once", retry=Retry(max_attempts=3)) == 1
            elif job is took.jobs[-1]:
                finished = job.id  # acknowledged by the next take
            else:
                assert ack(q, W, job.id)
    else:
        raise AssertionError(f"the queues did not drain: {client.lrange('all:jobs', 0, -1)}")
    expected = {job_id: 2 if job_id in fail_once else 1 for job_id in pushed if job_id}
    assert dict(ran) == expected
    assert client.llen("all:jobs") == client.llen(f"{W}:jobs") == client.llen("failed:jobs") == 0
    assert [k for k in client.scan_iter(match="job:?*")] == []
