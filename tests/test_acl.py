"""conf/redis-acl.conf: the rights it gives, against a real redis-server that loads it.
(The supervisor's side is exercised by every process test, which runs qwsup as its
`qwsup` user and fails on any right it was refused.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from qwsup.produce.producer import Producer
from support import Qwsup, done
from testkit import ACL_PASSWORDS, RedisServer, wait_until

pytestmark = pytest.mark.process


def login(server: RedisServer, user: str) -> redis.Redis:
    return redis.Redis(
        unix_socket_path=str(server.socket), username=user, password=ACL_PASSWORDS[user]
    )


def test_a_producer_can_enqueue_follow_and_wait_and_nothing_else(
    start_qwsup: Callable[..., Qwsup], server: RedisServer, r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    producer = login(server, "qwsup-producer")
    job_id = Producer(producer).enqueue({"to": "x@example.com"})
    later = Producer(producer).enqueue({"to": "y@example.com"}, delay=0.1)
    assert Producer(producer).wait(later, timeout=20) is None  # (the handler returns None)
    wait_until(lambda: {job_id, later} <= set(done(r)), 10, "the producer's jobs")
    info = Producer(producer).job(job_id)
    assert info is not None and info.state.value == "done"
    assert server.acl_denials("qwsup-producer") == []
    refused = [
        lambda: producer.delete("all:managers"),  # the supervisor's keys
        lambda: producer.set("other:key", "x"),  # anything else
        lambda: producer.flushall(),
    ]
    for call in refused:
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    producer.close()


def test_the_supervisor_user_cannot_touch_other_keys_or_the_server(server: RedisServer) -> None:
    qwsup = login(server, "qwsup")
    assert qwsup.ping()
    assert qwsup.info("memory")["maxmemory_policy"] == "noeviction"  # what a master checks
    for call in (
        lambda: qwsup.set("session:1", "x"),
        lambda: qwsup.get("session:1"),
        lambda: qwsup.keys("*"),
        lambda: qwsup.config_get("requirepass"),  # no CONFIG GET: it shows passwords
        lambda: qwsup.config_get("dir"),
        lambda: qwsup.flushall(),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    qwsup.close()
