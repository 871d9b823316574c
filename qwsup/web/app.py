"""The dashboard's pages and actions (Starlette; templates rendered by Jinja2 with
autoescape, so job data is text wherever it shows).

Every page is a layout around one `main` block; `?fragment=1` returns that block alone,
which static/app.js fetches again whenever the events stream says something changed
(server-sent events at /events, from all:events) and every few seconds besides (the
only way when events are off). Actions are POSTs of forms (auth.py says who may act),
each answered with a redirect to the page it came from, its outcome in `said`.

What a page shows is read through ops/ (pages.py, views.py) and what an action does is
ops/actions.py's; while Redis cannot be reached a page says so (503), the trouble
logged once when it starts and once when it ends (outage.py), and the pages work again
by themselves once it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qwsup.config import Config
from qwsup.errors import ExitCode, QwsupError, RedisRefused, RedisTrouble
from qwsup.ops import actions, pages, views
from qwsup.ops.actions import Outcome
from qwsup.ops.console import Console, embedded_away
from qwsup.outage import Outage
from qwsup.web import forms, render
from qwsup.web.auth import COOKIE, SESSION_S, Auth

log = logging.getLogger(__name__)

Page = Callable[[Request], Awaitable[Response]]
MOST_STREAMS = 16  # event streams served at once (each holds a thread and a connection)
STREAM_GAP_S = 1.0  # at most one "change" a second per stream
POLL_MS = 5_000  # the pages' refresh besides the events (the only one when events are off)
EVENTS_BLOCK_MS = 2_000  # one XREAD's block in /events (then a keep-alive line)
HEADERS = {  # on every page: nothing of a job can run as script, nor the page be framed
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Dashboard:
    """The app and what its pages share: the config, one Console (one Redis client:
    redis-py's pool serves the threads that run the pages), the token."""

    def __init__(self, console: Console, auth: Auth, hosts: list[str]) -> None:
        """`hosts`: the names the Host header may give (anything else is refused: a page
        of another site cannot reach this one through a name it resolves here)."""
        self.config: Config = console.config
        self.console = console
        self.auth = auth
        self.outage = Outage(log)  # Redis trouble, logged once when it starts and ends
        self.templates = render.environment()
        self.streams = anyio.CapacityLimiter(MOST_STREAMS)  # /events' threads, apart
        static = resources.files("qwsup.web").joinpath("static")
        guard = self.reader
        self.app = Starlette(
            routes=[
                Route("/", guard(self.overview)),
                Route("/failed", guard(self.failed)),
                Route("/scheduled", guard(self.scheduled)),
                Route("/cron", guard(self.cron)),
                Route("/queues/{name:path}", guard(self.queue)),
                Route("/jobs/{id:path}", guard(self.job)),
                Route("/events", guard(self.follow)),
                Route("/login", self.login_form),
                Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/actions/{action}", self.act, methods=["POST"]),
                Mount("/static", StaticFiles(directory=str(static)), name="static"),
            ],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        )

    def reader(self, page: Page) -> Page:
        """`page`, for those who may read: anyone when no token is configured (the
        dashboard then listens on loopback only), else an operator logged in (or a
        script's bearer token). The others are sent to the login page (a live update or
        the events stream: 401)."""

        async def guarded(request: Request) -> Response:
            if self.auth.may_read(request.cookies.get(COOKIE), forms.bearer(request)):
                try:
                    return await page(request)
                except RedisTrouble as exc:
                    return self.unreachable(request, exc)
            if request.query_params.get("fragment") or request.url.path == "/events":
                return Response("log in first", 401, headers=HEADERS)
            return RedirectResponse(f"/login?{urlencode({'back': forms.path(request)})}", 303)

        return guarded

    # -- rendering --------------------------------------------------------------------

    def render(
        self, request: Request, template_name: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        sid = request.cookies.get(COOKIE)
        session = self.auth.session(sid)
        values = {
            "request_path": forms.path(request),
            "said": request.query_params.get("said", ""),
            "auth_enabled": self.auth.enabled,
            "operator": session is not None,
            "csrf": session.csrf if session else "",
            "events_on": self.config.events.max_len > 0,
            "poll_ms": POLL_MS,
            "namespace": self.config.redis.namespace,
            **values,
        }
        values["fragment"] = bool(request.query_params.get("fragment"))  # <main>'s inside only
        html = self.templates.get_template(template_name).render(values)
        return HTMLResponse(html, status, headers=HEADERS)

    def refuse(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "message.html", status, title="Refused", message=message)

    def unreachable(self, request: Request, exc: RedisTrouble) -> HTMLResponse:
        """What a page shows while Redis cannot do what it asks (503): the live updates
        try again, and show the page once Redis is back."""
        where = self.console.where()
        if isinstance(exc, RedisRefused):
            title, message = "Redis refused", f"Redis at {where} refused a command: {exc}."
        elif self.config.embedded:
            title, message = "Redis unreachable", f"{embedded_away(self.config)}."
        else:
            title, message = "Redis unreachable", f"Redis at {where} is unreachable: {exc}."
        message += " This page tries again every few seconds."
        return self.render(request, "message.html", 503, title=title, message=message)

    async def run(self, read: Callable[[], Any]) -> Any:
        """A read of Redis (redis-py is synchronous) in a worker thread; a RedisTrouble
        it raises is logged once per outage (and raised on)."""
        try:
            found = await anyio.to_thread.run_sync(read)
        except RedisTrouble as exc:
            self.outage.down(exc, "page", time.monotonic())
            raise
        self.outage.up("page", time.monotonic())
        return found

    # -- pages ------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        view = await self.run(lambda: pages.overview(self.console))
        return self.render(request, "overview.html", view=view, title="Overview")

    async def failed(self, request: Request) -> Response:
        search = request.query_params.get("q", "").strip()[:200]
        page = forms.page_number(request)
        view = await self.run(lambda: pages.failed_page(self.console, page, search))
        return self.render(request, "failed.html", page=view, title="Failed jobs")

    async def scheduled(self, request: Request) -> Response:
        page = forms.page_number(request)
        view = await self.run(lambda: pages.scheduled_page(self.console, page))
        return self.render(request, "scheduled.html", page=view, title="Scheduled jobs")

    async def cron(self, request: Request) -> Response:
        found = await self.run(lambda: views.cron_views(self.console))
        return self.render(request, "cron.html", schedules=found, title="Cron")

    async def queue(self, request: Request) -> Response:
        name = request.path_params["name"]
        page = forms.page_number(request)
        view = await self.run(lambda: pages.queue_page(self.console, name, page))
        return self.render(
            request, "queue.html", page=view, name=name, paused=view.paused, title=f"Queue {name}"
        )

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["id"]
        view = await self.run(lambda: pages.job_page(self.console, job_id))
        if view is None:
            return self.render(
                request, "message.html", 404, title="No such job",
                message=f"There is no job {job_id} (it never was, or it ended and was pruned).",
            )  # fmt: skip
        now = time.time()
        return self.render(request, "job.html", job=view, now=now, title=f"Job {job_id}")

    async def login_form(self, request: Request) -> Response:
        back = forms.back(request.query_params.get("back"))
        return self.render(request, "login.html", title="Log in", wrong=False, back=back)

    # -- the operator -----------------------------------------------------------------

    def _same_origin(self, request: Request) -> bool:
        """A POST's Origin (when the browser sends one) is this site: its Host, or the
        host a proxy in front says it was asked for (X-Forwarded-Host)."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        asked = {request.headers.get("host"), request.headers.get("x-forwarded-host")}
        return urlsplit(origin).netloc in asked - {None}

    async def login(self, request: Request) -> Response:
        if not self._same_origin(request):
            return self.refuse(request, 403, "a login must come from this site's own page")
        if not self.auth.enabled:
            return self.refuse(request, 403, "this dashboard is read-only: no token is configured")
        form = await request.form()
        sid = self.auth.login(str(form.get("token", "")))
        if sid is None:
            log.warning("a login with a wrong token from %s", forms.client(request))
            back = forms.back(str(form.get("back", "/")))
            return self.render(request, "login.html", 401, title="Log in", wrong=True, back=back)
        log.info("an operator logged in from %s", forms.client(request))
        response = RedirectResponse(forms.back(str(form.get("back", "/"))), 303)
        response.set_cookie(
            COOKIE, sid, max_age=SESSION_S, httponly=True, samesite="strict", path="/",
            secure=forms.https(request),
        )  # fmt: skip
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        verdict = self.auth.may_act(request.cookies.get(COOKIE), str(form.get("csrf", "")), None)
        if verdict.allowed:
            self.auth.logout(request.cookies.get(COOKIE))
        response = RedirectResponse("/", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def act(self, request: Request) -> Response:
        """POST /actions/NAME: retry, purge, cancel, pause, resume, requeue."""
        if not self._same_origin(request):
            return self.refuse(request, 403, "an action must come from this site's own page")
        form = await request.form()
        verdict = self.auth.may_act(
            request.cookies.get(COOKIE), str(form.get("csrf", "")) or None, forms.bearer(request)
        )
        action = request.path_params["action"]
        if not verdict.allowed:
            log.warning("%s refused for %s: %s", action, forms.client(request), verdict.reason)
            return self.refuse(request, verdict.status, f"{action}: {verdict.reason}")
        ids = [str(v) for v in form.getlist("ids") if str(v)]
        every = form.get("all") == "1"
        target = str(form.get("target", ""))
        do = ACTIONS.get(action)
        if do is None:
            return self.refuse(request, 404, f"no such action: {action}")
        try:
            done: Outcome = await self.run(lambda: do(self.console, ids, every, target))
        except QwsupError as exc:
            done = actions.refused(str(exc), ExitCode.ERROR)
        said = done.message if done.code == ExitCode.OK else f"{action}: {done.message}"
        log.info("%s by %s: %s", action, forms.client(request), said)
        return RedirectResponse(forms.said(forms.back(str(form.get("back", "/"))), said), 303)

    # -- live -------------------------------------------------------------------------

    async def follow(self, request: Request) -> Response:
        """Server-sent events: "change" when all:events has new entries (at most one per
        STREAM_GAP_S), a comment line between them to keep the connection open. At most
        MOST_STREAMS at once, on threads of their own (the pages' reads never wait for
        them); past that, 503: the page then polls."""
        if self.streams.available_tokens < 1:
            return Response("too many live pages: this one polls", 503, headers=HEADERS)

        def read(after: str) -> str | None:
            return pages.newest_event_after(self.console, after, EVENTS_BLOCK_MS)

        async def stream() -> AsyncIterator[str]:
            after = "$"
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                try:
                    newest = await anyio.to_thread.run_sync(read, after, limiter=self.streams)
                except QwsupError:  # Redis away: the page polls meanwhile
                    newest = None
                    await anyio.sleep(1)
                if newest is None:
                    yield ": idle\n\n"
                    continue
                after = newest
                yield "event: change\ndata: \n\n"
                await anyio.sleep(STREAM_GAP_S)

        headers = {**HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


Act = Callable[[Console, list[str], bool, str], Outcome]
# POST /actions/NAME, with the form's chosen `ids` (or `all=1`) and its `target` (a
# queue, a supervisor)
ACTIONS: dict[str, Act] = {
    "retry": lambda c, ids, every, _: actions.retry(c, None if every else ids),
    "purge": lambda c, ids, every, _: actions.purge(c, None if every else ids),
    "cancel": lambda c, ids, _every, _target: actions.cancel(c, ids),
    "pause": lambda c, _ids, _every, target: actions.pause(c, [target] if target else []),
    "resume": lambda c, _ids, _every, target: actions.resume(c, [target] if target else []),
    "requeue": lambda c, _ids, _every, target: actions.requeue(c, [target] if target else []),
}
