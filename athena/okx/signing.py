"""OKX V5 request signing: HMAC-SHA256 over ts+METHOD+path+body, base64. Clock offset from the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """API key, secret and passphrase. Never printed: repr and str show nothing secret."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return "Credentials(***)"

    __str__ = __repr__

    @property
    def complete(self) -> bool:
        return bool(self.api_key and self.secret and self.passphrase)

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key, self.secret, self.passphrase) if s]


def sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_ms(epoch_ms: int) -> str:
    """REST timestamp: ISO-8601 UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z."""
    dt = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class Clock:
    """Local clock corrected by the offset measured against /api/v5/public/time (server - local)."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms
        self.synced = False
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def update(self, server_ms: int, sent_ms: float, recv_ms: float) -> None:
        """Offset from one round trip: the server stamped its time about half way through."""
        with self._lock:
            self.offset_ms = int(server_ms - (sent_ms + recv_ms) / 2)
            self.synced = True


def rest_headers(creds: Credentials, ts_ms: int, method: str, path: str, body: str = "") -> dict[str, str]:
    """Signed headers for one request. `path` is /api/v5/... including ?query for GET."""
    ts = iso_ms(ts_ms)
    return {
        "OK-ACCESS-KEY": creds.api_key,
        "OK-ACCESS-SIGN": sign(creds.secret, ts + method.upper() + path + body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": creds.passphrase,
    }


def ws_login_args(creds: Credentials, ts_s: int) -> dict[str, str]:
    """The login arg: timestamp in seconds, sign over ts + GET + /users/self/verify."""
    ts = str(ts_s)
    return {
        "apiKey": creds.api_key,
        "passphrase": creds.passphrase,
        "timestamp": ts,
        "sign": sign(creds.secret, ts + "GET" + "/users/self/verify"),
    }
