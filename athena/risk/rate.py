"""Orders-per-minute counters per strategy, in Redis so every process counts the same orders.

Live: athena.state.counters.RateCounter (sliding window on Redis's own clock). Backtests and tests
pass a clock: WindowCounter is the same sliding window driven by that clock, so simulated time
(not wall time) fills and empties the window. Both check-and-hit atomically (allow) in Lua.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from athena.state.counters import RateCounter
from athena.state.keys import Keys

# KEYS[1] zset; ARGV now_ms, window_ms, n, limit (-1 none), member prefix. Returns {added, count}.
_WINDOW = """
local now, window, n, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if n == 0 or (limit >= 0 and count + n > limit) then return {0, count} end
for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], window * 2)
return {1, count + n}
"""


class Counter(Protocol):
    def allow(self, limit: int, n: int = 1) -> bool: ...

    def count(self) -> int: ...


class WindowCounter:
    """Sliding-window counter on an injected clock (epoch seconds)."""

    def __init__(self, redis: Any, key: str, window_s: float, clock: Callable[[], float]) -> None:
        self._r, self._key, self._window_ms, self._clock = redis, key, int(window_s * 1000), clock

    def _run(self, n: int, limit: int) -> tuple[bool, int]:
        now = int(self._clock() * 1000)
        added, count = self._r.eval(_WINDOW, 1, self._key, now, self._window_ms, n, limit, uuid.uuid4().hex)
        return bool(int(added)), int(count)

    def hit(self, n: int = 1) -> int:
        return self._run(n, -1)[1]

    def allow(self, limit: int, n: int = 1) -> bool:
        return self._run(n, limit)[0]

    def count(self) -> int:
        return self._run(0, -1)[1]


def order_rate_counters(
    redis: Any, keys: Keys, window_s: float = 60.0, clock: Callable[[], float] | None = None
) -> Callable[[str], Counter]:
    """strategy -> its orders-per-window counter at keys.order_rate(strategy)."""

    def make(strategy: str) -> Counter:
        key = keys.order_rate(strategy)
        if clock is None:
            return RateCounter(redis, key, window_s)
        return WindowCounter(redis, key, window_s, clock)

    return make
