"""HaltSwitch: one Redis hash that stops new entries in every process (reduce-only orders still pass).

Set by the drawdown breaker, by flatten, or by hand; carries reason, who and when (ms). The first
halt wins (a later halt() keeps the original reason); resume() clears it. Each change is appended
to a capped audit list.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from athena.state.flags import Flag, is_set
from athena.state.keys import Keys

log = logging.getLogger(__name__)

_HISTORY = 200  # audit entries kept

# KEYS[1] halt hash, KEYS[2] history list; ARGV reason, who, ts. Returns 1 if newly halted.
_HALT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'reason', ARGV[1], 'who', ARGV[2], 'ts', ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
return 1
"""
# KEYS[1] halt hash, KEYS[2] history list; ARGV entry, max. Returns 1 if it was halted.
_RESUME = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
return 1
"""


@dataclass(frozen=True, slots=True)
class HaltState:
    reason: str
    who: str
    ts: int  # epoch ms


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class HaltSwitch:
    def __init__(self, redis: Any, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self._r = redis
        self._key = keys.halt
        self.flag = Flag(self._key)  # read with a decision's other numbers (CapitalCommander.consistent_view)
        self._history = keys.halt_history
        self._clock = clock

    def is_halted(self) -> bool:
        return is_set(self._r, self.flag)

    def state(self) -> HaltState | None:
        raw = {_s(k): _s(v) for k, v in self._r.hgetall(self._key).items()}
        if not raw:
            return None
        return HaltState(reason=raw.get("reason", ""), who=raw.get("who", ""), ts=int(raw.get("ts") or 0))

    def halt(self, reason: str, who: str = "operator") -> bool:
        """Halt new entries. True if this call halted; False if already halted (first reason kept)."""
        ts = int(self._clock() * 1000)
        entry = json.dumps({"action": "halt", "reason": reason, "who": who, "ts": ts})
        done = bool(self._r.eval(_HALT, 2, self._key, self._history, reason, who, ts, entry, _HISTORY))
        if done:
            log.warning("HALT set by %s: %s", who, reason)
        return done

    def resume(self, who: str = "operator") -> bool:
        """Clear the halt. True if it was set."""
        ts = int(self._clock() * 1000)
        entry = json.dumps({"action": "resume", "who": who, "ts": ts})
        cleared = bool(self._r.eval(_RESUME, 2, self._key, self._history, entry, _HISTORY))
        if cleared:
            log.warning("HALT cleared by %s", who)
        return cleared

    def history(self, n: int = 20) -> list[dict[str, Any]]:
        return [json.loads(_s(e)) for e in self._r.lrange(self._history, 0, n - 1)]
