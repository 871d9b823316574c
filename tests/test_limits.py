"""Pauses, rate limits and concurrency limits: the rules (pure), take.lua against a real
Redis, and two real masters sharing one Redis."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
import redis

from qwsup.config import parse
from qwsup.errors import ConfigError
from qwsup.limits import HELD_WAIT_MAX_S, Limits, Rate, duration_s, held_wait_s
from qwsup.produce.producer import Producer
from qwsup.store.feed import Feed
from qwsup.store.keys import Keys
from qwsup.store.queue import Queue
from qwsup.store.records import Job, Retry, Taken
from support import Qwsup, done, runs, scrape, started_pid, state
from testkit import free_port
from testkit.wait import wait_until

Start = Callable[..., Qwsup]


# -- pure: the rules -------------------------------------------------------------------


@pytest.mark.unit
def test_a_rate_is_jobs_per_duration() -> None:
    assert Rate.parse("100/60s") == Rate(100, 60.0)
    assert Rate.parse("50/s") == Rate(50, 1.0)
    assert Rate.parse(" 10 / 1.5m ") == Rate(10, 90.0)
    assert Rate.parse("3/500ms") == Rate(3, 0.5)
    assert duration_s("1d") == 86400.0 and duration_s("2h") == 7200.0
    for bad in ("100", "0/1s", "-1/1s", "10/0s", "10/1x", "ten/1s", "10/", "10/1 s s"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


@pytest.mark.unit
def test_limits_are_what_take_lua_reads() -> None:
    assert Limits.of("mail", "100/60s", 5).words() == ("mail", 100, 60_000, 5)
    assert Limits.of("mail", "", 0).any is False
    assert Limits.of("mail", "", 2).words() == ("mail", 0, 0, 2)


@pytest.mark.unit
def test_a_held_back_worker_waits_until_the_window_opens_at_most_a_second() -> None:
    assert held_wait_s(200) == 0.2
    assert held_wait_s(60_000) == HELD_WAIT_MAX_S == 1.0
    assert held_wait_s(0) == 0.01  # never a loop of takes


@pytest.mark.unit
def test_queue_limits_come_from_queues_tables() -> None:
    text = '[queues.mail]\nrate_limit = "100/60s"\nconcurrency_limit = 5\n[queues.sms]\n'
    config = parse("c.toml", text + "[workers]\nqueues = ['mail', 'sms', 'all']\n")
    assert config.limits(("mail", "sms", "all")) == (Limits("mail", 100, 60_000, 5),)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[queues.mail]\nrate_limit = "100 per minute"\n', "queues.mail.rate_limit"),
        ("[queues.mail]\nconcurrency_limit = -1\n", "queues.mail.concurrency_limit"),
        ("[queues.mail]\nburst = 3\n", "queues.mail.burst"),
        ('[queues."a b"]\n', "queues.a b"),
        ("queues = 3\n", "queues"),
    ],
)
def test_a_bad_limit_is_a_config_error_naming_its_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse("c.toml", text)
    assert f"c.toml: {key}:" in str(caught.value)


# -- take.lua against a real Redis ---------------------------------------------------


class Line:
    """A worker's feed as its worker uses it: the ids it holds are `known` to each take,
    and what the last take said of a queue holding jobs back is kept (`held_ms`)."""

    def __init__(self, feed: Feed) -> None:
        self.feed, self.known, self.held_ms = feed, 0, 0

    def take(self, finished: bytes, want: int) -> list[Job]:
        return self._took(self.feed.take(finished, want, known=self.known))

    def wait(self, block_s: float, want: int, queue: str) -> list[Job]:
        return self._took(self.feed.wait(block_s, want, queue, known=self.known))

    def _took(self, taken: Taken) -> list[Job]:
        self.held_ms = taken.held_ms
        return taken.jobs


def line(q: Queue, worker: str, queues: tuple[str, ...], *limits: Limits, starts: int = 1) -> Line:
    """A worker's feed that starts `starts` jobs at once (its concurrency)."""
    feed = Feed(
        q.client, q.keys, worker, "host", queues, blocks_on=queues[0], limits=limits,
        starts=starts,
    )  # fmt: skip
    return Line(feed)


def took(feed: Line, want: int = 10, finished: bytes = b"") -> list[str]:
    """A take as a worker makes it: the jobs it holds are known, not returned again."""
    jobs = feed.take(finished, want)
    feed.known += len(jobs) - (1 if finished else 0)
    return [job.id.decode() for job in jobs]


def push(client: redis.Redis, queue: str, n: int) -> list[str]:
    return Producer(client).enqueue_many([{"n": str(i)} for i in range(n)], queue=queue)


@pytest.mark.redis
def test_a_paused_queue_gives_no_job_until_it_is_resumed(q: Queue, client: redis.Redis) -> None:
    [first] = push(client, "mail", 1)
    [other] = push(client, "sms", 1)
    feed = line(q, "host.1", ("mail", "sms"))
    client.sadd(Keys().paused, "mail")
    assert [j.id.decode() for j in feed.take(b"", 10)] == [other]
    assert feed.held_ms == 1000  # mail holds a job back: look again in a second
    assert client.lrange("mail:jobs", 0, -1) == [first.encode()]
    client.srem(Keys().paused, "mail")
    assert [j.id.decode() for j in feed.take(other.encode(), 10)] == [first]
    assert feed.held_ms == 0


@pytest.mark.redis
def test_a_paused_queue_that_holds_nothing_holds_nobody_back(q: Queue, client: redis.Redis) -> None:
    client.sadd(Keys().paused, "mail")
    feed = line(q, "host.1", ("mail",))
    assert took(feed) == [] and feed.held_ms == 0


@pytest.mark.redis
def test_a_job_the_wait_moved_from_a_paused_queue_goes_back_first_in_line(
    q: Queue, client: redis.Redis
) -> None:
    ids = push(client, "mail", 3)
    feed = line(q, "host.1", ("mail",))
    client.sadd(Keys().paused, "mail")
    assert feed.wait(1, 10, "mail") == []  # BLMOVE moved the oldest; take.lua put it back
    assert client.lrange("mail:jobs", 0, -1) == [i.encode() for i in reversed(ids)]
    assert client.llen("host.1:jobs") == 0 and feed.held_ms == 1000
    client.srem(Keys().paused, "mail")
    assert [j.id.decode() for j in feed.take(b"", 1)] == [ids[0]]


@pytest.mark.redis
def test_a_rate_limit_holds_over_every_worker(q: Queue, client: redis.Redis) -> None:
    push(client, "mail", 10)
    limit = Limits("mail", 3, 60_000, 0)
    feeds = [line(q, f"host.{i}", ("mail",), limit) for i in (1, 2)]
    got = [len(took(f)) for f in feeds * 3]
    assert got == [1, 1, 1, 0, 0, 0]  # one per take, three in the window, over both
    assert 59_000 < feeds[0].held_ms <= 60_000  # until the oldest take leaves the window
    assert client.zcard("mail:started") == 3 and client.llen("mail:jobs") == 7
    assert 0 < client.pttl("mail:started") <= 61_000


@pytest.mark.redis
def test_a_rate_window_opens_as_its_oldest_take_leaves_it(q: Queue, client: redis.Redis) -> None:
    push(client, "mail", 3)
    feed = line(q, "host.1", ("mail",), Limits("mail", 2, 300, 0))
    assert len(took(feed)) == 1 and len(took(feed)) == 1
    assert took(feed) == [] and 0 < feed.held_ms <= 300
    wait_until(lambda: len(took(feed)) == 1, 5, "the window to open")


@pytest.mark.redis
def test_takes_logged_ahead_of_a_clock_stepped_back_count_from_now(
    q: Queue, client: redis.Redis
) -> None:
    push(client, "mail", 3)
    seconds, micros = client.time()
    later = seconds * 1000 + micros // 1000 + 30_000  # logged before a step back of 30 s
    client.zadd("mail:started", {f"{later}:a": later, f"{later + 1}:b": later + 1})
    feed = line(q, "host.1", ("mail",), Limits("mail", 2, 1_000, 0))
    assert took(feed) == [] and 0 < feed.held_ms <= 1_000  # not the 31 s until they leave
    assert max(score for _, score in client.zrange("mail:started", 0, -1, withscores=True)) < later
    wait_until(lambda: len(took(feed)) == 1, 5, "the window to open")


@pytest.mark.redis
def test_a_concurrency_limit_counts_jobs_until_they_leave_the_worker(
    q: Queue, client: redis.Redis
) -> None:
    ids = push(client, "mail", 4)
    limit = Limits("mail", 0, 0, 2)
    a, b, c = (line(q, f"host.{i}", ("mail",), limit) for i in (1, 2, 3))
    [ja], [jb] = a.take(b"", 10), b.take(b"", 10)
    a.known = b.known = 1
    assert c.take(b"", 10) == [] and c.held_ms == 250
    assert client.smembers("mail:running") == {ja.id, jb.id}
    assert client.hget(b"job:" + ja.id, "qwsup:capped") == b"mail"
    [jc] = a.take(ja.id, 10)  # finishing frees a's slot, which it takes again at once
    assert client.smembers("mail:running") == {jb.id, jc.id}
    q.fail("host.2", jb.id, error="boom", retry=Retry(max_attempts=5))  # back on its queue
    assert client.smembers("mail:running") == {jc.id}
    assert q.requeue("host.1", cost=1, max_attempts=5, reason="killed").requeued == 1
    assert client.smembers("mail:running") == set()
    waiting = [i.decode() for i in client.lrange("mail:jobs", 0, -1)]
    assert sorted([*waiting, ja.id.decode()]) == sorted(ids)  # ja done, the rest waiting


@pytest.mark.redis
def test_a_worker_of_several_slots_takes_what_the_limits_have_room_for_in_one_take(
    q: Queue, client: redis.Redis
) -> None:
    """A worker that starts its jobs at once (5 slots) takes up to the cap's room in one
    take, and the rate's room; one of a single slot, which holds the rest, takes one."""
    push(client, "mail", 10)
    push(client, "sms", 10)
    single = line(q, "host.1", ("mail",), Limits("mail", 0, 0, 3))
    slots = line(q, "host.2", ("mail",), Limits("mail", 0, 0, 3), starts=5)
    assert len(took(single)) == 1
    assert len(took(slots)) == 2 and slots.held_ms == 0  # the cap's room: 3 - 1
    assert took(slots) == [] and slots.held_ms == 250
    rated = line(q, "host.3", ("sms",), Limits("sms", 4, 60_000, 0), starts=5)
    assert len(took(rated, want=3)) == 3  # (want bounds it too)
    assert len(took(rated)) == 1 and took(rated) == [] and rated.held_ms > 0
    assert client.scard("mail:running") == 3 and client.zcard("sms:started") == 4


@pytest.mark.redis
def test_a_slot_a_path_missed_is_dropped_once_the_queue_is_at_its_limit(
    q: Queue, client: redis.Redis
) -> None:
    [job] = push(client, "mail", 1)
    client.sadd("mail:running", "gone-long-ago")  # no such job: it cannot hold a slot
    feed = line(q, "host.1", ("mail",), Limits("mail", 0, 0, 1))
    assert [j.id.decode() for j in feed.take(b"", 1)] == [job]
    assert client.smembers("mail:running") == {job.encode()}


@pytest.mark.redis
def test_a_queue_without_limits_is_taken_as_before_beside_a_limited_one(
    q: Queue, client: redis.Redis
) -> None:
    push(client, "mail", 5)
    plain = push(client, "all", 5)
    feed = line(q, "host.1", ("mail", "all"), Limits("mail", 0, 0, 1))
    taken = feed.take(b"", 10)
    assert len(taken) == 6 and [j.id.decode() for j in taken[1:]] == plain
    assert feed.held_ms == 0  # it found jobs: nothing held it back


# -- two real masters -----------------------------------------------------------------


def host(start: Start, name: str, count: int, **queues: dict[str, object]) -> Qwsup:
    sections = {f"queues.{queue}": limits for queue, limits in queues.items()}
    return start(
        config_name=f"{name}.toml",
        supervisor={"name": name, "lease_timeout": 2},
        workers={"count": count, "queues": ["mail", "all"], "retry_delay": 0, "keep_finished": 600},
        **sections,
    )


def times(r: redis.Redis, ids: list[str], field: str) -> list[int]:
    return [int(r.hget(f"job:{i}", field) or 0) for i in ids]


def at_once(r: redis.Redis, ids: list[str]) -> tuple[int, list[tuple[int, int]]]:
    """The most of the jobs `ids` that ran at once (by their started and finished times,
    ms), and those times."""
    starts, ends = times(r, ids, "qwsup:started_at"), times(r, ids, "qwsup:finished_at")
    spans = list(zip(starts, ends, strict=True))
    return max(sum(1 for s, f in spans if s <= t < f) for t, _ in spans), spans


@pytest.mark.process
def test_a_concurrency_limit_holds_across_two_masters(start_qwsup: Start, r: redis.Redis) -> None:
    a = host(start_qwsup, "hosta", 3, mail={"concurrency_limit": 2})
    b = host(start_qwsup, "hostb", 3, mail={"concurrency_limit": 2})
    a.wait_workers(3)
    b.wait_workers(3)
    ids = Producer(r).enqueue_many([{"sleep": "0.2"} for _ in range(12)], queue="mail")
    # done by their hashes: a handler records its run before its acknowledgement
    wait_until(lambda: all(state(r, i) == b"done" for i in ids), 30, "the capped jobs")
    most, spans = at_once(r, ids)
    assert most == 2, spans  # never three at once; and two did run side by side
    hosts = {r.hget(f"job:{i}", "qwsup:worker").decode().split(".")[0] for i in ids}
    assert hosts == {"hosta", "hostb"} or len(hosts) == 1  # (either may win every take)
    assert r.scard("mail:running") == 0


@pytest.mark.process
def test_a_killed_worker_frees_its_slot(start_qwsup: Start, r: redis.Redis) -> None:
    a = host(start_qwsup, "hosta", 2, mail={"concurrency_limit": 1})
    a.wait_workers(2)
    producer = Producer(r)
    [slow] = producer.enqueue_many([{"sleep": "60"}], queue="mail")
    pid = started_pid(r, slow)
    [then] = producer.enqueue_many([{"n": "1"}], queue="mail")
    assert r.smembers("mail:running") == {slow.encode()}
    r.hset(f"job:{slow}", "sleep", "0")  # its second run is short
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: {slow, then} <= set(done(r)), 20, "both jobs, after the kill")
    assert runs(r) == {slow: 2, then: 1}
    # a handler records its run before its acknowledgement frees the slot: wait for it
    wait_until(lambda: r.scard("mail:running") == 0, 10, "the slots freed by the acks")


@pytest.mark.process
def test_a_rate_limit_holds_across_two_masters(start_qwsup: Start, r: redis.Redis) -> None:
    a = host(start_qwsup, "hosta", 2, mail={"rate_limit": "10/1s"})
    b = host(start_qwsup, "hostb", 2, mail={"rate_limit": "10/1s"})
    a.wait_workers(2)
    b.wait_workers(2)
    ids = Producer(r).enqueue_many([{"n": str(i)} for i in range(30)], queue="mail")
    wait_until(lambda: set(ids) <= set(done(r)), 30, "the rate-limited jobs")
    started = sorted(times(r, ids, "qwsup:started_at"))
    densest = max(sum(1 for t in started if s <= t < s + 1000) for s in started)
    assert densest == 10, started  # the limit, never more, in any window of a second
    assert started[-1] - started[0] >= 2000  # 30 jobs at 10 a second: over two seconds


@pytest.mark.process
def test_a_pause_holds_every_host_until_resumed(start_qwsup: Start, r: redis.Redis) -> None:
    a = host(start_qwsup, "hosta", 2)
    b = host(start_qwsup, "hostb", 2)
    a.wait_workers(2)
    b.wait_workers(2)
    assert a.command("pause", "mail").stdout == "paused: mail\n"
    producer = Producer(r)
    held = producer.enqueue_many([{"n": str(i)} for i in range(5)], queue="mail")
    after = producer.enqueue({"n": "x"})  # on all:jobs, after the mail jobs
    wait_until(lambda: after in done(r), 10, "a job of another queue")
    assert r.llen("mail:jobs") == 5 and not set(held) & set(done(r))
    status = a.command("status").stdout
    assert "mail:jobs" in status and "paused" in status
    assert b.command("resume", "mail").stdout == "no queue is paused\n"
    wait_until(lambda: set(held) <= set(done(r)), 10, "the mail jobs, once resumed")


@pytest.mark.process
def test_metrics_show_what_holds_each_queue_back(start_qwsup: Start, r: redis.Redis) -> None:
    port = free_port()
    qw = start_qwsup(
        workers={"count": 2, "queues": ["mail", "sms", "all"]},
        metrics={"listen": f"127.0.0.1:{port}"},
        **{"queues.mail": {"concurrency_limit": 1}, "queues.sms": {"rate_limit": "2/1h"}},
    )
    qw.wait_workers(2)
    producer = Producer(r)
    [slow, *capped] = producer.enqueue_many([{"sleep": "60"}, {"n": "1"}, {"n": "2"}], queue="mail")
    started_pid(r, slow)
    sms = producer.enqueue_many([{"n": str(i)} for i in range(5)], queue="sms")
    wait_until(lambda: len(set(sms) & set(done(r))) == 2, 10, "two sms jobs, the rate's")
    qw.command("pause", "all")
    producer.enqueue({"n": "x"})

    def gauge(name: str, queue: str) -> float | None:
        return scrape(port).get((name, (("queue", queue),)))

    wait_until(lambda: gauge("qwsup_queue_held_jobs", "sms") == 3, 10, "sms held back")
    assert gauge("qwsup_queue_held_jobs", "mail") == 2
    assert gauge("qwsup_queue_limited_running", "mail") == 1
    assert gauge("qwsup_queue_rate_window_jobs", "sms") == 2
    assert gauge("qwsup_queue_held_jobs", "all") == 1
    assert gauge("qwsup_queue_paused", "all") == 1 and gauge("qwsup_queue_paused", "mail") == 0
    r.hset(f"job:{slow}", "sleep", "0")
    os.kill(started_pid(r, slow), signal.SIGKILL)
    wait_until(lambda: set(capped) <= set(done(r)), 20, "the capped jobs, once the slot is free")


@pytest.mark.process
def test_a_capped_queue_served_by_slot_workers_reaches_its_cap(
    start_qwsup: Start, r: redis.Redis
) -> None:
    """Workers of 5 slots each, a queue capped at 3: its jobs run 3 at once, never more,
    whichever workers take them (a worker running jobs shows busy at once, so the master
    asks an idle one to look; one take may fill as many slots as the cap has room for)."""
    qw = start_qwsup(
        workers={"count": 4, "concurrency": 5, "queues": ["mail", "other"], "keep_finished": 600},
        **{"queues.mail": {"concurrency_limit": 3}},
    )
    qw.wait_workers(4)
    ids = Producer(r).enqueue_many([{"sleep": "0.2"} for _ in range(45)], queue="mail")
    wait_until(lambda: all(state(r, i) == b"done" for i in ids), 60, "the capped jobs")
    most, spans = at_once(r, ids)
    took = (max(f for _, f in spans) - min(s for s, _ in spans)) / 1000
    print(f"45 jobs of 0.2 s under a cap of 3: {took:.1f} s, at most {most} at once")
    assert most == 3, spans
    assert r.scard("mail:running") == 0
