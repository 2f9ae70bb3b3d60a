"""Clocks and an in-memory TTL lock. Strategies read time only through their context's clock."""

from __future__ import annotations

import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    """Production clock: epoch milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SimClock:
    """A settable clock for the backtest and tests; never moves backwards."""

    __slots__ = ("_now",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms > self._now:
            self._now = now_ms

    def advance(self, ms: int) -> None:
        self._now += max(0, ms)


class TtlLockLike(Protocol):
    def acquire(self) -> str | None: ...

    def release(self, token: str) -> bool: ...


class MemoryLocks:
    """In-memory TTL locks sharing one clock: SET NX PX semantics with compare-and-delete release.

    The backtest's stand-in for Redis TtlLock: a lock nobody releases expires after its TTL.
    """

    __slots__ = ("_clock", "_held", "_tokens")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, int]] = {}  # key -> (token, expires_ms)
        self._tokens = itertools.count(1)

    def lock(self, key: str, ttl_ms: int) -> MemoryTtlLock:
        return MemoryTtlLock(self, key, ttl_ms)

    def _acquire(self, key: str, ttl_ms: int) -> str | None:
        now = self._clock.now_ms()
        held = self._held.get(key)
        if held is not None and held[1] > now:
            return None
        token = str(next(self._tokens))
        self._held[key] = (token, now + ttl_ms)
        return token

    def _release(self, key: str, token: str) -> bool:
        held = self._held.get(key)
        if held is None or held[0] != token or held[1] <= self._clock.now_ms():
            return False
        del self._held[key]
        return True

    def held(self, key: str) -> bool:
        held = self._held.get(key)
        return held is not None and held[1] > self._clock.now_ms()


class MemoryTtlLock:
    __slots__ = ("_locks", "key", "ttl_ms")

    def __init__(self, locks: MemoryLocks, key: str, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError(f"lock {key}: ttl_ms must be positive")
        self._locks, self.key, self.ttl_ms = locks, key, ttl_ms

    def acquire(self) -> str | None:
        return self._locks._acquire(self.key, self.ttl_ms)

    def release(self, token: str) -> bool:
        return self._locks._release(self.key, token)
