"""The dashboard's screenshots in the docs (make screenshots): a private Redis, a master
of two pools at work on three queues (one rate-limited, one paused), a cron schedule,
some failed jobs, and `qwsup web` on it, photographed by headless Chromium at a
laptop's size (the overview and a job's page) and a phone's (the overview).

    python tests/screenshots.py docs     (writes docs/web-overview.png, web-job.png,
                                          web-phone.png)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # testkit/, when run as a script

from qwsup.produce.producer import Producer
from support import Qwsup, qwsup_env
from testkit import RedisServer, default_binary, free_port, wait_until, write_config
from testkit.browser import LAPTOP, PHONE, chromium


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qwshots") as workdir:
        server = RedisServer(default_binary())
        server.start()
        started: list[Qwsup] = []
        try:
            shoot(Path(workdir), server, started, args.out)
        finally:
            for proc in started:
                proc.close()
            server.cleanup()
    return 0


def shoot(workdir: Path, server: RedisServer, started: list[Qwsup], out: Path) -> None:
    port = free_port()
    pools = [
        {"name": "default", "count": 2, "handler": "testjobs:record", "queues": ["all"],
         "max_attempts": 1},
        {"name": "mail", "count": 2, "concurrency": 4, "handler": "testjobs:record",
         "queues": ["mail"]},
    ]  # fmt: skip
    config = write_config(
        workdir / "shop.toml", server.url, pools,
        [{"name": "nightly-report", "schedule": "0 3 * * *", "timezone": "Europe/Berlin",
          "queue": "reports", "fields": {"report": "nightly"}}],
        supervisor={"name": "web-1"}, web={"listen": f"127.0.0.1:{port}"},
        log={"level": "warning"}, **{"queues.mail": {"rate_limit": "20/1s"}},
    )  # fmt: skip
    env = qwsup_env(server.url)
    started.append(Qwsup(config, env))
    r = server.client()
    producer = Producer(r)
    for i in range(6):  # failed jobs, with their tracebacks
        producer.enqueue({"action": "raise", "order": str(1000 + i)})
    wait_until(lambda: r.llen("failed:jobs") == 6, 30, "the failed jobs")
    r.sadd("all:paused", "reports")
    producer.enqueue_many([{"report": "weekly"}] * 3, queue="reports")
    producer.enqueue_many([{"sleep": "0.4", "to": f"user{i}@example.com"} for i in range(3000)],
                          queue="mail")  # fmt: skip
    producer.enqueue_many([{"sleep": "20", "order": str(2000 + i)} for i in range(40)])
    producer.enqueue({"order": "3000"}, delay=3600)
    web = Qwsup(config, env, "web")
    started.append(web)
    base = f"http://127.0.0.1:{port}"
    browser = chromium(LAPTOP)
    try:
        browser.get(base)
        wait_until(lambda: "web-1." in browser.page_source, 30, "the workers on the page")
        time.sleep(12)  # let the rate charts gather a few buckets: the picture, not a test
        browser.get(base)
        browser.save_screenshot(str(out / "web-overview.png"))
        [job] = [j.decode() for j in r.lrange("failed:jobs", 0, 0)]
        browser.get(f"{base}/jobs/{job}")
        browser.save_screenshot(str(out / "web-job.png"))
        browser.set_window_size(*PHONE)
        browser.get(base)
        browser.save_screenshot(str(out / "web-phone.png"))
    finally:
        browser.quit()
    print(f"wrote {out}/web-overview.png, web-job.png, web-phone.png")


if __name__ == "__main__":
    raise SystemExit(main())
