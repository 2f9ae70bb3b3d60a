"""Client-side rate limiting: one token bucket per OKX endpoint family (and instId for trade calls).

A call waits briefly for a token; when the wait would exceed `max_wait_s` it raises OkxRateLimited
instead of blocking the caller. A server-side 50011 pauses the family (`penalize`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from athena.okx.errors import RATE_LIMITED, OkxRateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window_s: float
    per_inst: bool = False  # OKX counts trade endpoints per UID + instId


# OKX's documented limit of each endpoint (API v5 docs, "Rate Limit" of each endpoint). Keys are the
# request path without the /api/v5 prefix.
LIMITS: dict[str, Limit] = {
    "/trade/order": Limit(60, 2, True),
    "/trade/batch-orders": Limit(300, 2, True),
    "/trade/cancel-order": Limit(60, 2, True),
    "/trade/cancel-batch-orders": Limit(300, 2, True),
    "/trade/amend-order": Limit(60, 2, True),
    "/trade/close-position": Limit(20, 2, True),
    "/trade/order-algo": Limit(20, 2, True),
    "/trade/cancel-algos": Limit(20, 2),
    "/trade/orders-algo-pending": Limit(20, 2),
    "GET /trade/order": Limit(60, 2),
    "/trade/orders-pending": Limit(60, 2),
    "/trade/orders-history": Limit(40, 2),
    "/trade/fills": Limit(60, 2),
    "/trade/cancel-all-after": Limit(1, 1),
    "/account/balance": Limit(10, 2),
    "/account/positions": Limit(10, 2),
    "/account/config": Limit(5, 2),
    "/account/set-position-mode": Limit(5, 2),
    "/account/set-leverage": Limit(20, 2),
    "/public/instruments": Limit(20, 2),
    "/market/ticker": Limit(20, 2),
    "/market/books": Limit(40, 2),
    "/public/time": Limit(10, 2),
    "/public/price-limit": Limit(20, 2),
    "/system/status": Limit(1, 5),
    "/account/trade-fee": Limit(5, 2),
    "/account/leverage-info": Limit(20, 2),
    "/account/bills": Limit(5, 1),
}
DEFAULT_LIMIT = Limit(10, 2)


class TokenBucket:
    """Thread-safe token bucket: `capacity` tokens, refilled at capacity/window_s per second."""

    def __init__(self, capacity: int, window_s: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / window_s
        self._tokens = float(capacity)
        self._stamp = time.monotonic()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self) -> float:
        """Take a token (possibly going into debt) and return how long to wait before using it."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._blocked_until - now)

    def give_back(self) -> None:
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + 1.0)

    def block(self, seconds: float) -> None:
        """The server said 50011: hand out nothing for `seconds`."""
        with self._lock:
            now = time.monotonic()
            self._blocked_until = max(self._blocked_until, now + seconds)
            self._tokens = min(self._tokens, 0.0)


class RateLimiter:
    """Buckets by family (+ instId). `acquire` sleeps up to max_wait_s, else raises OkxRateLimited."""

    def __init__(
        self, max_wait_s: float = 2.0, limits: dict[str, Limit] | None = None, enabled: bool = True
    ) -> None:
        self.max_wait_s = max_wait_s
        self.limits = dict(LIMITS if limits is None else limits)
        self.enabled = enabled
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time spent waiting, for figures

    @staticmethod
    def family(method: str, path: str) -> str:
        key = path.split("?", 1)[0].removeprefix("/api/v5")
        return "GET /trade/order" if method == "GET" and key == "/trade/order" else key

    def bucket(self, family: str, instId: str = "") -> TokenBucket:
        limit = self.limits.get(family, DEFAULT_LIMIT)
        key = (family, instId if limit.per_inst else "")
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = TokenBucket(limit.count, limit.window_s)
            return b

    def acquire(self, family: str, instId: str = "") -> None:
        if not self.enabled:
            return
        b = self.bucket(family, instId)
        wait = b.reserve()
        if wait > self.max_wait_s:
            b.give_back()
            raise OkxRateLimited(
                f"client-side rate limit for {family}", RATE_LIMITED, None, family, retry_after=wait
            )
        if wait > 0:
            self.waited_s += wait
            time.sleep(wait)

    def penalize(self, family: str, instId: str, seconds: float) -> None:
        self.bucket(family, instId).block(seconds)
