"""Who may read and act on the dashboard. The operators' token comes from the
environment variable `[web] token_env` names, else from `[web] token_file` (its first
line). With neither, the dashboard is read-only and open (it then listens on loopback
only). With a token, every page needs it: an operator logs in with it (a POST: never
in a URL) and gets a session, a random id in an HttpOnly, SameSite=Strict cookie, kept
here in memory, with a CSRF token that every form of the session carries and every
POST must give back. A script may instead send `Authorization: Bearer <token>` (no
cookie, so no forgery across sites to guard against). Pure but for the token's read."""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qwsup.config import Config
from qwsup.errors import ConfigError

COOKIE = "qwsup_session"
SESSION_S = 12 * 3600  # a login lasts this long
MOST_SESSIONS = 1_000  # the oldest go first past this


def read_token(config: Config) -> str | None:
    """The operators' token, or None (read-only). A token that is set but empty, or a
    file that cannot be read, is a config error."""
    web = config.web
    if web.token_env:
        token = os.environ.get(web.token_env)
        if token is None:
            problem = f"environment variable {web.token_env} is not set"
            raise ConfigError(config.path, "web.token_env", problem)
        key = "web.token_env"
    elif web.token_file:
        try:
            lines = Path(web.token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(config.path, "web.token_file", f"cannot read: {exc}") from None
        token, key = (lines[0].strip() if lines else ""), "web.token_file"
    else:
        return None
    if len(token) < 16:
        raise ConfigError(config.path, key, "the token must be at least 16 characters")
    return token


@dataclass
class Session:
    csrf: str
    expires: float  # on the clock Auth was given


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why not, for the page and the log
    status: int = 200  # the HTTP status of a refusal


class Auth:
    def __init__(self, token: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._token = token
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def _matches(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self._token.encode()
        )

    def login(self, given: str) -> str | None:
        """A new session's id when `given` is the token, else None."""
        if not self._matches(given):
            return None
        now = self._clock()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        while len(self._sessions) >= MOST_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(secrets.token_urlsafe(32), now + SESSION_S)
        return sid

    def session(self, sid: str | None) -> Session | None:
        """The live session of cookie value `sid`, if any."""
        found = self._sessions.get(sid or "")
        if found is None:
            return None
        if found.expires <= self._clock():
            del self._sessions[sid or ""]
            return None
        return found

    def logout(self, sid: str | None) -> None:
        self._sessions.pop(sid or "", None)

    def may_read(self, sid: str | None, bearer: str | None) -> bool:
        """Whether a page may be shown: always without a token configured (the
        dashboard then listens on loopback only), else to a live session or the token."""
        if not self.enabled:
            return True
        if bearer is not None:
            return self._matches(bearer)
        return self.session(sid) is not None

    def may_act(self, sid: str | None, csrf: str | None, bearer: str | None) -> Verdict:
        """Whether a POST may change anything: a bearer token, or a live session whose
        CSRF token the form gave back."""
        if not self.enabled:
            return Verdict(False, "this dashboard is read-only: no token is configured", 403)
        if bearer is not None:
            ok = self._matches(bearer)
            return Verdict(True) if ok else Verdict(False, "wrong token", 401)
        session = self.session(sid)
        if session is None:
            return Verdict(False, "log in first: actions need an operator's token", 401)
        if not csrf or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            return Verdict(False, "the form's CSRF token is missing or wrong", 403)
        return Verdict(True)
