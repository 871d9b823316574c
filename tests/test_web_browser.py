"""The dashboard in a real browser: headless Chromium (Debian's, through Selenium:
testkit/browser.py) on the pages of a real `qwsup web`, beside a real master, on a
private Redis. What an operator sees: the queues, a job going from queued to running
to done without a reload, a failed job's traceback, retry refused without a login and
done with one, and a job's `<script>` field shown as text, never run."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest
import redis
from conftest import Web
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from qwsup.produce.producer import Producer
from support import Qwsup
from testkit import wait_until
from testkit.browser import chromium

pytestmark = pytest.mark.process


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    yield driver
    driver.quit()


def text(browser: WebDriver, css: str) -> str:
    """What the elements `css` selects show, read in one go (the live updates replace
    them: an element found, then read, may be gone in between)."""
    found = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText).join(' ')",
        css,
    )
    return str(found)


def see(browser: WebDriver, css: str, words: str, timeout: float = 15) -> None:
    """Wait until the page shows `words` in what `css` selects."""
    wait_until(lambda: words in text(browser, css), timeout, f"{words!r} in {css}")


def click(browser: WebDriver, xpath: str) -> None:
    """Click what `xpath` finds, again if a live update replaced it meanwhile."""

    def clicked() -> bool:
        try:
            browser.find_element(By.XPATH, xpath).click()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        return True

    wait_until(clicked, 15, f"to click {xpath}")


def log_in(browser: WebDriver, web: Web, page: str = "/") -> None:
    """Log in on the login page, which then goes on to `page`."""
    browser.get(f"{web.url}/login?back={page}")
    browser.find_element(By.ID, "token").send_keys(web.token or "")
    click(browser, "//form[@class='login']/button")
    see(browser, "header", "Log out")


def test_the_overview_lists_every_queue_and_supervisor(
    browser: WebDriver, start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup]
) -> None:
    qw = start_qwsup(workers={"queues": ["mail", "all"]})
    qw.wait_workers(2)
    web = start_web(token=False, **{"queues.mail": {"rate_limit": "5/1s", "concurrency_limit": 2}})
    browser.get(web.url)
    see(browser, "#supervisors + article h3", "testhost")
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('tr[data-queue]'), e => e.dataset.queue)"
    )
    assert sorted(rows) == ["all", "mail", "testhost"]
    assert "5/1s, 2 at once" in text(browser, 'tr[data-queue="mail"]')
    wait_until(lambda: text(browser, "table.workers").count("idle") == 2, 15, "two workers")


def test_a_job_shows_running_then_done_without_a_reload(
    browser: WebDriver, start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup],
    r: redis.Redis,
) -> None:  # fmt: skip
    qw = start_qwsup(workers={"count": 1})
    qw.wait_workers(1)
    r.sadd("all:paused", "all")  # so that the page finds it queued first
    job = Producer(r).enqueue({"sleep": "6"})  # running longer than the pages' poll
    web = start_web(token=False)
    browser.get(f"{web.url}/jobs/{job}")
    see(browser, "#job-state", "queued")
    browser.execute_script("window.stillThisPage = 42")
    r.srem("all:paused", "all")
    see(browser, "#job-state", "running")
    see(browser, "#job-state", "done", 20)
    assert browser.execute_script("return window.stillThisPage") == 42  # never reloaded
    browser.get(web.url)  # and the overview counts it among the finished, without a reload
    browser.execute_script("window.stillThisPage = 43")
    [second] = Producer(r).enqueue_many([{"sleep": "6"}])
    see(browser, "table.workers", second)  # running on the worker
    wait_until(lambda: second not in text(browser, "table.workers"), 20, "the job to end")
    assert browser.execute_script("return window.stillThisPage") == 43


def test_a_failed_jobs_traceback_is_shown(
    browser: WebDriver, start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup],
    r: redis.Redis,
) -> None:  # fmt: skip
    start_qwsup(workers={"count": 1, "max_attempts": 1})
    job = Producer(r).enqueue({"action": "raise"})
    wait_until(lambda: r.llen("failed:jobs") == 1, 20, "the job to fail")
    web = start_web(token=False)
    browser.get(f"{web.url}/failed")
    see(browser, "table.failed", f"RuntimeError: boom {job}")
    click(browser, f"//a[text()='{job}']")
    see(browser, "pre.traceback", "Traceback (most recent call last)")
    assert f"RuntimeError: boom {job}" in text(browser, "pre.traceback")
    assert "raise RuntimeError" in text(browser, "pre.traceback")


def test_retry_is_refused_without_a_login_and_done_with_one(
    browser: WebDriver, start_web: Callable[..., Web], start_qwsup: Callable[..., Qwsup],
    r: redis.Redis,
) -> None:  # fmt: skip
    qw = start_qwsup(workers={"count": 1, "max_attempts": 1})
    job = Producer(r).enqueue({"action": "raise"})
    wait_until(lambda: r.llen("failed:jobs") == 1, 20, "the job to fail")
    qw.send(signal.SIGTERM)  # so that the retried job stays queued, to be seen
    assert qw.wait() == 0
    web = start_web()
    browser.get(f"{web.url}/jobs/{job}")  # with a token, every page needs the login
    see(browser, "main h1", "Log in")
    assert f"boom {job}" not in browser.page_source  # nothing of the job shown
    browser.execute_script(  # a form posted all the same, as another page could
        """const f = document.createElement("form"); f.method = "post";
        f.action = "/actions/retry"; const i = document.createElement("input");
        i.name = "ids"; i.value = arguments[0]; f.appendChild(i);
        document.body.appendChild(f); f.submit();""",
        job,
    )
    see(browser, "main", "log in first")
    assert r.lrange("failed:jobs", 0, -1) == [job.encode()]
    log_in(browser, web, f"/jobs/{job}")
    see(browser, "main h1", job)
    click(browser, "//button[text()='Retry']")
    see(browser, ".said", "1 failed job put back in its queue")
    assert r.llen("failed:jobs") == 0 and r.lrange("all:jobs", 0, -1) == [job.encode()]
    assert r.hget(f"job:{job}", "qwsup:state") == b"queued"


def test_a_scripts_field_shows_as_text_and_never_runs(
    browser: WebDriver, start_web: Callable[..., Web], r: redis.Redis
) -> None:
    fields = {
        "note": "<script>window.pwned = 1</script>",
        "img": '<img src="x" onerror="window.pwned = 2">',
        "password": "hunter2-hunter2",
    }
    job = Producer(r).enqueue(fields)
    web = start_web(token=False, web={"hide_fields": ["pass*"]})
    browser.get(f"{web.url}/jobs/{job}")
    see(browser, "table.fields", "<script>window.pwned = 1</script>")
    assert '<img src="x" onerror="window.pwned = 2">' in text(browser, "table.fields")
    assert browser.execute_script("return window.pwned") is None
    assert "hunter2" not in browser.page_source and "(hidden)" in text(browser, "table.fields")
