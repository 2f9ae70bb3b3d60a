"""Counters shared by every process: a sliding-window rate counter, a circuit breaker and a job's
exponential backoff (rule 7, docs/DESIGN_RULES.md). They use Redis's clock (TIME) so processes with
skewed clocks agree; the breaker and the backoff take an injected clock instead where a caller must
control time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


# The "now" of a script: ARGV[i] in ms when a clock was injected, else Redis's TIME.
_NOW = """
local function now_ms(arg)
  if arg and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Breaker hash: failures, open_until (ms; present until a success closes it), trips.
# ARGV: 1 threshold, 2 open ms, 3 now ms ('' = TIME). Returns the state after the failure.
_FAIL = LuaScript(
    _NOW
    + """
local now = now_ms(ARGV[3])
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
# ARGV: 1 now ms ('' = TIME). Returns {state, ms until it closes (0 unless open)}.
_STATE = LuaScript(
    _NOW
    + """
local now = now_ms(ARGV[1])
local until_ = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '')
if not until_ then return {'closed', 0} end
if until_ > now then return {'open', until_ - now} end
return {'half_open', 0}
""",
    "breaker_state",
)


def _now_arg(clock: Callable[[], float] | None) -> str:
    return "" if clock is None else str(int(clock() * 1000))


class Breaker:
    """Opens after `threshold` consecutive failures for `open_s` seconds, for every process.

    After the open period it is half-open: calls may go through; the next failure re-opens it at
    once, a success closes it. `clock` (seconds) replaces Redis's TIME where a caller controls time.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        name: str,
        threshold: int = 10,
        open_s: float = 60,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if threshold < 1 or open_s <= 0:
            raise ValueError("threshold must be >= 1 and open_s > 0")
        self.redis = redis
        self.key = keys.breaker(name)
        self.threshold = threshold
        self.open_ms = max(1, int(open_s * 1000))
        self.clock = clock

    def _state(self) -> tuple[str, float]:
        state, left_ms = _STATE(self.redis, [self.key], [_now_arg(self.clock)])
        return s(state), int(left_ms) / 1000

    def state(self) -> str:
        return self._state()[0]

    def status(self) -> tuple[str, float]:
        """(state, seconds until an open breaker lets calls through again), in one round trip."""
        return self._state()

    def is_open(self) -> bool:
        return self.state() == self.OPEN

    def open_for_s(self) -> float:
        """Seconds until an open breaker lets calls through again (0 when not open)."""
        return self._state()[1]

    def record_failure(self) -> bool:
        """Count one failure; True if the breaker is open afterwards."""
        return (
            s(_FAIL(self.redis, [self.key], [self.threshold, self.open_ms, _now_arg(self.clock)]))
            == self.OPEN
        )

    def record_success(self) -> None:
        self.redis.delete(self.key)

    def failures(self) -> int:
        raw = self.redis.hget(self.key, "failures")
        return int(raw) if raw else 0

    def trips(self) -> int:
        raw = self.redis.hget(self.key, "trips")
        return int(raw) if raw else 0


# Backoff hash: streak (consecutive failures), next_at (ms: no attempt before), attempt_at, failed_at.
# claim: ARGV 1 lease ms, 2 now. Returns {1, 0} (attempt now) or {0, ms until due}.
_CLAIM = LuaScript(
    _NOW
    + """
local now = now_ms(ARGV[2])
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next_at') or '')
if next_at and next_at > now then
  return {0, next_at - now}
end
redis.call('HSET', KEYS[1], 'next_at', now + tonumber(ARGV[1]), 'attempt_at', now)
return {1, 0}
""",
    "backoff_claim",
)
# failed: ARGV 1 min ms, 2 max ms, 3 wait ms ('' = exponential), 4 now.
# Returns {streak, ms until the next attempt}.
_FAILED = LuaScript(
    _NOW
    + """
local now = now_ms(ARGV[4])
local streak = redis.call('HINCRBY', KEYS[1], 'streak', 1)
local wait = tonumber(ARGV[3])
if not wait then
  wait = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) * 2 ^ math.min(streak - 1, 30))
end
redis.call('HSET', KEYS[1], 'next_at', now + wait, 'failed_at', now)
return {streak, wait}
""",
    "backoff_failed",
)


@dataclass(frozen=True, slots=True)
class BackoffState:
    streak: int  # consecutive failures
    next_at_ms: int | None  # no attempt before this (server or injected clock, ms)
    attempt_at_ms: int | None  # the last attempt's start


class Backoff:
    """Exponential backoff of one job, kept in Redis so every run honours it, whoever started it
    (beat, a retry, another process): after n consecutive failures the next attempt is due
    min(max_s, min_s * 2**(n-1)) seconds after the last one failed.

    A run first claims the attempt (claim() == 0): the claim moves the due time `lease_s` ahead, so
    two runs never attempt together and every failure is counted once; failed() or succeeded()
    settles it (a run that died holds the job for lease_s at most). `clock` (seconds) replaces
    Redis's TIME where a caller controls time.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        min_s: float = 1.0,
        max_s: float = 60.0,
        lease_s: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0 < min_s <= max_s or lease_s <= 0:
            raise ValueError("backoff needs 0 < min_s <= max_s and lease_s > 0")
        self.redis = redis
        self.key = key
        self.min_ms, self.max_ms = int(min_s * 1000), int(max_s * 1000)
        self.lease_ms = max(1, int(lease_s * 1000))
        self.clock = clock

    def claim(self) -> float:
        """0 when this run may attempt now (and holds the attempt), else the seconds until it is due."""
        granted, wait_ms = _CLAIM(self.redis, [self.key], [self.lease_ms, _now_arg(self.clock)])
        return 0.0 if int(granted) else max(int(wait_ms), 1) / 1000

    def failed(self, wait_s: float | None = None) -> float:
        """Count one failure; returns the seconds until the next attempt is due: the exponential
        backoff, or wait_s when the caller knows better (an open breaker's pause)."""
        wait = "" if wait_s is None else int(wait_s * 1000)
        _, wait_ms = _FAILED(self.redis, [self.key], [self.min_ms, self.max_ms, wait, _now_arg(self.clock)])
        return int(wait_ms) / 1000

    def succeeded(self) -> None:
        self.redis.delete(self.key)

    def state(self) -> BackoffState:
        raw = {s(k): s(v) for k, v in self.redis.hgetall(self.key).items()}

        def ms(name: str) -> int | None:
            return int(raw[name]) if raw.get(name) else None

        return BackoffState(int(raw.get("streak") or 0), ms("next_at"), ms("attempt_at"))
