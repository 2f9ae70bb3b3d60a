"""Locks that expire (rule 6, docs/DESIGN_RULES.md) and a single-writer lease with a fencing token
(rule 8)."""

from __future__ import annotations

import secrets
from types import TracebackType

from redis import Redis

from athena.state.keys import Keys
from athena.state.scripts import LuaScript, s

_RELEASE = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    "lock_release",
)
_EXTEND = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "return 0",
    "lock_extend",
)

# The lease value is "<token>|<owner>". The fence key only ever grows (INCR), so a token handed
# out earlier is smaller than any later holder's.
_LEASE_ACQUIRE = LuaScript(
    """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if string.sub(cur, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
return token
""",
    "lease_acquire",
)
_LEASE_RENEW = LuaScript(
    """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.find(cur, '|', 1, true) - 1) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""",
    "lease_renew",
)
_LEASE_RELEASE = LuaScript(
    """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.find(cur, '|', 1, true) - 1) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
    "lease_release",
)


class LockBusy(RuntimeError):
    """The lock is held by someone else."""


class TtlLock:
    """SET NX PX lock: it expires by itself, so a crashed holder can never dead-lock anyone.
    Only the holder's token can release or extend it."""

    def __init__(self, redis: Redis, key: str, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self._token: str | None = None

    def acquire(self) -> str | None:
        token = secrets.token_hex(16)
        if self.redis.set(self.key, token, nx=True, px=self.ttl_ms):
            return token
        return None

    def release(self, token: str) -> bool:
        return bool(int(_RELEASE(self.redis, [self.key], [token])))

    def extend(self, token: str, ttl_ms: int | None = None) -> bool:
        return bool(int(_EXTEND(self.redis, [self.key], [token, ttl_ms or self.ttl_ms])))

    def held(self) -> bool:
        return bool(self.redis.exists(self.key))

    def __enter__(self) -> str:
        token = self.acquire()
        if token is None:
            raise LockBusy(self.key)
        self._token = token
        return token

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            self.release(self._token)
            self._token = None


class Lease:
    """One writer at a time per name, with a fencing token.

    acquire(owner) returns a token (an integer that grows with every new holder) or None while
    another owner holds the lease. The holder renews before ttl_ms runs out; a writer checks
    valid(token) before acting, so a paused ex-holder whose lease was taken over is refused.
    Acquiring again as the current owner refreshes the TTL and returns the same token.
    """

    def __init__(self, redis: Redis, keys: Keys, name: str, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        if "|" in name:
            raise ValueError("lease name must not contain '|'")
        self.redis = redis
        self.key = keys.lease(name)
        self.fence_key = keys.fence(name)
        self.ttl_ms = ttl_ms

    def acquire(self, owner: str) -> int | None:
        if not owner or "|" in owner:
            raise ValueError("owner must be non-empty, without '|'")
        token = _LEASE_ACQUIRE(self.redis, [self.key, self.fence_key], [owner, self.ttl_ms])
        return None if token is None else int(token)

    def renew(self, token: int) -> bool:
        return bool(int(_LEASE_RENEW(self.redis, [self.key], [str(token), self.ttl_ms])))

    def release(self, token: int) -> bool:
        return bool(int(_LEASE_RELEASE(self.redis, [self.key], [str(token)])))

    def holder(self) -> tuple[int, str] | None:
        cur = self.redis.get(self.key)
        if not cur:
            return None
        token, _, owner = s(cur).partition("|")
        return int(token), owner

    def valid(self, token: int) -> bool:
        """True only while `token` belongs to the current, unexpired holder."""
        held = self.holder()
        return held is not None and held[0] == token
