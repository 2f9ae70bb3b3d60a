"""Market data for the backtest: the one place events are made from a source.

Every source (athena/marketdata/sources.py) hands over OKX public push messages in time order, each
with where it came from (file and line); Feed turns them into (ts, BookTop | Trade | mark | funding)
events:
- books5 / bbo-tbt: the push is the top of the book;
- books (and the l2-tbt channels): the book is REBUILT from the snapshot and updates, the seqId chain
  and the checksum checked on every update (athena/marketdata/book.py). A gap, a checksum mismatch,
  a recorder's resync or reconnect marker makes the book invalid until the next snapshot: no book
  events in between, and the stretch is reported as a gap;
- with several book channels for one instrument the deepest wins (books > books5 > bbo-tbt);
- trades; mark-price (the exchange's mark is pinned to it); funding-rate (the backtest charges open
  positions at each 8-hour settlement at the last rate printed);
- an instrument with trades but no book channel gets a book APPROXIMATED from its trades (TradeBook);
  `approx_book=True` (data that never has a book: a store) does so from the start.
Lines that are not data pushes (subscribe acks, blank lines) are skipped; a malformed data line
raises FeedError naming the file and line.
"""

from __future__ import annotations

import gzip
import statistics
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from athena.domain import BookTop, Level, Trade
from athena.marketdata.book import BAD, OK, ChecksumBook
from athena.okx import parse

TOP_CHANNELS = ("books5", "bbo-tbt")
L2_CHANNELS = ("books", "books-l2-tbt", "books50-l2-tbt")
BOOK_CHANNELS = (*L2_CHANNELS, *TOP_CHANNELS)
_DEPTH_RANK = {"books": 3, "books-l2-tbt": 3, "books50-l2-tbt": 3, "books5": 2, "bbo-tbt": 1}
MAX_GAPS = 1000  # gaps kept in the report; more are counted

Located = tuple[str, int, dict[str, Any]]  # (file, line, push)


class FeedError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MarketEvent:
    ts: int
    instId: str
    book: BookTop | None = None
    trade: Trade | None = None
    mark: Decimal | None = None  # a mark-price print
    funding: Decimal | None = None  # a funding-rate print (the rate of the period that settles next)


@dataclass
class FeedStats:
    events: int = 0
    books_rebuilt: int = 0
    top_books: int = 0
    checksums_checked: int = 0
    checksum_failures: int = 0
    seq_gaps: int = 0
    resyncs: int = 0
    skipped_while_resyncing: int = 0
    funding_prints: int = 0
    mark_prints: int = 0
    approx_books: int = 0
    first_ts: int = 0
    last_ts: int = 0
    instIds: set[str] = field(default_factory=set)
    approximated: set[str] = field(default_factory=set)  # instIds whose book came from trades
    gaps: list[dict[str, Any]] = field(default_factory=list)
    gaps_dropped: int = 0

    def gap(self, entry: dict[str, Any]) -> None:
        if len(self.gaps) < MAX_GAPS:
            self.gaps.append(entry)
        else:
            self.gaps_dropped += 1


class TradeBook:
    """A book approximated from trades, for data that has no book (downloaded trades, candles).

    A taker buy at px shows the best ask was px; a taker sell, the best bid. The book after each trade:
    best bid = the last sell's px, best ask = the last buy's px; when one side is unknown, or the two
    cross, the side the trade did not hit is put one tick away from it. Five levels a tick apart on
    each side, every level the median size of the last 50 trades (at least one lot): no depth and no
    imbalance are known, so both sides look alike. Fills against it are an approximation, and a
    strategy that reads depth or imbalance (ScalperV1 does) sees none.
    """

    LEVELS = 5

    def __init__(self, instId: str, tick: Decimal, lot: Decimal) -> None:
        self.instId, self.tick, self.lot = instId, tick, lot
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.sizes: deque[Decimal] = deque(maxlen=50)

    def on_trade(self, t: Trade) -> BookTop:
        if t.side == "buy":
            self.ask = t.px
            if self.bid is None or self.bid >= t.px:
                self.bid = t.px - self.tick
        else:
            self.bid = t.px
            if self.ask is None or self.ask <= t.px:
                self.ask = t.px + self.tick
        self.sizes.append(t.sz)
        sz = max(self.lot, (statistics.median(self.sizes) / self.lot).quantize(Decimal(1)) * self.lot)
        assert self.bid is not None and self.ask is not None
        bids = tuple(
            Level(self.bid - self.tick * i, sz, 1) for i in range(self.LEVELS) if self.bid - self.tick * i > 0
        )
        asks = tuple(Level(self.ask + self.tick * i, sz, 1) for i in range(self.LEVELS))
        return BookTop(self.instId, bids, asks, t.ts)


class Feed:
    """Pushes -> MarketEvents, with the books rebuilt and checked. One Feed per replay (it has state)."""

    def __init__(
        self,
        depth: int = 25,
        approx_book: bool | None = None,
        instruments: dict[str, tuple[Decimal, Decimal]] | None = None,
    ) -> None:
        self.depth = depth
        self.approx_book = approx_book  # None: for instruments without a book channel (so far)
        self.instruments = instruments or {}  # instId -> (tickSz, lotSz), for the approximated book
        self.books: dict[str, ChecksumBook] = {}
        self.invalid_since: dict[str, tuple[int, str]] = {}  # instId -> (ts the book went bad, why)
        self.book_channel: dict[str, str] = {}
        self.trade_books: dict[str, TradeBook] = {}
        self._stream_gap: dict[str, Any] | None = None
        self.stats = FeedStats()

    def events(self, pushes: Iterable[Located]) -> Iterator[MarketEvent]:
        st = self.stats
        for origin, line, msg in pushes:
            try:
                out = self.push(msg)
            except FeedError as exc:
                raise FeedError(f"{origin}:{line}: {exc}") from None
            except Exception as exc:
                raise FeedError(f"{origin}:{line}: {exc}") from None
            for ev in out:
                if self._stream_gap is not None:  # the first event after a reconnect closes the hole
                    st.gap({**self._stream_gap, "to_ts": ev.ts})
                    self._stream_gap = None
                st.events += 1
                st.first_ts = st.first_ts or ev.ts
                st.last_ts = max(st.last_ts, ev.ts)
                st.instIds.add(ev.instId)
                yield ev

    def push(self, msg: dict[str, Any]) -> list[MarketEvent]:
        if not isinstance(msg, dict):
            raise FeedError("expected a JSON object (an OKX push)")
        event = msg.get("event")
        if event in ("athena-resync", "athena-reconnect"):
            self._marker(msg)
            return []
        arg, data = msg.get("arg") or {}, msg.get("data")
        if not isinstance(data, list):
            return []  # subscribe acks, errors, notices
        if not isinstance(arg, dict):
            raise FeedError('expected "arg" to be an object with channel and instId')
        channel, instId = arg.get("channel"), arg.get("instId", "")
        if channel in L2_CHANNELS:
            return self._l2(str(channel), instId, msg.get("action") == "snapshot", data)
        if channel in TOP_CHANNELS:
            if not self._deepest(instId, str(channel)):
                return []
            out = []
            for d in data:
                book = parse.book_top(instId or d.get("instId", ""), d)
                out.append(MarketEvent(book.ts, book.instId, book=book))
            self.stats.top_books += len(out)
            return out
        if channel == "trades":
            return self._trades(data)
        if channel == "mark-price":
            self.stats.mark_prints += len(data)
            return [
                MarketEvent(int(d["ts"]), d.get("instId") or instId, mark=_dec(d, "markPx")) for d in data
            ]
        if channel == "funding-rate":
            self.stats.funding_prints += len(data)
            return [
                MarketEvent(
                    int(d.get("ts") or d["fundingTime"]),
                    d.get("instId") or instId,
                    funding=_dec(d, "fundingRate"),
                )
                for d in data
            ]
        return []

    def _deepest(self, instId: str, channel: str) -> bool:
        """True when this channel is the deepest book channel seen so far for instId."""
        have = self.book_channel.get(instId)
        if have is None or _DEPTH_RANK[channel] > _DEPTH_RANK[have]:
            self.book_channel[instId] = channel
            return True
        return _DEPTH_RANK[channel] == _DEPTH_RANK[have]

    def _l2(self, channel: str, instId: str, snapshot: bool, data: list[Any]) -> list[MarketEvent]:
        if not self._deepest(instId, channel):
            return []
        st = self.stats
        book = self.books.get(instId)
        if book is None:
            book = self.books[instId] = ChecksumBook(instId)
        out = []
        for d in data:
            if not isinstance(d, dict):
                raise FeedError("expected each books data item to be an object")
            was_valid, checked = book.valid, book.checked
            result = book.apply(d, snapshot)
            st.checksums_checked += book.checked - checked
            ts = _int_ts(d)
            if result == OK:
                since = self.invalid_since.pop(instId, None)
                if since is not None:
                    st.gap(
                        {
                            "instId": instId,
                            "channel": channel,
                            "from_ts": since[0],
                            "to_ts": ts,
                            "reason": since[1],
                        }
                    )
                st.books_rebuilt += 1
                out.append(MarketEvent(book.ts, instId, book=book.top(self.depth)))
                continue
            if result == BAD:
                raise FeedError(
                    f'books {instId}: expected levels [px, sz, "0", count] as strings, ts and seqId'
                )
            if not was_valid and not snapshot:
                st.skipped_while_resyncing += 1
                self.invalid_since.setdefault(instId, (ts or st.last_ts, "no snapshot yet"))
                continue
            if result == "checksum":
                st.checksum_failures += 1
            else:
                st.seq_gaps += 1
            self.invalid_since.setdefault(
                instId,
                (
                    st.last_ts or ts,
                    "checksum mismatch"
                    if result == "checksum"
                    else f"seqId gap (prevSeqId {d.get('prevSeqId')}, book at {book.seqId})",
                ),
            )
        return out

    def _marker(self, msg: dict[str, Any]) -> None:
        st = self.stats
        st.resyncs += 1
        why = (
            "recorder reconnected"
            if msg.get("event") == "athena-reconnect"
            else f"recorder resync ({msg.get('reason')})"
        )
        arg = msg.get("arg") or {}
        targets = [arg["instId"]] if arg.get("instId") else list(self.books)
        for instId in targets:
            book = self.books.get(instId)
            if book is not None and book.valid:
                book.valid = False
                self.invalid_since.setdefault(instId, (st.last_ts, why))
        if msg.get("event") == "athena-reconnect" and self._stream_gap is None:
            self._stream_gap = {"instId": "", "channel": "all channels", "from_ts": st.last_ts, "reason": why}

    def _trades(self, data: list[Any]) -> list[MarketEvent]:
        out = []
        for d in data:
            t = parse.trade(d)
            if self.approx_book or (self.approx_book is None and t.instId not in self.book_channel):
                tb = self.trade_books.get(t.instId)
                if tb is None:
                    tick, lot = self.instruments.get(t.instId, (Decimal("0.1"), Decimal("0.01")))
                    tb = self.trade_books[t.instId] = TradeBook(t.instId, tick, lot)
                self.stats.approx_books += 1
                self.stats.approximated.add(t.instId)
                out.append(MarketEvent(t.ts, t.instId, book=tb.on_trade(t)))
            out.append(MarketEvent(t.ts, t.instId, trade=t))
        return out


def _dec(d: dict[str, Any], key: str) -> Decimal:
    v = d[key]
    if type(v) is not str:
        raise FeedError(f"expected {key} as a string, got {v!r}")
    out = Decimal(v)
    if not out.is_finite():
        raise FeedError(f"{key} is not a number: {v!r}")
    return out


def _int_ts(d: dict[str, Any]) -> int:
    try:
        return int(d.get("ts") or 0)
    except (TypeError, ValueError):
        return 0


# -- compatibility: plain push JSON lines -----------------------------------------------------------
def events_from_push(msg: dict[str, Any]) -> list[MarketEvent]:
    """Top-of-book and trades pushes of ONE message (no state: `books` needs a Feed)."""
    return Feed().push(msg)


def read_lines(lines: Iterable[str | bytes], origin: str = "<lines>") -> Iterator[MarketEvent]:
    return Feed().events(located(lines, origin))


def located(lines: Iterable[str | bytes], origin: str) -> Iterator[Located]:
    """(origin, line number, parsed object) of each non-blank line; a line that is not JSON is a
    FeedError naming the line and what was expected."""
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            raise FeedError(
                f"{origin}:{n}: expected one OKX push as JSON per line, got {text[:60]!r}"
            ) from None
        yield origin, n, msg


def read_jsonl(path: Path | str) -> list[MarketEvent]:
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return list(read_lines(f, str(path)))
