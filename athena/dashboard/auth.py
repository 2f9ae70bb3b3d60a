"""The dashboard's logins: a password from config, sessions in this process, a CSRF token per session.

- Logging in checks the password (constant-time) and starts a session: a random id in an HttpOnly,
  SameSite=Strict cookie. Another site can neither read it nor make the browser send it.
- Every state-changing request (POST) must also carry the session's own CSRF token in a header, which
  only the dashboard's page knows (it is written into the page), and an Origin, when the browser sends
  one, of the dashboard itself. The login form is protected the same way by a double-submit token.
- Sessions live in memory: restarting the dashboard logs everybody out, which is what a lost laptop
  needs anyway. Nothing here logs the password, a session id or a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "athena_session"
LOGIN_COOKIE = "athena_login"  # the login form's double-submit token
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSIONS = 64  # the oldest go first beyond this: a loop of logins cannot fill memory


@dataclass
class Session:
    sid: str
    csrf: str
    expires: float  # on the Sessions' clock (time.monotonic)


class Sessions:
    def __init__(self, password: str, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not password:
            raise ValueError("empty dashboard password")
        self._digest = hashlib.sha256(password.encode()).digest()
        self._ttl = ttl_s
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def __repr__(self) -> str:
        return f"Sessions({len(self._by_id)} open)"  # never the password's digest

    def password_ok(self, attempt: str) -> bool:
        # digests of equal length: compare_digest's time does not depend on where they differ
        return hmac.compare_digest(hashlib.sha256(attempt.encode()).digest(), self._digest)

    def start(self) -> Session:
        self._expire()
        while len(self._by_id) >= MAX_SESSIONS:
            del self._by_id[min(self._by_id.values(), key=lambda s: s.expires).sid]
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + self._ttl)
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None or s.expires < self._clock():
            self._by_id.pop(sid, None)
            return None
        return s

    def end(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._by_id.items() if s.expires < now]:
            del self._by_id[sid]


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
