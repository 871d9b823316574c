"""Schedules fired once across masters: the ticks and the decisions (pure, fake clock),
cron.lua against a real Redis, and real masters killed and reloaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from qwsup.config import CronConfig, parse
from qwsup.errors import ConfigError
from qwsup.master.cron import Cron, Ticks, decide
from qwsup.store.queue import Queue
from qwsup.store.records import Claim
from support import Qwsup, done
from testkit.wait import wait_until

Start = Callable[..., Qwsup]
BERLIN = ZoneInfo("Europe/Berlin")


def ms(*parts: int, tz: ZoneInfo = BERLIN) -> int:
    return int(datetime(*parts, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


def local(unix_ms: int) -> str:
    return datetime.fromtimestamp(unix_ms / 1000, BERLIN).isoformat()


# -- pure: ticks and decisions --------------------------------------------------------


@pytest.mark.unit
def test_an_interval_ticks_at_whole_multiples_so_every_master_agrees() -> None:
    ticks = Ticks(every_ms=30_000)
    assert ticks.next_after(61_000) == 90_000 and ticks.next_after(90_000) == 120_000
    assert ticks.latest(89_999) == 60_000 and ticks.latest(90_000) == 90_000
    assert ticks.between(60_000, 180_000) == 3 and ticks.between(60_000, 90_000) == 0


@pytest.mark.unit
def test_a_cron_expression_follows_its_time_zone_through_daylight_saving() -> None:
    ticks = Ticks("30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: 02:30 does not exist (02:00 -> 03:00); cron's rule: it fires at 03:00
    spring = ticks.next_after(ms(2026, 3, 28, 12))
    assert local(spring) == "2026-03-29T03:00:00+02:00"
    assert local(ticks.next_after(spring)) == "2026-03-30T02:30:00+02:00"
    # 2026-10-25: 02:30 happens twice (03:00 -> 02:00); it fires once
    autumn = ticks.next_after(ms(2026, 10, 24, 12))
    assert local(autumn) == "2026-10-25T02:30:00+02:00"
    assert local(ticks.next_after(autumn)) == "2026-10-26T02:30:00+01:00"
    assert ticks.latest(ms(2026, 10, 26, 2, 30)) == ms(2026, 10, 26, 2, 30)
    nightly = Ticks("0 3 * * *", timezone="UTC")
    assert nightly.between(ms(2026, 1, 1, 3, tz=ZoneInfo("UTC")), ms(2026, 1, 4, 3)) == 2


@pytest.mark.unit
def test_a_new_schedule_starts_with_its_next_tick() -> None:
    every = Ticks(every_ms=1000)
    assert decide("s", every, "none", None, 5_500) == Claim("s", None, 5_000, False, 0)
    assert decide("s", every, "none", 5_000, 5_999) is None
    assert decide("s", every, "none", 5_000, 6_000) == Claim("s", 5_000, 6_000, True, 0)


@pytest.mark.unit
def test_ticks_missed_while_no_master_ran_follow_catch_up() -> None:
    daily = Ticks("0 3 * * *", timezone="Europe/Berlin")
    last, now = ms(2026, 12, 1, 3), ms(2026, 12, 4, 9)  # down from the 1st to the 4th
    due = ms(2026, 12, 4, 3)
    assert decide("d", daily, "none", last, now) == Claim("d", last, due, False, 3)
    assert decide("d", daily, "last", last, now) == Claim("d", last, due, True, 2)
    on_time = ms(2026, 12, 4, 3, 0, 30)  # within ON_TIME_S: fired, whatever catch_up
    missed = ms(2026, 12, 3, 3)
    assert decide("d", daily, "none", last, on_time) == Claim("d", last, missed, False, 2)
    assert decide("d", daily, "none", missed, on_time) == Claim("d", missed, due, True, 0)


@pytest.mark.unit
def test_a_short_outage_fires_each_tick_it_made_late_once() -> None:
    every = Ticks(every_ms=1000)
    last, now, claims = 5_000, 8_500, []
    while (claim := decide("s", every, "none", last, now)) is not None:
        claims.append(claim)
        last = claim.tick
    assert claims == [Claim("s", t - 1000, t, True, 0) for t in (6_000, 7_000, 8_000)]
    # 90 s away: the ticks older than a minute are skipped in one claim, the rest fired
    claim = decide("s", every, "none", 5_000, 95_500)
    assert claim == Claim("s", 5_000, 35_000, False, 30)
    assert decide("s", every, "last", 5_000, 95_500) == Claim("s", 5_000, 35_000, True, 29)
    assert decide("s", every, "none", 35_000, 95_500) == Claim("s", 35_000, 36_000, True, 0)


@pytest.mark.unit
def test_a_clock_stepped_back_restarts_the_schedule_from_its_next_tick() -> None:
    every = Ticks(every_ms=1000)
    hour_ahead = 3_600_000 + 5_000
    assert decide("s", every, "none", hour_ahead, 5_500) == Claim("s", hour_ahead, 5_000, False, 0)
    assert decide("s", every, "none", 6_000, 5_500) is None  # one tick ahead: a claim's rounding
    assert decide("s", every, "none", 5_000, 6_000) == Claim("s", 5_000, 6_000, True, 0)


@pytest.mark.unit
def test_a_master_learns_the_tick_another_claimed_and_fires_only_later_ones() -> None:
    cron = Cron()
    cron.follow((CronConfig(name="s", every="1s"),))
    assert cron.unknown() == ["s"] and cron.due(10_000) == [] and cron.next_ms(10_000) == 10_000
    cron.read("s", 9_000)
    [claim] = cron.due(10_200)
    assert claim == Claim("s", 9_000, 10_000, True, 0)
    cron.claimed(claim, "moved", 10_000)  # another master fired it first
    assert cron.due(10_500) == [] and cron.next_ms(10_500) == 11_000
    [claim] = cron.due(11_000)
    cron.claimed(claim, "fired", None)
    assert cron.counts() == {"s": (1, 0)}
    cron.follow((CronConfig(name="s", every="1s", queue="q"), CronConfig(name="t", every="2s")))
    assert cron.unknown() == ["t"] and cron.schedules["s"].last == 11_000  # kept
    cron.follow((CronConfig(name="s", every="5s"),))  # its ticks changed: read again
    assert cron.unknown() == ["s"] and cron.counts() == {"s": (1, 0)}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('schedule = "0 3 * *"', "cron[0].schedule"),
        ('schedule = "61 * * * *"', "cron[0].schedule"),
        ('schedule = "* * * * * *"', "cron[0].schedule"),
        ('every = "soon"', "cron[0].every"),
        ('every = "1s"\nschedule = "* * * * *"', "cron.n"),
        ("", "cron.n"),
        ('schedule = "* * * * *"\ntimezone = "Mars/Olympus"', "cron[0].timezone"),
        ('schedule = "* * * * *"\ncatch_up = "all"', "cron[0].catch_up"),
        ('schedule = "* * * * *"\nfields = { n = 3 }', "cron[0].fields"),
        ('schedule = "* * * * *"\nfields = { "qwsup:state" = "x" }', "cron[0].fields"),
        ('schedule = "* * * * *"\nqueue = "a b"', "cron[0].queue"),
        ('every = "1s"\ntimezone = "Europe/Berlin"', "cron.n.timezone"),
    ],
)
def test_a_bad_schedule_is_a_config_error_naming_its_key(table: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse("c.toml", f'[[cron]]\nname = "n"\n{table}\n')
    assert f"c.toml: {key}:" in str(caught.value)


@pytest.mark.unit
def test_two_schedules_of_one_name_are_refused() -> None:
    text = '[[cron]]\nname = "n"\nevery = "1s"\n' * 2
    with pytest.raises(ConfigError, match="two schedules are named 'n'"):
        parse("c.toml", text)


# -- cron.lua against a real Redis ---------------------------------------------------


@pytest.mark.redis
def test_of_two_claims_of_one_tick_one_enqueues_it(q: Queue, client: redis.Redis) -> None:
    first = Claim("s", None, 1_000, False, 0)
    assert q.claim_tick(first, "all", {}, False) == ("skipped", "")  # a new record
    assert q.claim_tick(first, "all", {}, False) == ("moved", "1000")
    tick = Claim("s", 1_000, 2_000, True, 0)
    outcome, job = q.claim_tick(tick, "mail", {"build": "nightly"}, False)
    assert outcome == "fired" and q.claim_tick(tick, "mail", {}, False) == ("moved", "2000")
    assert client.lrange("mail:jobs", 0, -1) == [job.encode()]
    fields = client.hgetall(f"job:{job}")
    assert fields[b"build"] == b"nightly" and fields[b"qwsup:cron"] == b"s"
    assert fields[b"qwsup:tick"] == b"2000" and fields[b"qwsup:state"] == b"queued"
    record = client.hgetall("all:cron:s")
    assert record == {b"last_ms": b"2000", b"job": job.encode(), b"fired_ms": b"2000",
                      b"fired": b"1"}  # fmt: skip


@pytest.mark.redis
def test_a_unique_schedule_skips_a_tick_while_its_last_job_waits(
    q: Queue, client: redis.Redis
) -> None:
    q.claim_tick(Claim("u", None, 1_000, False, 0), "all", {}, True)
    _, job = q.claim_tick(Claim("u", 1_000, 2_000, True, 0), "all", {}, True)
    assert q.claim_tick(Claim("u", 2_000, 3_000, True, 4), "all", {}, True) == ("skipped", job)
    assert client.llen("all:jobs") == 1
    assert client.hget("all:cron:u", "skipped") == b"5" and client.hget("all:cron:u", "last_ms")
    client.delete(f"job:{job}")  # gone: it holds the name no more
    assert q.claim_tick(Claim("u", 3_000, 4_000, True, 0), "all", {}, True)[0] == "fired"


# -- real masters ---------------------------------------------------------------------


def schedule_host(start: Start, name: str, **cron: object) -> Qwsup:
    return start(
        config_name=f"{name}.toml",
        supervisor={"name": name, "lease_timeout": 2},
        workers={"count": 1},
        cron=[{"name": "tick", "every": "1s", **cron}],
    )


def fired_ticks(r: redis.Redis) -> list[int]:
    """The tick of every job a schedule enqueued (kept, done or not)."""
    ticks = []
    for key in r.scan_iter(match="job:*"):
        tick = r.hget(key, "qwsup:tick")
        if tick is not None:
            ticks.append(int(tick))
    return sorted(ticks)


@pytest.mark.process
def test_every_tick_is_enqueued_once_whichever_masters_live(
    start_qwsup: Start, r: redis.Redis
) -> None:
    a, b, c = (schedule_host(start_qwsup, n) for n in ("hosta", "hostb", "hostc"))
    for qw in (a, b, c):
        qw.wait_workers(1)
    wait_until(lambda: len(fired_ticks(r)) >= 3, 15, "three ticks")
    os.killpg(a.pid, signal.SIGKILL)  # a master and its workers gone at once
    wait_until(lambda: len(fired_ticks(r)) >= 6, 15, "three more ticks")
    os.kill(b.pid, signal.SIGTERM)
    b.wait()
    wait_until(lambda: len(fired_ticks(r)) >= 9, 15, "three more, from the last master")
    ticks = fired_ticks(r)
    assert len(set(ticks)) == len(ticks), ticks  # none twice
    assert ticks == list(range(ticks[0], ticks[-1] + 1000, 1000)), ticks  # none lost
    wait_until(lambda: len(done(r)) >= len(ticks), 15, "the ticks' jobs to run")
    view = c.command("cron")
    assert view.returncode == 0 and "tick" in view.stdout and "every 1s on all" in view.stdout


@pytest.mark.process
def test_a_reload_changes_the_schedules(start_qwsup: Start, r: redis.Redis, tmp_path: Path) -> None:
    qw = schedule_host(start_qwsup, "hosta")
    qw.wait_workers(1)
    wait_until(lambda: len(fired_ticks(r)) >= 1, 15, "a tick")
    config = (tmp_path / "hosta.toml").read_text()
    (tmp_path / "hosta.toml").write_text(config.replace('name = "tick"', 'name = "other"'))
    qw.send(signal.SIGHUP)
    wait_until(lambda: r.exists("all:cron:other"), 15, "the new schedule's record")
    wait_until(lambda: r.hget("all:cron:other", "fired") is not None, 15, "its first tick")
    before = r.hget("all:cron:tick", "last_ms")
    wait_until(lambda: int(r.hget("all:cron:other", "fired") or 0) >= 2, 15, "its second tick")
    assert r.hget("all:cron:tick", "last_ms") == before  # the removed one no longer fires


@pytest.mark.process
def test_check_names_a_bad_schedule_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[cron]]\nname = "n"\nschedule = "0 25 * * *"\n')
    run = subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(path), "check"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 78
    assert run.stderr.count("\n") == 1 and "cron[0].schedule" in run.stderr
