"""LocalBook: an order book kept from a `books` snapshot plus seqId-chained updates."""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal, InvalidOperation
from typing import Any

from athena.domain import BookTop, Level
from athena.okx.errors import ParseError

_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, InvalidOperation, OverflowError)


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
        """Replace the book. A malformed snapshot raises ParseError and leaves the book invalid."""
        self.valid = False
        try:
            bids, asks = self._levels(d)
            seq, ts = int(d.get("seqId", -1)), int(d["ts"])
        except ParseError:
            raise
        except _ERRORS as exc:
            raise ParseError(f"books snapshot {self.instId}: {exc!r}") from None
        self.bids.clear()
        self.asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()
        self._apply(bids, self.bids, self._bid_px)
        self._apply(asks, self.asks, self._ask_px)
        self.seqId, self.ts = seq, ts
        self.valid = True

    def update(self, d: dict[str, Any]) -> bool:
        """Apply one update. False (and the book invalid) on a seqId gap: resubscribe for a snapshot.
        A keep-alive (seqId == prevSeqId, no levels) is accepted and changes nothing.
        A malformed update raises ParseError and invalidates the book: the frame is validated in full
        before anything changes, but the missed levels make the book wrong from here on."""
        try:
            prev = int(d["prevSeqId"])
            bids, asks = self._levels(d)
            seq, ts = int(d["seqId"]), int(d["ts"])
        except _ERRORS as exc:
            self.valid = False
            raise ParseError(f"books update {self.instId}: {exc!r}") from None
        except ParseError:
            self.valid = False
            raise
        if not self.valid or prev != self.seqId:
            self.valid = False
            return False
        self._apply(bids, self.bids, self._bid_px)
        self._apply(asks, self.asks, self._ask_px)
        self.seqId, self.ts = seq, ts
        return True

    @staticmethod
    def _levels(d: dict[str, Any]) -> tuple[list[Level], list[Level]]:
        """Both sides parsed and checked (finite px > 0, finite sz >= 0) before the book is touched."""
        out: tuple[list[Level], list[Level]] = ([], [])
        for raw, side in ((d["bids"], out[0]), (d["asks"], out[1])):
            for lv in raw:
                px_s, sz_s = lv[0], lv[1]
                if type(px_s) is not str or type(sz_s) is not str:
                    raise ParseError("book level: px/sz must be strings")
                px, sz = Decimal(px_s), Decimal(sz_s)
                if not (px.is_finite() and sz.is_finite()) or px <= 0 or sz < 0:
                    raise ParseError(f"book level: bad px/sz {px_s!r}/{sz_s!r}")
                side.append(Level(px, sz, int(lv[3]) if len(lv) > 3 else 0))
        return out

    @staticmethod
    def _apply(levels: list[Level], side: dict[Decimal, Level], prices: list[Decimal]) -> None:
        for lv in levels:
            px = lv.px
            if lv.sz == 0:
                if side.pop(px, None) is not None:
                    del prices[bisect_left(prices, px)]
                continue
            if px not in side:
                prices.insert(bisect_left(prices, px), px)
            side[px] = lv

    def top(self) -> BookTop:
        n = self.depth
        bids = tuple(self.bids[p] for p in reversed(self._bid_px[-n:]))
        asks = tuple(self.asks[p] for p in self._ask_px[:n])
        return BookTop(self.instId, bids, asks, self.ts, self.seqId)
