"""The peers' pinned versions, in one place: what each system's virtualenv installs
(pip requirement specifiers). The results print what pip actually installed."""

from __future__ import annotations

PINS: dict[str, tuple[str, ...]] = {
    "rq": ("rq==3.0.0",),
    "celery": ("celery[redis]==5.7.0",),
    "huey": ("huey==3.5.4", "redis"),
    "dramatiq": ("dramatiq[redis]==2.2.1",),
    "arq": ("arq==0.28.0",),
    "saq": ("saq[redis]==0.26.4", "typing_extensions"),
    "taskiq": ("taskiq==0.13.0", "taskiq-redis==1.2.4"),
    "bullmq": ("bullmq==3.4.4",),
}

# Every peer's venv also gets redis-py and hiredis for the shared job body (bench/peers/body.py).
BODY = ("redis", "hiredis")
