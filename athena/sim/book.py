"""Order-book helpers: build a synthetic book around a mid, OKX's books checksum, an L2 book for replay."""

from __future__ import annotations

import zlib
from decimal import Decimal

from athena.sim.models import Level

# Level prices by tick size and tick index: a synthetic step rebuilds 50 levels around a mid that moves
# a few ticks, so nearly every price was built before (Decimals are immutable: sharing them is safe).
_PX: dict[Decimal, dict[int, Decimal]] = {}
_PX_MAX = 200_000  # entries per tick size before the cache starts over


def _prices(tick: Decimal) -> dict[int, Decimal]:
    px = _PX.get(tick)
    if px is None or len(px) > _PX_MAX:
        px = _PX[tick] = {}
    return px


def make_book(
    mid_ticks: int,
    tick: Decimal,
    lot: Decimal,
    depth: Decimal,
    levels: int = 20,
    spread_ticks: int = 1,
    bid_weight: Decimal = Decimal(1),
    ask_weight: Decimal = Decimal(1),
    shape: list[int] | None = None,
) -> tuple[list[Level], list[Level]]:
    """Bids/asks around mid (in ticks). Sizes grow away from the touch; weights tilt the imbalance."""
    spread_ticks = max(1, spread_ticks)
    bid0 = mid_ticks - spread_ticks // 2 - (spread_ticks % 2)
    ask0 = bid0 + spread_ticks
    bid0 = max(bid0, 1)
    ask0 = max(ask0, bid0 + 1)
    shape = shape or [1]
    nshape = len(shape)
    bids: list[Level] = []
    asks: list[Level] = []
    px = _prices(tick)
    # Exact Decimal products, so the order of factors does not change a value; a size depends only on
    # `grow`, which takes few distinct values: quantize each once (this runs on every synthetic step).
    # None marks a size that quantizes to zero (that level is left out).
    bdepth, adepth = depth * bid_weight, depth * ask_weight
    sizes: dict[int, tuple[Decimal | None, Decimal | None]] = {}
    for i in range(levels):
        grow = (1 + i // 4) * shape[i % nshape]
        sz = sizes.get(grow)
        if sz is None:
            b, a = (bdepth * grow).quantize(lot), (adepth * grow).quantize(lot)
            sz = sizes[grow] = (b if b > 0 else None, a if a > 0 else None)
        bsz, asz = sz
        k = 1 + i % 5
        t = bid0 - i
        if t > 0 and bsz is not None:
            p = px.get(t)
            if p is None:
                p = px[t] = t * tick
            bids.append((p, bsz, k))
        if asz is not None:
            t = ask0 + i
            p = px.get(t)
            if p is None:
                p = px[t] = t * tick
            asks.append((p, asz, k))
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
