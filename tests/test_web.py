"""The web dashboard without a browser: who may act (auth.py, with a fake clock), the
rates and their chart, hidden fields, the listening rules; the pages' reads against a
real Redis; and the real `qwsup web` over HTTP: read-only refusals, login, CSRF, the
bearer token, refusal to listen beyond loopback without a token. (The browser tests
are in test_web_browser.py.)"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import redis
from conftest import Web

from qwsup.config import Config, WebConfig, load
from qwsup.errors import ConfigError
from qwsup.ops import pages, rates
from qwsup.ops.console import Console
from qwsup.produce.producer import Producer
from qwsup.store.keys import Keys
from qwsup.store.operator import Operator
from qwsup.web.app import Dashboard
from qwsup.web.auth import MOST_SESSIONS, SESSION_S, Auth, read_token
from qwsup.web.forms import back, said
from qwsup.web.render import clock
from qwsup.web.serve import allowed_hosts, exposure_problem, split_listen
from support import Qwsup
from testkit import RedisServer, wait_until, write_config

TOKEN = "a-token-of-the-operators-0123"

# -- who may act ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
def test_without_a_token_every_action_is_refused() -> None:
    auth = Auth(None)
    assert not auth.enabled and auth.login("") is None and auth.login(TOKEN) is None
    verdict = auth.may_act(None, None, TOKEN)
    assert not verdict.allowed and verdict.status == 403 and "read-only" in verdict.reason


@pytest.mark.unit
def test_a_login_gives_a_session_whose_forms_must_carry_its_csrf_token() -> None:
    clock = FakeClock()
    auth = Auth(TOKEN, clock)
    assert auth.login("wrong") is None and auth.login(TOKEN[:-1]) is None
    sid = auth.login(TOKEN)
    assert sid is not None
    session = auth.session(sid)
    assert session is not None
    assert auth.may_act(sid, session.csrf, None).allowed
    assert auth.may_act(sid, None, None).status == 403  # a forged form has no CSRF token
    assert auth.may_act(sid, "guess", None).status == 403
    assert auth.may_act("other", session.csrf, None).status == 401
    assert auth.may_act(None, None, TOKEN).allowed  # a script's bearer token
    assert auth.may_act(None, None, "wrong").status == 401
    clock.now += SESSION_S + 1
    assert auth.session(sid) is None and auth.may_act(sid, session.csrf, None).status == 401
    again = auth.login(TOKEN)
    auth.logout(again)
    assert auth.session(again) is None


@pytest.mark.unit
def test_sessions_are_bounded() -> None:
    auth = Auth(TOKEN, FakeClock())
    first = auth.login(TOKEN)
    for _ in range(MOST_SESSIONS):
        auth.login(TOKEN)
    assert auth.session(first) is None and len(auth._sessions) == MOST_SESSIONS


@pytest.mark.unit
def test_the_token_comes_from_its_variable_or_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(**web: str) -> Config:
        path = write_config(tmp_path / "w.toml", None, web=web)
        return load(str(path))

    assert read_token(config()) is None
    (tmp_path / "token").write_text(f"{TOKEN}\nanything after the first line\n")
    assert read_token(config(token_file=str(tmp_path / "token"))) == TOKEN
    monkeypatch.setenv("WEB_TOKEN", TOKEN + "x")
    assert read_token(config(token_env="WEB_TOKEN", token_file="/nowhere")) == TOKEN + "x"
    for web, key in (
        ({"token_env": "UNSET_TOKEN"}, "web.token_env"),
        ({"token_file": str(tmp_path / "missing")}, "web.token_file"),
    ):
        with pytest.raises(ConfigError, match=re.escape(key)):
            read_token(config(**web))
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ConfigError, match="at least 16"):
        read_token(config(token_file=str(tmp_path / "short")))


@pytest.mark.unit
def test_the_dashboard_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    assert exposure_problem("127.0.0.1", False) is None
    assert exposure_problem("127.0.0.2", False) is None and exposure_problem("::1", False) is None
    assert exposure_problem("localhost", False) is None
    for host in ("0.0.0.0", "::", "192.0.2.10", "dash.example"):
        assert "without an operators' token" in (exposure_problem(host, False) or "")
        assert exposure_problem(host, True) is None
    assert split_listen("[::1]:9312") == ("::1", 9312)
    with pytest.raises(ValueError):
        split_listen("9312")


@pytest.mark.unit
def test_actions_send_the_operator_back_to_this_site_only() -> None:
    assert back("/failed?q=x") == "/failed?q=x"
    for outside in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""):
        assert back(outside) == "/"
    assert said("/failed?q=x&said=old", "2 jobs") == "/failed?q=x&said=2+jobs"
    # a form of a page the live updates refreshed: back to the whole page, not its fragment
    assert back("/failed?page=2&fragment=1&said=x") == "/failed?page=2"
    assert said("/failed?fragment=1", "ok") == "/failed?said=ok"


@pytest.mark.unit
def test_with_a_token_every_page_needs_the_login() -> None:
    assert Auth(None).may_read(None, None)  # no token: read-only, on loopback only
    auth = Auth(TOKEN, FakeClock())
    assert not auth.may_read(None, None) and not auth.may_read("forged", None)
    assert auth.may_read(auth.login(TOKEN), None) and auth.may_read(None, TOKEN)
    assert not auth.may_read(None, "wrong")


@pytest.mark.unit
def test_requests_must_name_this_dashboard() -> None:
    config = write_and_load('[web]\nhosts = ["dash.example"]\n')
    assert allowed_hosts("127.0.0.1", config) == [
        "127.0.0.1", "[::1]", "dash.example", "localhost",
    ]  # fmt: skip
    assert "*" in allowed_hosts("0.0.0.0", config)  # every address: a token is needed then


@pytest.mark.unit
def test_times_no_clock_can_show_do_not_break_a_page() -> None:
    assert clock(None) == "—" and clock(0) == "1970-01-01 00:00:00 UTC"
    assert clock(float("nan")) == "?" and clock(1e20) == "?" and clock(-1e18) == "?"


@pytest.mark.unit
def test_web_config_keys_are_checked() -> None:
    assert WebConfig().listen == "127.0.0.1:9312" and WebConfig().hide_fields == ()
    with pytest.raises(ConfigError, match=r"web\.listen"):
        write_and_load('[web]\nlisten = "9312"\n')
    with pytest.raises(ConfigError, match=r"web\.hide_fields"):
        write_and_load('[web]\nhide_fields = ["ok", " "]\n')


def write_and_load(text: str) -> Config:
    from qwsup.config import parse

    return parse("conf.toml", text)


# -- what the pages show --------------------------------------------------------------


@pytest.mark.unit
def test_rates_count_finished_jobs_per_queue_in_buckets_of_the_window() -> None:
    now = 1_000_000_000
    width = rates.WINDOW_MS // rates.BUCKETS
    done = [(now - 1, "all")] * 20 + [(now - width - 1, "mail")] * 10
    done += [(now - rates.WINDOW_MS - 5, "all"), (now + 5, "all")]  # outside the window
    found = rates.count(done, now)
    assert found.of("all")[-1] == 20 / (width / 1000) and sum(found.of("all")[:-1]) == 0
    assert found.of("mail")[-2] == 10 / (width / 1000) and found.of("none") == [0.0] * 30
    assert found.last_minute("all") == pytest.approx(20 / 60)
    line = rates.sparkline(found.of("all"), 120, 24)
    points = [tuple(map(float, p.split(","))) for p in line.split()]
    assert len(points) == rates.BUCKETS and points[-1] == (120.0, 1.0) and points[0][1] == 23.0
    assert rates.sparkline([]) == ""


@pytest.mark.unit
def test_fields_are_hidden_by_name_pattern() -> None:
    shown, hidden = pages.hidden_fields(
        {"Password": "x", "password_old": "y", "token": "z", "user": "u"}, ("password*", "token")
    )
    assert shown == {"Password": "(hidden)", "password_old": "(hidden)", "token": "(hidden)",
                     "user": "u"}  # fmt: skip
    assert hidden == ["Password", "password_old", "token"]


def console_of(client: redis.Redis, config: str = "") -> Console:
    """A console over `client`, with the config `config` (TOML) holds."""
    return Console(write_and_load(config), Operator(client, Keys()), Producer(client))


@pytest.mark.redis
def test_failed_jobs_are_paged_and_searched_by_id_or_error(client: redis.Redis) -> None:
    op = console_of(client)
    for i in range(pages.PER_PAGE + 10):
        job = f"job{i:03d}"
        client.hset(
            f"job:{job}",
            mapping={
                "qwsup:state": "failed",
                "qwsup:attempts": 3,
                "qwsup:last_error": f"ValueError: bad input {i % 7}",
                "qwsup:failed_at": 1,
            },
        )
        client.lpush("failed:jobs", job)  # fmt: skip
    first = pages.failed_page(op, 0)
    assert first.total == pages.PER_PAGE + 10 and first.pages == 2
    assert [r.id for r in first.rows[:2]] == ["job059", "job058"]  # the newest first
    assert len(pages.failed_page(op, 1).rows) == 10 and pages.failed_page(op, 9).page == 1
    found = pages.failed_page(op, 0, "INPUT 3")
    assert found.total == len([i for i in range(60) if i % 7 == 3]) and found.searched == 60
    assert {r.error for r in found.rows} == {"ValueError: bad input 3"}
    assert [r.id for r in pages.failed_page(op, 0, "job007").rows] == ["job007"]


@pytest.mark.redis
def test_failed_jobs_are_purged_by_id_freeing_their_unique_names(client: redis.Redis) -> None:
    op = Operator(client, Keys(), batch=2).failed
    for job in ("a", "b", "c"):
        client.hset(f"job:{job}", mapping={"qwsup:state": "failed", "qwsup:unique": job})
        client.set(f"unique:{job}", job)
        client.lpush("failed:jobs", job)
    client.hset("job:live", "qwsup:state", "queued")
    assert op.purge(["a", "c", "live", "nothing"]) == 2
    assert client.lrange("failed:jobs", 0, -1) == [b"b"]
    assert not client.exists("job:a", "job:c", "unique:a", "unique:c")
    assert client.exists("job:b", "unique:b", "job:live") == 3  # a job not failed stays


@pytest.mark.redis
def test_scheduled_and_waiting_jobs_are_paged_in_the_order_they_will_run(
    client: redis.Redis,
) -> None:
    producer, op = Producer(client), console_of(client)
    later = [producer.enqueue({"n": str(i)}, delay=100 + i) for i in range(3)]
    assert [r.id for r in pages.scheduled_page(op, 0).rows] == later
    waiting = producer.enqueue_many([{"n": str(i)} for i in range(pages.PER_PAGE + 5)])
    page = pages.queue_page(op, "all", 0)
    assert page.total == len(waiting) and [r.id for r in page.rows] == waiting[: pages.PER_PAGE]
    assert [r.id for r in pages.queue_page(op, "all", 1).rows] == waiting[pages.PER_PAGE :]
    assert page.rows[0].state == "queued" and page.rows[0].at_ms


def get(app: object, path: str) -> tuple[int, str]:
    """GET `path` of the ASGI app `app`, in this process: its status and its body."""
    sent: list[dict[str, object]] = []

    async def call() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 9312),
        }  # fmt: skip

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)  # type: ignore[operator]

    anyio.run(call)
    [status] = [m["status"] for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return int(status), body.decode()  # type: ignore[call-overload]


@pytest.mark.redis
def test_with_redis_away_every_page_says_so_and_works_again_once_it_is_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_and_load(f'[redis]\nurl = "{redis_server.url}"\n')
    console = Console.from_config(config)
    app = Dashboard(console, Auth(None), ["127.0.0.1"]).app
    assert get(app, "/")[0] == 200
    redis_server.stop()
    caplog.set_level(logging.INFO, "qwsup.web.app")
    for path in ("/", "/failed", "/scheduled", "/queues/all", "/jobs/x", "/"):
        status, page = get(app, path)
        assert status == 503, path
        assert f"Redis at {console.where()} is unreachable" in page
        assert "tries again" in page
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(" (")[0] for r in errors] == ["Redis unreachable"]  # once
    assert not any(r.exc_info for r in caplog.records)  # and no traceback
    redis_server.start()
    wait_until(
        lambda: get(app, "/")[0] == 200 and "Redis reachable again" in caplog.text, 10,
        "the dashboard to work again",
    )  # fmt: skip


@pytest.mark.redis
def test_a_task_jobs_page_shows_its_task_and_arguments_some_hidden(
    redis_server: RedisServer,
) -> None:
    config = f'[redis]\nurl = "{redis_server.url}"\n[web]\nhide_fields = ["pass*"]\n'
    console = Console.from_config(write_and_load(config))
    app = Dashboard(console, Auth(None), ["127.0.0.1"]).app
    job_id = console.producer.enqueue_task("login", user="ann", password="s3cret", tries=2)
    status, page = get(app, f"/jobs/{job_id}")
    assert status == 200 and '<code id="job-task">login</code>' in page
    args = re.sub(r"\s+", " ", page.split('id="job-args"')[1].split("</table>")[0])
    assert (
        "<th>user</th><td><pre>&#34;ann&#34;</pre>" in args and "<th>tries</th><td><pre>2" in args
    )
    assert '<th>password</th><td class="muted"><pre>(hidden)' in args and "s3cret" not in page
    assert "no fields" not in page  # what it holds is its arguments


@pytest.mark.unit
def test_the_redis_url_a_page_shows_has_no_password() -> None:
    config = write_and_load('[redis]\nurl = "redis://:s3cret@127.0.0.1:1/0"\n')
    assert Console.from_config(config).where() == "redis://:***@127.0.0.1:1/0"


# -- the real qwsup web over HTTP -----------------------------------------------------


class Browserless:
    """An HTTP client with cookies, as a browser's forms would post."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(
        self, path: str, form: dict[str, str | list[str]] | None = None, **headers: str
    ) -> tuple[int, str, dict[str, str]]:
        data = urllib.parse.urlencode(form or {}, doseq=True).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=10) as reply:
                return reply.status, reply.read().decode(), dict(reply.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def csrf(self, path: str = "/") -> str:
        _, page, _ = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, "no CSRF token on the page: not logged in?"
        return found[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the tests read the 303 itself


def fail_one(r: redis.Redis, start_qwsup: Callable[..., Qwsup]) -> tuple[Qwsup, str]:
    qw = start_qwsup(workers={"count": 1, "max_attempts": 1})
    [job] = Producer(r).enqueue_many([{"action": "raise"}])
    wait_until(lambda: r.llen("failed:jobs") == 1, 20, "the job to fail")
    return qw, job


@pytest.mark.process
def test_a_read_only_dashboard_shows_everything_and_refuses_every_action(
    start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    _qw, job = fail_one(r, start_qwsup)
    odd = "user/42 <b>"  # an id with a slash, and what HTML would read as a tag
    r.hset(f"job:{odd}", mapping={
        "qwsup:state": "failed", "qwsup:enqueued_at": "nan", "qwsup:attempts": "inf",
        "qwsup:failed_at": "soon", "qwsup:result_type": "text", "qwsup:result": b"\xff\xfe",
        "qwsup:last_error": "ValueError: odd", "f": "v",
    })  # fmt: skip
    r.lpush("failed:jobs", odd)
    web = start_web(token=False)
    http_ = Browserless(web.url)
    status, page, headers = http_.request(f"/jobs/{job}")
    assert status == 200 and f"RuntimeError: boom {job}" in page and "Traceback" in page
    assert "script-src 'self'" in headers["content-security-policy"]
    for path in ("/", "/failed", "/failed?q=odd", "/jobs/user%2F42%20%3Cb%3E", "/queues/all"):
        status, page, _ = http_.request(path)
        assert status == 200, (path, page)
    assert "user/42 &lt;b&gt;" in http_.request("/failed")[1]
    assert http_.request("/", Host="evil.example")[0] == 400  # another name for this host
    status, page, _ = http_.request("/actions/retry", {"ids": [job]})
    assert status == 403 and "read-only" in page
    assert r.lrange("failed:jobs", 0, -1) == [odd.encode(), job.encode()]  # nothing changed
    assert http_.request("/login", {"token": "anything"})[0] == 403


@pytest.mark.process
def test_an_operator_logs_in_and_acts_only_with_the_forms_csrf_token(
    start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    _qw, job = fail_one(r, start_qwsup)
    web = start_web()
    assert web.token is not None
    http_ = Browserless(web.url)
    status, _, headers = http_.request(f"/jobs/{job}")  # every page needs the login
    assert status == 303 and headers["location"] == f"/login?back=%2Fjobs%2F{job}"
    assert http_.request("/failed?fragment=1")[0] == 401 and http_.request("/events")[0] == 401
    assert http_.request(f"/jobs/{job}", Authorization=f"Bearer {web.token}")[0] == 200
    assert http_.request("/actions/retry", {"ids": [job]})[0] == 401  # not logged in
    status, page, _ = http_.request("/login", {"token": "not-the-token-at-all"})
    assert status == 401 and "not the operators' token" in page
    status, _, headers = http_.request("/login", {"token": web.token, "back": "/failed"})
    assert status == 303 and headers["location"] == "/failed"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert http_.request("/actions/retry", {"ids": [job]})[0] == 403  # a form without it
    assert r.llen("failed:jobs") == 1
    elsewhere = {"Origin": "http://evil.example"}
    assert (
        http_.request("/actions/retry", {"ids": [job], "csrf": http_.csrf()}, **elsewhere)[0] == 403
    )
    status, _, headers = http_.request(
        "/actions/retry", {"ids": [job], "csrf": http_.csrf(), "back": "/failed?fragment=1"}
    )
    assert status == 303
    assert headers["location"].startswith("/failed?said=1+failed+job+put+back+in+its+queue")
    wait_until(lambda: r.hget("test:runs", job) == b"2", 20, "the retried job to run again")
    assert web.token not in web.proc.log()  # never logged
    assert "an operator logged in" in web.proc.log()


@pytest.mark.process
def test_a_script_acts_with_the_bearer_token(
    start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    start_qwsup()
    web = start_web()
    http_ = Browserless(web.url)
    bearer = {"Authorization": f"Bearer {web.token}"}
    assert http_.request("/actions/pause", {"target": "mail"}, **bearer)[0] == 303
    assert r.smembers("all:paused") == {b"mail"}
    wrong = {"Authorization": "Bearer wrong-token-wrong-token"}
    assert http_.request("/actions/resume", {"target": "mail"}, **wrong)[0] == 401
    assert http_.request("/actions/resume", {"target": "mail"}, **bearer)[0] == 303
    assert r.smembers("all:paused") == set()
    assert http_.request("/actions/explode", {}, **bearer)[0] == 404


@pytest.mark.process
def test_qwsup_web_refuses_to_listen_beyond_loopback_without_a_token(
    tmp_path: Path, env: dict[str, str], server: RedisServer
) -> None:
    config = write_config(
        tmp_path / "w.toml", server.user_url("qwsup"), web={"listen": "0.0.0.0:9312"},
        redis={"password_env": "QWSUP_TEST_PASSWORD"},
    )  # fmt: skip
    web = Qwsup(config, env, "web")
    try:
        assert web.wait(20) == 78
        assert "refusing to serve the dashboard on 0.0.0.0 without an operators' token" in web.log()
    finally:
        web.close()


@pytest.mark.process
def test_qwsup_web_says_so_when_its_port_is_taken_and_stops_on_term(
    start_web: Callable[..., Web], tmp_path: Path, env: dict[str, str]
) -> None:
    web = start_web()
    host, port = split_listen(web.url.removeprefix("http://"))
    config = Path(web.proc.config)
    second = Qwsup(config, env, "web")
    try:
        assert second.wait(20) == 69
        assert f"cannot serve the dashboard on {host}:{port}" in second.log()
    finally:
        second.close()
    with socket.create_connection((host, port), timeout=5):
        pass  # the first one still serves
    web.proc.send(signal.SIGTERM)
    assert web.proc.wait(20) == 0


@pytest.mark.process
def test_the_other_actions_cancel_purge_and_requeue_only_a_dead_hosts_jobs(
    start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    qw = start_qwsup(workers={"count": 1, "max_attempts": 1}, supervisor={"lease_timeout": 2})
    producer = Producer(r)
    failed = producer.enqueue_many([{"action": "raise"}] * 3)
    wait_until(lambda: r.llen("failed:jobs") == 3, 20, "three failed jobs")
    r.sadd("all:paused", "all")
    waiting = producer.enqueue({"n": "1"})
    web = start_web()
    http_ = Browserless(web.url)
    bearer = {"Authorization": f"Bearer {web.token}"}

    def act(action: str, **form: str | list[str]) -> str:
        status, _, headers = http_.request(f"/actions/{action}", dict(form), **bearer)
        assert status == 303, (action, status)
        return urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["said"][0]

    assert act("cancel", ids=[waiting]) == f"{waiting}: cancelled (it was queued)"
    assert r.hget(f"job:{waiting}", "qwsup:state") == b"cancelled"
    assert act("purge", ids=failed[:1]) == "1 failed job deleted"
    assert not r.exists(f"job:{failed[0]}") and r.llen("failed:jobs") == 2
    assert act("purge", all="1") == "2 failed jobs deleted"
    assert r.llen("failed:jobs") == 0
    assert "is alive (its lease runs)" in act("requeue", target="testhost")
    qw.send(signal.SIGKILL)  # its lease runs out; its worker's list is left behind
    qw.wait()
    r.rpush("testhost.1:jobs", "stranded")
    r.hset("job:stranded", "n", "2")
    r.sadd("testhost:workers", "testhost.1")
    wait_until(lambda: "lease over" in http_.request("/", **bearer)[1], 30, "the lease to end")
    requeued = act("requeue", target="testhost")
    assert re.fullmatch(r"testhost: \d+ jobs? back in the queue, 0 out of attempts", requeued)
    assert b"stranded" in r.lrange("all:jobs", 0, -1)
