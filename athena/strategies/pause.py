"""Per-strategy pause: one Redis hash (strategy -> {reason, who, ts}) every process sees.

A paused strategy opens no new entries but keeps managing what it holds: take-profits, time stops,
stop-failure flattens and cancels still go out (they are reduce-only or cancels). The global
HaltSwitch (athena.risk.halt) stops entries of every strategy; this stops one.
Set with `athena halt --strategy NAME`, cleared with `athena resume --strategy NAME`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from athena.state.flags import Flag, is_set
from athena.state.keys import Keys

log = logging.getLogger(__name__)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class StrategyPause:
    def __init__(self, redis: Any, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self._r = redis
        self._key = keys.strategy_pause
        self._clock = clock

    def pause(self, strategy: str, reason: str = "manual pause", who: str = "operator") -> bool:
        """True if this call paused it; False if it was already paused (the first reason is kept)."""
        entry = json.dumps({"reason": reason, "who": who, "ts": int(self._clock() * 1000)})
        done = bool(self._r.hsetnx(self._key, strategy, entry))
        if done:
            log.warning("strategy %s PAUSED by %s: %s", strategy, who, reason)
        return done

    def resume(self, strategy: str, who: str = "operator") -> bool:
        """True if it was paused."""
        done = bool(self._r.hdel(self._key, strategy))
        if done:
            log.warning("strategy %s resumed by %s", strategy, who)
        return done

    def flag(self, strategy: str) -> Flag:
        return Flag(self._key, strategy)

    def is_paused(self, strategy: str) -> bool:
        return is_set(self._r, self.flag(strategy))

    def paused(self) -> dict[str, dict[str, Any]]:
        """Every paused strategy with its reason, who and ts (ms)."""
        return {_s(k): json.loads(_s(v)) for k, v in self._r.hgetall(self._key).items()}

    def view(self, strategy: str) -> Callable[[], bool]:
        """The callable a StrategyContext asks before an entry."""
        return lambda: self.is_paused(strategy)


def set_paused(
    settings: Any, strategy: str, paused: bool, reason: str = "manual pause", who: str = "cli"
) -> dict[str, Any]:
    """`athena halt|resume --strategy NAME`: flip one strategy's pause flag in Redis (no worker needed:
    the strategies read it before every entry). Raises ValueError for a strategy not in the config."""
    known = sorted(s.name for s in settings.strategies)
    if strategy not in known:
        raise ValueError(f"unknown strategy {strategy!r} (configured: {', '.join(known) or 'none'})")
    from athena.wiring import redis_from_settings

    client = redis_from_settings(settings)
    try:
        sp = StrategyPause(client, Keys(settings.env, settings.account))
        changed = sp.pause(strategy, reason, who) if paused else sp.resume(strategy, who)
        return {"strategy": strategy, "paused": paused, "changed": changed, "all_paused": sp.paused()}
    finally:
        client.close()
