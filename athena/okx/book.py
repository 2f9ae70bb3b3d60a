"""LocalBook: an order book kept from a `books` snapshot plus seqId-chained updates."""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal
from typing import Any

from athena.domain import BookTop, Level
from athena.okx.errors import ParseError


class LocalBook:
    """Both sides as {px: Level} plus a sorted price list (ascending). Not thread-safe."""

    __slots__ = ("_ask_px", "_bid_px", "asks", "bids", "depth", "instId", "seqId", "ts", "valid")

    def __init__(self, instId: str, depth: int = 5) -> None:
        self.instId = instId
        self.depth = depth
        self.bids: dict[Decimal, Level] = {}
        self.asks: dict[Decimal, Level] = {}
        self._bid_px: list[Decimal] = []
        self._ask_px: list[Decimal] = []
        self.seqId = -1
        self.ts = 0
        self.valid = False

    def snapshot(self, d: dict[str, Any]) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()
        self._apply(d)
        self.seqId = int(d.get("seqId", -1))
        self.ts = int(d["ts"])
        self.valid = True

    def update(self, d: dict[str, Any]) -> bool:
        """Apply one update. False (and the book invalid) on a seqId gap: resubscribe for a snapshot.
        A keep-alive (seqId == prevSeqId, no levels) is accepted and changes nothing."""
        prev = int(d["prevSeqId"])
        if not self.valid or prev != self.seqId:
            self.valid = False
            return False
        self._apply(d)
        self.seqId = int(d["seqId"])
        self.ts = int(d["ts"])
        return True

    def _apply(self, d: dict[str, Any]) -> None:
        for raw, side, prices in ((d["bids"], self.bids, self._bid_px), (d["asks"], self.asks, self._ask_px)):
            for lv in raw:
                px_s, sz_s = lv[0], lv[1]
                if type(px_s) is not str or type(sz_s) is not str:
                    raise ParseError("book level: px/sz must be strings")
                px = Decimal(px_s)
                sz = Decimal(sz_s)
                if sz == 0:
                    if side.pop(px, None) is not None:
                        del prices[bisect_left(prices, px)]
                    continue
                if px not in side:
                    prices.insert(bisect_left(prices, px), px)
                side[px] = Level(px, sz, int(lv[3]) if len(lv) > 3 else 0)

    def top(self) -> BookTop:
        n = self.depth
        bids = tuple(self.bids[p] for p in reversed(self._bid_px[-n:]))
        asks = tuple(self.asks[p] for p in self._ask_px[:n])
        return BookTop(self.instId, bids, asks, self.ts, self.seqId)
