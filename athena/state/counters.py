"""Counters shared by every process: a sliding-window rate counter and a circuit breaker (rule 7).
Both use Redis's clock (TIME) so processes with skewed clocks agree."""

from __future__ import annotations

from redis import Redis

from athena.state.keys import Keys
from athena.state.scripts import LuaScript, s

# Sorted set of hits scored by server time in ms; members are unique via a sequence key.
# ARGV: 1 window ms, 2 n to add, 3 limit (-1 = none). Adds only if count + n <= limit.
# Returns {added (0/1), count after}.
_WINDOW = LuaScript(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, n, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if n == 0 or (limit >= 0 and count + n > limit) then
  return {0, count}
end
local seq = redis.call('INCRBY', KEYS[2], n)
for i = seq - n + 1, seq do
  redis.call('ZADD', KEYS[1], now, tostring(i))
end
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return {1, count + n}
""",
    "rate_window",
)


class RateCounter:
    """Hits in the last window_s seconds (sliding window)."""

    def __init__(self, redis: Redis, key: str, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.redis = redis
        self.key = key
        self.window_ms = max(1, int(window_s * 1000))

    def _run(self, n: int, limit: int) -> tuple[bool, int]:
        added, count = _WINDOW(self.redis, [self.key, self.key + ":seq"], [self.window_ms, n, limit])
        return bool(int(added)), int(count)

    def hit(self, n: int = 1) -> int:
        """Record n hits; returns the count in the window, these included."""
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._run(n, -1)[1]

    def allow(self, limit: int, n: int = 1) -> bool:
        """Record n hits only if the window would then hold at most `limit` (check-and-hit, atomic)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._run(n, limit)[0]

    def count(self) -> int:
        return self._run(0, -1)[1]

    def reset(self) -> None:
        self.redis.delete(self.key, self.key + ":seq")


# Breaker hash: failures, open_until (ms, server time; present until a success closes it).
# ARGV: 1 threshold, 2 open ms. Returns the state after the failure.
_FAIL = LuaScript(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold, open_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local until_ = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '')
if until_ and until_ > now then
  return 'open'
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
-- half-open (open period over, no success yet): one failure re-opens
if until_ or failures >= threshold then
  redis.call('HSET', KEYS[1], 'open_until', now + open_ms, 'failures', 0)
  redis.call('HINCRBY', KEYS[1], 'trips', 1)
  return 'open'
end
return 'closed'
""",
    "breaker_fail",
)
_STATE = LuaScript(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '')
if not until_ then return 'closed' end
if until_ > now then return 'open' end
return 'half_open'
""",
    "breaker_state",
)


class Breaker:
    """Opens after `threshold` consecutive failures for `open_s` seconds, for every process.

    After the open period it is half-open: calls may go through; the next failure re-opens it at
    once, a success closes it.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, redis: Redis, keys: Keys, name: str, threshold: int = 10, open_s: float = 60) -> None:
        if threshold < 1 or open_s <= 0:
            raise ValueError("threshold must be >= 1 and open_s > 0")
        self.redis = redis
        self.key = keys.breaker(name)
        self.threshold = threshold
        self.open_ms = max(1, int(open_s * 1000))

    def state(self) -> str:
        return s(_STATE(self.redis, [self.key], []))

    def is_open(self) -> bool:
        return self.state() == self.OPEN

    def record_failure(self) -> bool:
        """Count one failure; True if the breaker is open afterwards."""
        return s(_FAIL(self.redis, [self.key], [self.threshold, self.open_ms])) == self.OPEN

    def record_success(self) -> None:
        self.redis.delete(self.key)

    def failures(self) -> int:
        raw = self.redis.hget(self.key, "failures")
        return int(raw) if raw else 0
