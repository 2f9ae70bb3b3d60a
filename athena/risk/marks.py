"""MarkBook: the last known mark price per instId, in Redis (keys.mark(instId)).

Stored as a hash {px: Decimal string, ts: epoch ms}; a plain string value (px only) is also read.
An unknown, unparsable or (with max_age_ms) stale mark is None — never 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from redis.exceptions import ResponseError

from athena.domain.market import BookTop, Ticker, Trade
from athena.domain.money import BadNumber, fmt, opt_D
from athena.domain.orders import Position
from athena.state.keys import Keys


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class MarkBook:
    def __init__(
        self,
        redis: Any,
        keys: Keys,
        max_age_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = redis
        self._keys = keys
        self._max_age_ms = max_age_ms
        self._clock = clock

    def set(self, instId: str, px: Decimal, ts_ms: int | None = None) -> None:
        if px <= 0:
            raise ValueError(f"{instId}: mark price must be positive, got {px}")
        ts = int(self._clock() * 1000) if ts_ms is None else ts_ms
        self._r.hset(self._keys.mark(instId), mapping={"px": fmt(px), "ts": ts})

    def update(self, obj: object) -> Decimal | None:
        """Record the mark carried by a market push or position (Position.markPx, Ticker.last, Trade.px,
        BookTop mid); returns it, or None when obj carries no price (nothing is written then)."""
        px: Decimal | None = None
        ts: int | None = None
        if isinstance(obj, Position):
            px, ts = obj.markPx, obj.uTime or None
        elif isinstance(obj, Ticker):
            px, ts = obj.last, obj.ts or None
        elif isinstance(obj, Trade):
            px, ts = obj.px, obj.ts or None
        elif isinstance(obj, BookTop):
            px, ts = obj.mid, obj.ts or None
        if px is None or px <= 0:
            return None
        self.set(obj.instId, px, ts)  # type: ignore[attr-defined]
        return px

    def get(self, instId: str) -> Decimal | None:
        key = self._keys.mark(instId)
        try:
            raw = {_s(k): _s(v) for k, v in self._r.hgetall(key).items()}
        except ResponseError:  # WRONGTYPE: a plain string px
            value = self._r.get(key)
            raw = {"px": _s(value)} if value is not None else {}
        try:
            px = opt_D(raw.get("px"))
        except BadNumber:
            return None
        if px is None or px <= 0:
            return None
        if self._max_age_ms is not None:
            ts = int(raw.get("ts") or 0)
            if ts <= 0 or self._clock() * 1000 - ts > self._max_age_ms:
                return None
        return px

    def get_many(self, instIds: Iterable[str]) -> dict[str, Decimal]:
        """Known marks only: an instId without a mark is simply absent."""
        out: dict[str, Decimal] = {}
        for instId in instIds:
            px = self.get(instId)
            if px is not None:
                out[instId] = px
        return out
