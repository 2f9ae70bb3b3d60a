"""Order-book helpers: build a synthetic book around a mid, OKX's books checksum, an L2 book for replay."""

from __future__ import annotations

import zlib
from decimal import Decimal

from athena.sim.models import Level


def make_book(mid_ticks: int, tick: Decimal, lot: Decimal, depth: Decimal, levels: int = 20,
              spread_ticks: int = 1, bid_weight: Decimal = Decimal(1), ask_weight: Decimal = Decimal(1),
              shape: list[int] | None = None) -> tuple[list[Level], list[Level]]:
    """Bids/asks around mid (in ticks). Sizes grow away from the touch; weights tilt the imbalance."""
    spread_ticks = max(1, spread_ticks)
    bid0 = mid_ticks - spread_ticks // 2 - (spread_ticks % 2)
    ask0 = bid0 + spread_ticks
    bid0 = max(bid0, 1)
    ask0 = max(ask0, bid0 + 1)
    shape = shape or [1]
    bids: list[Level] = []
    asks: list[Level] = []
    # Exact Decimal products, so the order of factors does not change a value; a size depends only on
    # `grow`, which takes few distinct values: quantize each once (this runs on every synthetic step).
    bdepth, adepth = depth * bid_weight, depth * ask_weight
    sizes: dict[int, tuple[Decimal, Decimal]] = {}
    for i in range(levels):
        grow = (1 + i // 4) * shape[i % len(shape)]
        sz = sizes.get(grow)
        if sz is None:
            sz = sizes[grow] = ((bdepth * grow).quantize(lot), (adepth * grow).quantize(lot))
        bsz, asz = sz
        if bid0 - i > 0 and bsz > 0:
            bids.append(((bid0 - i) * tick, bsz, 1 + i % 5))
        if asz > 0:
            asks.append(((ask0 + i) * tick, asz, 1 + i % 5))
    return bids, asks


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX legacy books checksum: interleave top-25 bid/ask px:sz, CRC32 as a signed 32-bit int."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += [bids[i][0], bids[i][1]]
        if i < len(asks):
            parts += [asks[i][0], asks[i][1]]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class L2Book:
    """A price-level book fed by OKX books snapshot/update data (used by replay and tests)."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, data: dict[str, list[list[str]]], snapshot: bool) -> None:
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, book in (("bids", self.bids), ("asks", self.asks)):
            for lvl in data.get(side, []):
                px, sz = Decimal(lvl[0]), Decimal(lvl[1])
                if sz == 0:
                    book.pop(px, None)
                else:
                    book[px] = sz

    def levels(self) -> tuple[list[Level], list[Level]]:
        bids = [(p, self.bids[p], 1) for p in sorted(self.bids, reverse=True)]
        asks = [(p, self.asks[p], 1) for p in sorted(self.asks)]
        return bids, asks
