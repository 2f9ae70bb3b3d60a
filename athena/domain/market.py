"""Market data: book levels, top of book, ticks, trades."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


# Not frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, which makes a
# Level several times dearer to build, and it is built 10x per books5 push. Nothing
# mutates a Level after the parser made it; BookTop (frozen) holds them in tuples.
@dataclass(slots=True, eq=True)
class Level:
    """One price level of a book."""

    px: Decimal  # price, in the quote currency (USDT for BTC-USDT-SWAP)
    sz: Decimal  # contracts
    count: int = 0  # orders at this level (0 when the source does not say)


@dataclass(frozen=True, slots=True)
class BookTop:
    """Top-N levels of one book. bids descend, asks ascend. Either side may be empty."""

    instId: str  # e.g. BTC-USDT-SWAP
    bids: tuple[Level, ...]  # best (highest) first; may be empty
    asks: tuple[Level, ...]  # best (lowest) first; may be empty
    ts: int  # exchange ms
    seqId: int = -1  # OKX's sequence id of the push (-1: none)

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
    last: Decimal | None  # last traded price
    bidPx: Decimal | None  # best bid
    bidSz: Decimal | None  # contracts at the best bid
    askPx: Decimal | None  # best ask
    askSz: Decimal | None  # contracts at the best ask
    ts: int  # exchange ms


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade print."""

    instId: str
    tradeId: str  # the exchange's id of the trade
    px: Decimal  # price
    sz: Decimal  # contracts
    side: str  # taker side, "buy" | "sell"
    ts: int  # exchange ms


@dataclass(slots=True)
class Tick:
    """What strategies receive on each market-data event: the latest book and/or trade.

    recv_ns is the local monotonic receive time, used for staleness and latency figures.
    """

    instId: str
    book: BookTop | None = None  # a books5 snapshot; a live Tick carries one of book/trade/ticker: check each
    trade: Trade | None = None  # one public trade print
    ticker: Ticker | None = None  # a tickers push (when subscribed)
    recv_ns: int = 0  # local monotonic receive time (ns)
    extra: dict[str, object] = field(default_factory=dict)  # source-specific additions (none today)
