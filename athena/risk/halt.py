"""HaltSwitch: one Redis hash that stops new entries in every process (reduce-only orders still pass).

Set by the drawdown breaker, by flatten, or by hand; carries reason, who and when (ms). The first
halt wins (a later halt() keeps the original reason); resume() clears it. Each change is appended
to a capped audit list.

Automatic holds live in the same hash, one field each (`hold:<name>`): a condition that lifts by
itself (scheduled maintenance, liquidation too close, a pre-flight refusal) holds entries with
hold(name, ...) and releases them with release(name) once the condition is gone. The hash exists
while a halt or any hold is set, so every reader of the switch (is_halted, the decision flags) sees
both at once; resume() clears only the halt, release() only its own hold: a human's halt is never
lifted by a condition clearing, and a human's resume does not override a condition still present.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from athena import alerts
from athena.alerts import events as alert_events
from athena.state.flags import Flag, is_set
from athena.state.keys import Keys

log = logging.getLogger(__name__)

_HISTORY = 200  # audit entries kept

HOLD_PREFIX = "hold:"

# KEYS[1] halt hash, KEYS[2] history list; ARGV reason, who, ts. Returns 1 if newly halted.
_HALT = """
if redis.call('HEXISTS', KEYS[1], 'reason') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'reason', ARGV[1], 'who', ARGV[2], 'ts', ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
return 1
"""
# KEYS[1] halt hash, KEYS[2] history list; ARGV entry, max. Returns 1 if it was halted.
_RESUME = """
if redis.call('HDEL', KEYS[1], 'reason', 'who', 'ts') == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
return 1
"""
# KEYS[1] halt hash, KEYS[2] history list; ARGV field, value (JSON), entry, max. Returns 1 if newly held
# (a hold already set only has its text refreshed, with no history entry).
_HOLD = """
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if new == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
end
return new
"""
# KEYS[1] halt hash, KEYS[2] history list; ARGV field, entry, max. Returns 1 if it was held.
_RELEASE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
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
        """The halt, else the oldest hold (what stops entries, for a refusal's text); None when trading."""
        raw = {_s(k): _s(v) for k, v in self._r.hgetall(self._key).items()}
        if "reason" in raw:
            return HaltState(reason=raw.get("reason", ""), who=raw.get("who", ""), ts=int(raw.get("ts") or 0))
        holds = _holds(raw)
        return min(holds.values(), key=lambda h: h.ts) if holds else None

    def halted_by_hand(self) -> HaltState | None:
        """The halt alone (drawdown breaker, flatten, an operator), without the automatic holds."""
        raw = {_s(k): _s(v) for k, v in self._r.hgetall(self._key).items()}
        if "reason" not in raw:
            return None
        return HaltState(reason=raw.get("reason", ""), who=raw.get("who", ""), ts=int(raw.get("ts") or 0))

    def holds(self) -> dict[str, HaltState]:
        """Every automatic hold set, by name."""
        return _holds({_s(k): _s(v) for k, v in self._r.hgetall(self._key).items()})

    def hold(self, name: str, reason: str, who: str) -> bool:
        """Hold new entries for a condition that lifts by itself (release(name) when it does). True if newly
        held; a hold already set keeps its first ts and gets the new reason text."""
        field = HOLD_PREFIX + name
        ts = int(self._clock() * 1000)
        old = self._r.hget(self._key, field)
        if old is not None:
            ts = int(json.loads(_s(old)).get("ts") or ts)
        value = json.dumps({"reason": reason, "who": who, "ts": ts})
        entry = json.dumps({"action": "hold", "hold": name, "reason": reason, "who": who, "ts": ts})
        done = bool(self._r.eval(_HOLD, 2, self._key, self._history, field, value, entry, _HISTORY))
        if done:
            log.warning("entries HELD by %s (%s): %s", who, name, reason)
        return done

    def release(self, name: str, who: str) -> bool:
        """Lift this hold (never the halt, nor another hold). True if it was set."""
        entry = json.dumps({"action": "release", "hold": name, "who": who, "ts": int(self._clock() * 1000)})
        done = bool(self._r.eval(_RELEASE, 2, self._key, self._history, HOLD_PREFIX + name, entry, _HISTORY))
        if done:
            log.warning("entries hold %s released by %s", name, who)
        return done

    def halt(self, reason: str, who: str = "operator") -> bool:
        """Halt new entries. True if this call halted; False if already halted (first reason kept)."""
        ts = int(self._clock() * 1000)
        entry = json.dumps({"action": "halt", "reason": reason, "who": who, "ts": ts})
        done = bool(self._r.eval(_HALT, 2, self._key, self._history, reason, who, ts, entry, _HISTORY))
        if done:
            log.warning("HALT set by %s: %s", who, reason)
            alerts.emit(alert_events.halt(reason, who))
        return done

    def resume(self, who: str = "operator") -> bool:
        """Clear the halt (automatic holds stay until their condition lifts). True if it was set."""
        ts = int(self._clock() * 1000)
        entry = json.dumps({"action": "resume", "who": who, "ts": ts})
        cleared = bool(self._r.eval(_RESUME, 2, self._key, self._history, entry, _HISTORY))
        if cleared:
            log.warning("HALT cleared by %s", who)
        return cleared

    def history(self, n: int = 20) -> list[dict[str, Any]]:
        return [json.loads(_s(e)) for e in self._r.lrange(self._history, 0, n - 1)]


def _holds(raw: dict[str, str]) -> dict[str, HaltState]:
    out = {}
    for k, v in raw.items():
        if k.startswith(HOLD_PREFIX):
            d = json.loads(v)
            out[k.removeprefix(HOLD_PREFIX)] = HaltState(
                reason=str(d.get("reason", "")), who=str(d.get("who", "")), ts=int(d.get("ts") or 0)
            )
    return out
