"""Market data: book levels, top of book, ticks, trades."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


# Not frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, which makes a
# Level several times dearer to build, and it is built 10x per books5 push. Nothing
# mutates a Level after the parser made it; BookTop (frozen) holds them in tuples.
@dataclass(slots=True, eq=True)
class Level:
    px: Decimal
    sz: Decimal  # contracts
    count: int = 0


@dataclass(frozen=True, slots=True)
class BookTop:
    """Top-N levels of one book. bids descend, asks ascend. Either side may be empty."""

    instId: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts: int  # exchange ms
    seqId: int = -1

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @property
    def is_crossed(self) -> bool:
        return bool(self.bids and self.asks and self.bids[0].px >= self.asks[0].px)

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].px + self.asks[0].px) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0].px - self.bids[0].px


@dataclass(frozen=True, slots=True)
class Ticker:
    """A tickers-channel push. Absent prices are None, never 0."""

    instId: str
    last: Decimal | None
    bidPx: Decimal | None
    bidSz: Decimal | None
    askPx: Decimal | None
    askSz: Decimal | None
    ts: int


@dataclass(frozen=True, slots=True)
class Trade:
    instId: str
    tradeId: str
    px: Decimal
    sz: Decimal
    side: str  # taker side, "buy" | "sell"
    ts: int


@dataclass(slots=True)
class Tick:
    """What strategies receive on each market-data event: the latest book and/or trade.

    recv_ns is the local monotonic receive time, used for staleness and latency figures.
    """

    instId: str
    book: BookTop | None = None
    trade: Trade | None = None
    ticker: Ticker | None = None
    recv_ns: int = 0
    extra: dict[str, object] = field(default_factory=dict)
