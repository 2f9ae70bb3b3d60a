"""ChecksumBook: an OKX `books` order book kept as the strings OKX sent, so its checksum can be checked.

OKX's legacy checksum hashes the original px/sz strings of the top 25 levels (API v5 docs, order book
channel, "Checksum"), which a book of Decimals cannot reproduce ("0.0000001" comes back as "1E-7"). The
tick path's LocalBook (athena/okx/book.py) stays lean; this one serves the recorder and the backtest's
replay, where a wrong book must be caught, not traded on.

Since 2026-06 OKX sends `checksum: 0` (the field is deprecated): 0 or absent is not checked and the
seqId/prevSeqId chain is the only guard.
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal, InvalidOperation
from typing import Any

from athena.domain import BookTop, Level
from athena.sim.book import checksum as okx_checksum

OK, GAP, CHECKSUM, BAD = "ok", "gap", "checksum", "bad"


class ChecksumBook:
    __slots__ = ("_ask_px", "_bid_px", "asks", "bids", "checked", "instId", "seqId", "ts", "valid")

    def __init__(self, instId: str) -> None:
        self.instId = instId
        self.bids: dict[Decimal, tuple[list[str], Level]] = {}  # px -> ([px, sz, "0", count] as sent, Level)
        self.asks: dict[Decimal, tuple[list[str], Level]] = {}
        self._bid_px: list[Decimal] = []  # ascending
        self._ask_px: list[Decimal] = []
        self.seqId: int | None = None
        self.ts = 0
        self.valid = False
        self.checked = 0  # checksums verified

    def apply(self, d: dict[str, Any], snapshot: bool) -> str:
        """Apply one snapshot or update. OK, or why the book is no longer valid (it then waits for a
        snapshot): GAP (prevSeqId does not chain), CHECKSUM (mismatch after applying), BAD (malformed)."""
        try:
            bids, asks = _levels(d.get("bids", ())), _levels(d.get("asks", ()))
            seq = int(d["seqId"]) if d.get("seqId") not in (None, "") else None
            prev = int(d["prevSeqId"]) if d.get("prevSeqId") not in (None, "") else None
            ts = int(d["ts"])
            cs = int(d["checksum"]) if d.get("checksum") not in (None, "") else 0
        except (KeyError, TypeError, ValueError, IndexError, InvalidOperation):
            self.valid = False
            return BAD
        if snapshot:
            self.bids.clear()
            self.asks.clear()
            self._bid_px.clear()
            self._ask_px.clear()
        elif not self.valid:
            return GAP
        elif prev is not None and self.seqId is not None and prev != self.seqId:
            self.valid = False
            return GAP
        _apply(bids, self.bids, self._bid_px)
        _apply(asks, self.asks, self._ask_px)
        self.seqId, self.ts, self.valid = seq, ts, True
        if cs and cs != self.checksum():
            self.valid = False
            return CHECKSUM
        if cs:
            self.checked += 1
        return OK

    def checksum(self) -> int:
        n = 25
        bids = [self.bids[p][0] for p in reversed(self._bid_px[-n:])]
        asks = [self.asks[p][0] for p in self._ask_px[:n]]
        return okx_checksum(bids, asks)

    def snapshot_data(self) -> dict[str, Any]:
        """The whole book as a `books` snapshot item, with the strings OKX sent and its seqId."""
        return {
            "asks": [self.asks[p][0] for p in self._ask_px],
            "bids": [self.bids[p][0] for p in reversed(self._bid_px)],
            "ts": str(self.ts),
            "checksum": self.checksum(),
            "prevSeqId": -1,
            "seqId": self.seqId if self.seqId is not None else -1,
        }

    def top(self, n: int = 25) -> BookTop:
        bids = tuple(self.bids[p][1] for p in reversed(self._bid_px[-n:]))
        asks = tuple(self.asks[p][1] for p in self._ask_px[:n])
        return BookTop(self.instId, bids, asks, self.ts, self.seqId if self.seqId is not None else -1)


def _levels(raw: Any) -> list[tuple[Decimal, Decimal, list[str], int]]:
    out = []
    for lv in raw:
        px_s, sz_s = lv[0], lv[1]
        if type(px_s) is not str or type(sz_s) is not str:
            raise ValueError("book level: px/sz must be strings")
        px, sz = Decimal(px_s), Decimal(sz_s)
        if not (px.is_finite() and sz.is_finite()) or px <= 0 or sz < 0:
            raise ValueError(f"book level: bad px/sz {px_s!r}/{sz_s!r}")
        count = str(lv[3]) if len(lv) > 3 else "0"
        out.append((px, sz, [px_s, sz_s, "0", count], int(count) if count.isdigit() else 0))
    return out


def _apply(
    levels: list[tuple[Decimal, Decimal, list[str], int]],
    side: dict[Decimal, tuple[list[str], Level]],
    prices: list[Decimal],
) -> None:
    for px, sz, lv, count in levels:
        if sz == 0:
            if side.pop(px, None) is not None:
                del prices[bisect_left(prices, px)]
            continue
        if px not in side:
            prices.insert(bisect_left(prices, px), px)
        side[px] = (lv, Level(px, sz, count))
